/**
 * credsync next to a real Helm release (issue #18): the Helm CLI built from its Go module
 * (test/env/helm.ts) installs the test chart test/charts/flyte-core-lite, which writes the two
 * clusters.yaml ConfigMaps and the flyteadmin / syncresources Deployments as flyte-core does, in a
 * namespace of its own; the control plane's kube-scheduler and KWOK nodes roll the Deployments out
 * for real.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runSync } from '../../lib/sync/sync.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { lineLog } from '../../lib/util/log.ts';
import type { Config } from '../../lib/config/schema.ts';
import { helm, helmUpgradeInstall } from '../env/helm.ts';
import { writeFileSync } from 'node:fs';
import { PatchStrategy, setHeaderOptions, type V1ConfigMap } from '@kubernetes/client-node';
import { syncFailures } from '../../lib/runtime/invocation.ts';
import { apps, awsClient, contentState, core, envConfig, exportAwsEnv, INITIAL_CLUSTERS_YAML, loadTestEnv, podsOf, rolledOut, startedOnContent, uniquePrefix, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
const logs: string[] = [];
const log = lineLog({ verbose: true, write: (l) => logs.push(l) });
const dir = mkdtempSync(join(tmpdir(), 'credsync-helm-test-'));
const RELEASE = 'flyte';
const DEPLOYMENTS = ['flyteadmin', 'syncresources'] as const;
const namespaces: string[] = [];

beforeAll(async () => {
  env = loadTestEnv();
  exportAwsEnv(env);
}, 600_000);

afterAll(async () => {
  for (const ns of namespaces) {
    await helm(env, ['uninstall', RELEASE, '--namespace', ns]).catch(() => undefined);
    await core(env, env.controlPlane).deleteNamespace({ name: ns }).catch(() => undefined);
  }
}, 300_000);

/** A configuration whose control plane is the Helm release's namespace. */
function releaseConfig(namespace: string, prefix: string): Config {
  return envConfig(env, prefix, {
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, namespace, defaultExecutionLabel: 'team1' },
  });
}

function sync(cfg: Config) {
  return runSync(buildDeps(cfg, log, { secretsManager: awsClient(env) }));
}

/** Installs the test chart into a namespace of its own and waits for its rollouts. */
async function install(tag: string): Promise<string> {
  const namespace = `helm-${tag}-${uniquePrefix('').slice(3, 11)}`;
  namespaces.push(namespace);
  await helmUpgradeInstall(env, RELEASE, namespace);
  await rolledOut(env, namespace);
  return namespace;
}

async function clustersYaml(namespace: string, name: string): Promise<string | undefined> {
  return (await core(env, env.controlPlane).readNamespacedConfigMap({ name, namespace })).data?.['clusters.yaml'];
}

describe('the test chart, installed with the real Helm CLI', () => {
  it('renders both ConfigMaps and Deployments as flyte-core does, rolled out on the KWOK nodes, and credsync syncs into them', async () => {
    const ns = await install('chart');
    const c = core(env, env.controlPlane);
    // Prepare: what Helm wrote carries Helm's ownership markers and the chart's defaults.
    for (const name of ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config']) {
      const cm = await c.readNamespacedConfigMap({ name, namespace: ns });
      expect(cm.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
      expect(cm.metadata?.annotations?.['meta.helm.sh/release-name']).toBe(RELEASE);
      expect(parse(cm.data!['clusters.yaml']!)).toEqual({ clusters: { clusterConfigs: [], labelClusterMap: {} } });
      expect(cm.metadata?.managedFields?.some((f) => f.manager === 'helm')).toBe(true);
    }
    expect(Object.keys((await c.readNamespacedConfigMap({ name: 'flyte-clusterresourcesync-config', namespace: ns })).data!).sort()).toEqual(['cluster_resources.yaml', 'clusters.yaml', 'domain.yaml']);
    for (const name of DEPLOYMENTS) {
      const d = await apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: ns });
      expect(d.spec?.template?.metadata?.annotations?.['configChecksum']).toMatch(/^[0-9a-f]{63}$/);
      expect(d.metadata?.annotations?.['meta.helm.sh/release-namespace']).toBe(ns);
    }
    const admin = await apps(env, env.controlPlane).readNamespacedDeployment({ name: 'flyteadmin', namespace: ns });
    expect(admin.spec?.template?.spec?.containers[0]?.volumeMounts).toContainEqual({ name: 'cluster-credentials', mountPath: '/var/run/credentials' });

    // Act: the first sync into the release's namespace.
    const r = await sync(releaseConfig(ns, uniquePrefix('helm-chart')));

    // Assess: both ConfigMaps list every data plane, the other keys are kept, both Deployments restarted.
    expect(r.ok).toBe(true);
    for (const name of ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config']) {
      const listed = (parse((await clustersYaml(ns, name))!) as { clusters: { clusterConfigs: { name: string }[] } }).clusters.clusterConfigs.map((e) => e.name);
      expect(listed.sort()).toEqual([...env.dataPlanes].sort());
    }
    expect((await c.readNamespacedConfigMap({ name: 'flyte-clusterresourcesync-config', namespace: ns })).data?.['cluster_resources.yaml']).toContain('refreshInterval: 5m');
    expect(r.controlPlane!.restarted).toEqual(['flyteadmin', 'syncresources']);
    await rolledOut(env, ns);
  }, 900_000);
});

const CMS = ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'];

/** The time (API server clock) a field manager last changed a ConfigMap's clusters.yaml. */
function writtenAt(cm: V1ConfigMap, manager: string): number {
  const e = (cm.metadata?.managedFields ?? []).find((f) => f.manager === manager && JSON.stringify(f.fieldsV1 ?? {}).includes('"f:clusters.yaml"'));
  if (!e?.time) throw new Error(`${cm.metadata?.name}: ${manager} does not own clusters.yaml`);
  return new Date(e.time as unknown as string).getTime();
}

async function configMapVersions(namespace: string): Promise<Array<string | undefined>> {
  return Promise.all(CMS.map(async (name) => (await core(env, env.controlPlane).readNamespacedConfigMap({ name, namespace })).metadata?.resourceVersion));
}

describe('credsync next to a Helm release (default mode: credsync owns clusters.yaml)', () => {
  it('install -> sync -> a helm upgrade that reverts clusters.yaml and rolls flyteadmin -> the next sync repairs, names helm, and no pod runs on Helm\'s content; a no-op sync after it restarts nothing', async () => {
    // Prepare: the release, synced.
    const ns = await install('upgrade');
    const cfg = releaseConfig(ns, uniquePrefix('helm-upgrade'));
    expect((await sync(cfg)).ok).toBe(true);
    await rolledOut(env, ns);

    // Act 1: a routine helm upgrade that changes only flyteadmin's resource request.
    const values = join(dir, `${ns}-upgrade.yaml`);
    writeFileSync(values, 'flyteadmin:\n  resources:\n    requests:\n      cpu: 20m\n      memory: 60Mi\n');
    await helmUpgradeInstall(env, RELEASE, ns, [values]);
    await rolledOut(env, ns);
    const c = core(env, env.controlPlane);
    const reverted = await Promise.all(CMS.map((name) => c.readNamespacedConfigMap({ name, namespace: ns })));
    for (const cm of reverted) expect(cm.data?.['clusters.yaml']).toBe('clusters:\n  clusterConfigs: []\n  labelClusterMap: {}\n');
    const helmAt = Math.min(...reverted.map((cm) => writtenAt(cm, 'helm')));

    // Act 2: the next sync.
    const repair = await sync(cfg);

    // Assess: both ConfigMaps repaired with helm named, flyteadmin (rolled out on Helm's content) restarted.
    expect(repair.ok).toBe(true);
    expect(repair.controlPlane!.replaced!.map((r) => [r.object, r.manager])).toEqual(CMS.map((n) => [`ConfigMap/${n}`, 'helm']));
    expect(repair.controlPlane!.restarted).toContain('flyteadmin');
    expect(logs.some((l) => l.includes('replaced content another writer had written') && l.includes('helm'))).toBe(true);
    await rolledOut(env, ns);
    const content = await contentState(env, ns);
    expect(content.changedAt).toBe(Math.max(...(await Promise.all(CMS.map((name) => c.readNamespacedConfigMap({ name, namespace: ns })))).map((cm) => writtenAt(cm, 'flyte-credsync'))));
    // Every current pod of both Deployments started on credsync's content: after the repair (in a
    // later second, or in its second by a restart that recorded the repair's write ids), or
    // (syncresources, which Helm did not roll) before Helm's revert.
    for (const name of DEPLOYMENTS) {
      for (const pod of await podsOf(env, name, ns)) expect({ name, pod, ok: startedOnContent(pod, content) || pod.created < Math.floor(helmAt / 1000) * 1000 }).toMatchObject({ ok: true });
    }
    for (const pod of await podsOf(env, 'flyteadmin', ns)) expect({ pod, ok: startedOnContent(pod, content) }).toMatchObject({ ok: true });

    // A no-op run after it: nothing written, nothing restarted.
    const before = await configMapVersions(ns);
    const noop = await sync(cfg);
    expect([noop.ok, noop.controlPlane!.restarted, noop.controlPlane!.applied]).toEqual([true, [], false]);
    expect(await configMapVersions(ns)).toEqual(before);
  }, 900_000);

  it('a second field manager reverting clusters.yaml in a loop: repaired on every run, never a restart; past 3 repairs within the hour the run fails with CONTROL_PLANE_CONTESTED naming it', async () => {
    const ns = await install('fight');
    const cfg = releaseConfig(ns, uniquePrefix('helm-fight'));
    expect((await sync(cfg)).ok).toBe(true);
    await rolledOut(env, ns);
    // The reverts come later than the restart's pods (whole seconds: a revert in the same second
    // as a pod's creation counts as loaded by it, and would rightly restart it).
    const newest = Math.max(...[...(await podsOf(env, 'flyteadmin', ns)), ...(await podsOf(env, 'syncresources', ns))].map((p) => p.created));
    while (Date.now() < newest + 1000) await new Promise((r) => setTimeout(r, 100));
    const c = core(env, env.controlPlane);
    const outcomes: Array<{ restarted: string[]; repairs?: number; code?: string }> = [];
    for (let i = 1; i <= 4; i++) {
      // Argo CD's self-heal: the chart's clusters.yaml written back, nothing restarted.
      for (const name of CMS)
        await c.patchNamespacedConfigMap(
          { name, namespace: ns, body: { data: { 'clusters.yaml': INITIAL_CLUSTERS_YAML } }, fieldManager: 'argocd-application-controller' },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      const r = await sync(cfg);
      outcomes.push({ restarted: r.controlPlane!.restarted, repairs: r.controlPlane!.replaced?.[0]?.repairs, code: syncFailures(r)[0]?.code });
      expect(r.controlPlane!.replaced!.map((x) => x.manager)).toEqual(['argocd-application-controller', 'argocd-application-controller']);
    }
    expect(outcomes).toEqual([
      { restarted: [], repairs: 1, code: undefined },
      { restarted: [], repairs: 2, code: undefined },
      { restarted: [], repairs: 3, code: undefined },
      { restarted: [], repairs: 4, code: 'CONTROL_PLANE_CONTESTED' },
    ]);
    // The ConfigMaps hold credsync's rendering after every run.
    for (const name of CMS) expect(await clustersYaml(ns, name)).toContain('clusterConfigs:\n');
  }, 900_000);
});
