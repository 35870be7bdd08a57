/**
 * `credsync rollback`: makes the previous version of a rotating data plane current again, only if
 * it still verifies, then runs the sync for it (publish, restart, wait for the rollout, revoke the
 * generation rolled back from).
 */
import { CredentialRejectedError, CredsyncError, describeError } from '../errors.ts';
import { requireRotation } from '../rotation/config.ts';
import { verifyGeneration } from '../rotation/rotate.ts';
import { selectDataPlanes } from '../rotation/status.ts';
import { canRotate, seenOf } from '../stores/types.ts';
import { runSync, type SyncDeps, type SyncReport } from './sync.ts';

/**
 * Makes the previous version of a rotating data plane current again, if it still verifies,
 * then runs the sync for it: publish, restart, wait for the rollout, revoke the generation
 * rolled back from.
 * @throws CredsyncError UNKNOWN_DATA_PLANE; ROTATION_NOT_CONFIGURED when it does not rotate;
 *   ROLLBACK_IMPOSSIBLE when there is no previous version or it no longer verifies (revoked)
 */
export async function rollback(deps: SyncDeps, clusterId: string): Promise<SyncReport> {
  const [dp] = selectDataPlanes(deps.config, [clusterId]);
  requireRotation(deps.config, 'rollback', [clusterId]);
  const store = deps.store;
  if (!canRotate(store) || !deps.rotation) throw new CredsyncError('UNSUPPORTED', `store ${store.kind} cannot roll back`);
  const v = await store.view(clusterId);
  const prev = v?.previous;
  if (!v?.current || !prev || prev.versionId === v.current.versionId)
    throw new CredsyncError('ROLLBACK_IMPOSSIBLE', `data plane ${clusterId}: the store has no previous version to roll back to`);
  const api = await deps.rotation.dataPlane(dp!);
  const prevGen = prev.record.generation?.generation ?? 0;
  try {
    if (v.state?.revoked?.generation === prevGen && v.state.phase === 'idle')
      throw new CredentialRejectedError(clusterId, `generation ${prevGen} was revoked at ${v.state.revoked.at}`);
    await verifyGeneration(deps.verify, dp!, api, prev);
  } catch (err) {
    if (err instanceof CredentialRejectedError)
      throw new CredsyncError('ROLLBACK_IMPOSSIBLE', `data plane ${clusterId}: previous generation ${prev.record.generation?.generation ?? 0} no longer verifies (${describeError(err)}); nothing changed`);
    throw err;
  }
  const from = v.current.record.generation?.generation ?? 0;
  const to = prev.record.generation?.generation ?? 0;
  const now = (deps.now ?? (() => new Date()))();
  const highest = Math.max(v.state?.highest ?? 0, from, to);
  await store.promote(clusterId, prev.versionId, {
    phase: 'published',
    generation: to,
    highest,
    publishedAt: now.toISOString(),
    revoke: from,
    ...(v.state?.revoked ? { revoked: v.state.revoked } : {}),
  }, seenOf(v));
  deps.log.warn('rotation: rolled back', { cluster: clusterId, from, to });
  return runSync(deps, { clusters: [clusterId] });
}
