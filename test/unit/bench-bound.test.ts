/**
 * The benchmark's critical-path bound (bench/sync-bench.ts): a data plane's chain is the union of
 * its calls' time spans, so calls one after another add up and calls in flight at once count once;
 * the sync's phases (the drain plan's control-plane reads, the data planes, the apply) each count once.
 */
import { describe, expect, it } from '@jest/globals';
import { criticalPath, unionMs } from '../../bench/sync/counting.ts';

describe('unionMs', () => {
  it('adds sequential spans, counts overlapping and nested spans once, in any order', () => {
    expect(unionMs([])).toBe(0);
    expect(unionMs([[0, 10], [10, 25]])).toBe(25); // Secret GET, then the reviews
    expect(unionMs([[0, 10], [2, 8]])).toBe(10); // reviews asked while the GET is in flight
    expect(unionMs([[5, 30], [0, 10], [40, 45]])).toBe(35);
    expect(unionMs([[0, 10], [0, 10]])).toBe(10);
  });
});

describe('criticalPath', () => {
  // A first sync as runSync makes it (times in ms from an arbitrary origin, the sync from 1000 to 2000):
  // the drain plan reads both ConfigMaps at once, then the store's batch read, then the data planes
  // at once, then the apply (reads, writes, restarts) until the end.
  const sync = {
    start: 1000,
    end: 2000,
    controlPlaneSpans: [
      [1002, 1020], // drain plan: ConfigMap 1
      [1003, 1018], // drain plan: ConfigMap 2, in flight at once
      [1150, 1170], // apply: plan reads
      [1150, 1180], // apply: Deployments read at once
      [1200, 1990], // apply: writes and restarts
    ] as Array<[number, number]>,
    batchSpan: [1020, 1060] as [number, number],
    chainSpans: [
      [[1060, 1080], [1080, 1100]], // b1: Secret GET, then reviews
      [[1060, 1090], [1070, 1140]], // b2: the slowest (reviews in flight with its GET): 80 ms
    ] as Array<Array<[number, number]>>,
  };

  it('counts each phase once: the drain plan reads + the batch read + the slowest chain + the apply as measured', () => {
    const p = criticalPath(sync);
    expect(p).toEqual({ preludeMs: 18, batchMs: 40, slowestChainMs: 80, dataPlanePhaseMs: 150, controlPlaneMs: 850, boundMs: 18 + 40 + 80 + 850 });
    // Never more than the sync itself: the drain plan's early control-plane reads do not start the
    // apply phase (which counted the data planes' phase twice: 1,733-2,043 ms of bound for 1,560 ms of sync).
    expect(p.boundMs).toBeLessThanOrEqual(sync.end - sync.start);
  });

  it('equals the sync when its phases follow one another with no gap', () => {
    const tight = { ...sync, controlPlaneSpans: [[1000, 1020], [1140, 2000]] as Array<[number, number]>, chainSpans: [[[1060, 1140]]] as Array<Array<[number, number]>> };
    expect(criticalPath(tight).boundMs).toBe(1000);
  });

  it('without a drain plan read (mode gitops) or a batch read (a store without one), those terms are 0', () => {
    const p = criticalPath({ ...sync, batchSpan: undefined, controlPlaneSpans: sync.controlPlaneSpans.slice(2) });
    expect(p).toMatchObject({ preludeMs: 0, batchMs: 0, slowestChainMs: 80, dataPlanePhaseMs: 150, controlPlaneMs: 850 });
    expect(p.boundMs).toBe(930);
  });
});
