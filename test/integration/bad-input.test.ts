/**
 * Bad input to the CLI, against the local environment: each gets exit 2, an error that names what
 * is wrong (the data plane and the field), and nothing is written: no store entry, the control
 * plane as it was. Every run is a bounded child process: a regression that hangs fails here.
 */
import { beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { awsClient, core, filledTokenSecret, INITIAL_CLUSTERS_YAML, loadTestEnv, resetControlPlane, uniquePrefix, writableState, type EnvInfo } from './helpers.ts';

let env: EnvInfo;

interface KubeconfigDoc {
  apiVersion: string;
  kind: string;
  clusters: Array<{ name: string; cluster: Record<string, unknown> }>;
  users: Array<{ name: string; user: Record<string, unknown> }>;
  contexts: Array<{ name: string; context: { cluster: string; user: string } }>;
}
let prefix: string;
const dir = mkdtempSync(join(tmpdir(), 'credsync-bad-input-'));

function credsync(args: string[], extraEnv: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'lib/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    killSignal: 'SIGKILL',
    env: { ...process.env, AWS_ACCESS_KEY_ID: env.aws.accessKeyId, AWS_SECRET_ACCESS_KEY: env.aws.secretAccessKey, AWS_REGION: env.aws.region, ...extraEnv },
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function writeConfig(name: string, dataPlanes: unknown[], text = (c: unknown) => stringify(c)): string {
  const file = join(dir, name);
  const cfg = {
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
    store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
    dataPlanes,
  };
  writeFileSync(file, text(cfg));
  return file;
}

const kubeconfigPlane = (id: string, over: Record<string, unknown> = {}) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig, ...over }, labels: { team1: 1 } });
/** A data plane reached with endpoint + CA + token (the token and CA from wherever `over` says). */
const tokenPlane = (id: string, over: Record<string, unknown>) => ({
  id,
  access: { type: 'token', endpoint: env.clusters[env.dataPlanes[0]!]!.server, caFile: caFile(), tokenFile: tokenFile(), ...over },
  labels: { team1: 1 },
});
const caFile = () => writeOnce('ca.crt', readFileSync(env.clusters[env.dataPlanes[0]!]!.caFile, 'utf8'));
const tokenFile = () => writeOnce('token', 'not-a-real-token-but-shaped-like-one\n');
function writeOnce(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

/** Everything a run could write, as it was when the test started (after the reset). */
let seeded: Record<string, unknown>;

/** Nothing written: no store entry under this test's prefix, the control plane as seeded, no object written anywhere since the test started. */
async function expectNothingWritten(): Promise<void> {
  expect(await writableState(env, prefix)).toEqual(seeded);
  const listed = await awsClient(env).send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }] }));
  expect(listed.SecretList ?? []).toEqual([]);
  const cm = await core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
  expect(cm.data?.['clusters.yaml']).toBe(INITIAL_CLUSTERS_YAML);
}

beforeAll(async () => {
  env = loadTestEnv();
});

beforeEach(async () => {
  prefix = uniquePrefix('bad');
  await resetControlPlane(env);
  seeded = await writableState(env, prefix);
});

describe('bad input to the CLI: exit 2, the error names what is wrong, nothing written', () => {
  it('every unusable cluster access is reported at once, by data plane and field, before anything is touched', async () => {
    const [dp1] = env.dataPlanes as [string];
    delete process.env['CREDSYNC_TEST_UNSET_TOKEN'];
    const file = writeConfig('access.yaml', [
      kubeconfigPlane(dp1),
      kubeconfigPlane('dpctx', { context: 'no-such-context' }),
      kubeconfigPlane('dpkc', { path: join(dir, 'missing-kubeconfig') }),
      tokenPlane('dpenv', { tokenFile: undefined, tokenEnv: 'CREDSYNC_TEST_UNSET_TOKEN' }),
      tokenPlane('dpca', { caFile: undefined, caData: 'bm90IGEgY2VydGlmaWNhdGU=' }),
      tokenPlane('dptok', { tokenFile: join(dir, 'missing-token') }),
      tokenPlane('dpcaf', { caFile: join(dir, 'missing-ca') }),
    ]);
    const r = credsync(['sync', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'credsync: invalid configuration (cluster access):\n' +
        `  - dataPlanes[dpctx].access.context: kubeconfig ${env.kubeconfig} has no context "no-such-context"\n` +
        `  - dataPlanes[dpkc].access.path: cannot read kubeconfig ${dir}/missing-kubeconfig: no such file (ENOENT)\n` +
        '  - dataPlanes[dpenv].access.tokenEnv: environment variable CREDSYNC_TEST_UNSET_TOKEN is not set\n' +
        '  - dataPlanes[dpca].access.caData: neither PEM nor base64 of PEM\n' +
        `  - dataPlanes[dptok].access.tokenFile: cannot read ${dir}/missing-token: no such file (ENOENT)\n` +
        `  - dataPlanes[dpcaf].access.caFile: cannot read ${dir}/missing-ca: no such file (ENOENT)\n`,
    );
    await expectNothingWritten();
  });

  it('the control plane\'s access too, before any data plane is read', async () => {
    const file = join(dir, 'cp.yaml');
    writeFileSync(
      file,
      stringify({
        controlPlane: { access: { type: 'kubeconfig', context: 'gone', path: env.kubeconfig } },
        store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
        dataPlanes: [kubeconfigPlane(env.dataPlanes[0]!)],
      }),
    );
    const r = credsync(['sync', '--config', file]);
    expect([r.code, r.stderr]).toEqual([2, `credsync: invalid configuration (cluster access):\n  - controlPlane.access.context: kubeconfig ${env.kubeconfig} has no context "gone"\n`]);
    await expectNothingWritten();
  });

  it('a malformed rotation duration is a configuration error naming the field, not a crash', async () => {
    const file = writeConfig('rotation.yaml', [{ ...kubeconfigPlane(env.dataPlanes[0]!), rotation: { every: '7x' } }]);
    const r = credsync(['sync', '--config', file]);
    expect([r.code, r.stdout, r.stderr]).toEqual([2, '', `credsync: invalid configuration (${file}):\n  - dataPlanes[0].rotation.every: must be a duration such as 30m, 6h or 7d\n`]);
    await expectNothingWritten();
  });

  it('a special file or a huge one is refused at once, never read (/dev/zero, a FIFO, a directory, 2 MB of token)', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const huge = writeOnce('huge-token', 'a'.repeat(2 * 1024 * 1024));
    const [dp1] = env.dataPlanes as [string];
    const file = writeConfig('special.yaml', [
      kubeconfigPlane(dp1, { path: '/dev/zero' }),
      tokenPlane('dptok', { tokenFile: '/dev/zero' }),
      tokenPlane('dpca', { caFile: fifo }),
      tokenPlane('dpdir', { tokenFile: dir }),
      tokenPlane('dphuge', { tokenFile: huge }),
    ]);
    const r = credsync(['sync', '--config', file]);
    expect(r.signal).toBeNull(); // not killed by the bound: it did not hang
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'credsync: invalid configuration (cluster access):\n' +
        `  - dataPlanes[${dp1}].access.path: cannot read kubeconfig /dev/zero: not a regular file (a character device)\n` +
        '  - dataPlanes[dptok].access.tokenFile: cannot read /dev/zero: not a regular file (a character device)\n' +
        `  - dataPlanes[dpca].access.caFile: cannot read ${fifo}: not a regular file (a FIFO)\n` +
        `  - dataPlanes[dpdir].access.tokenFile: cannot read ${dir}: not a regular file (a directory)\n` +
        `  - dataPlanes[dphuge].access.tokenFile: cannot read ${huge}: larger than 65536 bytes (2097152)\n`,
    );
    const cfg = credsync(['sync', '--config', '/dev/zero']);
    expect([cfg.signal, cfg.code, cfg.stderr]).toEqual([null, 2, 'credsync: cannot read configuration /dev/zero: not a regular file (a character device)\n']);
    await expectNothingWritten();
  });

  it('the files a kubeconfig names (certificate-authority, client-certificate, client-key, token-file, an auth-provider tokenFile) and $KUBECONFIG are refused the same way', async () => {
    // Prepare: a kubeconfig whose contexts name a FIFO, /dev/zero, a directory and a huge file.
    const fifo = join(dir, 'kc-fifo');
    execFileSync('mkfifo', [fifo]);
    const huge = writeOnce('kc-huge-cert', 'a'.repeat(2 * 1024 * 1024));
    const [dp1] = env.dataPlanes as [string];
    const base = parse(readFileSync(env.kubeconfig, 'utf8')) as KubeconfigDoc;
    const cluster = base.clusters.find((c) => c.name === dp1)!.cluster;
    const user = base.users.find((u) => u.name === base.contexts.find((c) => c.name === dp1)!.context.user)!.user;
    const special: KubeconfigDoc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'fifo-ca', cluster: { ...cluster, 'certificate-authority': fifo } },
        { name: 'ok', cluster },
      ],
      users: [
        { name: 'zero-key', user: { ...user, 'client-key': '/dev/zero' } },
        { name: 'huge-cert', user: { ...user, 'client-certificate': huge } },
        { name: 'dir-token', user: { 'token-file': dir } },
        { name: 'zero-provider', user: { 'auth-provider': { name: 'file', config: { tokenFile: '/dev/zero' } } } },
      ],
      contexts: [
        { name: 'cafifo', context: { cluster: 'fifo-ca', user: 'zero-key' } },
        { name: 'keyzero', context: { cluster: 'ok', user: 'zero-key' } },
        { name: 'certhuge', context: { cluster: 'ok', user: 'huge-cert' } },
        { name: 'tokdir', context: { cluster: 'ok', user: 'dir-token' } },
        { name: 'provzero', context: { cluster: 'ok', user: 'zero-provider' } },
      ],
    };
    const kc = writeOnce('special-kubeconfig', stringify(special));
    const file = writeConfig('kc-special.yaml', ['cafifo', 'keyzero', 'certhuge', 'tokdir', 'provzero'].map((ctx) => kubeconfigPlane(ctx, { path: kc, context: ctx })));
    // Act
    const r = credsync(['sync', '--config', file]);
    // Assess: each named, at once, nothing written.
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'credsync: invalid configuration (cluster access):\n' +
        `  - dataPlanes[cafifo].access.path: kubeconfig ${kc}: cluster "fifo-ca" certificate-authority ${fifo}: not a regular file (a FIFO)\n` +
        `  - dataPlanes[keyzero].access.path: kubeconfig ${kc}: user "zero-key" client-key /dev/zero: not a regular file (a character device)\n` +
        `  - dataPlanes[certhuge].access.path: kubeconfig ${kc}: user "huge-cert" client-certificate ${huge}: larger than 1048576 bytes (2097152)\n` +
        `  - dataPlanes[tokdir].access.path: kubeconfig ${kc}: user "dir-token" token-file ${dir}: not a regular file (a directory)\n` +
        `  - dataPlanes[provzero].access.path: kubeconfig ${kc}: user "zero-provider" auth-provider tokenFile /dev/zero: not a regular file (a character device)\n`,
    );
    // The default kubeconfig ($KUBECONFIG, when access.path is not given) too.
    const byDefault = writeConfig('kc-default.yaml', [{ id: dp1, access: { type: 'kubeconfig', context: dp1 }, labels: { team1: 1 } }]);
    const d = credsync(['sync', '--config', byDefault], { KUBECONFIG: `${env.kubeconfig}:/dev/zero` });
    expect([d.signal, d.code, d.stderr]).toEqual([
      null,
      2,
      `credsync: invalid configuration (cluster access):\n  - dataPlanes[${dp1}].access.path: cannot read kubeconfig /dev/zero (from $KUBECONFIG): not a regular file (a character device)\n`,
    ]);
    await expectNothingWritten();
  });

  it('a kubeconfig whose token-file and certificate-authority are relative to it works, also merged from $KUBECONFIG', async () => {
    // Prepare: dp1 reached with its flyteadmin token from a token-file next to a second kubeconfig.
    const [dp1] = env.dataPlanes as [string];
    const { token } = await filledTokenSecret(env, dp1);
    const sub = mkdtempSync(join(dir, 'relative-'));
    writeFileSync(join(sub, 'token'), token + '\n');
    writeFileSync(join(sub, 'ca.crt'), readFileSync(env.clusters[dp1]!.caFile, 'utf8'));
    const second: KubeconfigDoc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'by-token', cluster: { server: env.clusters[dp1]!.server, 'certificate-authority': 'ca.crt' } }],
      users: [{ name: 'by-token', user: { 'token-file': 'token' } }],
      contexts: [{ name: 'by-token', context: { cluster: 'by-token', user: 'by-token' } }],
    };
    const kc2 = join(sub, 'kubeconfig');
    writeFileSync(kc2, stringify(second));
    const file = writeConfig('kc-relative.yaml', [{ id: dp1, access: { type: 'kubeconfig', context: 'by-token' }, labels: { team1: 1 } }]);
    // Act: the context is in the second file of $KUBECONFIG; run from another directory.
    const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', join(process.cwd(), 'lib/cli/main.ts'), 'sync', '--dry-run', '--json', '--config', file], {
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
      cwd: tmpdir(),
      env: { ...process.env, KUBECONFIG: `${env.kubeconfig}:${kc2}`, AWS_ACCESS_KEY_ID: env.aws.accessKeyId, AWS_SECRET_ACCESS_KEY: env.aws.secretAccessKey, AWS_REGION: env.aws.region },
    });
    // Assess: it authenticated as the token's ServiceAccount; no token in any output.
    expect([r.status, r.stderr]).toEqual([0, '']);
    const report = JSON.parse(r.stdout) as { ok: boolean; clusters: Array<{ id: string; identity?: string }> };
    expect(report.ok).toBe(true);
    expect(report.clusters[0]).toMatchObject({ id: dp1, identity: 'system:serviceaccount:flyte:flyteadmin' });
    expect(r.stdout.includes(token)).toBe(false);
    await expectNothingWritten();
  });

  it("a kubeconfig user whose auth-provider reads a tokenFile (client-node's file authenticator) syncs against the real server, its token trimmed and never shown", async () => {
    // Prepare: dp1's flyteadmin token in a file with a trailing newline (client-node sent it as is: no valid header).
    const [dp1] = env.dataPlanes as [string];
    const { token } = await filledTokenSecret(env, dp1);
    const sub = mkdtempSync(join(dir, 'provider-'));
    writeFileSync(join(sub, 'token'), token + '\n');
    const kc = join(sub, 'kubeconfig');
    writeFileSync(
      kc,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'p', cluster: { server: env.clusters[dp1]!.server, 'certificate-authority': env.clusters[dp1]!.caFile } }],
        users: [{ name: 'p', user: { 'auth-provider': { name: 'file', config: { tokenFile: join(sub, 'token') } } } }],
        contexts: [{ name: 'by-provider', context: { cluster: 'p', user: 'p' } }],
      }),
    );
    const file = writeConfig('kc-provider.yaml', [kubeconfigPlane(dp1, { path: kc, context: 'by-provider' })]);
    // Act
    const r = credsync(['sync', '--dry-run', '--json', '--config', file]);
    // Assess: authenticated as the token's ServiceAccount; the token in no output.
    expect([r.code, r.stderr]).toEqual([0, '']);
    const report = JSON.parse(r.stdout) as { ok: boolean; clusters: Array<{ id: string; identity?: string }> };
    expect(report.ok).toBe(true);
    expect(report.clusters[0]).toMatchObject({ id: dp1, identity: 'system:serviceaccount:flyte:flyteadmin' });
    expect(r.stdout.includes(token)).toBe(false);
    await expectNothingWritten();
  });

  it('a token file that holds something else (here a kubeconfig) is "not a token", not an HTTP error', async () => {
    const file = writeConfig('nottoken.yaml', [tokenPlane('dptok', { tokenFile: env.kubeconfig })]);
    const r = credsync(['sync', '--config', file]);
    expect([r.code, r.stderr]).toEqual([
      2,
      `credsync: invalid configuration (cluster access):\n  - dataPlanes[dptok].access.tokenFile: ${env.kubeconfig} is not a token (expected one line of printable characters, a bearer token)\n`,
    ]);
    expect(r.stderr).not.toContain('BEGIN CERTIFICATE');
    await expectNothingWritten();
  });

  it('command-line mistakes say what was wrong', () => {
    const file = writeConfig('ok.yaml', [kubeconfigPlane(env.dataPlanes[0]!)]);
    const cases: Array<[string[], string]> = [
      [['foo'], 'credsync: unknown command "foo" (the commands are `sync`, `rotate`, `rollback`, `drain`, `retire`, `status`, `doctor`, `labels plan|apply` and `export-values`)'],
      [['labels', 'show'], 'credsync: unknown labels command "show" (plan or apply)'],
      [['sync', 'extra'], 'credsync: unexpected argument after sync: "extra"'],
      [['sync', '--config', file, '--cluster', ''], 'credsync: --cluster needs a data plane id (got an empty one)'],
      [['sync', '--config', file, '--config', file], 'credsync: --config given 2 times: give one configuration file'],
      [['sync', '--config', file, '--timeout', 'soon'], 'credsync: --timeout must be a whole number of seconds from 1 to 999999 (got "soon")'],
      [['sync', '--config', file, '--cluster', 'x'.repeat(1_000_000).slice(0, 100_000)], `credsync: unknown data plane(s): ${'x'.repeat(200)}… (100000 characters in all) (configured: ${env.dataPlanes[0]})`],
      // Our own words for what node:util's parser refused (issue #20).
      [['sync', '--bogus'], 'credsync: unknown option "--bogus" (see credsync --help for the options)'],
      [['sync', '--config', file, '--timeout', '-1'], 'credsync: --timeout must be a whole number of seconds from 1 to 999999 (got "-1")'],
      [['sync', '--config'], 'credsync: --config needs a value (a FILE)'],
      [['sync', '--config', '--json'], 'credsync: --config needs a value (a FILE); got the option "--json" (for a value that starts with a dash, write --config=--json)'],
      [['sync', '--json=yes'], 'credsync: --json takes no value (got "--json=yes")'],
      // An unknown command with --help is an unknown command, not a request for the usage.
      [['frobnicate', '--help'], 'credsync: unknown command "frobnicate" (the commands are `sync`, `rotate`, `rollback`, `drain`, `retire`, `status`, `doctor`, `labels plan|apply` and `export-values`)'],
    ];
    for (const [args, first] of cases) {
      const r = credsync(args);
      expect([args.slice(0, 2), r.code, r.stdout, r.stderr.split('\n')[0]]).toEqual([args.slice(0, 2), 2, '', first]);
    }
  });

  it('an argument with control characters is echoed escaped: no terminal escape and no forged line reaches stderr (issue #20)', async () => {
    const file = writeConfig('ok.yaml', [kubeconfigPlane(env.dataPlanes[0]!)]);
    const r = credsync(['sync', '--config', file, '--cluster', 'dp1\u001b[31mRED\nFAKE LOG LINE']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`credsync: unknown data plane(s): dp1\\x1b[31mRED\\nFAKE LOG LINE (configured: ${env.dataPlanes[0]})\n`);
    expect(r.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    // Unknown options and commands are quoted the same way.
    const opt = credsync(['sync', '--x\u001b]0;title\u0007']);
    expect([opt.code, opt.stderr.split('\n')[0]]).toEqual([2, 'credsync: unknown option "--x\\x1b]0;title\\x07" (see credsync --help for the options)']);
    await expectNothingWritten();
  });

  it('a 5,000-character --config path gets a bounded message; a directory, a device or an over-large file is CONFIG_UNREADABLE, not CONFIG_NOT_FOUND (issue #20)', () => {
    const long = `/tmp/${'a'.repeat(4995)}`;
    const r = credsync(['sync', '--config', long]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`credsync: cannot read configuration /tmp/${'a'.repeat(195)}… (5000 characters in all): the path is too long (ENAMETOOLONG)\n`);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, '');
    truncateSync(big, 8 * 1024 * 1024 + 1);
    const codes = ([
      [join(dir, 'nothing-here.yaml'), 'CONFIG_NOT_FOUND', 'no such file (ENOENT)'],
      [dir, 'CONFIG_UNREADABLE', 'not a regular file (a directory)'],
      ['/dev/null', 'CONFIG_UNREADABLE', 'not a regular file (a character device)'],
      [big, 'CONFIG_UNREADABLE', `larger than ${8 * 1024 * 1024} bytes (${8 * 1024 * 1024 + 1})`],
    ] as const).map(([path, code, why]) => {
      const j = credsync(['sync', '--config', path, '--json']);
      return [j.code, JSON.parse(j.stdout).error] as const;
    });
    expect(codes).toEqual([
      [2, { code: 'CONFIG_NOT_FOUND', reason: `cannot read configuration ${join(dir, 'nothing-here.yaml')}: no such file (ENOENT)` }],
      [2, { code: 'CONFIG_UNREADABLE', reason: `cannot read configuration ${dir}: not a regular file (a directory)` }],
      [2, { code: 'CONFIG_UNREADABLE', reason: 'cannot read configuration /dev/null: not a regular file (a character device)' }],
      [2, { code: 'CONFIG_UNREADABLE', reason: `cannot read configuration ${big}: larger than ${8 * 1024 * 1024} bytes (${8 * 1024 * 1024 + 1})` }],
    ]);
  });

  it('configurations a person gets wrong get a message they can act on (issue #20)', async () => {
    const [dp1] = env.dataPlanes as [string];
    const raw = (name: string, text: string) => {
      const f = join(dir, name);
      writeFileSync(f, text);
      return f;
    };
    let bomb = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i <= 9; i++) bomb += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    const cases: Array<[string, string]> = [
      [raw('deep.yaml', '['.repeat(5000)), 'not valid YAML: nested too deeply for the parser (line 1, column '],
      [raw('bomb.yaml', bomb), 'not valid YAML: its aliases expand to more than 10000 nodes (an alias bomb?); write the values out or share fewer anchors'],
      [raw('passwd.yaml', readFileSync('/etc/passwd', 'utf8')), 'not a flyte-credsync configuration (it is a single string; expected a mapping with controlPlane, store and dataPlanes)'],
      [writeConfig('notype.yaml', [{ id: dp1, access: { context: dp1, path: env.kubeconfig }, labels: { team1: 1 } }]), 'dataPlanes[0].access.type: required but missing: which kind this is, one of kubeconfig, token, eks, gke'],
      [writeConfig('badtype.yaml', [{ id: dp1, access: { type: 'kubeconfg', context: dp1 }, labels: { team1: 1 } }]), 'dataPlanes[0].access.type: must be one of kubeconfig, token, eks, gke'],
      [writeConfig('noid.yaml', [{ access: { type: 'kubeconfig', context: dp1, path: env.kubeconfig }, labels: { team1: 1 } }]), 'dataPlanes[0].id: required but missing (a string)'],
      [writeConfig('dup.yaml', [kubeconfigPlane(dp1), kubeconfigPlane(dp1)]), `dataPlanes[1].id: duplicate id "${dp1}" (also dataPlanes[0])`],
    ];
    for (const [file, problem] of cases) {
      const r = credsync(['sync', '--config', file]);
      expect([file, r.code, r.stdout]).toEqual([file, 2, '']);
      expect(r.stderr.startsWith(`credsync: invalid configuration (${file}):\n  - `)).toBe(true);
      expect(r.stderr).toContain(problem);
      expect(r.stderr).not.toMatch(/Maximum call stack|ReferenceError|Invalid discriminator|received undefined|dataPlanes\.\d/);
    }
    // A typo'd key is one error, not also "label ... names no cluster".
    const typo = join(dir, 'typo.yaml');
    writeFileSync(typo, stringify({ ...parse(readFileSync(writeConfig('t.yaml', [kubeconfigPlane(dp1)]), 'utf8')), controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, defaultExecutionLabel: 'team1' }, dataPlanes: [{ id: dp1, access: { type: 'kubeconfig', context: dp1, path: env.kubeconfig }, lables: { team1: 1 } }] }));
    const t = credsync(['sync', '--config', typo]);
    expect([t.code, t.stderr]).toEqual([2, `credsync: invalid configuration (${typo}):\n  - dataPlanes[0]: unknown key(s): dataPlanes[0].lables\n`]);
    // /etc/passwd as a kubeconfig: not a kubeconfig, not "has no context".
    const kc = credsync(['sync', '--config', writeConfig('passwd-kc.yaml', [kubeconfigPlane(dp1, { path: '/etc/passwd' })])]);
    expect([kc.code, kc.stderr]).toEqual([2, `credsync: invalid configuration (cluster access):\n  - dataPlanes[${dp1}].access.path: /etc/passwd is not a kubeconfig (it is a single string; expected a YAML mapping with clusters, contexts and users)\n`]);
    await expectNothingWritten();
  });

  it('a JSON configuration with a byte-order mark runs', async () => {
    const file = writeConfig('bom.json', [kubeconfigPlane(env.dataPlanes[0]!)], (c) => '\uFEFF' + JSON.stringify(c));
    const r = credsync(['sync', '--config', file, '--dry-run', '--json']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(JSON.parse(r.stdout).clusters.map((c: { id: string; store: string }) => [c.id, c.store])).toEqual([[env.dataPlanes[0], 'created']]);
    await expectNothingWritten();
  });
});
