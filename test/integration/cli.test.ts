/** The operator CLI, run as a real process against the local environment. */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { apps, awsClient, core, filledTokenSecret, secretForms, INITIAL_CLUSTERS_YAML, loadTestEnv, resetControlPlane, uniquePrefix, writableState, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
const dir = mkdtempSync(join(tmpdir(), 'credsync-cli-'));

function credsync(args: string[], entry = 'lib/cli/main.ts', extraEnv: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', entry, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    killSignal: 'SIGKILL',
    env: { ...process.env, AWS_ACCESS_KEY_ID: env.aws.accessKeyId, AWS_SECRET_ACCESS_KEY: env.aws.secretAccessKey, AWS_REGION: env.aws.region, ...extraEnv },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeConfig(name: string, cfg: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, stringify(cfg));
  return file;
}

const dataPlane = (id: string) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: { team1: 1 } });
const config = (prefix: string, dataPlanes: unknown[]) => ({
  controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
  store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
  dataPlanes,
});

beforeAll(async () => {
  env = loadTestEnv();
  await resetControlPlane(env);
});

describe('credsync CLI', () => {
  it('--dry-run prints the exact diff and writes nothing; the configuration comes from CREDSYNC_CONFIG', async () => {
    // Prepare: the control plane as seeded, a fresh store prefix, the file named only in the environment.
    await resetControlPlane(env);
    const prefix = uniquePrefix('cli-dry');
    const file = writeConfig('dry.yaml', config(prefix, [dataPlane('dp1')]));
    const before = await writableState(env, prefix);
    // Act
    const r = credsync(['sync', '--dry-run'], 'lib/cli/main.ts', { CREDSYNC_CONFIG: file });
    // Assess: the text a person reads, line by line.
    expect(r.code).toBe(0);
    const server = env.clusters['dp1']!.server;
    const diff = (cm: string) => [
      `  ConfigMap ${cm}: update`,
      `    Index: ${cm}/clusters.yaml`,
      '    ===================================================================',
      `    --- ${cm}/clusters.yaml\tcurrent`,
      `    +++ ${cm}/clusters.yaml\tdesired`,
      '    @@ -1,3 +1,12 @@',
      '     clusters:',
      '    -  clusterConfigs: []',
      '    -  labelClusterMap: {}',
      '    +  clusterConfigs:',
      '    +    - name: dp1',
      `    +      endpoint: ${server}`,
      '    +      enabled: true',
      '    +      auth:',
      '    +        tokenPath: /var/run/credentials/dp1_token',
      '    +        certPath: /var/run/credentials/dp1_cacert',
      '    +  labelClusterMap:',
      '    +    team1:',
      '    +      - id: dp1',
      '    +        weight: 1',
    ];
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^DRY RUN — nothing written\. sync succeeded in \d+ ms$/);
    expect(lines.slice(1, 4)).toEqual(['', 'data planes:', expect.stringMatching(new RegExp(`^  ↻ dp1: updated — would create ${prefix}dp1 \\(fingerprint [0-9a-f]{12}, system:serviceaccount:flyte:flyteadmin\\)$`))]);
    expect(lines.slice(4)).toEqual([
      '',
      'control plane (would change):',
      '  Secret cluster-credentials: create; added dp1_token, dp1_cacert',
      ...diff('flyte-admin-clusters-config'),
      ...diff('flyte-clusterresourcesync-config'),
      // The seeded content was written by the test's own client (as Helm's would be by helm): the
      // dry run names the writer it would replace, and why each Deployment would restart.
      expect.stringMatching(/^  ! ConfigMap\/flyte-admin-clusters-config: would replace content last written by kubernetes-client-javascript at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      expect.stringMatching(/^  ! ConfigMap\/flyte-clusterresourcesync-config: would replace content last written by kubernetes-client-javascript at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      '  would restart: flyteadmin, syncresources',
      '    flyteadmin: no configuration checksum',
      '    syncresources: no configuration checksum',
      '',
    ]);
    // Nothing written: no store entry, the ConfigMap and the Secret as seeded, no object anywhere.
    expect(await writableState(env, prefix)).toEqual(before);
    const listed = await awsClient(env).send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }] }));
    expect(listed.SecretList ?? []).toEqual([]);
    const cm = await core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
    expect(cm.data?.['clusters.yaml']).toBe(INITIAL_CLUSTERS_YAML);
    await expect(core(env, env.controlPlane).readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' })).rejects.toMatchObject({ code: 404 });
  });

  it('--json errors: a JSON object with the code and the reason on stdout, exit 2', () => {
    const missing = `${dir}/missing.yaml`;
    const r = credsync(['sync', '--config', missing, '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, error: { code: 'CONFIG_NOT_FOUND', reason: `cannot read configuration ${missing}: no such file (ENOENT)` } });
  });

  it('exit 0 and a JSON report when every cluster synced; no token or CA in any output', async () => {
    const file = writeConfig('ok.yaml', config(uniquePrefix('cli'), env.dataPlanes.map(dataPlane)));
    const r = credsync(['sync', '--config', file, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.clusters.map((c: { id: string }) => c.id)).toEqual(env.dataPlanes);
    const human = credsync(['sync', '--config', file]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('no restart (nothing changed)');
    for (const id of env.dataPlanes) {
      const { token } = await filledTokenSecret(env, id);
      for (const out of [r.stdout, human.stdout, human.stderr]) expect(out.includes(token)).toBe(false);
    }
    expect(r.stdout + human.stdout + human.stderr).not.toContain('BEGIN CERTIFICATE');
  });

  it('--verbose output holds no token and no CA, in any form (PEM body, base64)', async () => {
    const file = writeConfig('verbose.yaml', config(uniquePrefix('cli-verbose'), env.dataPlanes.map(dataPlane)));
    const r = credsync(['sync', '--config', file, '--verbose']);
    expect(r.code).toBe(0);
    expect(r.stderr.match(/^info  data plane synced /gm)).toHaveLength(env.dataPlanes.length); // it really logged
    for (const id of env.dataPlanes) {
      const forms = secretForms(await filledTokenSecret(env, id));
      for (const f of forms) expect([id, r.stdout.includes(f), r.stderr.includes(f)]).toEqual([id, false, false]);
    }
  });

  it('the bundled binary (package.json bin, built by npm install) runs the same sync', () => {
    const file = writeConfig('bundle.yaml', config(uniquePrefix('cli-bundle'), env.dataPlanes.map(dataPlane)));
    const r = credsync(['sync', '--config', file, '--json'], 'dist/credsync.mjs');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).ok).toBe(true);
  });

  it('shows progress on a terminal (a real pty, through script(1)) and none when piped or with --json', () => {
    const file = writeConfig('tty.yaml', config(uniquePrefix('cli-tty'), env.dataPlanes.map(dataPlane)));
    const cmd = (extra: string) =>
      [process.execPath, '--disable-warning=ExperimentalWarning', 'lib/cli/main.ts', 'sync', '--config', file, extra].filter(Boolean).map((a) => `'${a}'`).join(' ');
    const onTty = (extra: string) =>
      spawnSync('script', ['-q', '-e', '-c', cmd(extra), '/dev/null'], {
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, AWS_ACCESS_KEY_ID: env.aws.accessKeyId, AWS_SECRET_ACCESS_KEY: env.aws.secretAccessKey, AWS_REGION: env.aws.region },
      });
    const human = onTty('');
    expect(human.status).toBe(0);
    expect(human.stdout).toContain(`credsync: ${env.dataPlanes.length}/${env.dataPlanes.length} data planes done`);
    expect(human.stdout).toContain('sync succeeded');
    const json = onTty('--json');
    expect(json.status).toBe(0);
    expect(json.stdout).not.toContain('data planes done');
    const piped = credsync(['sync', '--config', file]);
    expect(piped.code).toBe(0);
    expect(piped.stderr + piped.stdout).not.toContain('data planes done');
  });

  it('exit 1 when a cluster failed, naming it and why; the healthy ones are synced', () => {
    const file = writeConfig('partial.yaml', config(uniquePrefix('cli'), [dataPlane(env.dataPlanes[0]!), { ...dataPlane(env.dataPlanes[1]!), serviceAccount: 'does-not-exist', tokenSecret: 'nope' }]));
    const r = credsync(['sync', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('sync FAILED');
    expect(r.stdout).toContain(`✗ ${env.dataPlanes[1]}: failed [SERVICE_ACCOUNT_MISSING] data plane ${env.dataPlanes[1]}: ServiceAccount flyte/does-not-exist does not exist`);
    expect(r.stdout).toContain(`↻ ${env.dataPlanes[0]}: updated`);
  });

  it('exit 2 with every configuration problem, by path, and nothing touched', async () => {
    const before = await writableState(env, 'x/');
    const bad = config('x/', [{ ...dataPlane('dp1'), labels: { Team1: 2 } }, dataPlane('dp1')]) as Record<string, unknown>;
    (bad['controlPlane'] as Record<string, unknown>)['credentialsSecret'] = 'cluster_credentials';
    const r = credsync(['sync', '--config', writeConfig('bad.yaml', bad)]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('credsync: invalid configuration');
    expect(r.stderr).toContain("  - controlPlane.credentialsSecret: credentialsSecret must be a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.')");
    expect(r.stderr).toContain('  - dataPlanes[0].labels.Team1: labels must be lower-case alphanumerics, -, _ or .');
    expect(r.stderr).toContain('  - dataPlanes[1].id: duplicate id "dp1" (also dataPlanes[0])');
    expect(credsync(['rotate']).code).toBe(2);
    const unknown = credsync(['sync', '--config', writeConfig('sel.yaml', config('x/', [dataPlane('dp1')])), '--cluster', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('credsync: unknown data plane(s): nope (configured: dp1)\n');
    expect(await writableState(env, 'x/')).toEqual(before);
  });

  it('rotate, rotate --now and rollback of a data plane without rotation settings: ROTATION_NOT_CONFIGURED, exit 2, nothing written', async () => {
    // Prepare: dp1 rotates, dp2 does not; a second configuration where none rotates.
    await resetControlPlane(env);
    const prefix = uniquePrefix('cli-norot');
    const mixed = writeConfig('norot-mixed.yaml', config(prefix, [{ ...dataPlane('dp1'), rotation: { mode: 'secret', every: 'off' } }, dataPlane('dp2')]));
    const none = writeConfig('norot-none.yaml', config(prefix, [dataPlane('dp1'), dataPlane('dp2')]));
    /** Everything a run could write: control-plane objects, Deployments, data-plane Secrets, the store. */
    const snapshot = async () => {
      const c = core(env, env.controlPlane);
      const cms = await Promise.all(['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'].map((name) => c.readNamespacedConfigMap({ name, namespace: 'flyte' })));
      const secret = await c.readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined);
      const deps = await Promise.all(['flyteadmin', 'syncresources'].map((name) => apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: 'flyte' })));
      const dpSecrets = await Promise.all(['dp1', 'dp2'].map(async (id) => (await core(env, id).listNamespacedSecret({ namespace: 'flyte' })).items.map((s) => `${s.metadata?.name}@${s.metadata?.resourceVersion}`).sort()));
      const store = await awsClient(env).send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }] }));
      return {
        cms: cms.map((o) => o.metadata?.resourceVersion),
        // The generation: a rollout in progress changes a Deployment's resourceVersion through its status.
        deployments: deps.map((o) => o.metadata?.generation),
        secret: secret?.metadata?.resourceVersion ?? 'absent',
        dpSecrets,
        store: (store.SecretList ?? []).map((s) => s.Name),
      };
    };
    const before = await snapshot();
    // Act and assess: the line a person reads, the code, the JSON form.
    const cases: Array<[string[], string]> = [
      [['rotate', '--now', '--config', mixed, '--cluster', 'dp2'], 'rotate --now: data plane(s) dp2 have no rotation settings'],
      [['rotate', '--config', mixed, '--cluster', 'dp1', '--cluster', 'dp2'], 'rotate: data plane(s) dp2 have no rotation settings'],
      [['rotate', '--now', '--config', none], 'rotate --now: none of the configured data planes (dp1, dp2) has rotation settings'],
      [['rollback', '--config', mixed, '--cluster', 'dp2'], 'rollback: data plane(s) dp2 have no rotation settings'],
    ];
    for (const [args, first] of cases) {
      const r = credsync(args);
      expect([args, r.code, r.stdout]).toEqual([args, 2, '']);
      expect(r.stderr).toBe(`credsync: ${first} (add "rotation:" to the configuration, or to the data plane under dataPlanes[].rotation); nothing was done\n`);
    }
    const json = credsync(['rotate', '--now', '--config', mixed, '--cluster', 'dp2', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout).error.code).toBe('ROTATION_NOT_CONFIGURED');
    expect(await snapshot()).toEqual(before);
    // status reads only, and says it plainly.
    const status = credsync(['status', '--config', mixed, '--cluster', 'dp2']);
    expect([status.code, status.stdout]).toEqual([0, expect.stringContaining('dp2: nothing stored yet (does not rotate)')]);
  }, 240_000);
});
