/** `credsync doctor` against the local environment: what it finds, and that it changes nothing. */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { connect } from '../../lib/clusters/access.ts';
import { parseConfig } from '../../lib/config/load.ts';
import { formatDoctor, runDoctor, type DoctorReport } from '../../lib/doctor/doctor.ts';
import { buildStore } from '../../lib/runtime/wiring.ts';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { adminKubeConfig, apps, applyManifest, awsClient, core, exportAwsEnv, filledTokenSecret, loadTestEnv, restrictedKubeconfig, uniquePrefix, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
const dir = mkdtempSync(join(tmpdir(), 'credsync-doctor-'));

beforeAll(() => {
  env = loadTestEnv();
  exportAwsEnv(env);
});

function config(dataPlanes: unknown[], controlAccess?: unknown, extra: Record<string, unknown> = {}) {
  return parseConfig({
    controlPlane: { access: controlAccess ?? { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
    store: { aws: { region: env.aws.region, prefix: uniquePrefix('doctor'), endpoint: env.aws.endpoint } },
    dataPlanes,
    ...extra,
  });
}
const kubeconfigDp = (id: string, path = env.kubeconfig) => ({ id, access: { type: 'kubeconfig', context: id, path }, labels: { team1: 1 } });

async function doctor(cfg: ReturnType<typeof config>): Promise<DoctorReport> {
  return runDoctor({ config: cfg, store: buildStore(cfg, { secretsManager: awsClient(env) }), connect: (w, a) => connect(w, a), timeoutMs: 20_000 });
}

/** resourceVersions of everything the sync could write on the control plane and the data planes. */
async function state() {
  const c = core(env, env.controlPlane);
  const rv = (o: { metadata?: { resourceVersion?: string } } | undefined) => o?.metadata?.resourceVersion;
  return {
    secret: rv(await c.readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined)),
    cms: await Promise.all(['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'].map(async (name) => rv(await c.readNamespacedConfigMap({ name, namespace: 'flyte' })))),
    // The generation: a rollout in progress (real in the environment) changes a Deployment's
    // resourceVersion through its status, without any write of ours.
    deployments: await Promise.all(['flyteadmin', 'syncresources'].map(async (name) => (await apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: 'flyte' })).metadata?.generation)),
    tokenSecrets: await Promise.all(env.dataPlanes.map(async (id) => (await core(env, id).listNamespacedSecret({ namespace: 'flyte' })).items.map((s) => `${s.metadata?.name}@${rv(s)}`).sort().join(','))),
  };
}

describe('credsync doctor', () => {
  it('a healthy set-up: every check of every cluster and the store passes, and nothing is changed anywhere', async () => {
    // Prepare
    const before = await state();
    // Act
    const r = await doctor(config(env.dataPlanes.map((id) => kubeconfigDp(id))));
    // Assess
    expect(r.ok).toBe(true);
    expect(r.clusters.map((c) => [c.cluster, c.checks.map((k) => `${k.check}:${k.ok}`).join(' ')])).toEqual([
      ['control plane', 'access:true reachable:true tls:true identity:true authorized:true'],
      ...env.dataPlanes.map((id) => [`data plane ${id}`, 'access:true reachable:true tls:true identity:true authorized:true credential:true']),
    ]);
    // Nothing stored under this test's prefix yet: the stored credential's check passes, saying so.
    expect(r.clusters[1]!.checks.at(-1)!.detail).toBe('nothing stored yet (the first sync stores it)');
    const control = r.clusters[0]!;
    expect(control.checks.find((k) => k.check === 'authorized')!.detail).toBe('may 13 of 13 actions the sync needs');
    expect(control.checks.find((k) => k.check === 'tls')!.detail).toMatch(/^TLSv1\.[23], certificate verified against the configured CA$/);
    expect(r.store).toMatchObject({ check: 'store', kind: 'aws-secrets-manager', ok: true });
    expect(r.store.detail).toMatch(/: not created yet \(the first sync creates it\)$/);
    expect(await state()).toEqual(before);
  });

  it('names what is wrong: a closed port, a CA that does not sign the server, an identity without rights', async () => {
    // Prepare: a port that refuses; dp1 reached with another cluster's CA; dp2 as an identity nobody bound.
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const { token } = await filledTokenSecret(env, env.dataPlanes[0]!);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, token);
    const dp1 = env.clusters[env.dataPlanes[0]!]!;
    const otherCa = env.clusters[env.controlPlane]!.caFile;
    const nobody = restrictedKubeconfig(env, 'nobody', 'not-bound-anywhere');
    const before = await state();
    // Act
    const r = await doctor(
      config([
        { id: 'gone', access: { type: 'token', endpoint: `https://127.0.0.1:${closed}`, caFile: dp1.caFile, tokenFile }, labels: { team1: 1 } },
        { id: 'wrongca', access: { type: 'token', endpoint: dp1.server, caFile: otherCa, tokenFile }, labels: { team1: 1 } },
        kubeconfigDp(env.dataPlanes[1]!, nobody),
      ]),
    );
    // Assess
    expect(r.ok).toBe(false);
    const byName = Object.fromEntries(r.clusters.map((c) => [c.cluster, c]));
    expect(byName['data plane gone']!.checks.map((k) => [k.check, k.ok])).toEqual([['access', true], ['reachable', false]]);
    expect(byName['data plane gone']!.checks[1]!.detail).toBe(`TCP 127.0.0.1:${closed}: ECONNREFUSED`);
    const tls = byName['data plane wrongca']!.checks;
    expect(tls.map((k) => [k.check, k.ok])).toEqual([['access', true], ['reachable', true], ['tls', false]]);
    expect(tls[2]!.detail).toMatch(/the server's certificate is not signed by the configured CA$/);
    const unauth = byName[`data plane ${env.dataPlanes[1]}`]!.checks;
    expect(unauth.map((k) => [k.check, k.ok])).toEqual([['access', true], ['reachable', true], ['tls', true], ['identity', true], ['authorized', false]]);
    expect(unauth[3]!.detail).toBe('authenticated as nobody (groups not-bound-anywhere)');
    expect(unauth[4]!.detail).toBe(
      'may not get secrets flyte/flyteadmin-token; create secrets flyte/*; get serviceaccounts flyte/flyteadmin (apply deploy/*.yaml and bind this identity)',
    );
    // Never the token it was given.
    expect(JSON.stringify(r)).not.toContain(token);
    expect(await state()).toEqual(before);
  });

  it('the CLI: exit 0 and one line per check; exit 1 when a check fails; --dry-run is refused', () => {
    const writeConfig = (name: string, dataPlanes: unknown[]) => {
      const f = join(dir, name);
      const { controlPlane, store } = { controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } }, store: { aws: { region: env.aws.region, prefix: uniquePrefix('doctor-cli'), endpoint: env.aws.endpoint } } };
      writeFileSync(f, stringify({ controlPlane, store, dataPlanes }));
      return f;
    };
    const file = writeConfig('cli.yaml', [kubeconfigDp(env.dataPlanes[0]!)]);
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'lib/cli/main.ts', ...args], { encoding: 'utf8', timeout: 120_000, env: process.env });
    const ok = run(['doctor', '--config', file]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`✓ data plane ${env.dataPlanes[0]} (${env.clusters[env.dataPlanes[0]!]!.server})`);
    expect(ok.stdout).toContain('    ✓ authorized  may 3 of 3 actions the sync needs');
    expect(ok.stdout).toContain('    ✓ reachable   TCP 127.0.0.1:');
    expect(ok.stdout).toContain('doctor: everything the sync needs is in place');
    const badFile = writeConfig('cli-bad.yaml', [{ id: 'typo', access: { type: 'kubeconfig', context: 'no-such-context', path: env.kubeconfig }, labels: { team1: 1 } }]);
    const bad = run(['doctor', '--config', badFile]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(`✗ data plane typo\n    ✗ access      [CONFIG_INVALID] data plane typo: access.context: kubeconfig ${env.kubeconfig} has no context "no-such-context"\n`);
    expect(bad.stdout).toContain('    - reachable, tls, identity, authorized, credential: not checked (fix the failure above first)');
    expect(bad.stdout).toContain('doctor: PROBLEMS FOUND (see ✗ above); nothing was changed');
    const refused = run(['doctor', '--config', file, '--dry-run']);
    expect(refused.status).toBe(2);
    expect(refused.stderr.split('\n')[0]).toBe('credsync: doctor takes only --config, --json and --timeout (it changes nothing anyway)');
  });

  it('a rotating data plane: the rotation RBAC (deploy/dataplane-rotation-rbac.yaml) is checked, and the rollout reads on the control plane', async () => {
    // Prepare: the shipped least-privilege identity, with the plain sync's rights only.
    await applyManifest(env, env.controlPlane, 'deploy/controlplane-rbac.yaml');
    for (const id of env.dataPlanes) await applyManifest(env, id, 'deploy/dataplane-rbac.yaml');
    const bot = restrictedKubeconfig(env, 'doctor-bot', 'flyte-credsync');
    const [dpSecret, dpToken] = [env.dataPlanes[0]!, env.dataPlanes[1]!];
    const cfg = config(
      [
        { ...kubeconfigDp(dpSecret, bot), rotation: { mode: 'secret', every: 'off' } },
        { ...kubeconfigDp(dpToken, bot), rotation: { mode: 'tokenRequest', every: '1d', expirationSeconds: 86400, runEvery: '1h' } },
      ],
      { type: 'kubeconfig', context: env.controlPlane, path: bot },
    );
    const before = await state();
    try {
      // Act: without the rotation manifest.
      const r = await doctor(cfg);
      // Assess: each rotating data plane names what rotation may not do there.
      expect(r.ok).toBe(false);
      const authorized = (name: string) => r.clusters.find((c) => c.cluster === name)!.checks.find((k) => k.check === 'authorized')!;
      expect(authorized('control plane')).toEqual({ check: 'authorized', ok: true, detail: 'may 15 of 15 actions the sync needs' });
      expect(authorized(`data plane ${dpSecret}`)).toEqual({
        check: 'authorized',
        ok: false,
        detail: 'may not get secrets flyte/* (rotation); delete secrets flyte/* (rotation) (apply deploy/*.yaml, dataplane-rotation-rbac.yaml on a rotating data plane, and bind this identity)',
      });
      expect(authorized(`data plane ${dpToken}`).detail).toBe(
        'may not get secrets flyte/* (rotation); delete secrets flyte/* (rotation); create serviceaccounts/token flyte/flyteadmin (rotation) (apply deploy/*.yaml, dataplane-rotation-rbac.yaml on a rotating data plane, and bind this identity)',
      );
      // With the rotation manifest applied, every check passes.
      for (const id of env.dataPlanes) await applyManifest(env, id, 'deploy/dataplane-rotation-rbac.yaml');
      const fixed = await doctor(cfg);
      expect(fixed.ok).toBe(true);
      expect(fixed.clusters.map((c) => c.checks.find((k) => k.check === 'authorized')!.detail)).toEqual([
        'may 15 of 15 actions the sync needs',
        'may 5 of 5 actions the sync needs',
        'may 6 of 6 actions the sync needs',
      ]);
      // A data plane without rotation is asked only the plain sync's 3 actions.
      const plain = await doctor(config([kubeconfigDp(dpSecret, bot)], { type: 'kubeconfig', context: env.controlPlane, path: bot }));
      expect(plain.clusters.map((c) => c.checks.find((k) => k.check === 'authorized')!.detail)).toEqual(['may 13 of 13 actions the sync needs', 'may 3 of 3 actions the sync needs']);
      expect(await state()).toEqual(before);
    } finally {
      // The shared environment keeps only the plain sync's rights (other files test exactly those).
      for (const id of env.dataPlanes) {
        const rbac = adminKubeConfig(env, id).makeApiClient(RbacAuthorizationV1Api);
        await rbac.deleteNamespacedRoleBinding({ name: 'flyte-credsync-rotation', namespace: 'flyte' }).catch(() => undefined);
        await rbac.deleteNamespacedRole({ name: 'flyte-credsync-rotation', namespace: 'flyte' }).catch(() => undefined);
      }
    }
  });

  it('draining and retiring: each data plane is asked for deploy/dataplane-lifecycle-rbac.yaml (list FlyteWorkflows everywhere, delete the token Secret): a warning, a failure when configured draining, passing once applied', async () => {
    // Prepare: the shipped least-privilege identity with the plain sync's rights only.
    await applyManifest(env, env.controlPlane, 'deploy/controlplane-rbac.yaml');
    for (const id of env.dataPlanes) await applyManifest(env, id, 'deploy/dataplane-rbac.yaml');
    const bot = restrictedKubeconfig(env, 'doctor-bot', 'flyte-credsync');
    const dp = env.dataPlanes[0]!;
    const control = { type: 'kubeconfig', context: env.controlPlane, path: bot };
    const plain = config([kubeconfigDp(dp, bot)], control);
    const draining = config([{ ...kubeconfigDp(dp, bot), state: 'draining' }, kubeconfigDp(env.dataPlanes[1]!, bot)], control);
    const before = await state();
    const MISSING = 'may not list flyteworkflows.flyte.lyft.com (every namespace)/* (lifecycle); delete secrets flyte/flyteadmin-token (lifecycle): draining and retiring need it';
    try {
      // Act and assess: without the lifecycle manifest, a warning (the sync itself has what it needs)...
      const warned = await doctor(plain);
      expect(warned.ok).toBe(true);
      expect(warned.clusters[1]!.lifecycle).toEqual({ ok: false, required: false, detail: `${MISSING} (apply deploy/dataplane-lifecycle-rbac.yaml)` });
      expect(formatDoctor(warned)).toContain(`    ! lifecycle   ${MISSING} (apply deploy/dataplane-lifecycle-rbac.yaml)`);
      expect(formatDoctor(warned)).toContain('doctor: everything the sync needs is in place; draining and retiring are not allowed on some data planes (see ! lifecycle above)');
      // ...and a failure for a data plane configured draining.
      const failed = await doctor(draining);
      expect(failed.ok).toBe(false);
      expect(failed.clusters[1]).toMatchObject({ ok: false, lifecycle: { ok: false, required: true, detail: `${MISSING} (it is configured draining) (apply deploy/dataplane-lifecycle-rbac.yaml)` } });
      expect(failed.clusters[1]!.checks.every((k) => k.ok)).toBe(true);
      // With the shipped manifest applied, both pass.
      for (const id of env.dataPlanes) await applyManifest(env, id, 'deploy/dataplane-lifecycle-rbac.yaml');
      let fixed = await doctor(draining);
      for (let i = 0; i < 50 && !fixed.ok; i++) {
        await new Promise((r) => setTimeout(r, 200)); // RBAC reaches the authorizer asynchronously
        fixed = await doctor(draining);
      }
      expect(fixed.ok).toBe(true);
      expect(fixed.clusters.slice(1).map((c) => c.lifecycle)).toEqual([1, 2].map(() => ({ ok: true, required: expect.any(Boolean), detail: 'may 2 of 2 actions draining and retiring need' })));
      expect(await state()).toEqual(before);
    } finally {
      // The shared environment keeps only the plain sync's rights (other files test exactly those).
      for (const id of env.dataPlanes) {
        const rbac = adminKubeConfig(env, id).makeApiClient(RbacAuthorizationV1Api);
        await rbac.deleteClusterRoleBinding({ name: 'flyte-credsync-lifecycle' }).catch(() => undefined);
        await rbac.deleteClusterRole({ name: 'flyte-credsync-lifecycle' }).catch(() => undefined);
        await rbac.deleteNamespacedRoleBinding({ name: 'flyte-credsync-retire', namespace: 'flyte' }).catch(() => undefined);
        await rbac.deleteNamespacedRole({ name: 'flyte-credsync-retire', namespace: 'flyte' }).catch(() => undefined);
      }
    }
  });

  it('labels configured: FlyteAdmin is checked read-only (OAuth2 token, one ListMatchableAttributes); a wrong client secret and an unreachable endpoint are named', async () => {
    // Prepare: the client secret in the store, as the sync reads it; and a wrong one.
    const prefix = uniquePrefix('doctor-fa');
    const good = `${prefix}client-secret`, wrong = `${prefix}wrong-secret`;
    await awsClient(env).send(new CreateSecretCommand({ Name: good, SecretString: readFileSync(env.flyteadmin.clientSecretFile, 'utf8') }));
    await awsClient(env).send(new CreateSecretCommand({ Name: wrong, SecretString: 'not-the-client-secret' }));
    const labels = (clientSecretName: string, endpoint = env.flyteadmin.endpoint) => ({
      labels: { flyteadmin: { endpoint, caFile: env.flyteadmin.caFile, auth: { type: 'clientCredentials', clientId: env.flyteadmin.clientId, clientSecretName }, timeoutSeconds: 5 } },
    });
    const cp = { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig };
    const dps = [kubeconfigDp(env.dataPlanes[0]!)];
    const logLines = () => readFileSync(env.flyteadmin.logFile, 'utf8').split('\n').filter(Boolean);
    const before = await state();
    const logBefore = logLines().length;
    // Act
    const ok = await doctor(config(dps, cp, labels(good)));
    const denied = await doctor(config(dps, cp, labels(wrong)));
    const closed = await doctor(config(dps, cp, labels(good, '127.0.0.1:1')));
    // Assess: what a person reads.
    expect(ok.ok).toBe(true);
    expect(ok.flyteadmin).toEqual({
      check: 'flyteadmin',
      endpoint: env.flyteadmin.endpoint,
      ok: true,
      detail: expect.stringMatching(new RegExp(`^TLS \\(the configured CA\\), authenticated as OAuth2 client ${env.flyteadmin.clientId}; ListMatchableAttributes answered \\(\\d+ execution-cluster labels? set\\)$`)),
    });
    expect(denied.ok).toBe(false);
    expect(denied.flyteadmin).toMatchObject({ ok: false, detail: expect.stringMatching(/^\[FLYTEADMIN_AUTH\] FlyteAdmin .*: token client .*: token endpoint https:\/\/.* answered HTTP 401/) });
    expect(closed.flyteadmin).toMatchObject({ ok: false, detail: expect.stringMatching(/^\[FLYTEADMIN_UNREACHABLE\] FlyteAdmin 127\.0\.0\.1:1: /) });
    expect(formatDoctor(ok)).toContain(`✓ flyteadmin ${env.flyteadmin.endpoint}: TLS (the configured CA), authenticated as OAuth2 client ${env.flyteadmin.clientId}`);
    // Nothing written: no Update/Delete reached FlyteAdmin, nothing changed on the clusters; no secret in the report.
    const calls = logLines().slice(logBefore).map((l) => JSON.parse(l) as { method?: string; event?: string });
    expect(calls.filter((c) => c.method && !/^(ListMatchableAttributes|GetPublicClientConfig|GetOAuth2Metadata)$/.test(c.method))).toEqual([]);
    expect(calls.some((c) => c.method === 'ListMatchableAttributes')).toBe(true);
    expect(await state()).toEqual(before);
    expect(JSON.stringify([ok, denied])).not.toContain(readFileSync(env.flyteadmin.clientSecretFile, 'utf8'));
  });
});
