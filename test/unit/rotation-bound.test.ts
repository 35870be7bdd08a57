/**
 * The rotation benchmark's critical-path bound (bench/rotation/bound.ts): max(shared store + slowest
 * data plane, store work) + control plane + rollout wait, each term from what a run recorded.
 */
import { describe, expect, it } from '@jest/globals';
import { rotationBound, storeCallId, type Span } from '../../bench/rotation/bound.ts';

const chains = (o: Record<string, Span[]>) => new Map(Object.entries(o));

describe('rotationBound', () => {
  it('adds the slowest data plane (its spans as a union) to the shared store, the control plane and the rollout wait', () => {
    // Prepare: r1's calls one after another (10 + 15) and a review inside its mint (counted once),
    // then its revoke after the rollout (5); r2 shorter. Two batch reads in flight at once.
    const b = rotationBound({
      chains: chains({
        r1: [[0, 10], [10, 25], [12, 20], [200, 205]],
        r2: [[0, 8], [200, 202]],
      }),
      sharedStore: [[0, 4], [1, 6]],
      controlPlane: [
        { name: 'getConfigMap', span: [30, 40] },
        { name: 'replaceSecret', span: [40, 50] },
        // The rollout wait's polls: counted in the rollout wait, not here.
        { name: 'getDeployment', span: [60, 190] },
        { name: 'listReplicaSets', span: [70, 80] },
        { name: 'listPods', span: [80, 90] },
      ],
      rolloutWaitMs: 140,
    });
    // Assess
    expect(b).toEqual({ slowestChainMs: 30, sharedStoreMs: 6, storeWorkMs: 0, controlPlaneMs: 20, rolloutWaitMs: 140, boundMs: 6 + 30 + 20 + 140, limitedBy: 'data plane' });
  });

  it('takes the store work instead when the store needs longer than the slowest data plane (it answers one request at a time)', () => {
    const b = rotationBound({ chains: chains({ r1: [[0, 30]] }), sharedStore: [[0, 6]], controlPlane: [{ name: 'replaceSecret', span: [40, 50] }], rolloutWaitMs: 100, storeCpuMs: 500 });
    expect(b.boundMs).toBe(500 + 10 + 100);
    expect(b.limitedBy).toBe('store');
    expect(b.storeWorkMs).toBe(500);
    // ... and not when it needs less.
    expect(rotationBound({ chains: chains({ r1: [[0, 30]] }), sharedStore: [[0, 6]], controlPlane: [], rolloutWaitMs: 100, storeCpuMs: 35 }).boundMs).toBe(36 + 100);
  });

  it('is the rollout wait alone for a run with no calls recorded', () => {
    expect(rotationBound({ chains: new Map(), sharedStore: [], controlPlane: [], rolloutWaitMs: 7 })).toMatchObject({ boundMs: 7, slowestChainMs: 0 });
  });
});

describe('storeCallId', () => {
  it('names the data plane of a store call by its id or its record, and none for a batch read', () => {
    expect(storeCallId(['r7', { phase: 'idle' }])).toBe('r7');
    expect(storeCallId([{ clusterId: 'r8', token: 'x' }, { seen: {} }])).toBe('r8');
    expect(storeCallId([['r1', 'r2']])).toBeUndefined();
    expect(storeCallId([])).toBeUndefined();
  });
});
