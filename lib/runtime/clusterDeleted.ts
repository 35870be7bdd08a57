/**
 * The cluster-deleted use case, the cluster-created one's counterpart (./invocation.ts), for every
 * platform: EKS `DeleteCluster` (CloudTrail through EventBridge) and GKE cluster deletion (Cloud
 * Audit Logs). docs/data-plane-lifecycle.md "Cluster deleted".
 *
 * 1. The event's cluster is matched to a data plane (written or discovered: a cluster being deleted
 *    is still listed), or, once discovery no longer finds it, to the store entry named after the
 *    cluster (the id discovery gives by default). Anything else is ignored and says why.
 * 2. Its unfinished executions are counted while the cluster still answers (else: unknown).
 * 3. The deletion is recorded on its store entry first, `phase=draining reason=deleted
 *    [forced=<n>]` (lib/stores/lifecycle.ts): from then on every run keeps it draining and does not
 *    sync it, configured or not. An entry that has a marker already is left as it is (a redelivered
 *    event, or a retirement under way).
 * 4. A sync of the control plane puts it into draining (disabled, out of every label; refused like
 *    any drain that would empty a label in use). A later run retires it once that drain is in effect
 *    (lib/sync/retire.ts): entry and keys removed, rollout, revoke (skipped, and said, when the
 *    cluster is gone), store deletion scheduled.
 *
 * A failure anywhere fails the invocation and the platform redelivers the event; every step is
 * idempotent, so a redelivery (or a run killed between the steps) converges.
 */
import type { DataPlane } from '../config/schema.ts';
import { describeCloudCluster, matchDataPlane, type CloudCluster } from '../discovery/match.ts';
import { CredsyncError, describeError, errorCode } from '../errors.ts';
import { unfinishedExecutions } from '../lifecycle/executions.ts';
import { isLifecycleStore, type LifecycleStore, type RetireState } from '../stores/lifecycle.ts';
import { runSync, type SyncDeps, type SyncReport } from '../sync/sync.ts';
import { finish, prepare, type ClusterCreatedOptions } from './invocation.ts';

export type ClusterDeletedResult = SyncReport | { ignored: true; reason: string };

/** What the cluster-deleted use case needs besides the cluster: the same as cluster creation's. */
export type ClusterDeletedOptions = ClusterCreatedOptions;

/** The data plane a deleted cluster was, and whether discovery or the configuration still has it. */
async function deletedDataPlane(
  cluster: CloudCluster,
  config: SyncDeps['config'],
  store: LifecycleStore,
  skipped: Parameters<typeof matchDataPlane>[2],
): Promise<{ id: string; dp?: DataPlane } | { ignored: string }> {
  const match = matchDataPlane(config, cluster, skipped);
  if ('dataPlane' in match) return { id: match.dataPlane.id, dp: match.dataPlane };
  // No longer listed (the event came late, or was redelivered): the entry named after the cluster.
  try {
    store.entryName(cluster.clusterName);
  } catch (err) {
    return { ignored: `${match.ignored}, and its name is no store entry name: ${describeError(err)}` };
  }
  let view;
  try {
    view = await store.lifecycle(cluster.clusterName);
  } catch (err) {
    // An entry that is not ours: not a data plane of ours. (Any other failure of the store fails
    // the invocation, and the event is redelivered.)
    if (errorCode(err) === 'STORE_NOT_OWNED') return { ignored: `${match.ignored}, and the store entry named after it is not ours` };
    throw err;
  }
  if (!view) return { ignored: `${match.ignored}, and the store has no entry for it` };
  return { id: cluster.clusterName };
}

/**
 * Drains the data plane of a deleted cluster (see the module header).
 *
 * @throws SyncFailedError when the control-plane sync failed (e.g. `LABEL_WOULD_EMPTY`: it was the
 *   last enabled member of a label); the platform redelivers the event
 * @throws StoreError and the like when the deletion could not be recorded (nothing else was done)
 */
export async function drainDeletedCluster(cluster: CloudCluster, o: ClusterDeletedOptions): Promise<ClusterDeletedResult> {
  const { log } = o;
  const what = describeCloudCluster(cluster);
  const { config, deps, discovery, configInfo } = await (o.prepare ?? ((p) => prepare(log, { ...p, ...(o.metrics ? { metrics: o.metrics } : {}) })))(
    cluster.cloud === 'eks' ? { onlyEksCluster: { name: cluster.clusterName, ...(cluster.region ? { region: cluster.region } : {}) } } : {},
  );
  if (!isLifecycleStore(deps.store)) throw new CredsyncError('UNSUPPORTED', `store ${deps.store.kind} cannot record a data plane's lifecycle`);
  // Refused before anything is written, as the drain itself would be (lib/sync/retire.ts).
  if (config.controlPlane.mode === 'gitops')
    throw new CredsyncError('UNSUPPORTED', `${what}: controlPlane.mode gitops: a deleted cluster's data plane cannot be drained here (the chart owns clusters.yaml); take it out of the chart values`);
  const store = deps.store;
  const found = await deletedDataPlane(cluster, config, store, discovery?.skipped);
  if ('ignored' in found) {
    log.info('event ignored', { reason: found.ignored });
    return { ignored: true, reason: found.ignored };
  }
  const { id, dp } = found;
  const view = await store.lifecycle(id);
  if (!view) {
    const reason = `${what} (data plane ${id}) has no store entry: it was never synced, nothing to drain`;
    log.info('event ignored', { reason });
    return { ignored: true, reason };
  }
  if (view.state) log.info('cluster deletion: the data plane already has a lifecycle marker; left as it is', { cluster: what, dataPlane: id, phase: view.state.phase });
  else {
    const now = deps.now ?? (() => new Date());
    let unfinished: number | undefined;
    let notCounted = 'the cluster is no longer discovered';
    if (dp)
      try {
        unfinished = (await unfinishedExecutions(await deps.dataPlane(dp), now())).unfinished;
      } catch (err) {
        notCounted = describeError(err);
      }
    const state: RetireState = { phase: 'draining', at: now().toISOString(), reason: 'deleted', ...(unfinished !== undefined ? { forced: unfinished } : {}) };
    await store.setLifecycle(id, state);
    log.warn('cluster deleted: its data plane drains and retires; its unfinished executions are lost', {
      cluster: what,
      dataPlane: id,
      ...(unfinished !== undefined ? { unfinished } : { unfinished: 'unknown, cluster gone', reason: notCounted }),
    });
  }
  const report = await runSync(deps, { clusters: [id], deleted: [id], ...(discovery ? { discovery } : {}), ...(configInfo ? { configInfo } : {}) });
  return finish(log, report);
}
