/**
 * Resolves which data planes a run covers: the written ones plus, when `discovery` is
 * configured, those found in the cloud (EKS and/or GKE; a written entry wins over a discovered
 * one, and two discovered clusters claiming one id are both skipped).
 */
import type { EKSClient } from '@aws-sdk/client-eks';
import { awsCredentialsFor } from '../clusters/access.ts';
import { defaultClusterManager } from '../clusters/gke.ts';
import type { Config } from '../config/schema.ts';
import { crossFieldIssues } from '../config/schema.ts';
import { discoverEks } from './eks.ts';
import { discoverGke, type GkeClusterLister } from './gke.ts';
import { isEksSource } from './match.ts';
import { mergeDiscovered, type DiscoveryResult, type SkippedCluster } from './merge.ts';
import { ConfigError } from '../errors.ts';
import { AWS_REQUEST_HANDLER } from '../util/abort.ts';

export interface DiscoveryReport {
  /** Ids of the data planes discovery added (written ones excluded). */
  added: string[];
  /** Clusters that matched the selector but could not be used, with the reason. */
  skipped: SkippedCluster[];
}

export interface ResolveOptions {
  eksClient?: (region: string) => EKSClient;
  /** GKE's cluster API (default: @google-cloud/container with application default credentials). */
  gkeClusters?: () => Promise<GkeClusterLister>;
  /**
   * The EKS cluster of a cluster-created event: it is looked at even if ListClusters does not list
   * it yet. Discovery is not narrowed to it: the control plane is rendered for every configured
   * data plane, and one missing from the resolved list counts as removed (disabled, out of every
   * label), so every run must resolve the same, complete list (ids claimed twice included).
   */
  onlyEksCluster?: { name: string; region?: string };
}

/**
 * The data planes of this run: the written ones, plus the discovered ones when `discovery` is
 * configured, checked again across fields after the merge.
 *
 * @returns the configuration with every data plane, and what discovery added or skipped
 * @throws CredsyncError `CLUSTER_UNREACHABLE` when a cloud listing fails (a partial list would
 *   disable the clusters it missed); ConfigError when the merged list is invalid
 */
export async function resolveDataPlanes(cfg: Config, opts: ResolveOptions = {}): Promise<{ config: Config; discovery?: DiscoveryReport }> {
  const eks = cfg.discovery?.eks;
  const gke = cfg.discovery?.gke;
  if (!eks && !gke) return { config: cfg };
  const found: DiscoveryResult = { dataPlanes: [], skipped: [] };
  if (eks) {
    const { EKSClient } = await import('../aws/eks.ts');
    const client =
      opts.eksClient ??
      ((region: string) =>
        new EKSClient({
          region,
          ...(eks.eksEndpoint ? { endpoint: eks.eksEndpoint } : {}),
          credentials: awsCredentialsFor(region, eks.roleArn),
          requestHandler: AWS_REQUEST_HANDLER,
        }));
    const r = await discoverEks(eks, client);
    found.dataPlanes.push(...r.dataPlanes);
    found.skipped.push(...r.skipped);
    const only = opts.onlyEksCluster;
    const inRegion = (region: string) => !only?.region || only.region === region;
    const seen = (name: string) =>
      r.dataPlanes.some((d) => d.access.type === 'eks' && d.access.clusterName === name && inRegion(d.access.region)) ||
      r.skipped.some((x) => isEksSource(x.source, name, only?.region));
    if (only && !seen(only.name)) {
      // A cluster just created may not be in ListClusters yet: DescribeCluster it by name.
      const scope = only.region ? { ...eks, regions: eks.regions.includes(only.region) ? [only.region] : [] } : eks;
      const extra = await discoverEks(scope, client, only.name);
      found.dataPlanes.push(...extra.dataPlanes);
      found.skipped.push(...extra.skipped);
    }
  }
  if (gke) {
    const lister = await (opts.gkeClusters ?? defaultClusterManager)();
    const r = await discoverGke(gke, lister);
    found.dataPlanes.push(...r.dataPlanes);
    found.skipped.push(...r.skipped);
  }
  const merged = mergeDiscovered(cfg.dataPlanes, found);
  const config: Config = { ...cfg, dataPlanes: merged.dataPlanes };
  const issues = crossFieldIssues({ ...config, discovery: undefined });
  if (issues.length)
    throw new ConfigError(issues.map((i) => ({ path: i.path.join('.'), message: i.message })), 'after discovery');
  const written = new Set(cfg.dataPlanes.map((w) => w.id));
  return { config, discovery: { added: merged.dataPlanes.filter((x) => !written.has(x.id)).map((x) => x.id), skipped: merged.skipped } };
}
