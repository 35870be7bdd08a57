/**
 * Resolves which data planes a run covers: the written ones plus, when `discovery` is
 * configured, those found in the cloud (a written entry wins over a discovered one).
 */
import { EKSClient } from '@aws-sdk/client-eks';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { Config } from '../config/schema.ts';
import { crossFieldIssues } from '../config/schema.ts';
import { discoverEks, mergeDiscovered, type SkippedCluster } from '../discovery/eks.ts';
import { ConfigError } from '../errors.ts';

export interface DiscoveryReport {
  /** Ids of the data planes discovery added (written ones excluded). */
  added: string[];
  /** Clusters that matched the selector but could not be used, with the reason. */
  skipped: SkippedCluster[];
}

export interface ResolveOptions {
  eksClient?: (region: string) => EKSClient;
  /** Only look at this EKS cluster (a cluster-created event). */
  onlyEksCluster?: { name: string; region?: string };
}

export async function resolveDataPlanes(cfg: Config, opts: ResolveOptions = {}): Promise<{ config: Config; discovery?: DiscoveryReport }> {
  const d = cfg.discovery?.eks;
  if (!d) return { config: cfg };
  const client =
    opts.eksClient ??
    ((region: string) =>
      new EKSClient({
        region,
        ...(d.eksEndpoint ? { endpoint: d.eksEndpoint } : {}),
        ...(d.roleArn ? { credentials: fromTemporaryCredentials({ params: { RoleArn: d.roleArn, RoleSessionName: 'flyte-credsync' }, clientConfig: { region } }) } : {}),
      }));
  const only = opts.onlyEksCluster;
  const scope = only?.region ? { ...d, regions: d.regions.includes(only.region) ? [only.region] : [] } : d;
  const found = await discoverEks(scope, client, only?.name);
  const merged = mergeDiscovered(cfg.dataPlanes, found);
  const config: Config = { ...cfg, dataPlanes: merged.dataPlanes };
  const issues = crossFieldIssues({ ...config, discovery: undefined });
  if (issues.length)
    throw new ConfigError(issues.map((i) => ({ path: i.path.join('.'), message: i.message })), 'after discovery');
  const written = new Set(cfg.dataPlanes.map((w) => w.id));
  return { config, discovery: { added: merged.dataPlanes.filter((x) => !written.has(x.id)).map((x) => x.id), skipped: merged.skipped } };
}
