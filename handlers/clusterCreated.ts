/**
 * A new EKS cluster (EventBridge: CloudTrail CreateCluster, or the cluster becoming ACTIVE):
 * syncs that data plane and the control plane. The cluster is a data plane when the written
 * configuration names it (`eksClusterName` or `id`) or when EKS discovery finds it by its tags.
 * An event about any other cluster is ignored and says so.
 */
import { runSync, type SyncReport } from '../lib/sync/sync.ts';
import { dataPlaneForCluster, parseClusterEvent } from '../lib/sync/events.ts';
import { finish, loadRuntimeConfig, log, prepare } from '../lib/runtime/lambda.ts';

export type ClusterCreatedResult = SyncReport | { ignored: true; reason: string };

function ignored(reason: string): ClusterCreatedResult {
  log.info('event ignored', { reason });
  return { ignored: true, reason };
}

export async function handler(event: unknown): Promise<ClusterCreatedResult> {
  const ev = parseClusterEvent(event);
  if (!ev) return ignored('event is not a successful cluster creation (failed API call or a state other than ACTIVE)');
  const written = await loadRuntimeConfig();
  const { config, deps, discovery } = await prepare(
    written.discovery?.eks ? { onlyEksCluster: { name: ev.clusterName, ...(ev.region ? { region: ev.region } : {}) } } : {},
  );
  const id = dataPlaneForCluster(config, ev.clusterName);
  if (!id) {
    const skipped = discovery?.skipped.find((s) => s.source.endsWith(`/${ev.clusterName}`));
    return ignored(
      skipped
        ? `EKS cluster ${ev.clusterName} matches discovery but was skipped: ${skipped.reason}`
        : `EKS cluster ${ev.clusterName} is not a configured or discovered data plane`,
    );
  }
  log.info('cluster created', { cluster: ev.clusterName, dataPlane: id, kind: ev.kind });
  return finish(await runSync(deps, { clusters: [id], ...(discovery ? { discovery } : {}) }));
}
