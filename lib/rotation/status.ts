/**
 * `credsync status`: what the store says of each data plane's rotation (no cluster is contacted;
 * nothing is written). The command that acts on it, `rollback`, runs a sync: lib/sync/rollback.ts.
 */
import type { Config, DataPlane } from '../config/schema.ts';
import { CredsyncError, describeError, errorCode } from '../errors.ts';
import type { RotationState } from '../stores/rotation.ts';
import { canRotate, shortFingerprint, type SecretStore } from '../stores/types.ts';
import { dueAt, settingsFor } from './config.ts';
import type { DrainReport } from '../lifecycle/drain.ts';
import { boundedList } from '../util/bounded.ts';
import { mapBounded } from '../util/log.ts';

/** What the status reads: the configuration and the store. */
export interface StatusDeps {
  config: Config;
  store: SecretStore;
  now?: () => Date;
}

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
  /** Draining: since when, its unfinished executions (lib/lifecycle/status.ts; the CLI adds it). */
  drain?: DrainReport;
}

/** Per data plane, what the store says (no cluster is contacted; nothing is written). */
export async function rotationStatus(deps: StatusDeps, opts: { clusters?: string[] } = {}): Promise<DataPlaneStatus[]> {
  const store = deps.store;
  if (!canRotate(store)) throw new CredsyncError('UNSUPPORTED', `store ${store.kind} cannot report rotation state`);
  const now = (deps.now ?? (() => new Date()))();
  const selected = selectDataPlanes(deps.config, opts.clusters);
  // At most `concurrency` store reads at once: 5,000 at once timed the store out (issue #20).
  return mapBounded(selected, deps.config.concurrency, async (dp): Promise<DataPlaneStatus> => {
    const s = settingsFor(deps.config, dp);
    const out: DataPlaneStatus = { id: dp.id, mode: s?.mode ?? 'off', pending: [] };
    try {
      const v = await store.view(dp.id, { previous: false });
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
  });
}

/**
 * The configured data planes named in `clusters` (all of them when none is named).
 * @throws CredsyncError UNKNOWN_DATA_PLANE for a name that is not configured
 */
export function selectDataPlanes(cfg: Config, clusters: string[] | undefined): DataPlane[] {
  const known = new Set(cfg.dataPlanes.map((d) => d.id));
  const unknown = (clusters ?? []).filter((c) => !known.has(c));
  if (unknown.length) throw new CredsyncError('UNKNOWN_DATA_PLANE', `unknown data plane(s): ${boundedList(unknown)} (configured: ${boundedList([...known])})`);
  return clusters?.length ? cfg.dataPlanes.filter((d) => clusters.includes(d.id)) : cfg.dataPlanes;
}
