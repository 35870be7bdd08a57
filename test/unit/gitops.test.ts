/**
 * Mode gitops (lib/controlplane/drift.ts, lib/controlplane/apply.ts): the chart owns clusters.yaml,
 * credsync writes only the Secret, and a clusters.yaml that differs from the configured rendering
 * is drift (CONTROL_PLANE_DRIFT) with the values to commit.
 */
import { describe, expect, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { formatReport } from '../../lib/cli/format.ts';
import { mergeClustersYaml } from '../../lib/controlplane/render.ts';
import { checkDrift, clustersDrift, MAX_DRIFT_ITEMS } from '../../lib/controlplane/drift.ts';
import { exportValues } from '../../lib/gitops/values.ts';
import { LabelRoutingError } from '../../lib/labels/errors.ts';
import { SyncFailedError } from '../../lib/runtime/invocation.ts';
import { runMetrics } from '../../lib/runtime/metrics.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { makeRecord, type CredentialRecord } from '../../lib/stores/types.ts';
import { runSync, type SyncDeps } from '../../lib/sync/sync.ts';
import { silentLog } from '../../lib/util/log.ts';
import { FakeControlPlane, FakeDataPlane, fakeToken, fakeVerifier, testCa, testConfig } from './fakes.ts';

const rec = (id: string): CredentialRecord =>
  makeRecord({ clusterId: id, endpoint: `https://${id}.example:6443`, token: fakeToken(id), caCert: testCa(), source: { server: 's', namespace: 'flyte', serviceAccount: 'flyteadmin', secret: 'flyteadmin-token' } });
const records = (ids: string[]) => new Map(ids.map((id) => [id, rec(id)]));
const keys = (ids: string[]) => new Set(ids.flatMap((id) => [`${id}_token`, `${id}_cacert`]));
const gitops = (ids: string[], over: Record<string, unknown> = {}, dp?: (id: string) => Record<string, unknown>) =>
  testConfig(ids, { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, mode: 'gitops', ...over } }, dp);
/** What the chart renders from `credsync export-values` for these data planes: the configured rendering. */
const chartText = (cfg: ReturnType<typeof gitops>, ids: string[]) => mergeClustersYaml(undefined, new Set(), cfg, { records: records(ids) }, 'values').text;
const clusters = (text: string) => parse(text).clusters as Record<string, unknown>;

describe('clustersDrift: the live clusters.yaml against the configured rendering', () => {
  it('none when the chart renders exactly the exported values', () => {
    const cfg = gitops(['dp1', 'dp2']);
    const text = chartText(cfg, ['dp1', 'dp2']);
    expect(clustersDrift(clusters(text), clusters(text), cfg, keys(['dp1', 'dp2']))).toEqual([]);
  });

  it('names each difference: a missing data plane, endpoint, enabled, a weight, a missing member, an extra member, defaultExecutionLabel', () => {
    const cfg = gitops(['dp1', 'dp2', 'dp3'], { defaultExecutionLabel: 'team1' }, (id) => (id === 'dp1' ? { labels: { team1: 0.5, gpu: 1 } } : {}));
    const want = clusters(chartText(cfg, ['dp1', 'dp2', 'dp3']));
    const live = structuredClone(want) as { clusterConfigs: Array<Record<string, unknown>>; labelClusterMap: Record<string, Array<{ id: string; weight: number }>>; defaultExecutionLabel?: string };
    live.clusterConfigs = live.clusterConfigs.filter((e) => e['name'] !== 'dp3');
    live.clusterConfigs[0]!['endpoint'] = 'https://old.example:6443';
    live.clusterConfigs[1]!['enabled'] = false;
    live.labelClusterMap['team1'] = [{ id: 'dp1', weight: 1 }, { id: 'dp2', weight: 1 }];
    live.labelClusterMap['gpu'] = [{ id: 'dp1', weight: 1 }, { id: 'dp2', weight: 1 }];
    delete live.defaultExecutionLabel;
    expect(clustersDrift(live, want, cfg, keys(['dp1', 'dp2', 'dp3']))).toEqual([
      'data plane dp1: endpoint is "https://old.example:6443", configured "https://dp1.example:6443"',
      'data plane dp2: enabled is false, configured true',
      'data plane dp3: missing from clusterConfigs',
      'label gpu: data plane dp2 is a member, not configured in this label',
      'label team1: data plane dp1 has weight 1, configured 0.5',
      'label team1: data plane dp3 missing (configured weight 1)',
      'defaultExecutionLabel is unset, configured "team1"',
    ]);
  });

  it("a token or CA path whose key the Secret lacks is drift for any entry, the chart's own included; other paths and inCluster are not", () => {
    const cfg = gitops(['dp1']);
    const live = clusters(chartText(cfg, ['dp1']));
    (live['clusterConfigs'] as unknown[]).push(
      { name: 'legacy', endpoint: 'https://legacy:6443', enabled: false, auth: { tokenPath: '/var/run/credentials/legacy_token', certPath: '/etc/legacy/ca.crt' } },
      { name: 'local', inCluster: true, enabled: true },
    );
    expect(clustersDrift(live, live, cfg, keys(['dp1']))).toEqual([
      'cluster legacy: auth.tokenPath /var/run/credentials/legacy_token names key legacy_token, which Secret cluster-credentials does not hold (flyteadmin stops at start-up)',
    ]);
    expect(clustersDrift(live, live, cfg, new Set([...keys(['dp1']), 'legacy_token']))).toEqual([]);
  });
});

describe('checkDrift', () => {
  it('the chart at its defaults (clusterConfigs: []): every configured data plane is missing, with the values to commit, in both ConfigMaps once', () => {
    const cfg = gitops(['dp1', 'dp2']);
    const empty = 'clusters:\n  clusterConfigs: []\n  labelClusterMap: {}\n';
    const d = checkDrift({ cfg, records: records(['dp1', 'dp2']), secretKeys: keys(['dp1', 'dp2']), configMaps: [{ name: 'a', text: empty }, { name: 'b', text: empty }] })!;
    expect(d.code).toBe('CONTROL_PLANE_DRIFT');
    expect(d.items).toEqual([
      'data plane dp1: missing from clusterConfigs',
      'data plane dp2: missing from clusterConfigs',
      'label team1: data plane dp1 missing (configured weight 1)',
      'label team1: data plane dp2 missing (configured weight 1)',
    ]);
    // The values to commit render exactly what the sync would have written.
    expect(parse(d.values)).toEqual({ configmap: { clusters: clusters(chartText(cfg, ['dp1', 'dp2'])) } });
    expect([d.valuesTruncated, d.routing]).toEqual([false, false]);
  });

  it("only in one ConfigMap: the line names it; a chart's own entries and labels are kept in the values", () => {
    const cfg = gitops(['dp1']);
    const good = chartText(cfg, ['dp1']);
    const withOwn = stringify({ clusters: { ...clusters(good), clusterConfigs: [...(clusters(good)['clusterConfigs'] as unknown[]), { name: 'local', inCluster: true, enabled: true }], labelClusterMap: { ...(clusters(good)['labelClusterMap'] as object), cpu: [{ id: 'local', weight: 1 }] } } });
    const stale = withOwn.replace('weight: 1\n', 'weight: 0.5\n');
    const d = checkDrift({ cfg, records: records(['dp1']), secretKeys: keys(['dp1']), configMaps: [{ name: 'a', text: withOwn }, { name: 'b', text: stale }] })!;
    expect(d.items).toEqual(['label team1: data plane dp1 has weight 0.5, configured 1 [b]']);
    expect(parse(d.values).configmap.clusters.labelClusterMap.cpu).toEqual([{ id: 'local', weight: 1 }]);
    expect(checkDrift({ cfg, records: records(['dp1']), secretKeys: keys(['dp1']), configMaps: [{ name: 'a', text: withOwn }] })).toBeUndefined();
  });

  it('bounded: at most 20 lines (then how many more) and 4000 characters of values', () => {
    const ids = Array.from({ length: 60 }, (_, i) => `dp${i}`);
    const cfg = gitops(ids);
    const d = checkDrift({ cfg, records: records(ids), secretKeys: keys(ids), configMaps: [{ name: 'a', text: 'clusters: {}\n' }] })!;
    expect(d.count).toBe(120);
    expect(d.items).toHaveLength(MAX_DRIFT_ITEMS + 1);
    expect(d.items.at(-1)).toBe('and 100 more');
    expect(d.valuesTruncated).toBe(true);
    expect(d.values.length).toBeLessThanOrEqual(4000);
  });

  it('the routing guard runs on the live text: an assigned label that routes nowhere is drift and marks routing', () => {
    const cfg = gitops(['dp1']);
    const good = chartText(cfg, ['dp1']);
    const guard = (next: string) => {
      if (!clusters(next)['labelClusterMap'] || !('gpu' in (clusters(next)['labelClusterMap'] as object)))
        throw new LabelRoutingError([{ scope: 'p/development', label: 'gpu', source: 'configuration', reason: 'clusters.yaml does not define it [ConfigMap flyte/a key clusters.yaml]' }]);
    };
    const d = checkDrift({ cfg, records: records(['dp1']), secretKeys: keys(['dp1']), configMaps: [{ name: 'a', text: good }], guard })!;
    expect(d.items).toEqual(['label routing: p/development -> "gpu" (configuration) routes nowhere: clusters.yaml does not define it']);
    expect(d.routing).toBe(true);
  });

  it('unreadable YAML and a missing key are drift, not a crash', () => {
    const cfg = gitops(['dp1']);
    const d = checkDrift({ cfg, records: records(['dp1']), secretKeys: keys(['dp1']), configMaps: [{ name: 'a', text: 'clusters: {' }, { name: 'b', text: undefined }] })!;
    expect(d.items[0]).toMatch(/^clusters.yaml is not valid YAML .* \[a\]$/);
    expect(d.items).toContain('clusters.yaml is missing [b]');
    expect(d.items).toContain('data plane dp1: missing from clusterConfigs');
  });
});

function world(cfg: ReturnType<typeof gitops>, ids: string[], chart: string) {
  const dps = new Map(ids.map((id) => [id, new FakeDataPlane(id)]));
  const cp = new FakeControlPlane(chart);
  for (const c of cp.configMaps.values()) Object.assign(c.labels, { 'app.kubernetes.io/managed-by': 'Helm' }), Object.assign(c.annotations, { 'meta.helm.sh/release-name': 'flyte', 'meta.helm.sh/release-namespace': 'flyte' });
  const store = new MemoryStore();
  const valid = new Set(ids.map((id) => fakeToken(id)));
  const deps: SyncDeps = {
    config: cfg,
    log: silentLog,
    store,
    verify: fakeVerifier(valid),
    dataPlane: async (dp) => dps.get(dp.id)!,
    controlPlane: async () => cp,
    now: () => new Date('2026-12-04T22:00:00Z'),
    sleep: async () => {},
  };
  return { cp, deps, store };
}

describe('runSync in mode gitops (in-memory fakes)', () => {
  it('the chart holds the exported values: writes only the Secret, restarts on it, no drift; the next run writes and restarts nothing', async () => {
    const ids = ['dp1', 'dp2'];
    const cfg = gitops(ids);
    const w = world(cfg, ids, chartText(cfg, ids));
    const before = [...w.cp.configMaps.values()].map((c) => c.resourceVersion);
    const r = await runSync(w.deps);
    expect(r.ok).toBe(true);
    expect(r.controlPlane!.mode).toBe('gitops');
    expect(r.controlPlane!.drift).toBeUndefined();
    expect(w.cp.writes).toEqual(['create Secret cluster-credentials']);
    expect([...w.cp.configMaps.values()].map((c) => c.resourceVersion)).toEqual(before);
    expect(r.controlPlane!.restarted).toEqual(['flyteadmin', 'syncresources']);
    expect(r.clusters.map((c) => c.published)).toEqual(ids.map(() => expect.objectContaining({ listed: true, enabled: true, labels: ['team1'], unrouted: false })));
    expect(runMetrics(r).find((m) => m.name === 'ControlPlaneDrift')).toEqual({ name: 'ControlPlaneDrift', unit: 'Count', value: 0 });
    // The Helm-owned ConfigMaps are named, and fine in this mode: the text report says nothing of them.
    expect(r.controlPlane!.owners!.map((o) => [o.object, o.severity, o.owners[0]!.name])).toEqual([
      ['ConfigMap flyte/flyte-admin-clusters-config', 'ok', 'Helm release flyte/flyte'],
      ['ConfigMap flyte/flyte-clusterresourcesync-config', 'ok', 'Helm release flyte/flyte'],
    ]);
    expect(formatReport(r)).not.toContain('managed by');
    const again = await runSync(w.deps);
    expect([again.ok, again.controlPlane!.restarted, w.cp.writes.length]).toEqual([true, [], 1]);
  });

  it('a clusters.yaml change by the chart alone restarts nothing (the chart rolls its own); a rotated token restarts', async () => {
    const ids = ['dp1', 'dp2'];
    const cfg = gitops(ids);
    const w = world(cfg, ids, chartText(cfg, ids));
    await runSync(w.deps);
    // The chart adds an entry of its own (helm upgrade), keeping ours.
    for (const name of ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'])
      w.cp.concurrentEdit(name, (d) => void (d['clusters.yaml'] = d['clusters.yaml']!.replace('clusterConfigs:\n', 'clusterConfigs:\n    - name: local\n      inCluster: true\n      enabled: true\n')));
    const r = await runSync(w.deps);
    expect([r.ok, r.controlPlane!.restarted, r.controlPlane!.drift]).toEqual([true, [], undefined]);
  });

  it("a data plane missing from the chart's values: drift fails the run with the values to commit, the ConfigMaps untouched, the Secret still written", async () => {
    const ids = ['dp1', 'dp2'];
    const cfg = gitops(ids);
    const w = world(cfg, ids, chartText(cfg, ['dp1']));
    const before = new Map([...w.cp.configMaps].map(([k, c]) => [k, structuredClone(c)]));
    const r = await runSync(w.deps);
    expect(r.ok).toBe(false);
    expect(r.controlPlane!.drift!.items).toEqual(['data plane dp2: missing from clusterConfigs', 'label team1: data plane dp2 missing (configured weight 1)']);
    expect(new Map([...w.cp.configMaps].map(([k, c]) => [k, structuredClone(c)]))).toEqual(before);
    expect(w.cp.writes).toEqual(['create Secret cluster-credentials']);
    expect(Object.keys(w.cp.secrets.get('flyte/cluster-credentials')!.data).sort()).toEqual(['dp1_cacert', 'dp1_token', 'dp2_cacert', 'dp2_token']);
    expect(r.clusters.find((c) => c.id === 'dp2')!.published).toMatchObject({ listed: false, enabled: false, labels: [] });
    const e = new SyncFailedError(r);
    expect(e.code).toBe('CONTROL_PLANE_DRIFT');
    expect(e.message).toContain('clusters.yaml differs from the configuration in 2 way(s): data plane dp2: missing from clusterConfigs');
    expect(runMetrics(r).find((m) => m.name === 'ControlPlaneDrift')!.value).toBe(2);
    const text = formatReport(r);
    expect(text).toContain('ConfigMap flyte-admin-clusters-config: not written (mode gitops: the chart\'s)');
    expect(text).toContain('✗ [CONTROL_PLANE_DRIFT] clusters.yaml differs from the configuration (2):');
    expect(text).toContain('commit these flyte-core values, then helm upgrade');
    expect(text).toMatch(/ {6}configmap:\n {8}clusters:\n/);
    expect(text).toContain('name: dp2');
  });

  it('a dry run writes nothing and reports the same drift', async () => {
    const cfg = gitops(['dp1', 'dp2']);
    const w = world(cfg, ['dp1', 'dp2'], chartText(cfg, ['dp1']));
    const r = await runSync(w.deps, { dryRun: true });
    expect(r.controlPlane!.drift!.count).toBe(2);
    expect(w.cp.writes).toEqual([]);
    expect(w.cp.restarts).toEqual([]);
    expect(w.store.writes).toBe(0);
  });

  it('mode owner on Helm-owned ConfigMaps: the report names the owner, the consequence and the mode to choose', async () => {
    const ids = ['dp1'];
    const cfg = testConfig(ids);
    const w = world(cfg as ReturnType<typeof gitops>, ids, 'clusters:\n  clusterConfigs: []\n  labelClusterMap: {}\n');
    const r = await runSync(w.deps);
    expect(r.ok).toBe(true);
    expect(r.controlPlane!.owners!.map((o) => [o.object, o.severity, o.owners.map((x) => x.name)])).toEqual([
      ['ConfigMap flyte/flyte-admin-clusters-config', 'warn', ['Helm release flyte/flyte']],
      ['ConfigMap flyte/flyte-clusterresourcesync-config', 'warn', ['Helm release flyte/flyte']],
    ]);
    expect(formatReport(r)).toContain("! ConfigMap flyte/flyte-admin-clusters-config: managed by Helm release flyte/flyte: `helm upgrade` of release flyte/flyte writes the chart's clusters.yaml");
    expect(runMetrics(r).some((m) => m.name === 'ControlPlaneDrift')).toBe(false);
  });

  it('the configuration schema: mode is owner by default, gitops by choice, anything else refused with the field named', () => {
    expect(testConfig(['dp1']).controlPlane.mode).toBe('owner');
    expect(gitops(['dp1']).controlPlane.mode).toBe('gitops');
    expect(() => gitops(['dp1'], { mode: 'GitOps' })).toThrow(/controlPlane\.mode/);
  });
});

describe('export-values: a data plane that left the configuration', () => {
  it('stays in the values, disabled and in no label, as a sync keeps it (flyteadmin aborts look clusters up among all entries); entries credsync did not render are not added', async () => {
    // Prepare: the chart lists dp1 and dp2 (from an earlier export) and a hand-made entry; dp2 left the configuration.
    const before = gitops(['dp1', 'dp2']);
    const chart = clusters(chartText(before, ['dp1', 'dp2'])) as { clusterConfigs: unknown[] };
    chart.clusterConfigs.push({ name: 'legacy', endpoint: 'https://legacy.example:6443', enabled: true, auth: { tokenPath: '/secrets/legacy', certPath: '/secrets/legacy-ca' } });
    const live = stringify({ clusters: chart });
    const cfg = gitops(['dp1']);
    const store = new MemoryStore();
    await store.put(rec('dp1'));
    // Act
    const r = await exportValues(cfg, store, live);
    const without = await exportValues(cfg, store);
    // Assess
    const values = parse(r.text).configmap.clusters;
    expect(values.clusterConfigs.map((e: { name: string; enabled: boolean }) => [e.name, e.enabled])).toEqual([['dp1', true], ['dp2', false]]);
    expect(values.clusterConfigs[1]).toEqual({ ...(chart.clusterConfigs[1] as object), enabled: false });
    expect(values.labelClusterMap).toEqual({ team1: [{ id: 'dp1', weight: 1 }] });
    expect(r.kept).toEqual(['dp2']);
    expect(r.text).toContain('# Kept disabled (left the configuration; aborts of their executions need the entry): dp2');
    // Without the control plane's list, only the configured ones (as before).
    expect(parse(without.text).configmap.clusters.clusterConfigs.map((e: { name: string }) => e.name)).toEqual(['dp1']);
  });
});
