/**
 * A new EKS cluster (EventBridge: CloudTrail CreateCluster, or the cluster becoming ACTIVE):
 * syncs that data plane and the control plane. An event about a cluster that is not a
 * configured data plane is ignored and says so.
 */
import { runSync, type SyncReport } from '../lib/sync/sync.ts';
import { dataPlaneForCluster, parseClusterEvent } from '../lib/sync/events.ts';
import { finish, log, runtime } from '../lib/runtime/lambda.ts';

export type ClusterCreatedResult = SyncReport | { ignored: true; reason: string };

export async function handler(event: unknown): Promise<ClusterCreatedResult> {
  const ev = parseClusterEvent(event);
  if (!ev) {
    const reason = 'event is not a successful cluster creation (failed API call or a state other than ACTIVE)';
    log.info('event ignored', { reason });
    return { ignored: true, reason };
  }
  const { config, deps } = await runtime();
  const id = dataPlaneForCluster(config, ev.clusterName);
  if (!id) {
    const reason = `EKS cluster ${ev.clusterName} is not a configured data plane`;
    log.info('event ignored', { reason });
    return { ignored: true, reason };
  }
  log.info('cluster created', { cluster: ev.clusterName, dataPlane: id, kind: ev.kind });
  return finish(await runSync(deps, { clusters: [id] }));
}
