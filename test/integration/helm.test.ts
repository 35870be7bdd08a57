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
import { deploymentRolledOut } from '../env/seed.ts';
import { helm, helmUpgradeInstall } from '../env/helm.ts';
import { apps, awsClient, core, envConfig, exportAwsEnv, loadTestEnv, uniquePrefix, type EnvInfo } from './helpers.ts';

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

/** Waits (generously: the machine may be busy) until both Deployments have rolled out. */
async function rolledOut(namespace: string, timeoutMs = 240_000): Promise<void> {
  const a = apps(env, env.controlPlane);
  for (const until = Date.now() + timeoutMs; ; ) {
    const pending: string[] = [];
    for (const name of DEPLOYMENTS) if (!deploymentRolledOut(await a.readNamespacedDeployment({ name, namespace }))) pending.push(name);
    if (!pending.length) return;
    if (Date.now() > until) throw new Error(`${pending.join(', ')} in ${namespace} did not roll out within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Installs the test chart into a namespace of its own and waits for its rollouts. */
async function install(tag: string): Promise<string> {
  const namespace = `helm-${tag}-${uniquePrefix('').slice(3, 11)}`;
  namespaces.push(namespace);
  await helmUpgradeInstall(env, RELEASE, namespace);
  await rolledOut(namespace);
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
    await rolledOut(ns);
  }, 900_000);
});
