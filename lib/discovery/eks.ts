/**
 * Discovers EKS data planes instead of writing them out: the clusters in the given regions
 * whose tags match the selector. What Flyte needs of each comes from one documented tag format,
 * validated exactly like written configuration:
 *
 * | tag                                   | meaning                                   | default            |
 * |---------------------------------------|-------------------------------------------|--------------------|
 * | `flyte-credsync/id`                   | data-plane id                             | the cluster name   |
 * | `flyte-credsync/labels`               | `label=weight,label=weight`               | no label           |
 * | `flyte-credsync/enabled`              | `true` or `false`                         | `true`             |
 * | `flyte-credsync/flyteadmin-endpoint`  | the URL flyteadmin uses                   | the EKS endpoint   |
 *
 * A cluster whose tags are malformed is skipped with a reason; it does not stop the others.
 */
import type { EKSClient } from '@aws-sdk/client-eks';
import { DataPlane, issueMessage } from '../config/schema.ts';
import { CredsyncError } from '../errors.ts';
import { callSignal } from '../util/abort.ts';

export const TAG_PREFIX = 'flyte-credsync/';
export const TAG_ID = `${TAG_PREFIX}id`;
export const TAG_LABELS = `${TAG_PREFIX}labels`;
export const TAG_ENABLED = `${TAG_PREFIX}enabled`;
export const TAG_ENDPOINT = `${TAG_PREFIX}flyteadmin-endpoint`;

import type { EksDiscovery } from '../config/discovery-eks.ts';

import { eksSource, type DiscoveryResult, type SkippedCluster } from './merge.ts';

/** Parses `team1=1,gpu=0.5`. */
function parseLabels(value: string): Record<string, number> | string {
  const out: Record<string, number> = {};
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([^=\s]+)=([0-9.]+)$/.exec(part);
    if (!m) return `"${part}" is not label=weight`;
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Turns one cluster's tags into a data plane, or the reason it cannot be one. */
export function dataPlaneFromTags(
  clusterName: string,
  region: string,
  tags: Record<string, string>,
  d: Pick<EksDiscovery, 'roleArn' | 'eksEndpoint'>,
): DataPlane | string {
  const labels = tags[TAG_LABELS] === undefined ? {} : parseLabels(tags[TAG_LABELS]);
  if (typeof labels === 'string') return `tag ${TAG_LABELS}: ${labels}`;
  const enabled = tags[TAG_ENABLED];
  if (enabled !== undefined && enabled !== 'true' && enabled !== 'false') return `tag ${TAG_ENABLED}: must be true or false, not "${enabled}"`;
  const parsed = DataPlane.safeParse({
    id: tags[TAG_ID] ?? clusterName,
    access: { type: 'eks', clusterName, region, ...(d.roleArn ? { roleArn: d.roleArn } : {}), ...(d.eksEndpoint ? { eksEndpoint: d.eksEndpoint } : {}) },
    labels,
    ...(enabled !== undefined ? { enabled: enabled === 'true' } : {}),
    ...(tags[TAG_ENDPOINT] ? { flyteadminEndpoint: tags[TAG_ENDPOINT] } : {}),
    eksClusterName: clusterName,
  });
  if (!parsed.success) {
    const where = (path: PropertyKey[]) =>
      path[0] === 'id' ? `tag ${TAG_ID} (or the cluster name)` : path[0] === 'labels' ? `tag ${TAG_LABELS}` : path[0] === 'flyteadminEndpoint' ? `tag ${TAG_ENDPOINT}` : path.join('.');
    return parsed.error.issues.map((i) => `${where(i.path)}: ${issueMessage(i)}`).join('; ');
  }
  return parsed.data;
}

/** Lists the EKS clusters of each region and keeps those whose tags match. */
export async function discoverEks(d: EksDiscovery, client: (region: string) => EKSClient, only?: string): Promise<DiscoveryResult> {
  // Loaded only when EKS discovery is configured (a function loads what its configuration uses).
  const { DescribeClusterCommand, paginateListClusters } = await import('../aws/eks.ts');
  const dataPlanes: DataPlane[] = [];
  const skipped: SkippedCluster[] = [];
  for (const region of d.regions) {
    const eks = client(region);
    const names: string[] = [];
    try {
      if (only) names.push(only);
      else for await (const page of paginateListClusters({ client: eks }, {})) names.push(...(page.clusters ?? []));
    } catch (err) {
      throw new CredsyncError('CLUSTER_UNREACHABLE', `EKS discovery in ${region}: ListClusters: ${(err as Error).name}: ${(err as Error).message}`, { cause: err });
    }
    for (const name of names) {
      let tags: Record<string, string>;
      try {
        tags = (await eks.send(new DescribeClusterCommand({ name }), { abortSignal: callSignal() })).cluster?.tags ?? {};
      } catch (err) {
        if ((err as Error).name === 'ResourceNotFoundException' && only) continue;
        skipped.push({ source: eksSource(region, name), reason: `DescribeCluster: ${(err as Error).name}: ${(err as Error).message}` });
        continue;
      }
      if (!Object.entries(d.tags).every(([k, v]) => tags[k] === v)) continue;
      const dp = dataPlaneFromTags(name, region, tags, d);
      if (typeof dp === 'string') skipped.push({ source: eksSource(region, name), reason: dp });
      else dataPlanes.push(dp);
    }
  }
  return { dataPlanes, skipped };
}
