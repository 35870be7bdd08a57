/**
 * Which data plane a cloud cluster is: the one place that answers it for cluster-created events of
 * every platform (EKS through EventBridge, GKE through Cloud Audit Logs). Discovery and the
 * written configuration decide which clusters are data planes (./resolve.ts); this matches one
 * named cluster against that resolved list, and explains a miss (not configured, or discovered
 * but skipped, with discovery's reason).
 */
import { echo } from '../util/bounded.ts';
import type { Config, DataPlane } from '../config/schema.ts';
import { eksSource, gkeSource, type SkippedCluster } from './merge.ts';

/** A cluster named by a creation event, on either cloud. */
export type CloudCluster =
  | { cloud: 'eks'; clusterName: string; region?: string }
  | { cloud: 'gke'; project: string; location: string; clusterName: string };

/** How reports and logs name a cloud cluster. */
export function describeCloudCluster(c: CloudCluster): string {
  const t = (s: string) => echo(s, 100);
  return c.cloud === 'eks' ? `EKS cluster ${t(c.clusterName)}` : `GKE cluster projects/${t(c.project)}/locations/${t(c.location)}/clusters/${t(c.clusterName)}`;
}

/**
 * The data plane an EKS cluster is: the one whose `eksClusterName` names it, else the one whose
 * `id` is the cluster name (and that names no other EKS cluster).
 */
function eksDataPlane(cfg: Config, clusterName: string): DataPlane | undefined {
  return (
    cfg.dataPlanes.find((d) => d.eksClusterName === clusterName) ??
    cfg.dataPlanes.find((d) => d.id === clusterName && d.eksClusterName === undefined)
  );
}

/**
 * The data plane a GKE cluster is: one with `gke` access to exactly that project/location/cluster,
 * else one whose `id` is the cluster name (and that does not name another GKE cluster in its
 * access).
 */
function gkeDataPlane(cfg: Config, c: Extract<CloudCluster, { cloud: 'gke' }>): DataPlane | undefined {
  return (
    cfg.dataPlanes.find(
      (d) => d.access.type === 'gke' && d.access.project === c.project && d.access.location === c.location && d.access.clusterName === c.clusterName,
    ) ?? cfg.dataPlanes.find((d) => d.id === c.clusterName && d.access.type !== 'gke')
  );
}

/** Whether a report entry names this EKS cluster (in `region`, or in any region when none is known). */
export function isEksSource(source: string, name: string, region?: string): boolean {
  return region ? source === eksSource(region, name) : source.startsWith('eks:') && source.endsWith(`/${name}`);
}

function isSourceOf(c: CloudCluster, source: string): boolean {
  return c.cloud === 'eks' ? isEksSource(source, c.clusterName, c.region) : source === gkeSource(c.project, c.location, c.clusterName);
}

export type ClusterMatch = { dataPlane: DataPlane } | { ignored: string };

/**
 * Matches a cloud cluster to a data plane of the resolved configuration (written and discovered).
 *
 * @param cfg the configuration after discovery ({@link resolveDataPlanes})
 * @param skipped discovery's skipped clusters, to explain why a matching cluster is not used
 * @returns the data plane, or `ignored` with a reason a person can act on
 */
export function matchDataPlane(cfg: Config, c: CloudCluster, skipped: readonly SkippedCluster[] = []): ClusterMatch {
  const dp = c.cloud === 'eks' ? eksDataPlane(cfg, c.clusterName) : gkeDataPlane(cfg, c);
  if (dp) return { dataPlane: dp };
  const what = describeCloudCluster(c);
  const skip = skipped.find((s) => isSourceOf(c, s.source));
  return { ignored: skip ? `${what} matches discovery but was skipped: ${skip.reason}` : `${what} is not a configured or discovered data plane` };
}
