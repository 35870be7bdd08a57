/**
 * The sync's drain step: for each data plane the control plane holds as draining (configuration
 * `state: draining`, or `credsync drain`; lib/controlplane/apply.ts drainingSince), how many of its
 * executions are unfinished, which, and since when it drains. Read-only: a count that fails is
 * reported on that data plane and does not fail the run (its credential's own sync says whether
 * the cluster answers). docs/data-plane-lifecycle.md.
 */
import type { Config, DataPlane } from '../config/schema.ts';
import type { DataPlaneApi } from '../kube/ports.ts';
import { describeError, errorCode } from '../errors.ts';
import { durationSeconds } from '../config/rotation.ts';
import { mapBounded, type Log } from '../util/log.ts';
import { unfinishedExecutions, type UnfinishedExecution } from './executions.ts';

/** What a report says of a draining data plane. */
export interface DrainReport {
  /** When it started draining (RFC 3339). */
  since: string;
  /** Its unfinished executions (absent when they could not be counted: see `error`). */
  unfinished?: number;
  /** The oldest unfinished ones, at most 20 (lib/lifecycle/executions.ts). */
  executions?: UnfinishedExecution[];
  /**
   * Its cluster was deleted (a cluster-deleted event, at `at`): it retires once the drain is in
   * effect; `unfinished` executions were lost with it (absent: the cluster did not answer).
   */
  clusterDeleted?: { at: string; unfinished?: number };
  /** `maxDrainTime` elapsed: it is retired whatever still runs (reported as forced). */
  maxDrainTimeElapsed?: boolean;
  /** Why the executions could not be counted (a stable code and a secret-free reason). */
  error?: { code: string; reason: string };
}

/** When `dp`'s drain reaches its configured maximum, if it has one. */
export function drainDeadline(dp: Pick<DataPlane, 'maxDrainTime'>, since: string): Date | undefined {
  if (!dp.maxDrainTime) return undefined;
  return new Date(Date.parse(since) + durationSeconds(dp.maxDrainTime) * 1000);
}

/**
 * Counts the unfinished executions of every draining data plane (at most `cfg.concurrency` at once).
 *
 * @param draining data plane id -> draining since, as the control plane holds it after the apply
 * @returns data plane id -> its drain report
 */
export async function drainStep(
  cfg: Config,
  draining: ReadonlyMap<string, string>,
  connect: (dp: DataPlane) => Promise<DataPlaneApi>,
  now: () => Date,
  log: Log,
): Promise<Map<string, DrainReport>> {
  const planes = cfg.dataPlanes.filter((d) => draining.has(d.id));
  const out = new Map<string, DrainReport>();
  await mapBounded(planes, cfg.concurrency, async (dp) => {
    const since = draining.get(dp.id)!;
    const deadline = drainDeadline(dp, since);
    const r: DrainReport = { since, ...(deadline && deadline <= now() ? { maxDrainTimeElapsed: true } : {}) };
    try {
      const s = await unfinishedExecutions(await connect(dp), now());
      r.unfinished = s.unfinished;
      r.executions = s.executions;
      log.info('draining data plane', { cluster: dp.id, since, unfinished: s.unfinished, ...(s.executions[0] ? { oldest: s.executions[0].executionId } : {}) });
    } catch (err) {
      r.error = { code: errorCode(err), reason: describeError(err) };
      log.warn('cannot count the executions of a draining data plane', { cluster: dp.id, ...r.error });
    }
    out.set(dp.id, r);
  });
  return out;
}
