/**
 * The pure parts of rotation: settings and the renewal check, the state text kept in the store,
 * and the rollout wait against an in-memory control plane.
 */
import { describe, expect, it } from '@jest/globals';
import { durationSeconds, renewalProblem, rotationSettings } from '../../lib/config/rotation.ts';
import type { DeploymentView, PodView, ReplicaSetView, RolloutApi } from '../../lib/kube/ports.ts';
import { dueAt } from '../../lib/rotation/config.ts';
import { rolloutGap, waitForRollouts } from '../../lib/rotation/rollout.ts';
import { objectName } from '../../lib/rotation/state.ts';
import { decodeState, encodeState, type RotationState } from '../../lib/stores/rotation.ts';
import { StoreError } from '../../lib/errors.ts';

describe('rotation settings', () => {
  it('parses durations and refuses others', () => {
    expect(durationSeconds('90s')).toBe(90);
    expect(durationSeconds('15m')).toBe(900);
    expect(durationSeconds('6h')).toBe(21_600);
    expect(durationSeconds('7d')).toBe(604_800);
    for (const bad of ['0h', '1.5h', '6', 'h', '1w', ' 1h']) expect(() => durationSeconds(bad)).toThrow(/not a duration/);
  });

  it('is off without any rotation block; a data plane overrides the default field by field', () => {
    expect(rotationSettings(undefined, undefined)).toBeUndefined();
    const s = rotationSettings({ mode: 'secret', every: '1d', runEvery: '1h' }, { mode: 'tokenRequest', expirationSeconds: 86_400 });
    expect(s).toEqual({ mode: 'tokenRequest', everySeconds: 86_400, expirationSeconds: 86_400, rolloutTimeoutSeconds: 180, runEverySeconds: 3600 });
    expect(rotationSettings({ every: 'off' }, undefined)?.everySeconds).toBeUndefined();
  });

  it('refuses a tokenRequest schedule that cannot renew before expiry, says what would fit', () => {
    const s = rotationSettings({ mode: 'tokenRequest', expirationSeconds: 3600, runEvery: '6h' }, undefined)!;
    expect(renewalProblem(s)).toMatch(/raise expirationSeconds to at least 65340/);
    expect(renewalProblem({ ...s, expirationSeconds: 65_340 })).toBeUndefined();
    expect(renewalProblem({ ...s, everySeconds: undefined })).toMatch(/cannot be off/);
    expect(renewalProblem(rotationSettings({ mode: 'secret', every: 'off' }, undefined)!)).toBeUndefined();
  });

  it('is due after `every`, and a bounded token at two thirds of its lifetime at the latest', () => {
    const issued = new Date('2026-01-01T00:00:00Z');
    const s = rotationSettings({ mode: 'tokenRequest', every: '7d', expirationSeconds: 86_400 * 3 }, undefined)!;
    expect(dueAt(s, issued, new Date('2026-01-04T00:00:00Z'))?.toISOString()).toBe('2026-01-03T00:00:00.000Z');
    expect(dueAt({ ...s, mode: 'secret' }, issued)?.toISOString()).toBe('2026-01-08T00:00:00.000Z');
    expect(dueAt({ ...s, mode: 'secret', everySeconds: undefined }, issued)).toBeUndefined();
  });
});

describe('rotation state kept in the store', () => {
  it('round-trips, and its text is a valid AWS tag value', () => {
    const states: RotationState[] = [
      { phase: 'idle', generation: 0, highest: 0 },
      { phase: 'published', generation: 3, highest: 4, publishedAt: '2026-12-01T21:00:00.000Z', revoke: 2, revoked: { generation: 1, at: '2026-11-30T21:00:00.000Z' } },
    ];
    for (const s of states) {
      const text = encodeState(s);
      expect(text).toMatch(/^[A-Za-z0-9 _.:/=+\-@]{1,256}$/);
      expect(decodeState('store', 'e', text)).toEqual(s);
    }
  });

  it('refuses an edited state with a clear error', () => {
    for (const bad of ['phase=gone gen=1 max=1', 'phase=idle gen=x max=1', 'phase=published gen=1 max=1', 'nonsense', 'phase=idle gen=1 max=1 revoked=1@yesterday']) {
      expect(() => decodeState('aws-secrets-manager', 'flyte-credsync/dp1', bad)).toThrow(StoreError);
    }
    expect(() => decodeState('aws-secrets-manager', 'flyte-credsync/dp1', 'phase=idle')).toThrow(/flyte-credsync\/dp1: rotation state "phase=idle" is invalid \(gen and max are required\)/);
  });

  it('names generation objects after the token Secret; generation 0 is the token Secret itself', () => {
    expect(objectName('flyteadmin-token', 0)).toBe('flyteadmin-token');
    expect(objectName('flyteadmin-token', 12)).toBe('flyteadmin-token-12');
  });
});

/** A control plane of Deployments, ReplicaSets and pods whose state the test moves on. */
class FakeRollouts implements RolloutApi {
  deployments = new Map<string, DeploymentView>();
  sets: Array<ReplicaSetView & { deployment: string }> = [];
  pods: Array<PodView & { deployment: string }> = [];
  reads = 0;
  async getDeployment(_ns: string, name: string) {
    this.reads++;
    return this.deployments.get(name);
  }
  async listReplicaSets(_ns: string, selector: string) {
    return this.sets.filter((r) => `app=${r.deployment}` === selector);
  }
  async listPods(_ns: string, selector: string) {
    return this.pods.filter((p) => `app=${p.deployment}` === selector);
  }
}

function rolledOut(name: string, revision: string, restartedAt?: string): DeploymentView {
  return {
    name, generation: 2, observedGeneration: 2, replicas: 2, statusReplicas: 2, updatedReplicas: 2, readyReplicas: 2,
    availableReplicas: 2, revision, selector: `app=${name}`, ...(restartedAt ? { restartedAt } : {}),
  };
}

describe('rollout wait', () => {
  const published = new Date('2026-12-01T21:00:00Z');

  it('is complete only when restarted after publication, all replicas updated/ready/available, no old pod left', async () => {
    const api = new FakeRollouts();
    api.deployments.set('flyteadmin', rolledOut('flyteadmin', '2', '2026-12-01T20:59:59Z'));
    api.sets.push({ deployment: 'flyteadmin', name: 'a-1', revision: '1', templateHash: 'h1' }, { deployment: 'flyteadmin', name: 'a-2', revision: '2', templateHash: 'h2' });
    api.pods.push({ deployment: 'flyteadmin', name: 'p1', templateHash: 'h2', terminating: false }, { deployment: 'flyteadmin', name: 'p2', templateHash: 'h2', terminating: false });
    expect(await rolloutGap(api, 'flyte', 'flyteadmin', published)).toBe('a restart after the new credential was published');
    api.deployments.set('flyteadmin', rolledOut('flyteadmin', '2', '2026-12-01T21:00:01Z'));
    expect(await rolloutGap(api, 'flyte', 'flyteadmin', published)).toBeUndefined();
    api.pods.push({ deployment: 'flyteadmin', name: 'old', templateHash: 'h1', terminating: true });
    expect(await rolloutGap(api, 'flyte', 'flyteadmin', published)).toBe('1 pod(s) of an older ReplicaSet to be gone');
    for (const [patch, gap] of [
      [{ observedGeneration: 1 }, 'the controller to observe generation 2'],
      [{ updatedReplicas: 1 }, '1 of 2 replicas updated'],
      [{ statusReplicas: 3 }, '1 old replicas to terminate'],
      [{ readyReplicas: 1 }, '1 of 2 replicas ready'],
      [{ availableReplicas: 0 }, '0 of 2 replicas available'],
    ] as const) {
      api.deployments.set('flyteadmin', { ...rolledOut('flyteadmin', '2', '2026-12-01T21:00:01Z'), ...patch });
      expect(await rolloutGap(api, 'flyte', 'flyteadmin', published)).toBe(gap);
    }
    expect(await rolloutGap(api, 'flyte', 'missing')).toBe('Deployment flyte/missing does not exist');
  });

  it('waits until complete, and gives up after the timeout saying what is missing', async () => {
    const api = new FakeRollouts();
    let clock = 0;
    api.deployments.set('syncresources', { ...rolledOut('syncresources', '1'), readyReplicas: 1 });
    api.sets.push({ deployment: 'syncresources', name: 's-1', revision: '1', templateHash: 'h' });
    const sleep = async (ms: number) => {
      clock += ms;
      if (clock >= 3000) api.deployments.set('syncresources', rolledOut('syncresources', '1'));
    };
    const done = await waitForRollouts(api, 'flyte', ['syncresources'], { timeoutMs: 10_000, pollMs: 1000, sleep, now: () => clock });
    expect(done).toEqual({ complete: true, deployments: [{ name: 'syncresources', complete: true }], waitedMs: 3000 });

    clock = 0;
    api.deployments.set('syncresources', { ...rolledOut('syncresources', '1'), readyReplicas: 1 });
    const never = async (ms: number) => void (clock += ms);
    const stuck = await waitForRollouts(api, 'flyte', ['syncresources'], { timeoutMs: 2500, pollMs: 1000, sleep: never, now: () => clock });
    expect(stuck).toEqual({ complete: false, deployments: [{ name: 'syncresources', complete: false, waitingFor: '1 of 2 replicas ready' }], waitedMs: 2500 });
  });
});
