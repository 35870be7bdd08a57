/**
 * Living next to Helm, Argo CD and Flux, against the local environment's real control-plane API
 * server: the ownership markers on the objects the sync writes (doctor and the sync report name
 * them), and `controlPlane.mode: gitops`, where a chart writes clusters.yaml (simulated here by
 * writes with the field manager `helm`) and credsync writes only the Secret.
 */
import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { PatchStrategy, setHeaderOptions, type V1ManagedFieldsEntry } from '@kubernetes/client-node';
import { connect } from '../../lib/clusters/access.ts';
import { parseConfig } from '../../lib/config/load.ts';
import { formatDoctor, runDoctor } from '../../lib/doctor/doctor.ts';
import { KubeHttp } from '../../lib/kube/http2.ts';
import { objectPath, PARTIAL_METADATA } from '../../lib/kube/metadata.ts';
import { buildDeps, buildStore } from '../../lib/runtime/wiring.ts';
import { runSync } from '../../lib/sync/sync.ts';
import { silentLog } from '../../lib/util/log.ts';
import { apps, awsClient, core, exportAwsEnv, INITIAL_CLUSTERS_YAML, loadTestEnv, resetControlPlane, runCli, secretsIn, uniquePrefix, type EnvInfo } from './helpers.ts';

jest.setTimeout(300_000);

let env: EnvInfo;
const dir = mkdtempSync(join(tmpdir(), 'credsync-gitops-'));
const NS = 'flyte';
const CMS = ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'];
const DEPLOYMENTS = ['flyteadmin', 'syncresources'];

beforeAll(() => {
  env = loadTestEnv();
  exportAwsEnv(env);
});

const HELM = {
  labels: { 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'flyte' },
  annotations: { 'meta.helm.sh/release-name': 'flyte', 'meta.helm.sh/release-namespace': NS },
};
const MARKER_KEYS = {
  labels: ['app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'helm.toolkit.fluxcd.io/name', 'helm.toolkit.fluxcd.io/namespace', 'kustomize.toolkit.fluxcd.io/name', 'kustomize.toolkit.fluxcd.io/namespace'],
  annotations: ['meta.helm.sh/release-name', 'meta.helm.sh/release-namespace', 'argocd.argoproj.io/tracking-id'],
};

/** Sets (or with null, removes) labels and annotations of a control-plane object, as another tool's apply would. */
async function mark(kind: 'ConfigMap' | 'Deployment' | 'Secret', name: string, meta: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> }) {
  const body = { metadata: meta };
  const opts = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  if (kind === 'Deployment') await apps(env, env.controlPlane).patchNamespacedDeployment({ name, namespace: NS, body }, opts);
  else if (kind === 'ConfigMap') await core(env, env.controlPlane).patchNamespacedConfigMap({ name, namespace: NS, body }, opts);
  else await core(env, env.controlPlane).patchNamespacedSecret({ name, namespace: NS, body }, opts);
}
/** Each object's labels and annotations as seeded: put back after each test. */
const seeded = new Map<string, { labels: Record<string, string>; annotations: Record<string, string> }>();
const restoring = (key: string) => {
  const was = seeded.get(key)!;
  const back = (keys: string[], from: Record<string, string>) => Object.fromEntries(keys.map((k) => [k, from[k] ?? null]));
  return { labels: back(MARKER_KEYS.labels, was.labels), annotations: back(MARKER_KEYS.annotations, was.annotations) };
};

beforeAll(async () => {
  for (const n of CMS) {
    const m = (await core(env, env.controlPlane).readNamespacedConfigMap({ name: n, namespace: NS })).metadata;
    seeded.set(`ConfigMap/${n}`, { labels: { ...m?.labels }, annotations: { ...m?.annotations } });
  }
  for (const n of DEPLOYMENTS) {
    const m = (await apps(env, env.controlPlane).readNamespacedDeployment({ name: n, namespace: NS })).metadata;
    seeded.set(`Deployment/${n}`, { labels: { ...m?.labels }, annotations: { ...m?.annotations } });
  }
});

afterEach(async () => {
  for (const n of CMS) await mark('ConfigMap', n, restoring(`ConfigMap/${n}`));
  for (const n of DEPLOYMENTS) await mark('Deployment', n, restoring(`Deployment/${n}`));
  // (The Secret keeps credsync's own managed-by label.)
  await mark('Secret', 'cluster-credentials', { annotations: { 'argocd.argoproj.io/tracking-id': null } }).catch(() => undefined);
});

const dataPlane = (id: string, labels: Record<string, number> = { team1: 1 }) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels });
const configFor = (prefix: string, mode: 'owner' | 'gitops', dataPlanes: unknown[]) => ({
  controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, mode },
  store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
  dataPlanes,
});

const credsync = (args: string[]) => runCli(env, args, 180_000);

/** The control plane as the API server holds it: resourceVersions, Deployment generations, who wrote the ConfigMaps. */
async function controlState() {
  const c = core(env, env.controlPlane);
  const secret = await c.readNamespacedSecret({ name: 'cluster-credentials', namespace: NS }).catch(() => undefined);
  const cms = await Promise.all(CMS.map((name) => c.readNamespacedConfigMap({ name, namespace: NS })));
  const deps = await Promise.all(DEPLOYMENTS.map((name) => apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: NS })));
  const managers = (mf: V1ManagedFieldsEntry[] | undefined) => (mf ?? []).map((m) => m.manager).sort();
  return {
    secretRv: secret?.metadata?.resourceVersion,
    secretKeys: Object.keys(secret?.data ?? {}).sort(),
    cmRvs: cms.map((m) => m.metadata?.resourceVersion),
    cmManagers: cms.map((m) => managers(m.metadata?.managedFields)),
    clustersYaml: cms.map((m) => m.data?.['clusters.yaml']),
    generations: deps.map((d) => d.metadata?.generation),
  };
}

/**
 * What `helm upgrade` with these values does to the two ConfigMaps: writes the chart's rendering of
 * `configmap.clusters` under `clusters:` (flyte-core's templates), as field manager `helm`.
 */
async function helmUpgrade(valuesFile: string) {
  const values = parse(readFileSync(valuesFile, 'utf8')) as { configmap: { clusters: unknown } };
  const text = stringify({ clusters: values.configmap.clusters });
  const c = core(env, env.controlPlane);
  for (const name of CMS) {
    const cm = await c.readNamespacedConfigMap({ name, namespace: NS });
    await c.replaceNamespacedConfigMap({ name, namespace: NS, fieldManager: 'helm', body: { ...cm, metadata: { ...cm.metadata, labels: { ...cm.metadata?.labels, ...HELM.labels }, annotations: { ...cm.metadata?.annotations, ...HELM.annotations } }, data: { ...cm.data, 'clusters.yaml': text } } });
  }
  // And, as flyte-core does when its rendered ConfigMaps change, both Deployments rolled out on
  // their configChecksum: their new pods start on the new clusters.yaml (a write that rolled
  // nothing out would leave pods on the old one, which the sync restarts).
  const checksum = createHash('sha256').update(text).digest('hex').slice(0, 63);
  for (const name of DEPLOYMENTS)
    await apps(env, env.controlPlane).patchNamespacedDeployment(
      { name, namespace: NS, fieldManager: 'helm', body: { spec: { template: { metadata: { annotations: { configChecksum: checksum } } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
}

describe('who else owns the objects credsync writes', () => {
  it('doctor names the owner of each object, the consequence and the mode; reads metadata only; a managed Secret fails it', async () => {
    // Prepare: the ConfigMaps of a Helm release, then Argo CD; the Deployments under Flux.
    await resetControlPlane(env);
    const prefix = uniquePrefix('owners');
    const cfg = parseConfig(configFor(prefix, 'owner', [dataPlane(env.dataPlanes[0]!)]));
    await runSync(buildDeps(cfg, silentLog, { secretsManager: awsClient(env) })); // the Secret exists
    await mark('ConfigMap', CMS[0]!, HELM);
    await mark('ConfigMap', CMS[1]!, { annotations: { 'argocd.argoproj.io/tracking-id': `flyte-cp:/ConfigMap:${NS}/${CMS[1]}` } });
    await mark('Deployment', 'flyteadmin', { labels: { ...HELM.labels, 'helm.toolkit.fluxcd.io/name': 'flyte', 'helm.toolkit.fluxcd.io/namespace': 'flux-system' }, annotations: HELM.annotations });
    await mark('Deployment', 'syncresources', { labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' } });
    const doctor = () => runDoctor({ config: cfg, store: buildStore(cfg, { secretsManager: awsClient(env) }), connect: (w, a) => connect(w, a), timeoutMs: 20_000 });
    // Act
    const r = await doctor();
    // Assess: every object named, in order, with its owner and severity; warnings do not fail the doctor.
    expect(r.owners.objects.map((o) => [o.object, o.severity, o.owners.map((x) => x.name)])).toEqual([
      [`Secret ${NS}/cluster-credentials`, 'ok', []],
      [`ConfigMap ${NS}/${CMS[0]}`, 'warn', ['Helm release flyte/flyte']],
      [`ConfigMap ${NS}/${CMS[1]}`, 'warn', ['Argo CD application flyte-cp']],
      [`Deployment ${NS}/flyteadmin`, 'ok', ['Flux HelmRelease flux-system/flyte', 'Helm release flyte/flyte']],
      [`Deployment ${NS}/syncresources`, 'ok', ['Flux Kustomization flux-system/apps']],
    ]);
    expect(r.ok).toBe(true);
    const text = formatDoctor(r);
    expect(text).toContain('! owners (controlPlane.mode: owner): who else writes what the sync writes on the control plane');
    expect(text).toContain(`    ! ConfigMap ${NS}/${CMS[0]}: managed by Helm release flyte/flyte: \`helm upgrade\` of release flyte/flyte writes the chart's clusters.yaml (configmap.clusters) back; the next sync repairs it and restarts flyteadmin and syncresources`);
    expect(text).toContain('choose controlPlane.mode: gitops');
    expect(text).toContain(`Argo CD application flyte-cp reverts clusters.yaml to the chart's on its next sync (at once with self-heal)`);
    expect(text).toMatch(/doctor: everything the sync needs is in place; another tool writes what the sync writes \(see ! above\)$/);
    expect(secretsIn(text)).toEqual([]);

    // The sync's report carries the same (mode owner).
    const s = await runSync(buildDeps(cfg, silentLog, { secretsManager: awsClient(env) }));
    expect(s.controlPlane!.owners!.filter((o) => o.severity === 'warn').map((o) => o.object)).toEqual(CMS.map((n) => `ConfigMap ${NS}/${n}`));

    // In mode gitops the same ConfigMaps are fine.
    const g = await runDoctor({ config: { ...cfg, controlPlane: { ...cfg.controlPlane, mode: 'gitops' } }, store: buildStore(cfg, { secretsManager: awsClient(env) }), connect: (w, a) => connect(w, a), timeoutMs: 20_000 });
    expect(g.owners.objects.map((o) => o.severity)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);

    // The credentials Secret in someone's chart: a problem in every mode, the doctor fails.
    await mark('Secret', 'cluster-credentials', { annotations: { 'argocd.argoproj.io/tracking-id': `secrets-app:/Secret:${NS}/cluster-credentials` } });
    const bad = await doctor();
    expect(bad.ok).toBe(false);
    expect(bad.owners.objects[0]).toMatchObject({ severity: 'problem', owners: [{ tool: 'argocd', name: 'Argo CD application secrets-app' }] });
    expect(formatDoctor(bad)).toContain(`✗ Secret ${NS}/cluster-credentials: managed by Argo CD application secrets-app too`);
  });

  it('the metadata read gets PartialObjectMetadata from the API server: no data of the Secret leaves it', async () => {
    const conn = await connect('control plane', { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig });
    const o = await new KubeHttp(conn).request<Record<string, unknown>>({ method: 'GET', path: objectPath('Secret', NS, 'cluster-credentials'), accept: PARTIAL_METADATA });
    expect(o['kind']).toBe('PartialObjectMetadata');
    expect(Object.keys(o).sort()).toEqual(['apiVersion', 'kind', 'metadata']);
  });
});

describe('controlPlane.mode: gitops on the real API server', () => {
  it('install with the exported values -> sync writes only the Secret -> upgrade with new exported values: no drift, no write, no restart; drift fails with the values to commit', async () => {
    // Prepare: the chart's defaults in both ConfigMaps (clusterConfigs: []), written by "helm".
    await resetControlPlane(env);
    const [dp1, dp2] = env.dataPlanes as [string, string];
    const prefix = uniquePrefix('gitops');
    const cfgFile = join(dir, 'gitops.yaml');
    writeFileSync(cfgFile, stringify(configFor(prefix, 'gitops', [dataPlane(dp1)])));
    const values = join(dir, 'values.yaml');

    // 1. The first sync: the store and the Secret are filled; the chart does not list dp1 yet: drift.
    const before = await controlState();
    const first = credsync(['sync', '--config', cfgFile]);
    expect(first.code).toBe(1);
    expect(first.stdout).toContain('✗ [CONTROL_PLANE_DRIFT] clusters.yaml differs from the configuration (2):');
    expect(first.stdout).toContain(`- data plane ${dp1}: missing from clusterConfigs`);
    expect(first.stdout).toContain(`ConfigMap ${CMS[0]}: not written (mode gitops: the chart's)`);
    let st = await controlState();
    expect(st.cmRvs).toEqual(before.cmRvs);
    expect(st.secretKeys).toEqual([`${dp1}_cacert`, `${dp1}_token`]);

    // 2. "helm install" with the exported values; the sync then has nothing to say and nothing to write.
    expect(credsync(['export-values', '--config', cfgFile, '--out', values]).code).toBe(0);
    await helmUpgrade(values);
    st = await controlState();
    const second = credsync(['sync', '--config', cfgFile]);
    expect(second.stderr).not.toContain('CONTROL_PLANE_DRIFT');
    expect(second.code).toBe(0);
    const after = await controlState();
    expect(after.cmRvs).toEqual(st.cmRvs); // the ConfigMaps were not written...
    expect(after.cmManagers.every((m) => !m.includes('flyte-credsync'))).toBe(true); // ...ever, by credsync
    expect(after.cmManagers.every((m) => m.includes('helm'))).toBe(true);
    expect(after.secretRv).toBe(st.secretRv);
    expect(after.generations).toEqual(st.generations); // the Secret did not change: no restart

    // 3. A second data plane: its keys go into the Secret, the chart does not list it yet: drift, exit 1,
    // with the values to commit in the output; nothing written to the ConfigMaps.
    writeFileSync(cfgFile, stringify(configFor(prefix, 'gitops', [dataPlane(dp1), dataPlane(dp2, { team1: 0.5 })])));
    const third = credsync(['sync', '--config', cfgFile]);
    expect(third.code).toBe(1);
    expect(third.stdout).toContain(`- data plane ${dp2}: missing from clusterConfigs`);
    expect(third.stdout).toContain(`- label team1: data plane ${dp2} missing (configured weight 0.5)`);
    expect(third.stdout).toContain('commit these flyte-core values, then helm upgrade (or let Argo CD / Flux sync):');
    const shown = third.stdout.split('\n').filter((l) => l.startsWith('      ')).map((l) => l.slice(6)).join('\n');
    expect(parse(shown.slice(shown.indexOf('configmap:'))).configmap.clusters.clusterConfigs.map((e: { name: string }) => e.name)).toEqual([dp1, dp2]);
    const drifted = await controlState();
    expect(drifted.cmRvs).toEqual(after.cmRvs);
    expect(drifted.secretKeys).toEqual([`${dp1}_cacert`, `${dp1}_token`, `${dp2}_cacert`, `${dp2}_token`].sort());
    expect(drifted.generations.map((g, i) => g! > after.generations[i]!)).toEqual([true, true]); // the Secret changed: restarted

    // 4. "helm upgrade" with the new exported values: no drift, no fight (nothing written, no restart).
    expect(credsync(['export-values', '--config', cfgFile, '--out', values]).code).toBe(0);
    await helmUpgrade(values);
    st = await controlState();
    const fourth = credsync(['sync', '--config', cfgFile]);
    expect(fourth.code).toBe(0);
    const last = await controlState();
    expect([last.cmRvs, last.secretRv, last.generations]).toEqual([st.cmRvs, st.secretRv, st.generations]);

    // 5. dp2 leaves the configuration: the exported values keep it, disabled and in no label (flyteadmin's
    // abort of its running executions looks it up among all entries); after "helm upgrade", no drift.
    writeFileSync(cfgFile, stringify(configFor(prefix, 'gitops', [dataPlane(dp1)])));
    expect(credsync(['export-values', '--config', cfgFile, '--out', values]).code).toBe(0);
    const exported = parse(readFileSync(values, 'utf8')).configmap.clusters;
    expect(exported.clusterConfigs.map((e: { name: string; enabled: boolean }) => [e.name, e.enabled])).toEqual([[dp1, true], [dp2, false]]);
    expect(exported.labelClusterMap.team1.map((m: { id: string }) => m.id)).toEqual([dp1]);
    await helmUpgrade(values);
    const fifth = credsync(['sync', '--config', cfgFile]);
    expect(fifth.stderr).not.toContain('CONTROL_PLANE_DRIFT');
    expect(fifth.code).toBe(0);
    expect((await controlState()).secretKeys).toEqual([`${dp1}_cacert`, `${dp1}_token`, `${dp2}_cacert`, `${dp2}_token`].sort()); // its files still load at start-up
    expect(secretsIn([first, second, third, fourth, fifth].map((r) => r.stdout + r.stderr).join('\n'))).toEqual([]);
  });

  it('a dry run in mode gitops writes nothing, and a chart token path whose key the Secret lacks is drift', async () => {
    await resetControlPlane(env);
    const [dp1] = env.dataPlanes as [string];
    const prefix = uniquePrefix('gitops-dry');
    const cfg = parseConfig(configFor(prefix, 'gitops', [dataPlane(dp1)]));
    // The chart lists dp1 and a cluster whose key nobody writes.
    const chart = stringify({
      clusters: {
        labelClusterMap: { team1: [{ id: dp1, weight: 1 }] },
        clusterConfigs: [
          { name: dp1, endpoint: env.clusters[dp1]!.server, enabled: true, auth: { tokenPath: `/var/run/credentials/${dp1}_token`, certPath: `/var/run/credentials/${dp1}_cacert` } },
          { name: 'legacy', endpoint: 'https://legacy.example:6443', enabled: false, auth: { tokenPath: '/var/run/credentials/legacy_token', certPath: '/var/run/credentials/legacy_cacert' } },
        ],
      },
    });
    for (const name of CMS) {
      const cm = await core(env, env.controlPlane).readNamespacedConfigMap({ name, namespace: NS });
      await core(env, env.controlPlane).replaceNamespacedConfigMap({ name, namespace: NS, fieldManager: 'helm', body: { ...cm, data: { ...cm.data, 'clusters.yaml': chart } } });
    }
    const before = await controlState();
    const r = await runSync(buildDeps(cfg, silentLog, { secretsManager: awsClient(env) }), { dryRun: true });
    expect(r.ok).toBe(false);
    expect(r.controlPlane!.drift!.items).toEqual([
      'cluster legacy: auth.tokenPath /var/run/credentials/legacy_token names key legacy_token, which Secret cluster-credentials does not hold (flyteadmin stops at start-up)',
      'cluster legacy: auth.certPath /var/run/credentials/legacy_cacert names key legacy_cacert, which Secret cluster-credentials does not hold (flyteadmin stops at start-up)',
    ]);
    expect(await controlState()).toEqual(before);
    // Put the chart's defaults back for the next suites.
    for (const name of CMS) {
      const cm = await core(env, env.controlPlane).readNamespacedConfigMap({ name, namespace: NS });
      await core(env, env.controlPlane).replaceNamespacedConfigMap({ name, namespace: NS, body: { ...cm, data: { ...cm.data, 'clusters.yaml': INITIAL_CLUSTERS_YAML } } });
    }
  });
});
