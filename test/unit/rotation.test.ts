/**
 * The rotation state machine on in-memory fakes (fast; the proof against real servers is
 * test/integration/rotation.test.ts): the in-memory store's markers, generations never reused,
 * a dry run that writes nothing, a rollout that times out.
 */
import { describe, expect, it } from '@jest/globals';
import { runSync, type SyncDeps } from '../../lib/sync/sync.ts';
import type { DeploymentView, RolloutApi, RotationDataPlaneApi } from '../../lib/kube/ports.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { silentLog } from '../../lib/util/log.ts';
import { FakeControlPlane, FakeDataPlane, fakeToken, fakeVerifier, testCa, testConfig } from './fakes.ts';

/** A data plane whose token controller fills each new token Secret with a token of its own. */
class RotatingDataPlane extends FakeDataPlane implements RotationDataPlaneApi {
  deleted: string[] = [];
  private n = 100;
  private readonly valid: Set<string>;
  constructor(id: string, valid: Set<string>) {
    super(id, { seeded: false });
    this.valid = valid;
    // The fake's own controller would fill every Secret with one token: this class fills them.
    this.controllerRunning = false;
  }
  override async createTokenSecret(namespace: string, name: string, serviceAccount: string) {
    const r = await super.createTokenSecret(namespace, name, serviceAccount);
    const token = fakeToken(this.id, ++this.n);
    this.valid.add(token);
    this.secrets.get(`${namespace}/${name}`)!.data = { token: Buffer.from(token), 'ca.crt': Buffer.from(testCa()), namespace: Buffer.from(namespace) };
    return r;
  }
  async createBindingSecret(): Promise<{ uid: string }> {
    throw new Error('not in these tests');
  }
  async requestToken(): Promise<{ token: string; expiresAt: string }> {
    throw new Error('not in these tests');
  }
  async deleteSecret(namespace: string, name: string) {
    const s = this.secrets.get(`${namespace}/${name}`);
    this.deleted.push(name);
    if (!s) return 'absent' as const;
    this.valid.delete(s.data['token']!.toString());
    this.secrets.delete(`${namespace}/${name}`);
    return 'deleted' as const;
  }
  async caPem() {
    return testCa();
  }
}

/** A control plane whose Deployments roll out at once after a restart, unless `stuck`. */
class RollingControlPlane extends FakeControlPlane implements RolloutApi {
  stuck = false;
  private views = new Map<string, DeploymentView>();
  override async restartDeployment(ns: string, name: string, at: string, annotations?: Record<string, string>) {
    await super.restartDeployment(ns, name, at, annotations);
    const ready = this.stuck ? 1 : 2;
    this.views.set(name, { name, generation: 2, observedGeneration: 2, replicas: 2, statusReplicas: 2, updatedReplicas: 2, readyReplicas: ready, availableReplicas: ready, restartedAt: at, revision: '2', selector: `app=${name}` });
  }
  async getDeployment(_ns: string, name: string) {
    return this.views.get(name);
  }
  async listReplicaSets(_ns: string, selector: string) {
    return [{ name: `${selector}-2`, revision: '2', templateHash: 'h2' }];
  }
  async listPods() {
    return [{ name: 'p', templateHash: 'h2', terminating: false }];
  }
}

function world(rotation: Record<string, unknown> = { mode: 'secret', every: 'off', rolloutTimeoutSeconds: 10 }, extra: Record<string, unknown> = {}, clustersYaml?: string) {
  const valid = new Set<string>();
  const dp = new RotatingDataPlane('dp1', valid);
  const cp = new RollingControlPlane(clustersYaml);
  const store = new MemoryStore();
  let clock = Date.parse('2026-12-01T00:00:00Z');
  const deps: SyncDeps = {
    config: testConfig(['dp1'], { rotation, ...extra }),
    log: silentLog,
    store,
    verify: fakeVerifier(valid),
    dataPlane: async () => dp,
    controlPlane: async () => cp,
    rotation: { dataPlane: async () => dp, controlPlane: async () => cp },
    now: () => new Date(clock),
    sleep: async (ms) => void (clock += ms),
  };
  return { dp, cp, store, deps, valid, tick: (s: number) => (clock += s * 1000) };
}

const rot = (r: Awaited<ReturnType<typeof runSync>>) => {
  const c = r.clusters[0]!;
  if (!c.rotation) throw new Error(`no rotation report: ${c.code} ${c.reason}`);
  return c.rotation;
};

describe('rotation state machine (in-memory)', () => {
  it('mints, promotes, waits and revokes; the in-memory store keeps current/previous and the state', async () => {
    const w = world();
    expect(rot(await runSync(w.deps))).toMatchObject({ generation: 1, rotated: true, reason: 'first', phase: 'idle' });
    const r = await runSync(w.deps, { rotateNow: true });
    expect(r.ok).toBe(true);
    expect(rot(r)).toMatchObject({ generation: 2, rotated: true, reason: 'forced', revoked: 1, phase: 'idle', rollout: { complete: true } });
    expect(w.dp.deleted).toEqual(['flyteadmin-token-1']);
    const v = await w.store.view('dp1');
    expect([v?.current?.record.generation?.generation, v?.previous?.record.generation?.generation, v?.pending]).toEqual([2, 1, undefined]);
    expect(v?.state).toMatchObject({ phase: 'idle', generation: 2, highest: 2, revoked: { generation: 1 } });
  });

  it('mode gitops: rotation writes only the Secret, restarts onto it, then revokes; the chart\'s ConfigMaps are never written', async () => {
    // Prepare: the chart's clusters.yaml already lists dp1 (the exported values).
    const chart =
      'clusters:\n  labelClusterMap:\n    team1:\n      - id: dp1\n        weight: 1\n  clusterConfigs:\n    - name: dp1\n      endpoint: https://dp1.example:6443\n      enabled: true\n' +
      '      auth:\n        tokenPath: /var/run/credentials/dp1_token\n        certPath: /var/run/credentials/dp1_cacert\n';
    const w = world(undefined, { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, mode: 'gitops' } }, chart);
    const first = await runSync(w.deps);
    expect([first.ok, first.controlPlane!.drift]).toEqual([true, undefined]);
    const restarts = w.cp.restarts.length;
    // Act
    const r = await runSync(w.deps, { rotateNow: true });
    // Assess
    expect(r.ok).toBe(true);
    expect(rot(r)).toMatchObject({ generation: 2, rotated: true, revoked: 1, rollout: { complete: true } });
    expect(w.cp.restarts.length).toBe(restarts + 2);
    expect(w.dp.deleted).toEqual(['flyteadmin-token-1']);
    expect(w.cp.writes.every((x) => x.endsWith('Secret cluster-credentials'))).toBe(true);
    expect(w.cp.clustersYaml()).toBe(chart);
  });

  it('a dry run reports what it would rotate and writes nothing', async () => {
    const w = world({ mode: 'secret', every: '1d' });
    await runSync(w.deps);
    const writes = w.store.writes;
    w.tick(2 * 86_400);
    const r = await runSync(w.deps, { dryRun: true });
    expect(rot(r)).toMatchObject({ generation: 1, rotated: false, wouldRotate: true, reason: 'due' });
    expect(w.store.writes).toBe(writes);
    expect(w.dp.deleted).toEqual([]);
  });

  it('a rollout that times out revokes nothing; the next run finishes; generations are never reused', async () => {
    const w = world();
    await runSync(w.deps);
    w.cp.stuck = true;
    const r = await runSync(w.deps, { rotateNow: true });
    expect(r.ok).toBe(false);
    expect(r.rotationError).toMatchObject({ code: 'ROLLOUT_INCOMPLETE' });
    expect(r.rotationError?.reason).toMatch(/flyteadmin: 1 of 2 replicas ready/);
    expect(w.dp.deleted).toEqual([]);
    w.cp.stuck = false;
    await w.cp.restartDeployment('flyte', 'flyteadmin', new Date(Date.parse('2026-12-02T00:00:00Z')).toISOString());
    await w.cp.restartDeployment('flyte', 'syncresources', new Date(Date.parse('2026-12-02T00:00:00Z')).toISOString());
    const done = await runSync(w.deps);
    expect(rot(done)).toMatchObject({ generation: 2, revoked: 1, phase: 'idle' });
    const next = await runSync(w.deps, { rotateNow: true });
    expect(rot(next)).toMatchObject({ generation: 3, revoked: 2 });
    expect(w.dp.secrets.has('flyte/flyteadmin-token-3')).toBe(true);
  });

  it('rotate (--now) of data planes without rotation settings is refused before anything is read or written', async () => {
    const w = world();
    let reads = 0;
    const counting = (config: SyncDeps['config']): SyncDeps => ({ ...w.deps, config, dataPlane: async (dp) => (reads++, w.deps.dataPlane(dp)), controlPlane: async () => (reads++, w.deps.controlPlane()) });
    await expect(runSync(counting(testConfig(['dp1', 'dp2'])), { rotateNow: true })).rejects.toMatchObject({
      code: 'ROTATION_NOT_CONFIGURED',
      message: expect.stringMatching(/^rotate --now: none of the configured data planes \(dp1, dp2\) has rotation settings/),
    });
    const mixed = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp1' ? { rotation: { mode: 'secret', every: 'off' } } : {}));
    await expect(runSync(counting(mixed), { requireRotation: true, clusters: ['dp2'] })).rejects.toMatchObject({
      code: 'ROTATION_NOT_CONFIGURED',
      message: expect.stringMatching(/^rotate: data plane\(s\) dp2 have no rotation settings/),
    });
    expect([reads, w.store.writes, w.cp.writes]).toEqual([0, 0, []]);
  });

  it('a rotation restarts through the config-checksum path: a restart the apply could not make is made by the next run, and the run after restarts nothing', async () => {
    // Prepare: generation 1, then the apply's restart of syncresources fails once.
    const w = world();
    await runSync(w.deps);
    const restart = w.cp.restartDeployment.bind(w.cp);
    let failOnce = true;
    w.cp.restartDeployment = async (ns, name, at, annotations) => {
      if (name === 'syncresources' && failOnce) {
        failOnce = false;
        throw new Error('simulated: the API server refused the patch');
      }
      return restart(ns, name, at, annotations);
    };
    // Act: rotate now, a minute later.
    w.tick(60);
    const r = await runSync(w.deps, { rotateNow: true });
    // Assess: not waited for in vain, nothing revoked.
    expect(r.controlPlane?.restartFailures.map((f) => f.name)).toEqual(['syncresources']);
    expect(r.rotationError?.reason).toMatch(/syncresources: a restart after the new credential was published/);
    expect(rot(r)).toMatchObject({ generation: 2, phase: 'published', rollout: { complete: false, waitedMs: 0 } });
    expect(w.dp.deleted).toEqual([]);
    // The next run restarts what was not, with the checksum, and finishes.
    const before = w.cp.restarts.length;
    const done = await runSync(w.deps);
    expect(done.controlPlane?.restarted).toEqual(['syncresources']);
    expect(rot(done)).toMatchObject({ generation: 2, revoked: 1, phase: 'idle' });
    expect(w.cp.restarts.slice(before).map((x) => x.name)).toEqual(['syncresources']);
    // And the run after that is a no-op: nothing written, nothing restarted.
    const quiet = await runSync(w.deps);
    expect([quiet.ok, quiet.controlPlane?.restarted, quiet.controlPlane?.applied]).toEqual([true, [], false]);
    expect(w.cp.restarts.length).toBe(before + 1);
    for (const name of ['flyteadmin', 'syncresources'])
      expect((await w.cp.getDeploymentTemplate('flyte', name))?.templateAnnotations['flyte-credsync.io/config-checksum']).toBe(quiet.controlPlane?.checksum);
  });

  it('a run killed inside promote (AWSCURRENT moved, the state and the pending marker behind) is repaired from the store by the next run, which revokes the previous generation', async () => {
    // Prepare: generation 1; then a forced rotation whose promote dies after its first write.
    const w = world();
    await runSync(w.deps);
    const promote = w.store.promote;
    w.store.promote = async (clusterId: string, versionId: string) => {
      const m = w.store.markers.get(w.store.entryName(clusterId))!;
      Object.assign(m, { previous: m.current, current: versionId });
      throw new Error('simulated crash inside promote');
    };
    expect((await runSync(w.deps, { rotateNow: true })).ok).toBe(false);
    w.store.promote = promote;
    const killed = await w.store.view('dp1');
    expect([killed?.current?.record.generation?.generation, killed?.pending?.versionId, killed?.state]).toEqual([2, killed?.current?.versionId, { phase: 'idle', generation: 1, highest: 1 }]);
    // Act: the next run, with nothing remembered.
    const r = await runSync(w.deps);
    // Assess: the state repaired to "published, revoke 1", the marker dropped, generation 1 revoked.
    expect(rot(r)).toMatchObject({ generation: 2, revoked: 1, phase: 'idle', rollout: { complete: true } });
    expect(w.dp.deleted).toEqual(['flyteadmin-token-1']);
    const v = await w.store.view('dp1');
    expect([v?.current?.record.generation?.generation, v?.previous?.record.generation?.generation, v?.pending]).toEqual([2, 1, undefined]);
    expect(v?.state).toMatchObject({ phase: 'idle', generation: 2, highest: 2, revoked: { generation: 1 } });
  });
});
