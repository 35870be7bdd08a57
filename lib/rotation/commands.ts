/**
 * The operator's rotation commands beside the sync: `status` (what the store says, per data
 * plane) and `rollback` (make the previous version current again, only if it still verifies,
 * then publish, restart, wait, and revoke the generation rolled back from).
 */
import type { Config, DataPlane } from '../config/schema.ts';
import { CredentialRejectedError, CredsyncError, describeError, errorCode } from '../errors.ts';
import { shortFingerprint } from '../stores/types.ts';
import { runSync, type SyncDeps, type SyncReport } from '../sync/sync.ts';
import { dueAt, requireRotation } from './config.ts';
import { settingsFor, verifyGeneration } from './rotate.ts';
import { isRotationStore } from './stores.ts';
import type { RotationState } from './state.ts';

export interface DataPlaneStatus {
  id: string;
  /** Rotation mode, or `off` when the data plane does not rotate (plain sync). */
  mode: 'secret' | 'tokenRequest' | 'off';
  /** No entry in the store yet. */
  empty?: boolean;
  generation?: number;
  fingerprint?: string;
  object?: string;
  issuedAt?: string;
  ageSeconds?: number;
  expiresAt?: string;
  dueAt?: string;
  phase?: RotationState['phase'];
  /** What is outstanding: a staged version, a rollout to wait for and a generation to revoke. */
  pending: string[];
  lastRevoked?: { generation: number; at: string };
  error?: { code: string; reason: string };
}

/** Per data plane, what the store says (no cluster is contacted; nothing is written). */
export async function rotationStatus(deps: SyncDeps, opts: { clusters?: string[] } = {}): Promise<DataPlaneStatus[]> {
  const store = deps.store;
  if (!isRotationStore(store)) throw new CredsyncError('UNSUPPORTED', `store ${store.kind} cannot report rotation state`);
  const now = (deps.now ?? (() => new Date()))();
  const selected = select(deps, opts.clusters);
  return Promise.all(
    selected.map(async (dp): Promise<DataPlaneStatus> => {
      const s = settingsFor(deps.config, dp);
      const out: DataPlaneStatus = { id: dp.id, mode: s?.mode ?? 'off', pending: [] };
      try {
        const v = await store.view(dp.id);
        if (!v?.current) return { ...out, empty: true };
        const g = v.current.record.generation;
        const issued = g?.issuedAt ?? v.state?.publishedAt;
        const due = s && issued ? dueAt(s, new Date(issued), g?.expiresAt ? new Date(g.expiresAt) : undefined) : undefined;
        if (v.pending && v.pending.versionId !== v.current.versionId)
          out.pending.push(`generation ${v.pending.record.generation?.generation ?? '?'} staged, not verified yet`);
        if (v.state?.phase === 'published')
          out.pending.push(`rollout after ${v.state.publishedAt}${v.state.revoke !== undefined ? `, then revoke generation ${v.state.revoke}` : ''}`);
        return {
          ...out,
          generation: g?.generation ?? 0,
          fingerprint: shortFingerprint(v.current.record.fingerprint),
          object: `${v.current.record.source.namespace}/${g?.object ?? v.current.record.source.secret}`,
          ...(issued ? { issuedAt: issued, ageSeconds: Math.round((now.getTime() - Date.parse(issued)) / 1000) } : {}),
          ...(g?.expiresAt ? { expiresAt: g.expiresAt } : {}),
          ...(due ? { dueAt: due.toISOString() } : {}),
          phase: v.state?.phase ?? 'idle',
          ...(v.state?.revoked ? { lastRevoked: v.state.revoked } : {}),
        };
      } catch (err) {
        return { ...out, error: { code: errorCode(err), reason: describeError(err) } };
      }
    }),
  );
}

function select(deps: SyncDeps, clusters: string[] | undefined): DataPlane[] {
  const known = new Set(deps.config.dataPlanes.map((d) => d.id));
  const unknown = (clusters ?? []).filter((c) => !known.has(c));
  if (unknown.length) throw new CredsyncError('UNKNOWN_DATA_PLANE', `unknown data plane(s): ${unknown.join(', ')} (configured: ${[...known].join(', ')})`);
  return clusters?.length ? deps.config.dataPlanes.filter((d) => clusters.includes(d.id)) : deps.config.dataPlanes;
}

/**
 * Makes the previous version of a rotating data plane current again, if it still verifies,
 * then runs the sync for it: publish, restart, wait for the rollout, revoke the generation
 * rolled back from.
 * @throws CredsyncError UNKNOWN_DATA_PLANE; ROTATION_NOT_CONFIGURED when it does not rotate;
 *   ROLLBACK_IMPOSSIBLE when there is no previous version or it no longer verifies (revoked)
 */
export async function rollback(deps: SyncDeps, clusterId: string, opts: { deadline?: number } = {}): Promise<SyncReport> {
  const [dp] = select(deps, [clusterId]);
  requireRotation(deps.config, 'rollback', [clusterId]);
  const store = deps.store;
  if (!isRotationStore(store) || !deps.rotation) throw new CredsyncError('UNSUPPORTED', `store ${store.kind} cannot roll back`);
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
  });
  deps.log.warn('rotation: rolled back', { cluster: clusterId, from, to });
  return runSync(deps, { clusters: [clusterId], ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}) });
}
