import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { runSync, type SyncDeps } from '../../lib/sync/sync.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { withDeadline } from '../../lib/util/abort.ts';
import { silentLog, type Log } from '../../lib/util/log.ts';
import { FakeControlPlane, FakeDataPlane, fakeToken, fakeVerifier, testCa, testConfig } from './fakes.ts';
import type { Config } from '../../lib/config/schema.ts';

interface World {
  cfg: Config;
  dps: Map<string, FakeDataPlane>;
  cp: FakeControlPlane;
  store: MemoryStore;
  valid: Set<string>;
  logs: string[];
  deps: SyncDeps;
}

function world(ids = ['dp1', 'dp2', 'dp3'], cfg = testConfig(ids)): World {
  const dps = new Map(ids.map((id) => [id, new FakeDataPlane(id)]));
  const cp = new FakeControlPlane();
  const store = new MemoryStore();
  const valid = new Set([...ids.map((id) => fakeToken(id)), ...ids.map((id) => fakeToken(id, 99))]);
  const logs: string[] = [];
  const log: Log = {
    debug: (m, f) => logs.push(m + JSON.stringify(f ?? {})),
    info: (m, f) => logs.push(m + JSON.stringify(f ?? {})),
    warn: (m, f) => logs.push(m + JSON.stringify(f ?? {})),
    error: (m, f) => logs.push(m + JSON.stringify(f ?? {})),
  };
  const w: World = {
    cfg,
    dps,
    cp,
    store,
    valid,
    logs,
    deps: {
      config: cfg,
      log,
      store,
      verify: fakeVerifier(valid),
      dataPlane: async (dp) => {
        const f = dps.get(dp.id);
        if (!f) throw new Error(`no fake for ${dp.id}`);
        return f;
      },
      controlPlane: async () => cp,
      now: () => new Date('2026-11-23T12:00:00Z'),
      sleep: async () => {},
    },
  };
  return w;
}

describe('runSync (core, in-memory fakes)', () => {
  it('first sync stores every credential, writes the Secret and both ConfigMaps, restarts both Deployments', async () => {
    // Prepare
    const w = world();
    // Act
    const r = await runSync(w.deps);
    // Assess
    expect(r.ok).toBe(true);
    expect(r.clusters.map((c) => [c.id, c.status, c.store])).toEqual([
      ['dp1', 'updated', 'created'],
      ['dp2', 'updated', 'created'],
      ['dp3', 'updated', 'created'],
    ]);
    const secret = w.cp.secrets.get('flyte/cluster-credentials')!;
    expect(secret.data['dp1_token']!.toString()).toBe(fakeToken('dp1'));
    expect(secret.data['dp1_cacert']!.toString()).toBe(testCa());
    expect(secret.data['dp1_token']!.toString().endsWith('\n')).toBe(false);
    for (const name of ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config']) {
      const doc = parse(w.cp.clustersYaml(name));
      expect(doc.clusters.clusterConfigs).toEqual(
        ['dp1', 'dp2', 'dp3'].map((id) => ({
          name: id,
          endpoint: `https://${id}.example:6443`,
          enabled: true,
          auth: { tokenPath: `/var/run/credentials/${id}_token`, certPath: `/var/run/credentials/${id}_cacert` },
        })),
      );
      expect(doc.clusters.labelClusterMap).toEqual({ team1: ['dp1', 'dp2', 'dp3'].map((id) => ({ id, weight: 1 })) });
    }
    expect(w.cp.configMaps.get('flyte/flyte-clusterresourcesync-config')!.data['cluster_resources.yaml']).toContain('refreshInterval');
    expect(w.cp.restarts.map((x) => x.name)).toEqual(['flyteadmin', 'syncresources']);
    expect(w.cp.restarts[0]!.at).toBe('2026-11-23T12:00:00.000Z');
  });

  it('a second run with nothing changed writes nothing and restarts nothing', async () => {
    const w = world();
    await runSync(w.deps);
    const writesBefore = [...w.cp.writes];
    const storeWrites = w.store.writes;
    const restarts = w.cp.restarts.length;
    const r = await runSync(w.deps);
    expect(r.ok).toBe(true);
    expect(r.clusters.every((c) => c.status === 'unchanged')).toBe(true);
    expect(w.cp.writes).toEqual(writesBefore);
    expect(w.store.writes).toBe(storeWrites);
    expect(w.cp.restarts.length).toBe(restarts);
    expect(r.controlPlane!.restarted).toEqual([]);
    expect(r.controlPlane!.secret.action).toBe('none');
  });

  it('a rotated token adds a store version (previous kept), updates the Secret and restarts', async () => {
    const w = world();
    await runSync(w.deps);
    w.dps.get('dp2')!.seed(fakeToken('dp2', 2));
    w.valid.add(fakeToken('dp2', 2));
    const r = await runSync(w.deps);
    expect(r.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'updated', store: 'updated' });
    expect(w.store.history('dp2')).toHaveLength(2);
    expect(JSON.parse(w.store.history('dp2')[0]!).token).toBe(fakeToken('dp2'));
    expect(r.controlPlane!.secret).toMatchObject({ action: 'update', changed: ['dp2_token'], added: [] });
    expect(w.cp.secrets.get('flyte/cluster-credentials')!.data['dp2_token']!.toString()).toBe(fakeToken('dp2', 2));
    expect(r.controlPlane!.restarted).toEqual(['flyteadmin', 'syncresources']);
  });

  it('a token that does not authenticate is never published; the others sync; the run fails', async () => {
    const w = world();
    await runSync(w.deps);
    const before = w.cp.secrets.get('flyte/cluster-credentials')!.data['dp1_token']!.toString();
    w.dps.get('dp1')!.seed('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJldmlsIn0.bm90LXZhbGlk');
    const r = await runSync(w.deps);
    expect(r.ok).toBe(false);
    const dp1 = r.clusters.find((c) => c.id === 'dp1')!;
    expect(dp1).toMatchObject({ status: 'failed', code: 'CREDENTIAL_REJECTED', lastGoodKept: true });
    expect(dp1.reason).toBe('cluster dp1: credential rejected: the token does not authenticate (HTTP 401)');
    expect(w.store.history('dp1')).toHaveLength(1);
    expect(w.cp.secrets.get('flyte/cluster-credentials')!.data['dp1_token']!.toString()).toBe(before);
    expect(r.clusters.filter((c) => c.status !== 'failed')).toHaveLength(2);
    expect(JSON.stringify(r) + w.logs.join('\n')).not.toContain('bm90LXZhbGlk');
  });

  it('a cluster that is down fails with a clear reason while the healthy ones sync', async () => {
    const w = world();
    w.dps.get('dp3')!.down = true;
    const r = await runSync(w.deps);
    expect(r.ok).toBe(false);
    expect(r.clusters.find((c) => c.id === 'dp3')).toMatchObject({ status: 'failed', code: 'INTERNAL', lastGoodKept: false });
    expect(r.clusters.find((c) => c.id === 'dp3')!.reason).toContain('ECONNREFUSED');
    const doc = parse(w.cp.clustersYaml());
    expect(doc.clusters.clusterConfigs.map((e: { name: string }) => e.name)).toEqual(['dp1', 'dp2']);
    expect(w.cp.secrets.get('flyte/cluster-credentials')!.data['dp3_token']).toBeUndefined();
  });

  it('creates a missing token Secret and waits for the controller to fill it', async () => {
    const w = world();
    const dp3 = w.dps.get('dp3')!;
    dp3.secrets.clear();
    dp3.fillAfterReads = 3;
    const r = await runSync(w.deps);
    expect(r.clusters.find((c) => c.id === 'dp3')).toMatchObject({ status: 'updated', tokenSecretCreated: true });
    expect(w.cp.secrets.get('flyte/cluster-credentials')!.data['dp3_token']!.toString()).toBe(fakeToken('dp3', 99));
  });

  it('fails a cluster whose ServiceAccount is missing, creating nothing there', async () => {
    const w = world();
    const dp3 = w.dps.get('dp3')!;
    dp3.secrets.clear();
    dp3.serviceAccounts.clear();
    const r = await runSync(w.deps);
    const c = r.clusters.find((x) => x.id === 'dp3')!;
    expect(c).toMatchObject({ status: 'failed', code: 'SERVICE_ACCOUNT_MISSING' });
    expect(c.reason).toContain('ServiceAccount flyte/flyteadmin does not exist');
    expect(dp3.writes).toBe(0);
  });

  it('gives up on a token Secret the controller never fills, with a deadline', async () => {
    const w = world();
    const dp3 = w.dps.get('dp3')!;
    dp3.secrets.clear();
    dp3.controllerRunning = false;
    let waited = 0;
    w.deps.sleep = async (ms) => {
      waited += ms;
      await new Promise((r) => setTimeout(r, 5));
    };
    const r = await runSync({ ...w.deps, config: { ...w.cfg, tokenWaitSeconds: 1 } });
    expect(r.clusters.find((c) => c.id === 'dp3')).toMatchObject({ status: 'failed', code: 'TOKEN_NOT_ISSUED' });
    expect(waited).toBeGreaterThan(0);
  });

  it('refuses a store entry it does not own and never overwrites it', async () => {
    const w = world();
    w.store.addForeign('dp2', 'someone else’s value');
    const r = await runSync(w.deps);
    expect(r.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'failed', code: 'STORE_NOT_OWNED' });
    expect(w.store.history('dp2')).toEqual(['someone else’s value']);
  });

  it('dry run reads and verifies everything, reports the exact diff, and writes nothing anywhere', async () => {
    const w = world();
    w.dps.get('dp3')!.secrets.clear();
    const r = await runSync(w.deps, { dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(w.store.writes).toBe(0);
    expect(w.cp.writes).toEqual([]);
    expect(w.cp.restarts).toEqual([]);
    expect(w.dps.get('dp3')!.writes).toBe(0);
    expect(r.controlPlane!.secret).toMatchObject({ action: 'create', added: ['dp1_token', 'dp1_cacert', 'dp2_token', 'dp2_cacert'] });
    expect(r.controlPlane!.configMaps[0]!.diff).toContain('+    - name: dp1');
    expect(r.controlPlane!.restarted).toEqual(['flyteadmin', 'syncresources']);
    expect(r.clusters.find((c) => c.id === 'dp3')).toMatchObject({ status: 'failed', code: 'TOKEN_NOT_ISSUED' });
  });

  it('keeps what it does not own: other keys, an inCluster entry and its label members', async () => {
    const existing = [
      'clusters:',
      '  labelClusterMap:',
      '    team1:',
      '      - id: local',
      '        weight: 0.5',
      '    other:',
      '      - id: local',
      '        weight: 1',
      '  clusterConfigs:',
      '    - name: local',
      '      enabled: true',
      '      inCluster: true',
      'somethingElse: kept',
      '',
    ].join('\n');
    const w = world(['dp1']);
    w.cp = new FakeControlPlane(existing);
    w.deps.controlPlane = async () => w.cp;
    await w.cp.createSecret({ name: 'cluster-credentials', namespace: 'flyte', type: 'Opaque', labels: {}, annotations: {}, data: { local_extra: Buffer.from('x') } });
    const r = await runSync(w.deps);
    expect(r.ok).toBe(true);
    const doc = parse(w.cp.clustersYaml());
    expect(doc.somethingElse).toBe('kept');
    expect(doc.clusters.clusterConfigs[0]).toEqual({ name: 'local', enabled: true, inCluster: true });
    expect(doc.clusters.labelClusterMap).toEqual({
      team1: [{ id: 'local', weight: 0.5 }, { id: 'dp1', weight: 1 }],
      other: [{ id: 'local', weight: 1 }],
    });
    expect(w.cp.secrets.get('flyte/cluster-credentials')!.data['local_extra']!.toString()).toBe('x');
  });

  it('keeps a data plane removed from the configuration, disabled, with its credentials', async () => {
    const w = world();
    await runSync(w.deps);
    const w2cfg = testConfig(['dp1', 'dp2']);
    const r = await runSync({ ...w.deps, config: w2cfg });
    expect(r.ok).toBe(true);
    const doc = parse(w.cp.clustersYaml());
    expect(doc.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp3')).toMatchObject({ enabled: false });
    expect(doc.clusters.labelClusterMap.team1.map((m: { id: string }) => m.id)).toEqual(['dp1', 'dp2']);
    expect(w.cp.secrets.get('flyte/cluster-credentials')!.data['dp3_token']).toBeDefined();
    expect(r.controlPlane!.configMaps[0]!.disabledClusters).toEqual(['dp3']);
    const again = await runSync({ ...w.deps, config: w2cfg });
    expect(again.controlPlane!.restarted).toEqual([]);
  });

  it('on a 409 re-reads, re-merges (keeping the concurrent edit) and retries', async () => {
    const w = world(['dp1']);
    const orig = w.cp.replaceConfigMap.bind(w.cp);
    let once = true;
    w.cp.replaceConfigMap = async (cm) => {
      if (once && cm.name === 'flyte-admin-clusters-config') {
        once = false;
        w.cp.concurrentEdit(cm.name, (d) => {
          d['clusters.yaml'] = d['clusters.yaml'] + 'addedByHuman: true\n';
        });
      }
      return orig(cm);
    };
    const r = await runSync(w.deps);
    expect(r.ok).toBe(true);
    expect(r.controlPlane!.attempts).toBe(2);
    const doc = parse(w.cp.clustersYaml());
    expect(doc.addedByHuman).toBe(true);
    expect(doc.clusters.clusterConfigs[0].name).toBe('dp1');
    expect(r.controlPlane!.secret.action).toBe('create');
    // What was written after the retry is what Flyte must load: both Deployments restarted, once.
    expect(r.controlPlane!.restarted).toEqual(['flyteadmin', 'syncresources']);
    expect(w.cp.restarts.map((x) => x.name)).toEqual(['flyteadmin', 'syncresources']);
  });

  it('concurrency 2: two data planes are read at once, never three', async () => {
    const ids = ['dp1', 'dp2', 'dp3', 'dp4', 'dp5'];
    const w = world(ids, testConfig(ids, { concurrency: 2 }));
    let inFlight = 0;
    let most = 0;
    const connect = w.deps.dataPlane;
    w.deps.dataPlane = async (dp) => {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        // Let every other started data plane run up to here before this one goes on.
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
        return await connect(dp);
      } finally {
        inFlight--;
      }
    };
    const r = await runSync(w.deps);
    expect(r.clusters.map((c) => [c.id, c.status])).toEqual(ids.map((id) => [id, 'updated']));
    expect(most).toBe(2);
  });

  it('gives up after 5 conflicting attempts: CONTROL_PLANE_CONFLICT, nothing restarted, the run fails', async () => {
    const w = world(['dp1']);
    w.cp.conflicts = Array(5).fill('flyte/flyte-admin-clusters-config');
    const r = await runSync(w.deps);
    expect(r.ok).toBe(false);
    expect(r.controlPlaneError).toEqual({ code: 'CONTROL_PLANE_CONFLICT', reason: 'control plane: still conflicting after 5 attempts: conflict on flyte/flyte-admin-clusters-config' });
    expect(w.cp.restarts).toEqual([]);
    expect(w.cp.conflicts).toEqual([]); // all five were met
  });

  it('a failed restart fails the run and says which Deployment', async () => {
    const w = world(['dp1']);
    w.cp.restartDeployment = async (_ns, name) => {
      if (name === 'syncresources') throw new Error('deployments.apps "syncresources" not found');
      w.cp.restarts.push({ name, at: '' });
    };
    const r = await runSync(w.deps);
    expect(r.ok).toBe(false);
    expect(r.clusters.map((c) => [c.id, c.status])).toEqual([['dp1', 'updated']]);
    expect(r.controlPlane!.restarted).toEqual(['flyteadmin']);
    // A foreign error (the fake's plain Error; the real client's are wrapped as KUBERNETES_API): INTERNAL.
    expect(r.controlPlane!.restartFailures).toEqual([{ name: 'syncresources', code: 'INTERNAL', reason: 'Error: deployments.apps "syncresources" not found' }]);
    const { finish } = await import('../../lib/runtime/invocation.ts');
    expect(() => finish(silentLog, r)).toThrow('sync failed: restart syncresources [INTERNAL] Error: deployments.apps "syncresources" not found');
  });

  it('--cluster limits reads to the selected data planes but renders all from the store', async () => {
    const w = world();
    await runSync(w.deps);
    const reads = w.dps.get('dp1')!.reads;
    const r = await runSync(w.deps, { clusters: ['dp2'] });
    expect(r.clusters.map((c) => c.id)).toEqual(['dp2']);
    expect(w.dps.get('dp1')!.reads).toBe(reads);
    expect(parse(w.cp.clustersYaml()).clusters.clusterConfigs).toHaveLength(3);
    await expect(runSync(w.deps, { clusters: ['nope'] })).rejects.toThrow('unknown data plane(s): nope');
    await expect(runSync(w.deps, { clusters: ['nope'] })).rejects.toMatchObject({ code: 'UNKNOWN_DATA_PLANE' });
  });

  it('writes weights, flyteadminEndpoint, kubeClientConfig and defaultExecutionLabel as flyteadmin reads them', async () => {
    const cfg = testConfig(
      ['dp1', 'dp2'],
      { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, defaultExecutionLabel: 'gpu' } },
      (id) =>
        id === 'dp1'
          ? { labels: { gpu: 0.3, team1: 1 }, flyteadminEndpoint: 'https://dp1.internal:443', kubeClientConfig: { qps: 100, burst: 25, timeout: '30s' } }
          : { labels: { gpu: 0.7 }, enabled: true },
    );
    const w = world(['dp1', 'dp2'], cfg);
    await runSync(w.deps);
    const doc = parse(w.cp.clustersYaml());
    expect(doc.clusters.defaultExecutionLabel).toBe('gpu');
    expect(doc.clusters.labelClusterMap).toEqual({ gpu: [{ id: 'dp1', weight: 0.3 }, { id: 'dp2', weight: 0.7 }], team1: [{ id: 'dp1', weight: 1 }] });
    expect(doc.clusters.clusterConfigs[0]).toMatchObject({ endpoint: 'https://dp1.internal:443', kubeClientConfig: { qps: 100, burst: 25, timeout: '30s' } });
  });

  it('a missing ConfigMap is a clear control-plane error and nothing is written there', async () => {
    const w = world(['dp1']);
    w.cp.configMaps.delete('flyte/flyte-clusterresourcesync-config');
    const r = await runSync(w.deps);
    expect(r.ok).toBe(false);
    expect(r.controlPlaneError!.reason).toContain('ConfigMap flyte/flyte-clusterresourcesync-config does not exist');
    expect(w.cp.writes).toEqual([]);
    expect(w.cp.restarts).toEqual([]);
  });

  it('never logs or reports a token or CA', async () => {
    const w = world();
    w.dps.get('dp2')!.seed(fakeToken('dp2', 7));
    const r = await runSync(w.deps);
    const all = JSON.stringify(r) + w.logs.join('\n');
    for (const id of ['dp1', 'dp2', 'dp3']) expect(all).not.toContain(fakeToken(id));
    expect(all).not.toContain(fakeToken('dp2', 7));
    expect(all).not.toContain('BEGIN CERTIFICATE');
  });
});

void silentLog;

describe('runSync deadline (a function timeout less a margin)', () => {
  it('data planes not started by the deadline fail with DEADLINE, and the control plane is not written after it', async () => {
    const w = world(['dp1', 'dp2', 'dp3'], testConfig(['dp1', 'dp2', 'dp3'], { concurrency: 1 }));
    let t = Date.parse('2026-11-23T12:00:00Z');
    w.deps.now = () => new Date(t);
    const connect = w.deps.dataPlane;
    w.deps.dataPlane = async (dp) => {
      t += 1000; // each data plane takes a second
      return connect(dp);
    };
    const r = await withDeadline(t + 1500, () => runSync(w.deps), () => t);
    expect(r.clusters.map((c) => [c.id, c.status, c.code])).toEqual([
      ['dp1', 'updated', undefined],
      ['dp2', 'updated', undefined],
      ['dp3', 'failed', 'DEADLINE'],
    ]);
    expect(r.clusters[2]!.reason).toBe("data plane dp3: not started, the invocation's deadline was reached");
    expect(r.ok).toBe(false);
    expect(r.controlPlaneError).toEqual({ code: 'DEADLINE', reason: "control plane not written: the invocation's deadline was reached (the next run will)" });
    expect(w.cp.writes).toEqual([]);
    expect(w.cp.restarts).toEqual([]);
    // What was verified is stored, so the next run renders it without reading those data planes again.
    expect(w.store.history('dp1')).toHaveLength(1);
  });

  it('cuts the wait for the token controller short at the deadline', async () => {
    const w = world(['dp1']);
    const dp1 = w.dps.get('dp1')!;
    dp1.secrets.clear();
    dp1.controllerRunning = false;
    w.deps.now = () => new Date(); // the real clock: the wait loop runs on it
    let polls = 0;
    w.deps.sleep = async () => {
      polls++;
      await new Promise((r) => setTimeout(r, 5));
    };
    const r = await withDeadline(Date.now() + 50, () => runSync({ ...w.deps, config: { ...w.cfg, tokenWaitSeconds: 600 } }));
    expect(r.clusters[0]).toMatchObject({ status: 'failed', code: 'TOKEN_NOT_ISSUED' });
    expect(polls).toBeLessThan(50);
  });

  it('the Lambda deadline keeps a margin before the function times out', async () => {
    const { deadlineIn, DEADLINE_MARGIN_MS } = await import('../../lib/runtime/invocation.ts');
    expect(deadlineIn(5_000, 1_000)).toBe(1_000);
    expect(deadlineIn(undefined)).toBeUndefined();
    // Literal values: 60 s left at t=1000 -> the sync must be done by t=46000 (15 s margin).
    expect(DEADLINE_MARGIN_MS).toBe(15_000);
    expect(deadlineIn(60_000, 1_000)).toBe(46_000);
    expect(deadlineIn(15_000, 1_000)).toBe(1_000);
    expect(deadlineIn(Infinity, 1_000)).toBeUndefined();
    // The Lambda handlers take it from the context: 60 s remaining -> 45 s from now.
    const { lambdaDeadline } = await import('../../lib/runtime/lambda/adapter.ts');
    const t0 = Date.now();
    const d = lambdaDeadline({ getRemainingTimeInMillis: () => 60_000 })!;
    const t1 = Date.now();
    expect(d - t0).toBeGreaterThanOrEqual(45_000);
    expect(d - t1).toBeLessThanOrEqual(45_000);
    expect(lambdaDeadline(undefined)).toBeUndefined();
  });
});
