/**
 * Execution-cluster labels as code and the routing guard, through the real gRPC client
 * (lib/labels/admin.ts, with its slice of the Flyte IDL, lib/labels/idl.ts) against the local environment.
 *
 * FlyteAdmin is a STAND-IN here (test/env/flyteadmin.ts): FlyteAdmin itself is published in no
 * package registry, so it cannot run in this environment. The stand-in serves only the
 * matchable-attribute calls, built from the `.proto` files of @flyteorg/flyteidl, and follows
 * flyteadmin v1.16.8's rules for them; OAuth2 client credentials and TLS with its own CA are real.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../../lib/config/schema.ts';
import { FlyteAdminClient, type LabelAttribute } from '../../lib/labels/admin.ts';
import { LabelRoutingError } from '../../lib/labels/errors.ts';
import { connectFlyteAdmin, runLabels } from '../../lib/labels/run.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { runSync } from '../../lib/sync/sync.ts';
import { lineLog, silentLog } from '../../lib/util/log.ts';
import { gcfMetrics } from '../../lib/runtime/gcf/metrics.ts';
import { lambdaMetrics } from '../../lib/runtime/lambda/metrics.ts';
import { assertValidEmf } from '../unit/emf.ts';
import { apps, awsClient, core, envConfig, exportAwsEnv, loadTestEnv, resetControlPlane, uniquePrefix, type EnvInfo } from './helpers.ts';

// Each test makes several gRPC and Kubernetes calls on a shared, busy machine.
jest.setTimeout(60_000);

let env: EnvInfo;
let direct: FlyteAdminClient;
const logs: string[] = [];
const log = lineLog({ write: (l) => logs.push(l) });
const prefix = uniquePrefix('labels');
const secretName = `${prefix}flyteadmin-client-secret`;
const dir = mkdtempSync(join(tmpdir(), 'credsync-labels-'));

/** A project of its own per test (the stand-in's rows are shared by every test file). */
async function newProject(tag: string): Promise<string> {
  const id = `${tag}-${Math.random().toString(36).slice(2, 8)}`;
  await direct.admin('RegisterProject', id, (s) => s.registerProject({ project: { id, name: id } }));
  return id;
}

async function rows(project: string): Promise<LabelAttribute[]> {
  return (await direct.listLabels()).filter((r) => r.project === project).sort((a, b) => `${a.domain}/${a.workflow}`.localeCompare(`${b.domain}/${b.workflow}`));
}

/** Calls the stand-in logged on its TLS listener that wrote something. */
function writesLogged(): number {
  return readFileSync(env.flyteadmin.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"listener":"secure"') && /"method":"(Update|Delete)/.test(l) && l.includes('"code":"OK"')).length;
}

function labelsConfig(assignments: unknown[], flyteadmin: Record<string, unknown> = {}, over: Record<string, unknown> = {}, dataPlanes?: unknown[]): Config {
  return envConfig(
    env,
    prefix,
    {
      labels: {
        flyteadmin: {
          endpoint: env.flyteadmin.endpoint,
          caFile: env.flyteadmin.caFile,
          auth: { type: 'clientCredentials', clientId: env.flyteadmin.clientId, clientSecretName: secretName },
          ...flyteadmin,
        },
        assignments,
      },
      ...over,
    },
    dataPlanes,
  );
}

function labelsDeps(cfg: Config) {
  const deps = buildDeps(cfg, log, { secretsManager: awsClient(env) });
  return { controlPlane: deps.controlPlane, flyteAdmin: () => connectFlyteAdmin(cfg.labels!.flyteadmin, deps.store) };
}

async function controlPlaneVersions() {
  const c = core(env, env.controlPlane);
  const cms = await Promise.all(['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'].map((name) => c.readNamespacedConfigMap({ name, namespace: 'flyte' })));
  const secret = await c.readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' });
  const deps = await Promise.all(['flyteadmin', 'syncresources'].map((name) => apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: 'flyte' })));
  // Deployments by generation: a rollout in progress changes their resourceVersion through the status.
  return [...cms.map((x) => x.metadata?.resourceVersion), secret.metadata?.resourceVersion, ...deps.map((d) => d.metadata?.generation)];
}

beforeAll(async () => {
  env = loadTestEnv();
  exportAwsEnv(env);
  await resetControlPlane(env);
  await awsClient(env).send(new CreateSecretCommand({ Name: secretName, SecretString: readFileSync(env.flyteadmin.clientSecretFile, 'utf8') }));
  direct = new FlyteAdminClient({ endpoint: env.flyteadmin.insecureEndpoint, insecure: true, timeoutMs: 10_000 });
  // The control plane routes team1 (every data plane) and gpu (the first one only).
  const first = await runSync(buildDeps(envConfig(env, prefix), log, { secretsManager: awsClient(env) }));
  expect(first.ok).toBe(true);
});

afterAll(() => direct?.close());

describe('labels plan|apply against the FlyteAdmin stand-in (TLS, OAuth2 client credentials)', () => {
  it('plans the diff without writing, applies it, re-applies with nothing to write, and keeps foreign rows', async () => {
    const p = await newProject('plan');
    await direct.setLabel({ project: p, domain: 'production' }, 'gpu'); // ours, to be updated
    await direct.setLabel({ project: p, domain: 'staging' }, 'legacy'); // foreign: not in the configuration
    const cfg = labelsConfig([
      { project: p, domain: 'development', label: 'team1' },
      { project: p, domain: 'production', label: 'team1' },
      { project: p, domain: 'development', workflow: 'core.hello.my_wf', label: 'gpu' },
    ]);
    const before = await rows(p);
    const writes0 = writesLogged();

    const plan = await runLabels(cfg, labelsDeps(cfg), { dryRun: true });
    expect(plan.changes.map((c) => [c.scope, c.action, c.current ?? null])).toEqual([
      [`${p}/development`, 'create', null],
      [`${p}/production`, 'update', 'gpu'],
      [`${p}/development/core.hello.my_wf`, 'create', null],
    ]);
    expect(plan.foreign.filter((f) => f.scope.startsWith(`${p}/`))).toEqual([{ scope: `${p}/staging`, label: 'legacy' }]);
    expect(plan.written).toEqual([]);
    expect(await rows(p)).toEqual(before);
    expect(writesLogged()).toBe(writes0);

    const applied = await runLabels(cfg, labelsDeps(cfg), { dryRun: false });
    expect(applied.ok).toBe(true);
    expect(applied.written.sort()).toEqual([`${p}/development`, `${p}/development/core.hello.my_wf`, `${p}/production`].sort());
    expect((await rows(p)).map((r) => [r.domain, r.workflow, r.label])).toEqual([
      ['development', '', 'team1'],
      ['development', 'core.hello.my_wf', 'gpu'],
      ['production', '', 'team1'],
      ['staging', '', 'legacy'],
    ]);
    expect(writesLogged()).toBe(writes0 + 3);

    const again = await runLabels(cfg, labelsDeps(cfg), { dryRun: false });
    expect(again.changes.every((c) => c.action === 'unchanged')).toBe(true);
    expect(again.written).toEqual([]);
    expect(writesLogged()).toBe(writes0 + 3);
  });

  it('refuses without credentials, with a wrong client secret, or with none in the store; writes nothing', async () => {
    const p = await newProject('auth');
    const assignments = [{ project: p, domain: 'production', label: 'team1' }];
    const noAuth = labelsConfig(assignments, { auth: undefined });
    await expect(runLabels(noAuth, labelsDeps(noAuth), { dryRun: false })).rejects.toMatchObject({
      code: 'FLYTEADMIN_AUTH',
      message: expect.stringContaining('UNAUTHENTICATED'),
    });

    const wrongName = `${prefix}wrong-client-secret`;
    await awsClient(env).send(new CreateSecretCommand({ Name: wrongName, SecretString: 'not-the-client-secret' }));
    const wrong = labelsConfig(assignments, { auth: { type: 'clientCredentials', clientId: env.flyteadmin.clientId, clientSecretName: wrongName } });
    const err = await runLabels(wrong, labelsDeps(wrong), { dryRun: false }).catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'FLYTEADMIN_AUTH', message: expect.stringContaining('HTTP 401: invalid_client') });
    expect((err as Error).message).not.toContain('not-the-client-secret');

    const missing = labelsConfig(assignments, { auth: { type: 'clientCredentials', clientId: env.flyteadmin.clientId, clientSecretName: `${prefix}absent` } });
    await expect(runLabels(missing, labelsDeps(missing), { dryRun: false })).rejects.toMatchObject({
      code: 'FLYTEADMIN_AUTH',
      message: expect.stringContaining(`client secret "${prefix}absent" not found`),
    });
    expect(await rows(p)).toEqual([]);
  });

  it('refuses an assignment naming a label clusters.yaml does not define, naming scope and label; writes nothing', async () => {
    const p = await newProject('undef');
    const cfg = labelsConfig([
      { project: p, domain: 'production', label: 'team1' },
      { project: p, domain: 'development', workflow: 'wf.a', label: 'ghost' },
    ]);
    const writes0 = writesLogged();
    const err = await runLabels(cfg, labelsDeps(cfg), { dryRun: false }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(LabelRoutingError);
    expect((err as LabelRoutingError).code).toBe('LABEL_ROUTING');
    expect((err as Error).message).toContain(`${p}/development/wf.a -> label "ghost" (configuration): clusters.yaml does not define it (labelClusterMap has gpu, team1)`);
    expect(await rows(p)).toEqual([]);
    expect(writesLogged()).toBe(writes0);
  });
});

describe('the routing guard in the sync, before the control plane is written', () => {
  /** The environment's data planes with the first one disabled: gpu loses its only member. */
  const firstDisabled = () =>
    env.dataPlanes.map((id, i) => ({
      id,
      access: { type: 'kubeconfig', context: id, path: env.kubeconfig },
      labels: i === 0 ? { team1: 1, gpu: 0.5 } : { team1: 0.5 },
      ...(i === 0 ? { enabled: false } : {}),
    }));

  it('refuses a decommission that leaves a configured label without an enabled cluster; nothing written', async () => {
    const p = await newProject('decom');
    const cfg = labelsConfig([{ project: p, domain: 'production', label: 'gpu' }], {}, {}, firstDisabled());
    const versions = await controlPlaneVersions();
    const emf: string[] = [];
    const report = await runSync({ ...buildDeps(cfg, log, { secretsManager: awsClient(env) }), metrics: lambdaMetrics('scheduled', silentLog, (l) => emf.push(l)) });
    expect(report.ok).toBe(false);
    expect(report.controlPlaneError?.code).toBe('LABEL_ROUTING');
    expect(report.controlPlaneError?.reason).toContain(`${p}/production -> label "gpu" (configuration): clusters.yaml does not define it`);
    expect(report.controlPlaneError?.refusedAssignments).toBeGreaterThanOrEqual(1);
    expect(await controlPlaneVersions()).toEqual(versions);
    expect(await rows(p)).toEqual([]);
    // The refusal is in the run's metrics (one valid EMF document).
    const doc = JSON.parse(emf[0]!) as Record<string, unknown>;
    assertValidEmf(doc);
    expect(doc).toMatchObject({ LabelRoutingRefusals: report.controlPlaneError!.refusedAssignments, LabelRowsApplied: 0, RunFailed: 1 });
  });

  it('refuses when a label set by hand in FlyteAdmin would lose its last enabled cluster; nothing written', async () => {
    const p = await newProject('byhand');
    await direct.setLabel({ project: p, domain: 'staging', workflow: 'etl.daily' }, 'gpu');
    const cfg = labelsConfig([], {}, {}, firstDisabled());
    const versions = await controlPlaneVersions();
    const report = await runSync(buildDeps(cfg, log, { secretsManager: awsClient(env) }));
    expect(report.controlPlaneError?.code).toBe('LABEL_ROUTING');
    expect(report.controlPlaneError?.reason).toContain(`${p}/staging/etl.daily -> label "gpu" (flyteadmin)`);
    expect(await controlPlaneVersions()).toEqual(versions);
    await direct.deleteLabel({ project: p, domain: 'staging', workflow: 'etl.daily' });
  });

  it('a sync with assignments writes the control plane, then the labels; a dry run writes neither', async () => {
    const p = await newProject('sync');
    const cfg = labelsConfig([{ project: p, domain: 'production', label: 'gpu' }]);
    const dry = await runSync(buildDeps(cfg, log, { secretsManager: awsClient(env) }), { dryRun: true });
    expect(dry.ok).toBe(true);
    expect(dry.labels?.changes.map((c) => [c.scope, c.action])).toEqual([[`${p}/production`, 'create']]);
    expect(await rows(p)).toEqual([]);
    const entries: Array<Record<string, unknown> | undefined> = [];
    const gcfLog = { ...silentLog, info: (m: string, f?: Record<string, unknown>) => void (m === 'sync metrics' && entries.push(f)) };
    const synced = () => runSync({ ...buildDeps(cfg, log, { secretsManager: awsClient(env) }), metrics: gcfMetrics('scheduled', gcfLog) });
    const real = await synced();
    expect(real.ok).toBe(true);
    expect(real.labels?.written).toEqual([`${p}/production`]);
    expect((await rows(p)).map((r) => r.label)).toEqual(['gpu']);
    // Metrics (the Cloud Functions entry): the row written, then found unchanged by the next run.
    const again = await synced();
    expect(again.labels?.written).toEqual([]);
    expect(entries.map((e) => e?.['metrics'])).toEqual([
      expect.objectContaining({ LabelRowsApplied: 1, LabelRowsUnchanged: 0, LabelRowsForeign: real.labels!.foreign.length, LabelRoutingRefusals: 0 }),
      expect.objectContaining({ LabelRowsApplied: 0, LabelRowsUnchanged: 1, LabelRowsForeign: again.labels!.foreign.length, LabelRoutingRefusals: 0 }),
    ]);
  });
});

describe('credsync CLI: labels and export-values', () => {
  function credsync(args: string[]) {
    const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'lib/cli/main.ts', ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, AWS_ACCESS_KEY_ID: env.aws.accessKeyId, AWS_SECRET_ACCESS_KEY: env.aws.secretAccessKey, AWS_REGION: env.aws.region },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  const writeConfig = (name: string, cfg: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, stringify(cfg));
    return file;
  };
  const rawConfig = (assignments: unknown[]) => ({
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
    store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
    dataPlanes: env.dataPlanes.map((id, i) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: i === 0 ? { team1: 1, gpu: 0.5 } : { team1: 0.5 } })),
    labels: {
      flyteadmin: { endpoint: env.flyteadmin.endpoint, caFile: env.flyteadmin.caFile, auth: { type: 'clientCredentials', clientId: env.flyteadmin.clientId, clientSecretName: secretName } },
      assignments,
    },
  });

  it('labels plan prints the diff (exit 0), labels apply sets it', async () => {
    const p = await newProject('cli');
    const file = writeConfig('labels.yaml', rawConfig([{ project: p, domain: 'production', label: 'team1' }]));
    const plan = credsync(['labels', 'plan', '--config', file]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(`labels plan (nothing written):\n  ${p}/production: team1 (would create)`);
    expect(await rows(p)).toEqual([]);
    const apply = credsync(['labels', 'apply', '--config', file]);
    expect(apply.code).toBe(0);
    expect(apply.stdout).toContain(`  ${p}/production: team1 (created)`);
    expect((await rows(p)).map((r) => r.label)).toEqual(['team1']);
  }, 120_000);

  it('export-values writes flyte-core values from the same rendering, with no secret in them', async () => {
    const out = join(dir, 'values-override.yaml');
    const r = credsync(['export-values', '--config', writeConfig('export.yaml', rawConfig([])), '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    const values = parse(text);
    expect(values.configmap.clusters.clusterConfigs.map((c: { name: string }) => c.name)).toEqual(env.dataPlanes);
    expect(values.configmap.clusters.clusterConfigs[0]).toEqual({
      name: env.dataPlanes[0],
      endpoint: env.clusters[env.dataPlanes[0]!]!.server,
      enabled: true,
      auth: { tokenPath: `/var/run/credentials/${env.dataPlanes[0]}_token`, certPath: `/var/run/credentials/${env.dataPlanes[0]}_cacert` },
    });
    expect(values.configmap.clusters.labelClusterMap.gpu).toEqual([{ id: env.dataPlanes[0], weight: 0.5 }]);
    expect(values.flyteadmin).toEqual({
      additionalVolumes: [{ name: 'cluster-credentials', secret: { secretName: 'cluster-credentials' } }],
      additionalVolumeMounts: [{ name: 'cluster-credentials', mountPath: '/var/run/credentials' }],
    });
    // The same clusters as the sync wrote into the control plane.
    const cm = await core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
    const live = parse(cm.data!['clusters.yaml']!).clusters;
    expect(values.configmap.clusters.clusterConfigs).toEqual(live.clusterConfigs);
    expect(values.configmap.clusters.labelClusterMap).toEqual(live.labelClusterMap);
    expect(text).not.toContain('BEGIN CERTIFICATE');
    const secret = await core(env, env.controlPlane).readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' });
    for (const [k, v] of Object.entries(secret.data ?? {})) if (k.endsWith('_token')) expect(text).not.toContain(Buffer.from(v, 'base64').toString('utf8'));
  });
});
