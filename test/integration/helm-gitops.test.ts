/**
 * `controlPlane.mode: gitops` next to a real Helm release (issue #18, item 5): the Helm CLI built
 * from its Go module (test/env/helm.ts) installs and upgrades the test chart
 * test/charts/flyte-core-lite with the values `credsync export-values` writes; credsync writes only
 * the credentials Secret, never the chart's ConfigMaps, and a data plane missing from the chart's
 * values is drift that fails the run with the values to commit.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { formatReport } from '../../lib/cli/format.ts';
import type { Config } from '../../lib/config/schema.ts';
import { exportValues } from '../../lib/gitops/values.ts';
import { buildDeps, buildStore } from '../../lib/runtime/wiring.ts';
import { runSync } from '../../lib/sync/sync.ts';
import { lineLog } from '../../lib/util/log.ts';
import { helm, helmUpgradeInstall } from '../env/helm.ts';
import { apps, awsClient, core, envConfig, exportAwsEnv, loadTestEnv, secretsIn, rolledOut, uniquePrefix, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
const logs: string[] = [];
const log = lineLog({ verbose: true, write: (l) => logs.push(l) });
const dir = mkdtempSync(join(tmpdir(), 'credsync-helm-gitops-'));
const RELEASE = 'flyte';
const CMS = ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'];
const DEPLOYMENTS = ['flyteadmin', 'syncresources'];
let namespace: string | undefined;

beforeAll(() => {
  env = loadTestEnv();
  exportAwsEnv(env);
});

afterAll(async () => {
  if (namespace) {
    await helm(env, ['uninstall', RELEASE, '--namespace', namespace]).catch(() => undefined);
    await core(env, env.controlPlane).deleteNamespace({ name: namespace }).catch(() => undefined);
  }
  expect(secretsIn(logs.join('\n'))).toEqual([]);
}, 300_000);

/** What the API server holds in the release's namespace: who wrote the ConfigMaps, and when anything changed. */
async function state(ns: string) {
  const c = core(env, env.controlPlane);
  const cms = await Promise.all(CMS.map((name) => c.readNamespacedConfigMap({ name, namespace: ns })));
  const secret = await c.readNamespacedSecret({ name: 'cluster-credentials', namespace: ns }).catch(() => undefined);
  const deps = await Promise.all(DEPLOYMENTS.map((name) => apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: ns })));
  return {
    cmRvs: cms.map((m) => m.metadata?.resourceVersion),
    cmManagers: cms.map((m) => [...new Set((m.metadata?.managedFields ?? []).map((f) => f.manager))].sort()),
    listed: cms.map((m) => ((parse(m.data!['clusters.yaml']!) as { clusters: { clusterConfigs: Array<{ name: string }> } }).clusters.clusterConfigs ?? []).map((e) => e.name)),
    secretRv: secret?.metadata?.resourceVersion,
    secretKeys: Object.keys(secret?.data ?? {}).sort(),
    generations: deps.map((d) => d.metadata?.generation),
    checksums: deps.map((d) => d.spec?.template?.metadata?.annotations?.['flyte-credsync.io/config-checksum']),
  };
}

function gitopsConfig(ns: string, prefix: string, ids: string[]): Config {
  return envConfig(
    env,
    prefix,
    { controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, namespace: ns, mode: 'gitops' } },
    ids.map((id, i) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: { team1: i === 0 ? 1 : 0.5 } })),
  );
}

const sync = (cfg: Config) => runSync(buildDeps(cfg, log, { secretsManager: awsClient(env) }));

/** `credsync export-values` into a file, then `helm upgrade` with it: what a GitOps user commits. */
async function upgradeWithExportedValues(cfg: Config, ns: string, tag: string): Promise<void> {
  const values = await exportValues(cfg, buildStore(cfg, { secretsManager: awsClient(env) }));
  expect(values.missing).toEqual([]);
  const file = join(dir, `values-${tag}.yaml`);
  writeFileSync(file, values.text);
  await helmUpgradeInstall(env, RELEASE, ns, [file]);
  await rolledOut(env, ns);
}

describe('mode gitops next to a real Helm release', () => {
  it('sync writes only the Secret; helm upgrade with new exported values: no drift, no fight; a data plane missing from the values fails the run with the values to commit', async () => {
    const [dp1, dp2] = env.dataPlanes as [string, string];
    namespace = `helm-gitops-${uniquePrefix('').slice(3, 11)}`;
    const ns = namespace;
    const prefix = uniquePrefix('helm-gitops');
    // Prepare: the chart at its defaults (clusterConfigs: []), rolled out.
    await helmUpgradeInstall(env, RELEASE, ns);
    await rolledOut(env, ns);
    const cfg1 = gitopsConfig(ns, prefix, [dp1]);

    // 1. The first sync stores dp1's credential and writes the Secret; the chart does not list dp1: drift.
    let before = await state(ns);
    const first = await sync(cfg1);
    expect(first.ok).toBe(false);
    expect(first.controlPlane!.drift!.items).toEqual([`data plane ${dp1}: missing from clusterConfigs`, `label team1: data plane ${dp1} missing (configured weight 1)`]);
    let after = await state(ns);
    expect(after.cmRvs).toEqual(before.cmRvs);
    expect(after.secretKeys).toEqual([`${dp1}_cacert`, `${dp1}_token`]);

    // 2. helm upgrade with the exported values: the chart lists dp1; the sync finds nothing to do.
    await upgradeWithExportedValues(cfg1, ns, '1');
    before = await state(ns);
    expect(before.listed).toEqual([[dp1], [dp1]]);
    expect(before.checksums).toEqual(after.checksums); // helm upgrade kept credsync's pod-template annotation
    const second = await sync(cfg1);
    expect(second.ok).toBe(true);
    expect(second.controlPlane!.drift).toBeUndefined();
    expect(second.controlPlane!.restarted).toEqual([]);
    after = await state(ns);
    expect([after.cmRvs, after.secretRv, after.generations]).toEqual([before.cmRvs, before.secretRv, before.generations]);
    expect(after.cmManagers).toEqual([['helm'], ['helm']]); // credsync never wrote them
    // The report names the release as the ConfigMaps' owner, fine in this mode.
    expect(second.controlPlane!.owners!.filter((o) => o.object.startsWith('ConfigMap')).map((o) => [o.severity, o.owners[0]!.name])).toEqual([
      ['ok', `Helm release ${ns}/${RELEASE}`],
      ['ok', `Helm release ${ns}/${RELEASE}`],
    ]);

    // 3. A second data plane in credsync's configuration, not yet in the chart's values: drift fails
    // the run with the values to commit; its keys are in the Secret, the Deployments restart onto it.
    const cfg2 = gitopsConfig(ns, prefix, [dp1, dp2]);
    const third = await sync(cfg2);
    expect(third.ok).toBe(false);
    expect(third.controlPlane!.drift!.items).toEqual([`data plane ${dp2}: missing from clusterConfigs`, `label team1: data plane ${dp2} missing (configured weight 0.5)`]);
    const toCommit = parse(third.controlPlane!.drift!.values) as { configmap: { clusters: { clusterConfigs: Array<{ name: string }> } } };
    expect(toCommit.configmap.clusters.clusterConfigs.map((e) => e.name)).toEqual([dp1, dp2]);
    expect(formatReport(third)).toContain('✗ [CONTROL_PLANE_DRIFT] clusters.yaml differs from the configuration (2):');
    const drifted = await state(ns);
    expect(drifted.cmRvs).toEqual(after.cmRvs);
    expect(drifted.cmManagers).toEqual([['helm'], ['helm']]);
    expect(drifted.secretKeys).toEqual([`${dp1}_cacert`, `${dp1}_token`, `${dp2}_cacert`, `${dp2}_token`].sort());
    expect(third.controlPlane!.restarted).toEqual(DEPLOYMENTS);
    await rolledOut(env, ns);

    // 4. helm upgrade with the new exported values: no drift, and the sync writes and restarts nothing.
    await upgradeWithExportedValues(cfg2, ns, '2');
    before = await state(ns);
    expect(before.listed).toEqual([[dp1, dp2], [dp1, dp2]]);
    const fourth = await sync(cfg2);
    expect(fourth.ok).toBe(true);
    expect(fourth.controlPlane!.restarted).toEqual([]);
    after = await state(ns);
    expect([after.cmRvs, after.secretRv, after.generations, after.cmManagers]).toEqual([before.cmRvs, before.secretRv, before.generations, [['helm'], ['helm']]]);
  }, 1_200_000);
});
