/**
 * Draining a data plane (docs/data-plane-lifecycle.md) on in-memory fakes: it leaves every label and
 * is disabled at once while its credential stays; the drain is recorded on the control plane with
 * its start; a drain that would empty a label is refused with nothing written; a no-op writes nothing.
 */
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { applyControlPlane, drainingSince } from '../../lib/controlplane/apply.ts';
import { DRAINING_ANNOTATION, formatDrainList, mergeClustersYaml, parseDrainList } from '../../lib/controlplane/render.ts';
import { parseConfig } from '../../lib/config/load.ts';
import { makeRecord } from '../../lib/stores/types.ts';
import { FakeControlPlane, FakeDataPlane, fakeToken, fakeVerifier, testCa, testConfig } from './fakes.ts';
import { summarizeExecutions } from '../../lib/lifecycle/executions.ts';
import type { FlyteWorkflowView } from '../../lib/kube/ports.ts';
import { runSync, type SyncDeps, type SyncReport } from '../../lib/sync/sync.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { silentLog } from '../../lib/util/log.ts';
import { runMetrics } from '../../lib/runtime/metrics.ts';
import { formatReport } from '../../lib/cli/format.ts';

const rec = (id: string) =>
  makeRecord({ clusterId: id, endpoint: `https://${id}:6443`, token: `t-${id}-aaaaaaaa`, caCert: testCa(), source: { server: 's', namespace: 'flyte', serviceAccount: 'flyteadmin', secret: 'flyteadmin-token' } });
const records = (...ids: string[]) => new Map(ids.map((id) => [id, rec(id)]));
let clock = new Date('2026-12-01T12:00:00Z');
const now = () => clock;
const cmName = 'flyte-admin-clusters-config';

describe('drain: configuration', () => {
  it('accepts state and maxDrainTime, refuses a bad state or duration naming the field', () => {
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { state: 'draining', maxDrainTime: '7d' } : {}));
    expect(cfg.dataPlanes.map((d) => [d.state, d.maxDrainTime])).toEqual([['active', undefined], ['draining', '7d']]);
    const base = { controlPlane: { access: { type: 'kubeconfig', context: 'c' } }, store: { aws: { region: 'us-east-1' } } };
    expect(() => parseConfig({ ...base, dataPlanes: [{ id: 'a', access: { type: 'kubeconfig', context: 'a' } }, { id: 'b', access: { type: 'kubeconfig', context: 'b' }, state: 'drained' }] })).toThrow(/dataPlanes\[1\]\.state/);
    expect(() => parseConfig({ ...base, dataPlanes: [{ id: 'a', access: { type: 'kubeconfig', context: 'a' }, maxDrainTime: '3 days' }] })).toThrow(/dataPlanes\[0\]\.maxDrainTime: must be a duration/);
  });

  it('refuses a configuration whose every data plane drains (flyteadmin needs an enabled cluster)', () => {
    expect(() => testConfig(['dp1'], {}, () => ({ state: 'draining' }))).toThrow(/at least one data plane must be enabled and not draining/);
  });
});

describe('drain: rendering', () => {
  it('a draining data plane keeps its entry and credential paths, disabled, and leaves every label', () => {
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { labels: { team1: 1, gpu: 0.5 } } : { labels: { team1: 1, gpu: 1 } }));
    const before = mergeClustersYaml(undefined, new Set(), cfg, { records: records('dp1', 'dp2') }, 'cm');
    const r = mergeClustersYaml(before.text, before.managed, cfg, { records: records('dp1', 'dp2'), draining: new Set(['dp2']) }, 'cm');
    const doc = parse(r.text);
    expect(doc.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp2')).toEqual({
      name: 'dp2',
      endpoint: 'https://dp2:6443',
      enabled: false,
      auth: { tokenPath: '/var/run/credentials/dp2_token', certPath: '/var/run/credentials/dp2_cacert' },
    });
    expect(doc.clusters.labelClusterMap).toEqual({ team1: [{ id: 'dp1', weight: 1 }], gpu: [{ id: 'dp1', weight: 1 }] });
    expect(r.routing.get('dp2')).toEqual({ listed: true, enabled: false, labels: [], keptInLabels: [] });
  });

  it('draining the last enabled member of a label is refused (LABEL_WOULD_EMPTY) unless the label is retired; never kept in it like an unrouted one', () => {
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { labels: { team1: 1, gpu: 1 } } : {}));
    const before = mergeClustersYaml(undefined, new Set(), cfg, { records: records('dp1', 'dp2') }, 'cm');
    const attempt = () => mergeClustersYaml(before.text, before.managed, cfg, { records: records('dp1', 'dp2'), draining: new Set(['dp2']), unrouted: new Set(['dp2']) }, 'cm');
    expect(attempt).toThrow(expect.objectContaining({ code: 'LABEL_WOULD_EMPTY', message: expect.stringContaining('"gpu" (had dp2)') }));
    const retired = testConfig(['dp1', 'dp2'], { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, retiredLabels: ['gpu'] } }, (id) => (id === 'dp2' ? { labels: { team1: 1, gpu: 1 } } : {}));
    const r = mergeClustersYaml(before.text, before.managed, retired, { records: records('dp1', 'dp2'), draining: new Set(['dp2']) }, 'cm');
    expect(parse(r.text).clusters.labelClusterMap.gpu).toBeUndefined();
  });

  it('the annotation: id@time, sorted; a missing or bad time is an unknown start', () => {
    expect(parseDrainList({ [DRAINING_ANNOTATION]: 'b@2026-12-01T10:00:00Z, a@2026-11-30T09:00:00.123Z,c@yesterday,d' })).toEqual(
      new Map([['b', '2026-12-01T10:00:00Z'], ['a', '2026-11-30T09:00:00.123Z'], ['c', ''], ['d', '']]),
    );
    expect(formatDrainList(new Map([['b', 'T2'], ['a', 'T1']]))).toBe('a@T1,b@T2');
    expect(parseDrainList({})).toEqual(new Map());
  });

  it('since: the earliest recorded time of either ConfigMap; configuration or a request starts one now; cancel keeps a configured drain', () => {
    const cfg = testConfig(['dp1', 'dp2', 'dp3', 'dp4'], {}, (id) => (id === 'dp3' ? { state: 'draining' } : {}));
    const cm = (v: string) => ({ name: 'x', namespace: 'flyte', labels: {}, data: {}, annotations: { [DRAINING_ANNOTATION]: v } });
    const at = '2026-12-02T00:00:00Z';
    const s = drainingSince(cfg, [cm('dp1@2026-12-01T10:00:00Z,gone@2026-12-01T00:00:00Z'), cm('dp1@2026-12-01T09:00:00Z,dp2@bad')], { drain: new Set(['dp4', 'dp1']) }, at);
    expect(s).toEqual(new Map([['dp1', '2026-12-01T09:00:00Z'], ['dp2', at], ['dp3', at], ['dp4', at]]));
    const cancelled = drainingSince(cfg, [cm('dp1@2026-12-01T10:00:00Z,dp3@2026-12-01T10:00:00Z')], { undrain: new Set(['dp1', 'dp3']) }, at);
    expect(cancelled).toEqual(new Map([['dp3', '2026-12-01T10:00:00Z']]));
  });
});

describe('drain: apply', () => {
  it('a drain is written with its routing change and start, survives later runs, and a second run writes nothing', async () => {
    clock = new Date('2026-12-01T12:00:00Z');
    const cp = new FakeControlPlane();
    const cfg = testConfig(['dp1', 'dp2']);
    await applyControlPlane(cp, cfg, { records: records('dp1', 'dp2') }, { dryRun: false, now });
    cp.writes = [];
    clock = new Date('2026-12-01T13:00:00Z');
    const r = await applyControlPlane(cp, cfg, { records: records('dp1', 'dp2'), drain: new Set(['dp2']) }, { dryRun: false, now });
    expect(r.published['dp2']).toMatchObject({ listed: true, enabled: false, labels: [], drainingSince: '2026-12-01T13:00:00.000Z', credential: expect.any(String) });
    expect(r.published['dp1']!.drainingSince).toBeUndefined();
    expect(cp.writes).toEqual(['update ConfigMap flyte-admin-clusters-config', 'update ConfigMap flyte-clusterresourcesync-config']);
    expect(r.restarted).toEqual(['flyteadmin', 'syncresources']);
    for (const name of [cmName, 'flyte-clusterresourcesync-config'])
      expect(cp.configMaps.get(`flyte/${name}`)!.annotations[DRAINING_ANNOTATION]).toBe('dp2@2026-12-01T13:00:00.000Z');
    expect(cp.secrets.get('flyte/cluster-credentials')!.data['dp2_token']).toBeDefined();
    // A later plain run (no request, configuration unchanged) keeps it draining and writes nothing.
    cp.writes = [];
    clock = new Date('2026-12-01T14:00:00Z');
    const again = await applyControlPlane(cp, cfg, { records: records('dp1', 'dp2') }, { dryRun: false, now });
    expect(cp.writes).toEqual([]);
    expect(again.restarted).toEqual([]);
    expect(again.published['dp2']!.drainingSince).toBe('2026-12-01T13:00:00.000Z');
    // Cancelled: back in its label, enabled.
    const back = await applyControlPlane(cp, cfg, { records: records('dp1', 'dp2'), undrain: new Set(['dp2']) }, { dryRun: false, now });
    expect(back.published['dp2']).toMatchObject({ enabled: true, labels: ['team1'] });
    expect(back.published['dp2']!.drainingSince).toBeUndefined();
    expect(cp.configMaps.get(`flyte/${cmName}`)!.annotations[DRAINING_ANNOTATION]).toBeUndefined();
  });

  it('a drain that would empty a label writes nothing at all, not even the annotation', async () => {
    const cp = new FakeControlPlane();
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { labels: { gpu: 1 } } : {}));
    await applyControlPlane(cp, cfg, { records: records('dp1', 'dp2') }, { dryRun: false, now });
    cp.writes = [];
    const restarts = cp.restarts.length;
    await expect(applyControlPlane(cp, cfg, { records: records('dp1', 'dp2'), drain: new Set(['dp2']) }, { dryRun: false, now })).rejects.toMatchObject({ code: 'LABEL_WOULD_EMPTY' });
    expect(cp.writes).toEqual([]);
    expect(cp.restarts.length).toBe(restarts);
    expect(cp.configMaps.get(`flyte/${cmName}`)!.annotations[DRAINING_ANNOTATION]).toBeUndefined();
  });
});

describe('drain: what still runs there', () => {
  const at = new Date('2026-12-01T12:00:00Z');
  const wf = (executionId: string, phase: number | undefined, createdAt: string, namespace = 'p-development'): FlyteWorkflowView => ({ namespace, name: executionId, executionId, ...(phase === undefined ? {} : { phase }), createdAt });

  it('counts every phase but Success, Failed and Aborted (and an object without a status), oldest first, with ages', () => {
    const list = [
      wf('done', 3, '2026-12-01T08:00:00Z'),
      wf('failed', 5, '2026-12-01T08:00:00Z'),
      wf('aborted', 6, '2026-12-01T08:00:00Z'),
      wf('running', 1, '2026-12-01T11:00:00Z', 'q-production'),
      wf('new', undefined, '2026-12-01T11:59:00Z'),
      wf('failing', 4, '2026-12-01T10:00:00Z'),
      ...[0, 2, 7].map((p) => wf(`p${p}`, p, '2026-12-01T11:30:00Z')),
      wf('odd', 9, '2026-12-01T11:45:00Z'),
    ];
    const s = summarizeExecutions(list, at);
    expect(s.unfinished).toBe(7);
    expect(s.executions.map((e) => [e.executionId, e.phase, e.ageSeconds])).toEqual([
      ['failing', 'Failing', 7200],
      ['running', 'Running', 3600],
      ['p0', 'Ready', 1800],
      ['p2', 'Succeeding', 1800],
      ['p7', 'HandlingFailureNode', 1800],
      ['odd', 'phase 9', 900],
      ['new', 'Ready', 60],
    ]);
    expect(s.executions[1]!.namespace).toBe('q-production');
  });

  it('lists at most 20 ids and counts them all', () => {
    const list = Array.from({ length: 45 }, (_, i) => wf(`e${String(i).padStart(2, '0')}`, 1, `2026-12-01T10:${String(i).padStart(2, '0')}:00Z`));
    const s = summarizeExecutions(list, at);
    expect(s.unfinished).toBe(45);
    expect(s.executions.map((e) => e.executionId)).toEqual(list.slice(0, 20).map((w) => w.executionId));
  });

  it('a sync reports each draining data plane: since, unfinished executions, maxDrainTime; metrics carry the count', async () => {
    const cfg = testConfig(['dp1', 'dp2', 'dp3'], {}, (id) => (id === 'dp3' ? { state: 'draining', maxDrainTime: '1h' } : {}));
    const dps = new Map(['dp1', 'dp2', 'dp3'].map((id) => [id, new FakeDataPlane(id)]));
    dps.get('dp2')!.workflows = [wf('a', 1, '2026-12-01T11:00:00Z'), wf('b', 3, '2026-12-01T10:00:00Z')];
    dps.get('dp3')!.workflows = [wf('c', 6, '2026-12-01T10:00:00Z')];
    dps.get('dp1')!.workflows = [wf('never-counted', 1, '2026-12-01T10:00:00Z')];
    const cp = new FakeControlPlane();
    cp.configMaps.get(`flyte/${cmName}`)!.annotations[DRAINING_ANNOTATION] = 'dp3@2026-12-01T10:30:00Z';
    const metrics: SyncReport[] = [];
    const deps: SyncDeps = {
      config: cfg,
      log: silentLog,
      store: new MemoryStore(),
      verify: fakeVerifier(new Set(['dp1', 'dp2', 'dp3'].map((id) => fakeToken(id)))),
      dataPlane: async (dp) => dps.get(dp.id)!,
      controlPlane: async () => cp,
      now: () => at,
      sleep: async () => {},
      metrics: (r) => metrics.push(r),
    };
    const r = await runSync(deps, { drain: ['dp2'] });
    expect(r.ok).toBe(true);
    const byId = Object.fromEntries(r.clusters.map((c) => [c.id, c.drain]));
    expect(byId['dp1']).toBeUndefined();
    expect(byId['dp2']).toEqual({ since: at.toISOString(), unfinished: 1, executions: [{ executionId: 'a', namespace: 'p-development', phase: 'Running', ageSeconds: 3600 }] });
    expect(byId['dp3']).toEqual({ since: '2026-12-01T10:30:00Z', unfinished: 0, executions: [], maxDrainTimeElapsed: true });
    expect(runMetrics(metrics[0]!).filter((m) => m.name.includes('Drain'))).toEqual([
      { name: 'DataPlanesDraining', unit: 'Count', value: 2 },
      { name: 'DrainingUnfinishedExecutions', unit: 'Count', value: 1 },
    ]);
    expect(formatReport(r)).toContain('  ⏾ dp2: draining since 2026-12-01T12:00:00.000Z; 1 unfinished execution(s), oldest p-development/a (Running, 1h00m old)');
    // A draining data plane that does not answer: reported there, the run's other results stand.
    dps.get('dp3')!.down = true;
    const down = await runSync(deps, { clusters: ['dp3'] });
    expect(down.clusters[0]!.drain).toMatchObject({ since: '2026-12-01T10:30:00Z', error: { code: expect.any(String), reason: expect.stringContaining('ECONNREFUSED') } });
    expect(down.clusters[0]!.drain!.unfinished).toBeUndefined();
  });

  it('unknown data planes to drain are refused before anything is read or written', async () => {
    const cfg = testConfig(['dp1', 'dp2']);
    const cp = new FakeControlPlane();
    const deps: SyncDeps = { config: cfg, log: silentLog, store: new MemoryStore(), verify: fakeVerifier(new Set()), dataPlane: async () => new FakeDataPlane('x'), controlPlane: async () => cp, now: () => at };
    await expect(runSync(deps, { drain: ['dp9'] })).rejects.toMatchObject({ code: 'UNKNOWN_DATA_PLANE' });
    expect(cp.writes).toEqual([]);
  });
});

describe('drain: controlPlane.mode gitops', () => {
  it('is refused (the chart owns clusters.yaml) before anything is written', async () => {
    const cfg = testConfig(['dp1', 'dp2'], { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, mode: 'gitops' } });
    const cp = new FakeControlPlane();
    const store = new MemoryStore();
    const deps: SyncDeps = { config: cfg, log: silentLog, store, verify: fakeVerifier(new Set(['dp1', 'dp2'].map((id) => fakeToken(id)))), dataPlane: async (dp) => new FakeDataPlane(dp.id), controlPlane: async () => cp, now: () => new Date('2026-12-01T12:00:00Z') };
    await expect(runSync(deps, { drain: ['dp2'] })).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringContaining('gitops') });
    expect([cp.writes, store.writes]).toEqual([[], 0]);
  });
});
