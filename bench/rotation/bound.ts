/**
 * The rotation benchmark's critical-path bound (bench/rotation-bench.ts), as pure functions of what
 * a run recorded, so that a unit test (test/unit/bench-bound.test.ts) keeps it right.
 *
 * A `rotate --now` run has three phases one after the other: every data plane's preparation (mint,
 * stage, verify, promote: its data-plane calls, reviews and store calls), then the control plane
 * (publish, restart) and the rollout wait, then every data plane's revoke and record. The store
 * has no work during the middle phase. So no concurrency on our side could finish sooner than
 *
 *   max(shared store + slowest data plane, store work) + control plane + rollout wait
 *
 * - slowest data plane: the union of the spans of its own calls (data-plane API calls, reviews,
 *   the store calls naming it), before the publish and after the rollout. Calls it has in flight
 *   at once count once. Measured under load, its store calls include their wait behind the other
 *   data planes' calls, so this term errs high.
 * - shared store: the store calls naming no data plane (the run's batch read; union).
 * - store work: the store's own CPU time in the run (moto's process), when known. Moto answers one
 *   request at a time (one Python interpreter lock), so its CPU time is time that every store call
 *   of the run needs one after another, whatever our concurrency; CPU time is a floor of that.
 * - control plane: the union of its calls' spans, the rollout wait's polls left out.
 * - rollout wait: as measured (Kubernetes' rollout: nothing the rotation can shorten).
 */
import { unionMs } from '../sync/counting.ts';

export type Span = readonly [number, number];

/** The control plane's reads that poll a rollout (waitForRollouts): the rollout wait, counted as such. */
export const ROLLOUT_READS: ReadonlySet<string> = new Set(['getDeployment', 'listReplicaSets', 'listPods']);

/** The data plane a store call names, by its first argument: a cluster id, or a record's. */
export function storeCallId(args: readonly unknown[]): string | undefined {
  const a = args[0];
  if (typeof a === 'string') return a;
  if (a && typeof a === 'object' && typeof (a as { clusterId?: unknown }).clusterId === 'string') return (a as { clusterId: string }).clusterId;
  return undefined;
}

/** What one run recorded, for its bound. */
export interface RotationSpans {
  /** Per data plane id: the spans of its own calls. */
  chains: ReadonlyMap<string, readonly Span[]>;
  /** Store calls naming no data plane. */
  sharedStore: readonly Span[];
  /** Control-plane calls by method name (the rollout polls are left out here). */
  controlPlane: ReadonlyArray<{ name: string; span: Span }>;
  rolloutWaitMs: number;
  /** The store's CPU time during the run (ms), when measured. */
  storeCpuMs?: number;
}

export interface RotationBound {
  boundMs: number;
  slowestChainMs: number;
  sharedStoreMs: number;
  storeWorkMs: number;
  controlPlaneMs: number;
  rolloutWaitMs: number;
  /** Which term set the bound's first part. */
  limitedBy: 'data plane' | 'store';
}

export function rotationBound(s: RotationSpans): RotationBound {
  const slowestChainMs = Math.max(0, ...[...s.chains.values()].map(unionMs));
  const sharedStoreMs = unionMs(s.sharedStore);
  const controlPlaneMs = unionMs(s.controlPlane.filter((c) => !ROLLOUT_READS.has(c.name)).map((c) => c.span));
  const storeWorkMs = s.storeCpuMs ?? 0;
  const dataPlanes = sharedStoreMs + slowestChainMs;
  return {
    boundMs: Math.max(dataPlanes, storeWorkMs) + controlPlaneMs + s.rolloutWaitMs,
    slowestChainMs,
    sharedStoreMs,
    storeWorkMs,
    controlPlaneMs,
    rolloutWaitMs: s.rolloutWaitMs,
    limitedBy: storeWorkMs > dataPlanes ? 'store' : 'data plane',
  };
}
