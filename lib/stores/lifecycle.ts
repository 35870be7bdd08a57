/**
 * A data plane's retirement, as it is kept on its store entry (never only in memory), so a run
 * killed at any step is finished by the next one:
 *
 *   marker      AWS Secrets Manager: tag `flyte-credsync-lifecycle`; GCP Secret Manager: annotation
 *               `flyte-credsync-lifecycle`; in memory: beside the versions
 *
 * The steps, each a write the next run can see (docs/data-plane-lifecycle.md):
 *   0. (a cluster-deleted event only) `phase=draining at=<event time> reason=deleted [forced=<n>]`:
 *      its cluster was deleted, with n executions unfinished (absent: they could not be counted);
 *      the data plane drains (even once discovery no longer finds it) and is no longer synced, and
 *      it is retired once the drain is in effect, whatever ran there;
 *   1. decided: `phase=retiring at=<time> [forced=<n>]`; from then on the control plane is rendered
 *      without the data plane (its clusterConfigs entry, label memberships and Secret keys removed)
 *      and its credential is no longer synced;
 *   2. the control plane is written and flyteadmin and syncresources restarted (by the apply), and
 *      their rollout is complete, every pod started at or after `at`;
 *   3. its credential is revoked on the data plane: `phase=revoked revoke=done|skipped` (skipped: the
 *      data plane no longer answers);
 *   4. the entry's deletion is scheduled with a recovery window: `phase=deleting`, then
 *      Secrets Manager `DeleteSecret` with `RecoveryWindowInDays` / on GCP every version disabled
 *      and `deleteAfter` recorded (undone by enabling them).
 */
import { StoreError } from '../errors.ts';

export const LIFECYCLE_KEY = 'flyte-credsync-lifecycle';

export type RetirePhase = 'draining' | 'retiring' | 'revoked' | 'deleting';

export interface RetireState {
  phase: RetirePhase;
  /**
   * When retirement was decided: the restart onto the configuration without it must be later.
   * Phase `draining`: when the cluster-deleted event was handled.
   */
  at: string;
  /** Retired with this many executions unfinished (`--force`, maxDrainTime, the cluster was deleted). */
  forced?: number;
  /** Why it was forced: `force`, `maxDrainTime` or `deleted`. */
  reason?: 'force' | 'maxDrainTime' | 'deleted';
  /** phase revoked/deleting: whether the credential was revoked, or skipped (the data plane did not answer). */
  revoke?: 'done' | 'skipped';
  /** phase deleting (GCP): when the disabled entry may be deleted for good. */
  deleteAfter?: string;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

/** One line of `key=value` words, valid as an AWS tag value and a GCP annotation value. */
export function encodeRetire(s: RetireState): string {
  const parts = [`phase=${s.phase}`, `at=${s.at}`];
  if (s.forced !== undefined) parts.push(`forced=${s.forced}`);
  if (s.reason) parts.push(`reason=${s.reason}`);
  if (s.revoke) parts.push(`revoke=${s.revoke}`);
  if (s.deleteAfter) parts.push(`deleteAfter=${s.deleteAfter}`);
  return parts.join(' ');
}

/**
 * Parses {@link encodeRetire}'s text.
 * @throws StoreError when it is not a retirement state (someone edited the marker)
 */
export function decodeRetire(store: string, entry: string, text: string): RetireState {
  const bad = (why: string) => new StoreError(store, `secret ${entry}: lifecycle marker "${text.slice(0, 120)}" is invalid (${why}); fix or remove the ${LIFECYCLE_KEY} marker`);
  const kv = new Map<string, string>();
  for (const word of text.trim().split(/\s+/)) {
    const i = word.indexOf('=');
    if (i <= 0) throw bad(`"${word}" is not key=value`);
    kv.set(word.slice(0, i), word.slice(i + 1));
  }
  const phase = kv.get('phase');
  if (phase !== 'draining' && phase !== 'retiring' && phase !== 'revoked' && phase !== 'deleting') throw bad('phase must be draining, retiring, revoked or deleting');
  const at = kv.get('at');
  if (!at || !ISO.test(at)) throw bad('at is not a time');
  const s: RetireState = { phase, at };
  const forced = kv.get('forced');
  if (forced !== undefined) {
    if (!/^\d{1,9}$/.test(forced)) throw bad('forced is not a number');
    s.forced = Number(forced);
  }
  const reason = kv.get('reason');
  if (reason !== undefined) {
    if (reason !== 'force' && reason !== 'maxDrainTime' && reason !== 'deleted') throw bad('reason must be force, maxDrainTime or deleted');
    s.reason = reason;
  }
  const revoke = kv.get('revoke');
  if (revoke !== undefined) {
    if (revoke !== 'done' && revoke !== 'skipped') throw bad('revoke must be done or skipped');
    s.revoke = revoke;
  }
  if (phase === 'draining' && s.reason !== 'deleted') throw bad('phase draining is only recorded for a deleted cluster (reason=deleted)');
  const after = kv.get('deleteAfter');
  if (after !== undefined) {
    if (!ISO.test(after)) throw bad('deleteAfter is not a time');
    s.deleteAfter = after;
  }
  return s;
}

/** Whether a marker records a cluster-deleted event that has not led to a retirement decision yet. */
export function isDeletedDrain(s: RetireState | undefined): boolean {
  return s?.phase === 'draining' && s.reason === 'deleted';
}

/** A store entry as retirement sees it. */
export interface LifecycleView {
  state?: RetireState;
  /** The backend has the entry scheduled for deletion (AWS DeletedDate; GCP: every version disabled). */
  scheduledDeletion?: string;
}

/** What retirement needs of a store (every adapter the runtime builds has it; lib/stores). */
export interface LifecycleStore {
  readonly kind: string;
  entryName(clusterId: string): string;
  /**
   * The entry's retirement marker and deletion schedule; undefined when there is no entry.
   * @throws StoreOwnershipError when the entry is not ours
   */
  lifecycle(clusterId: string): Promise<LifecycleView | undefined>;
  /** Writes the retirement marker. */
  setLifecycle(clusterId: string, state: RetireState): Promise<void>;
  /**
   * Schedules the entry's deletion, undoable for `recoveryDays` (AWS: DeleteSecret with
   * RecoveryWindowInDays, undone by RestoreSecret; GCP: every version disabled, undone by enabling
   * them). Already scheduled: nothing written.
   * @returns when it is deleted for good (AWS), or may be (GCP)
   */
  scheduleDeletion(clusterId: string, recoveryDays: number, now: Date): Promise<string>;
}

export function isLifecycleStore(s: unknown): s is LifecycleStore {
  const l = s as Partial<LifecycleStore> | null;
  return !!l && typeof l.lifecycle === 'function' && typeof l.setLifecycle === 'function' && typeof l.scheduleDeletion === 'function';
}
