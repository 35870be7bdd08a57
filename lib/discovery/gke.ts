/**
 * Discovers GKE data planes instead of writing them out: the clusters of the given projects and
 * locations whose labels (GKE `resourceLabels`) match the selector. What Flyte needs of each comes
 * from one documented label format, validated exactly like written configuration. GKE label keys
 * and values allow only lower-case letters, digits, `_` and `-` (no `=`, `,`, `.` or `/`), so each
 * execution label is a label of its own and its weight is written in percent:
 *
 * | label                            | meaning                                        | default           |
 * |----------------------------------|------------------------------------------------|-------------------|
 * | `flyte-credsync-id`              | data-plane id                                  | the cluster name  |
 * | `flyte-credsync-enabled`         | `true` or `false`                              | `true`            |
 * | `flyte-credsync-label-<name>`    | execution label `<name>`, weight in percent: an integer 0..100 (`50` is 0.5) | no label |
 *
 * Any other label starting with `flyte-credsync-` (a typo such as `flyte-credsync-enable`) makes the
 * cluster malformed, unless it is one of the selector's own labels. There is no label for the
 * flyteadmin endpoint (a URL cannot be a label value): flyteadmin uses the GKE endpoint, and a
 * written entry with the same id can say otherwise. Execution labels containing `.` cannot be
 * written as GKE labels either.
 *
 * A cluster whose labels are malformed is skipped with a reason; it does not stop the others. A
 * listing that fails, or that GKE reports as incomplete (`missingZones`), fails discovery as a
 * whole: rendering the control plane from an incomplete list would disable the missing clusters.
 */
import type { ClusterManagerClient } from '@google-cloud/container';
import { DataPlane, issueMessage } from '../config/schema.ts';
import { CredsyncError } from '../errors.ts';
import { gaxCall } from '../util/abort.ts';
import { gkeSource, type DiscoveryResult, type SkippedCluster } from './merge.ts';

import type { GkeDiscovery } from '../config/discovery-gke.ts';

export const LABEL_PREFIX = 'flyte-credsync-';
export const LABEL_ID = `${LABEL_PREFIX}id`;
export const LABEL_ENABLED = `${LABEL_PREFIX}enabled`;
export const LABEL_EXECUTION = `${LABEL_PREFIX}label-`;

/** The part of @google-cloud/container's ClusterManagerClient discovery uses. */
export type GkeClusterLister = Pick<ClusterManagerClient, 'listClusters'>;

export interface GkeClusterRef {
  project: string;
  location: string;
  name: string;
}

/** Turns one cluster's labels into a data plane, or the reason it cannot be one. */
export function dataPlaneFromLabels(c: GkeClusterRef, labels: Record<string, string>, selectorKeys: Iterable<string> = []): DataPlane | string {
  const selector = new Set(selectorKeys);
  const weights: Record<string, number> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (!key.startsWith(LABEL_PREFIX) || key === LABEL_ID || key === LABEL_ENABLED) continue;
    if (!key.startsWith(LABEL_EXECUTION)) {
      if (!selector.has(key)) problems.push(`label ${key}: unknown (known: ${LABEL_ID}, ${LABEL_ENABLED}, ${LABEL_EXECUTION}<name>)`);
      continue;
    }
    const name = key.slice(LABEL_EXECUTION.length);
    if (!name) problems.push(`label ${key}: names no execution label`);
    else if (!/^\d{1,3}$/.test(value)) problems.push(`label ${key}: "${value}" is not a weight in percent (an integer 0 to 100)`);
    else weights[name] = Number(value) / 100;
  }
  const enabled = labels[LABEL_ENABLED];
  if (enabled !== undefined && enabled !== 'true' && enabled !== 'false') problems.push(`label ${LABEL_ENABLED}: must be true or false, not "${enabled}"`);
  if (problems.length) return problems.join('; ');
  const parsed = DataPlane.safeParse({
    id: labels[LABEL_ID] ?? c.name,
    access: { type: 'gke', project: c.project, location: c.location, clusterName: c.name },
    labels: weights,
    ...(enabled !== undefined ? { enabled: enabled === 'true' } : {}),
  });
  if (!parsed.success) {
    const where = (path: PropertyKey[]) =>
      path[0] === 'id'
        ? `label ${LABEL_ID} (or the cluster name)`
        : path[0] === 'labels' && path.length > 1
          ? `label ${LABEL_EXECUTION}${String(path[1])}`
          : path.join('.');
    return parsed.error.issues
      .map((i) => {
        const msg = issueMessage(i);
        return `${where(i.path)}: ${msg}${i.path[0] === 'labels' && msg.startsWith('weight') ? ' (written in percent: 0 to 100)' : ''}`;
      })
      .join('; ');
  }
  return parsed.data;
}

/** Lists the GKE clusters of each project and location and keeps those whose labels match. */
export async function discoverGke(d: GkeDiscovery, api: GkeClusterLister): Promise<DiscoveryResult> {
  const dataPlanes: DataPlane[] = [];
  const skipped: SkippedCluster[] = [];
  const seen = new Set<string>();
  for (const project of new Set(d.projects)) {
    for (const location of new Set(d.locations)) {
      const parent = `projects/${project}/locations/${location}`;
      let res;
      try {
        [res] = await gaxCall((o) => api.listClusters({ parent }, o));
      } catch (err) {
        if (err instanceof CredsyncError) throw err;
        throw new CredsyncError('CLUSTER_UNREACHABLE', `GKE discovery in ${parent}: listClusters: ${(err as Error).message}`, { cause: err });
      }
      if (res.missingZones?.length)
        throw new CredsyncError(
          'CLUSTER_UNREACHABLE',
          `GKE discovery in ${parent}: GKE could not list the clusters of ${res.missingZones.join(', ')} (missingZones); not using an incomplete list`,
        );
      for (const c of res.clusters ?? []) {
        const name = c.name ?? '';
        const where = c.location || c.zone || (location === '-' ? '' : location);
        const labels = c.resourceLabels ?? {};
        if (!Object.entries(d.labels).every(([k, v]) => labels[k] === v)) continue;
        const source = gkeSource(project, where || '?', name);
        if (seen.has(source)) continue; // listed twice (a region and one of its zones)
        seen.add(source);
        if (!name || !where) {
          skipped.push({ source, reason: 'GKE listed the cluster without a name or location' });
          continue;
        }
        const dp = dataPlaneFromLabels({ project, location: where, name }, labels, Object.keys(d.labels));
        if (typeof dp === 'string') skipped.push({ source, reason: dp });
        else dataPlanes.push(dp);
      }
    }
  }
  return { dataPlanes, skipped };
}
