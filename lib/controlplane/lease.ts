/**
 * Mutual exclusion of control-plane applies: a coordination.k8s.io/v1 Lease in the Flyte
 * namespace, held for the whole apply (every write and the restarts), so two syncs never
 * interleave their writes and the two ConfigMaps cannot end up rendered from different
 * configurations.
 *
 * - **Bounded.** The Lease says how long it is valid (`leaseDurationSeconds`). A run that dies
 *   holding it (killed, timed out) blocks the next one for at most that long.
 * - **Renewed.** The holder renews it in the background (every third of the duration) and,
 *   as a fence, right before each write: a renewal is a compare-and-swap on the Lease's
 *   resourceVersion, so a holder that was paused long enough to lose it learns so before it
 *   writes again ({@link LeaseLostError}) instead of writing over its successor.
 * - **Expiry by observation, not by clocks.** As client-go's leader election does, a waiting run
 *   takes the Lease over only after it has seen the same record (resourceVersion) unchanged for
 *   the whole duration on its own monotonic clock; clock skew between machines cannot make it
 *   steal a live Lease.
 * - **Released** at the end (holder cleared), so the next run does not wait.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CredsyncError } from '../errors.ts';
import { ConflictError } from '../kube/errors.ts';
import type { ControlPlaneApi, LeaseObject } from '../kube/ports.ts';
import { timeLeft } from '../util/abort.ts';
import type { Log } from '../util/log.ts';

/** The holder lost the Lease (another run took it over, or it was changed by hand): re-acquire and re-plan. */
export class LeaseLostError extends CredsyncError {
  constructor(message: string) {
    super('CONTROL_PLANE_CONFLICT', message);
    this.name = 'LeaseLostError';
  }
}

export interface LeaseOptions {
  namespace: string;
  /** Lease name (default flyte-credsync; deploy/controlplane-rbac.yaml creates it). */
  name: string;
  /** How long the Lease is valid without renewal. */
  durationSeconds: number;
  /** How long to wait for another run's Lease before giving up with CONTROL_PLANE_BUSY (and never past the invocation's deadline). */
  waitSeconds: number;
  log: Log;
  /** Wall clock for the Lease's times (default Date.now). */
  now?: () => number;
  /** Monotonic clock for expiry by observation (default performance.now). */
  monotonic?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Holder identity (default <hostname>-<pid>-<random>). */
  identity?: string;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A Lease this process holds. */
export class HeldLease {
  private lease: LeaseObject;
  private chain: Promise<void> = Promise.resolve();
  private lost: LeaseLostError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly api: ControlPlaneApi;
  private readonly opts: LeaseOptions;
  readonly identity: string;
  /** How long acquiring took (ms), waiting included. */
  readonly waitedMs: number;
  /** When (monotonic ms) the API server last confirmed the Lease ours: acquired or renewed. */
  private confirmedAt: number;

  constructor(api: ControlPlaneApi, lease: LeaseObject, opts: LeaseOptions, identity: string, waitedMs: number) {
    this.api = api;
    this.lease = lease;
    this.opts = opts;
    this.identity = identity;
    this.waitedMs = waitedMs;
    this.confirmedAt = this.mono();
    const every = Math.max(250, (opts.durationSeconds * 1000) / 3);
    this.timer = setInterval(() => void this.renew().catch(() => undefined), every);
    this.timer.unref();
  }

  /**
   * Renews the Lease (compare-and-swap on its resourceVersion). Awaited before every write.
   * @throws LeaseLostError when another holder took it, or it changed under us
   */
  renew(): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.lost) throw this.lost;
      const renewed: LeaseObject = { ...this.lease, renewTime: new Date((this.opts.now ?? Date.now)()).toISOString() };
      try {
        const sent = this.mono();
        this.lease = await this.api.replaceLease(renewed);
        this.confirmedAt = sent;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        const cur = await this.api.getLease(this.lease.namespace, this.lease.name);
        this.lost = new LeaseLostError(
          `control plane: lost Lease ${this.lease.namespace}/${this.lease.name} (now held by ${cur?.holderIdentity ?? 'nobody'}); not writing further`,
        );
        this.stopTimer();
        throw this.lost;
      }
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Whether this run went longer than the Lease's duration without the API server confirming it
   * ours (a process paused, SIGSTOP, or starved): another run may have taken it over since, so
   * whatever failed meanwhile failed because of that stall, not because the cluster did not answer.
   *
   * @returns the milliseconds since the last confirmation when they exceed the duration, else undefined
   */
  overdueMs(): number | undefined {
    const since = this.mono() - this.confirmedAt;
    return since > this.opts.durationSeconds * 1000 ? Math.round(since) : undefined;
  }

  /**
   * The error for a call that failed while the Lease was overdue ({@link overdueMs}): `LEASE_LOST`,
   * naming the stall, the Lease and what was cut off (a write in flight may or may not have been
   * applied). Undefined when the Lease is not overdue.
   */
  lostBy(err: unknown): CredsyncError | undefined {
    const overdue = this.overdueMs();
    if (overdue === undefined) return undefined;
    const what = err instanceof Error ? err.message : String(err);
    return new CredsyncError(
      'LEASE_LOST',
      `control plane: Lease ${this.lease.namespace}/${this.lease.name} lost: this run went ${Math.round(overdue / 1000)} s without renewing it ` +
        `(it lasts ${this.opts.durationSeconds} s; the process was paused or starved), so another run may hold it and this one stopped writing. ` +
        `What was in flight was cut off and may or may not have been applied (${what}); the next run converges`,
      { cause: err },
    );
  }

  private mono(): number {
    return (this.opts.monotonic ?? (() => performance.now()))();
  }

  /** Clears the holder so the next run need not wait; errors are logged, not thrown. */
  async release(): Promise<void> {
    this.stopTimer();
    await this.chain;
    if (this.lost) return;
    try {
      const { holderIdentity: _h, ...rest } = this.lease;
      await this.api.replaceLease({ ...rest, leaseDurationSeconds: 1, renewTime: new Date((this.opts.now ?? Date.now)()).toISOString() });
    } catch (err) {
      this.opts.log.warn('could not release the control-plane Lease; the next run waits for it to expire', {
        lease: `${this.lease.namespace}/${this.lease.name}`,
        reason: (err as Error).message,
      });
    }
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * Acquires the control-plane Lease, waiting while another live run holds it (see the module
 * header). Creates the Lease when it does not exist.
 *
 * @returns the held Lease; call {@link HeldLease.release} when done (in a `finally`)
 * @throws CredsyncError `CONTROL_PLANE_BUSY` when another run still holds it after
 *   `waitSeconds` (or at the deadline); Kubernetes API errors (a 403 on create means the Lease of
 *   deploy/controlplane-rbac.yaml was not applied)
 */
export async function acquireLease(api: ControlPlaneApi, opts: LeaseOptions): Promise<HeldLease> {
  const now = opts.now ?? Date.now;
  const mono = opts.monotonic ?? (() => performance.now());
  const sleep = opts.sleep ?? defaultSleep;
  const identity = opts.identity ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const start = mono();
  let observed: { rv: string | undefined; since: number } | undefined;
  let logged = false;
  for (;;) {
    const cur = await api.getLease(opts.namespace, opts.name);
    const stamp = new Date(now()).toISOString();
    const mine = (transitions: number): LeaseObject => ({
      name: opts.name,
      namespace: opts.namespace,
      holderIdentity: identity,
      leaseDurationSeconds: opts.durationSeconds,
      acquireTime: stamp,
      renewTime: stamp,
      leaseTransitions: transitions,
    });
    let held: LeaseObject;
    try {
      if (!cur) {
        held = await api.createLease(mine(0));
      } else {
        if (!observed || observed.rv !== cur.resourceVersion) observed = { rv: cur.resourceVersion, since: mono() };
        const free = !cur.holderIdentity || cur.holderIdentity === identity;
        // The holder's own stated duration counts (it may differ from ours), as in client-go.
        const heldFor = (cur.leaseDurationSeconds ?? opts.durationSeconds) * 1000;
        const expired = mono() - observed.since >= heldFor;
        if (!free && !expired) {
          if (!logged) opts.log.info('waiting for another sync to finish with the control plane', { lease: `${opts.namespace}/${opts.name}`, holder: cur.holderIdentity });
          logged = true;
          const waited = mono() - start;
          if (waited >= opts.waitSeconds * 1000 || timeLeft() <= 0)
            throw new CredsyncError(
              'CONTROL_PLANE_BUSY',
              `control plane: Lease ${opts.namespace}/${opts.name} is held by another sync (${cur.holderIdentity}) after waiting ${Math.round(waited / 1000)} s; nothing was written (the next run will)`,
            );
          await sleep(Math.min(1000, Math.max(100, heldFor / 10)));
          continue;
        }
        if (!free) opts.log.warn('took over an expired control-plane Lease', { lease: `${opts.namespace}/${opts.name}`, previousHolder: cur.holderIdentity });
        held = await api.replaceLease({ ...mine((cur.leaseTransitions ?? 0) + (cur.holderIdentity === identity ? 0 : 1)), resourceVersion: cur.resourceVersion });
      }
    } catch (err) {
      if (err instanceof ConflictError) continue; // someone else changed it between our read and write: look again
      throw err;
    }
    return new HeldLease(api, held, opts, identity, Math.round(mono() - start));
  }
}
