/**
 * Retiring a drained data plane on in-memory fakes (the proof against real servers is
 * test/integration/retire.test.ts): never while an execution is unfinished (unless forced, and then
 * reported), never revoked before the rollout without it, the phase on the store entry so a killed
 * run converges, and a retired data plane's later runs write nothing.
 */
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { runSync, type SyncDeps } from '../../lib/sync/sync.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { DRAINING_ANNOTATION } from '../../lib/controlplane/render.ts';
import type { DeploymentView, RolloutApi } from '../../lib/kube/ports.ts';
import type { FlyteWorkflowView } from '../../lib/kube/ports.ts';
import { decodeRetire, encodeRetire, LIFECYCLE_KEY } from '../../lib/stores/lifecycle.ts';
import { formatReport } from '../../lib/cli/format.ts';
import { silentLog } from '../../lib/util/log.ts';
import { CredsyncError } from '../../lib/errors.ts';
import { FakeControlPlane, FakeDataPlane, fakeToken, fakeVerifier, testConfig } from './fakes.ts';

class DeletableDataPlane extends FakeDataPlane {
  deleted: string[] = [];
  async deleteSecret(namespace: string, name: string) {
    if (this.down) throw new CredsyncError('CLUSTER_UNREACHABLE', `data plane ${this.id}: connect ECONNREFUSED`);
    this.deleted.push(`${namespace}/${name}`);
    return this.secrets.delete(`${namespace}/${name}`) ? ('deleted' as const) : ('absent' as const);
  }
}

/** Deployments that roll out at once after a restart, unless `stuck`; `log` records restarts and revokes in order. */
class RollingControlPlane extends FakeControlPlane implements RolloutApi {
  stuck = false;
  order: string[] = [];
  private views = new Map<string, DeploymentView>();
  override async restartDeployment(ns: string, name: string, at: string, annotations?: Record<string, string>) {
    await super.restartDeployment(ns, name, at, annotations);
    this.order.push(`restart ${name}`);
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

const wf = (executionId: string, phase: number): FlyteWorkflowView => ({ namespace: 'p-development', name: executionId, executionId, phase, createdAt: '2026-12-01T00:00:00Z' });

function world() {
  const ids = ['dp1', 'dp2'];
  const dps = new Map(ids.map((id) => [id, new DeletableDataPlane(id)]));
  const cp = new RollingControlPlane();
  const store = new MemoryStore();
  let clock = Date.parse('2026-12-01T12:00:00Z');
  const deps: SyncDeps = {
    config: testConfig(ids),
    log: silentLog,
    store,
    verify: fakeVerifier(new Set(ids.map((id) => fakeToken(id)))),
    dataPlane: async (dp) => {
      const d = dps.get(dp.id)!;
      if (d.down) throw new CredsyncError('CLUSTER_UNREACHABLE', `data plane ${dp.id}: connect ECONNREFUSED ${d.server}`);
      return d;
    },
    controlPlane: async () => cp,
    now: () => new Date(clock),
    sleep: async (ms) => void (clock += ms),
  };
  const origDelete = dps.get('dp2')!.deleteSecret.bind(dps.get('dp2')!);
  dps.get('dp2')!.deleteSecret = async (ns, name) => {
    cp.order.push(`revoke ${name}`);
    return origDelete(ns, name);
  };
  return { dps, cp, store, deps, tick: (s: number) => (clock += s * 1000) };
}

const clusters = (cp: FakeControlPlane) => parse(cp.clustersYaml()).clusters as { clusterConfigs: Array<{ name: string; enabled: boolean }>; labelClusterMap: Record<string, Array<{ id: string }>> };

describe('retire (in-memory)', () => {
  it('drain -> executions counted -> the last one finishes -> retired in one run: entry and keys gone, restarted before the revoke, deletion scheduled; later runs write nothing', async () => {
    const w = world();
    const dp2 = w.dps.get('dp2')!;
    dp2.workflows = [wf('running', 1), wf('done', 3)];
    await runSync(w.deps);
    w.tick(60);
    const drained = await runSync(w.deps, { drain: ['dp2'] });
    expect(drained.ok).toBe(true);
    expect(drained.clusters.find((c) => c.id === 'dp2')!.drain).toMatchObject({ unfinished: 1 });
    w.tick(60);
    // Still running: no retirement, even asked without --force.
    const kept = await runSync(w.deps, { retire: { clusters: ['dp2'], force: false } });
    expect(kept.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'unchanged', drain: { unfinished: 1 } });
    expect(clusters(w.cp).clusterConfigs.map((e) => e.name)).toEqual(['dp1', 'dp2']);
    // The execution finishes: the next plain run retires it.
    dp2.workflows = [wf('running', 3), wf('done', 3)];
    w.tick(60);
    w.cp.order = [];
    const writesBefore = w.cp.writes.length;
    const r = await runSync(w.deps);
    expect(r.ok).toBe(true);
    // Both ConfigMaps drop its entry before the Secret drops its keys: killed in between, every
    // listed entry still has its files (test/faults/cluster-deleted.test.ts kills it there for real).
    expect(w.cp.writes.slice(writesBefore)).toEqual(['update ConfigMap flyte-admin-clusters-config', 'update ConfigMap flyte-clusterresourcesync-config', 'update Secret cluster-credentials']);
    const c = r.clusters.find((x) => x.id === 'dp2')!;
    // Decided at this run's time (the fake clock does not move within a run): 30 days after 12:03:00.
    expect(c).toMatchObject({ status: 'retired', retire: { phase: 'retired', revoke: 'done', revokedObjects: ['flyte/flyteadmin-token'], deletionDate: '2026-12-31T12:03:00.000Z' } });
    expect(c.retire!.forced).toBeUndefined();
    expect(clusters(w.cp).clusterConfigs.map((e) => e.name)).toEqual(['dp1']);
    expect(Object.keys(w.cp.secrets.get('flyte/cluster-credentials')!.data).sort()).toEqual(['dp1_cacert', 'dp1_token']);
    expect(w.cp.order).toEqual(['restart flyteadmin', 'restart syncresources', 'revoke flyteadmin-token']);
    expect(decodeRetire('memory', 'x', w.store.entries.get('flyte-credsync/dp2')!.tags[LIFECYCLE_KEY]!)).toMatchObject({ phase: 'deleting', revoke: 'done' });
    expect(formatReport(r)).toContain('⏏ dp2: retired; decided 2026-12-01T12:03:00.000Z; credential revoked (flyte/flyteadmin-token deleted); store entry deleted for good after 2026-12-31T12:03:00.000Z');
    // Later runs: nothing written, nothing restarted, dp2 not synced again (its token Secret stays deleted).
    const writes = [w.store.writes, w.cp.writes.length, w.cp.restarts.length];
    w.tick(60);
    const again = await runSync(w.deps);
    expect(again.ok).toBe(true);
    expect(again.clusters.find((x) => x.id === 'dp2')!.status).toBe('retired');
    expect([w.store.writes, w.cp.writes.length, w.cp.restarts.length]).toEqual(writes);
    expect(dp2.secrets.has('flyte/flyteadmin-token')).toBe(false);
  });

  it('a data plane draining by configuration is never retired in the run that first sees it (flyteadmin still routes to it)', async () => {
    const w = world();
    await runSync(w.deps);
    w.tick(60);
    w.deps.config = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { state: 'draining' } : {}));
    const first = await runSync(w.deps);
    expect(first.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'unchanged', drain: { unfinished: 0 } });
    expect(first.clusters.find((c) => c.id === 'dp2')!.retire).toBeUndefined();
    expect(clusters(w.cp).clusterConfigs.find((e) => e.name === 'dp2')).toMatchObject({ enabled: false });
    w.tick(60);
    expect((await runSync(w.deps)).clusters.find((c) => c.id === 'dp2')!.status).toBe('retired');
  });

  it('a drain not yet in effect (flyteadmin not restarted since) does not retire, even with nothing running', async () => {
    const w = world();
    await runSync(w.deps);
    w.cp.configMaps.get('flyte/flyte-admin-clusters-config')!.annotations[DRAINING_ANNOTATION] = 'dp2@2026-12-01T12:00:30Z';
    w.tick(60);
    const r = await runSync(w.deps);
    // This run writes the drain's routing change and restarts; retirement waits for a later run.
    expect(r.clusters.find((c) => c.id === 'dp2')!.retire).toBeUndefined();
    w.tick(60);
    expect((await runSync(w.deps)).clusters.find((c) => c.id === 'dp2')!.status).toBe('retired');
  });

  it('a data plane already disabled and in no label (a drain that changes nothing flyteadmin reads) retires once nothing runs there, without --force', async () => {
    const w = world();
    const disabled = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { enabled: false, labels: {} } : {}));
    w.deps.config = disabled;
    await runSync(w.deps);
    const restarts = w.cp.restarts.length;
    w.tick(60);
    // Now draining: only the annotation changes, flyteadmin is not restarted.
    w.deps.config = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { enabled: false, labels: {}, state: 'draining' } : {}));
    const drained = await runSync(w.deps);
    expect(drained.ok).toBe(true);
    expect(drained.clusters.find((c) => c.id === 'dp2')!.retire).toBeUndefined(); // first seen draining: never retired in that run
    expect(w.cp.restarts.length).toBe(restarts);
    w.tick(60);
    const r = await runSync(w.deps);
    expect(r.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'retired', retire: { phase: 'retired', revoke: 'done' } });
    expect(r.clusters.find((c) => c.id === 'dp2')!.retire!.forced).toBeUndefined();
  });

  it('--force retires with executions unfinished and says how many; a data plane that does not answer is retired without the revoke, and says so', async () => {
    const w = world();
    const dp2 = w.dps.get('dp2')!;
    dp2.workflows = [wf('a', 1), wf('b', 0)];
    await runSync(w.deps, { drain: ['dp2'] });
    w.tick(60);
    dp2.down = true;
    const r = await runSync(w.deps, { retire: { clusters: ['dp2'], force: true } });
    expect(r.ok).toBe(true);
    const c = r.clusters.find((x) => x.id === 'dp2')!;
    // It did not answer, so its executions could not be counted: forced with an unknown count.
    expect(c.retire).toMatchObject({ phase: 'retired', forced: { reason: 'force' }, revoke: 'skipped', revokeSkipped: expect.stringContaining('did not answer') });
    const w2 = world();
    w2.dps.get('dp2')!.workflows = [wf('a', 1), wf('b', 0)];
    await runSync(w2.deps, { drain: ['dp2'] });
    w2.tick(60);
    const f = await runSync(w2.deps, { retire: { clusters: ['dp2'], force: true } });
    expect(f.clusters.find((x) => x.id === 'dp2')!.retire).toMatchObject({ phase: 'retired', forced: { reason: 'force', unfinished: 2 }, revoke: 'done' });
    expect(formatReport(f)).toContain('FORCED (force) with 2 unfinished execution(s)');
  });

  it('retire of a data plane that does not drain is refused before anything is written', async () => {
    const w = world();
    await runSync(w.deps);
    const writes = [w.store.writes, w.cp.writes.length];
    await expect(runSync(w.deps, { retire: { clusters: ['dp2'], force: true } })).rejects.toMatchObject({ code: 'DATA_PLANE_NOT_DRAINING' });
    expect([w.store.writes, w.cp.writes.length]).toEqual(writes);
  });

  it('converges after a stop at each step: decided only, rollout incomplete, revoked only', async () => {
    const w = world();
    await runSync(w.deps, { drain: ['dp2'] });
    w.tick(60);
    // Stop 1: the decision written, nothing else (a killed run).
    const at = new Date(Date.parse('2026-12-01T12:01:00Z')).toISOString();
    await w.store.setLifecycle('dp2', { phase: 'retiring', at });
    // Stop 2: the rollout does not complete: nothing revoked, the run is not ok, resumed next time.
    w.cp.stuck = true;
    const stuck = await runSync(w.deps);
    expect(stuck.ok).toBe(false);
    expect(stuck.clusters.find((c) => c.id === 'dp2')!.retire).toMatchObject({ phase: 'retiring', error: { code: 'ROLLOUT_INCOMPLETE' } });
    expect(w.dps.get('dp2')!.deleted).toEqual([]);
    expect(clusters(w.cp).clusterConfigs.map((e) => e.name)).toEqual(['dp1']);
    w.cp.stuck = false;
    w.cp.deployments.set('flyte/flyteadmin', {});
    w.cp.deployments.set('flyte/syncresources', {});
    await w.cp.restartDeployment('flyte', 'flyteadmin', new Date(Date.parse(at) + 1000).toISOString());
    await w.cp.restartDeployment('flyte', 'syncresources', new Date(Date.parse(at) + 1000).toISOString());
    // Stop 3: revoked and recorded, deletion not scheduled yet.
    await w.store.setLifecycle('dp2', { phase: 'revoked', at, revoke: 'done' });
    const done = await runSync(w.deps);
    expect(done.ok).toBe(true);
    expect(done.clusters.find((c) => c.id === 'dp2')!.retire).toMatchObject({ phase: 'retired', revoke: 'done', deletionDate: expect.any(String) });
    expect(w.dps.get('dp2')!.deleted).toEqual([]); // revoked before the stop: not again
    expect(w.store.entries.get('flyte-credsync/dp2')!.deletionDate).toBeDefined();
  });

  it('the marker round-trips, and an edited one is refused with a coded error naming it', () => {
    const s = { phase: 'deleting' as const, at: '2026-12-01T12:00:00.000Z', forced: 3, reason: 'maxDrainTime' as const, revoke: 'skipped' as const, deleteAfter: '2026-12-31T12:00:00Z' };
    expect(decodeRetire('aws', 'e', encodeRetire(s))).toEqual(s);
    expect(() => decodeRetire('aws', 'e', 'phase=gone at=2026-12-01T12:00:00Z')).toThrow(expect.objectContaining({ code: 'STORE_ERROR', message: expect.stringContaining('flyte-credsync-lifecycle') }));
  });

  it('a deleted cluster (the marker phase=draining reason=deleted): drains and is not synced, --cancel does not undo it, retired on a later run without the revoke when it does not answer; one that left the configuration too', async () => {
    const w = world();
    const dp2 = w.dps.get('dp2')!;
    await runSync(w.deps);
    w.tick(60);
    // What the cluster-deleted event writes first, then its run (lib/runtime/clusterDeleted.ts).
    await w.store.setLifecycle('dp2', { phase: 'draining', at: new Date(w.deps.now!()).toISOString(), reason: 'deleted', forced: 2 });
    dp2.down = true;
    const drained = await runSync(w.deps, { clusters: ['dp2'], deleted: ['dp2'] });
    expect(drained.ok).toBe(true);
    expect(drained.clusters).toEqual([expect.objectContaining({ id: 'dp2', status: 'retiring', retire: expect.objectContaining({ phase: 'draining', forced: { reason: 'deleted', unfinished: 2 } }) })]);
    expect(clusters(w.cp).clusterConfigs.find((e) => e.name === 'dp2')).toMatchObject({ enabled: false });
    expect(formatReport(drained)).toContain('⏏ dp2: cluster DELETED at 2026-12-01T12:01:00.000Z; draining, retires once flyteadmin and syncresources rolled out without it; 2 unfinished execution(s) lost with it');
    // Cancelling the drain does not undo a deletion; the run retires it (the drain is in effect: rolled out).
    w.tick(60);
    const r = await runSync(w.deps, { undrain: ['dp2'] });
    expect(r.ok).toBe(true);
    expect(r.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'retired', retire: { phase: 'retired', forced: { reason: 'deleted', unfinished: 2 }, revoke: 'skipped' } });
    expect(r.clusters.find((c) => c.id === 'dp2')!.retire!.revokeSkipped).toMatch(/^the data plane did not answer \(its cluster was deleted\): /);
    expect(clusters(w.cp).clusterConfigs.map((e) => e.name)).toEqual(['dp1']);
    expect(Object.keys(w.cp.secrets.get('flyte/cluster-credentials')!.data).sort()).toEqual(['dp1_cacert', 'dp1_token']);
    // It leaves the configuration (discovery lost it): reported retired once more, then forgotten; nothing written after.
    w.deps.config = testConfig(['dp1']);
    const gone = await runSync(w.deps);
    expect(gone.clusters.map((c) => [c.id, c.status])).toEqual([['dp1', 'unchanged'], ['dp2', 'retired']]);
    expect(w.cp.configMaps.get('flyte/flyte-admin-clusters-config')!.annotations[DRAINING_ANNOTATION]).toBeUndefined();
    const writes = w.cp.writes.length;
    const quiet = await runSync(w.deps);
    expect(quiet.clusters.map((c) => c.id)).toEqual(['dp1']);
    expect(w.cp.writes.length).toBe(writes);
  });
});
