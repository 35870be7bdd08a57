/**
 * Kubeconfig access within a run (lib/clusters/kubeconfig.ts KubeconfigLoads, lib/clusters/access.ts
 * forRun and checkLocalAccess, lib/runtime/wiring.ts buildDeps): a kubeconfig that many data planes
 * name is read, checked and parsed once per run, each context resolved once; the next run reads the
 * files again; errors are the ones a fresh load gives, named per data plane. An auth-provider's
 * tokenFile (client-node's FileAuth) is read bounded, like every other file. Real files, no servers.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { copyFileSync, mkdirSync, mkdtempSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type https from 'node:https';
import { stringify } from 'yaml';
import { checkLocalAccess, connect, CONTROL_PLANE_KEY, forRun, type AccessEnv, type ClusterConnection } from '../../lib/clusters/access.ts';
import { KubeconfigError, KubeconfigLoads, loadKubeconfig } from '../../lib/clusters/kubeconfig.ts';
import { parseConfig } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/errors.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { FILE_LIMITS, readRegularFile } from '../../lib/util/files.ts';
import { redact } from '../../lib/util/redact.ts';
import { silentLog } from '../../lib/util/log.ts';

const dir = mkdtempSync(join(tmpdir(), 'credsync-kubeconfig-'));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

/** A kubeconfig of `contexts` clusters (c1..), each with a CA file, a client certificate and key, and a token-file user (token-file relative to it). */
function kubeconfig(name: string, contexts: number, extraUsers: Array<{ name: string; user: Record<string, unknown> }> = []): string {
  const sub = mkdtempSync(join(dir, `${name}-`));
  const f = (n: string, text: string) => (writeFileSync(join(sub, n), text), join(sub, n));
  const ids = Array.from({ length: contexts }, (_, i) => `c${i + 1}`);
  for (const c of ids) f(`${c}-token`, `token-of-${c}-in-${name}\n`);
  return f(
    'kubeconfig',
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: ids.map((c) => ({ name: c, cluster: { server: `https://${c}.example:6443`, 'certificate-authority': f(`${c}-ca.crt`, `ca of ${c}`) } })),
      users: [
        ...ids.map((c) => ({ name: `${c}-cert`, user: { 'client-certificate': f(`${c}.crt`, `cert of ${c}`), 'client-key': f(`${c}.key`, `key of ${c}`) } })),
        ...ids.map((c) => ({ name: `${c}-token`, user: { 'token-file': `${c}-token` } })),
        ...extraUsers,
      ],
      contexts: [
        ...ids.map((c) => ({ name: c, context: { cluster: c, user: `${c}-cert` } })),
        ...ids.map((c) => ({ name: `${c}-tok`, context: { cluster: c, user: `${c}-token` } })),
        ...extraUsers.map((u) => ({ name: u.name, context: { cluster: 'c1', user: u.name } })),
      ],
    }),
  );
}

/** readRegularFile, with every read counted per path. */
function countingIo(env: NodeJS.ProcessEnv = {}): AccessEnv & { reads: Map<string, number> } {
  const reads = new Map<string, number>();
  return {
    env,
    reads,
    readFile: (path, max) => {
      reads.set(path, (reads.get(path) ?? 0) + 1);
      return readRegularFile(path, max);
    },
  };
}

const fleet = (path: string | undefined, contexts: string[], n: number) =>
  parseConfig({
    controlPlane: { access: { type: 'kubeconfig', context: contexts[0], ...(path ? { path } : {}) } },
    store: { aws: { region: 'eu-west-1' } },
    dataPlanes: Array.from({ length: n }, (_, i) => ({
      id: `dp${i + 1}`,
      access: { type: 'kubeconfig', context: contexts[i % contexts.length], ...(path ? { path } : {}) },
      labels: { team1: 1 },
    })),
  });

const kubeConfigOf = (c: ClusterConnection | undefined) => {
  if (!c || !('kubeConfig' in c)) throw new Error('not a kubeconfig connection');
  return c.kubeConfig;
};

async function authHeader(c: ClusterConnection): Promise<unknown> {
  const opts: https.RequestOptions = {};
  await kubeConfigOf(c).applyToHTTPSOptions(opts);
  return (opts.headers as Record<string, unknown> | undefined)?.['Authorization'];
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('a kubeconfig shared by many data planes', () => {
  it('is read and parsed once per run, each file it names read once per context, one KubeConfig per context', async () => {
    const kc = kubeconfig('shared', 4);
    const contexts = ['c1', 'c2', 'c3', 'c4-tok'];
    const io = countingIo();
    const conns = await checkLocalAccess(fleet(kc, contexts, 50), io);
    expect(conns.size).toBe(51);
    expect(Object.fromEntries([...io.reads].map(([p, n]) => [p.slice(p.lastIndexOf('/') + 1), n]))).toEqual({
      kubeconfig: 1,
      'c1-ca.crt': 1,
      'c1.crt': 1,
      'c1.key': 1,
      'c2-ca.crt': 1,
      'c2.crt': 1,
      'c2.key': 1,
      'c3-ca.crt': 1,
      'c3.crt': 1,
      'c3.key': 1,
      'c4-ca.crt': 1,
      'c4-token': 1,
    });
    // Data planes of one context share its KubeConfig; each context has its own.
    expect(kubeConfigOf(conns.get('dp1'))).toBe(kubeConfigOf(conns.get('dp5')));
    expect(kubeConfigOf(conns.get('dp1'))).toBe(kubeConfigOf(conns.get(CONTROL_PLANE_KEY)));
    expect(new Set([...conns.values()].map(kubeConfigOf)).size).toBe(4);
    for (const [i, c] of ['c1', 'c2', 'c3', 'c4'].entries()) {
      const conn = conns.get(`dp${i + 1}`)!;
      expect(conn.server).toBe(`https://${c}.example:6443`);
      expect(kubeConfigOf(conn).getCurrentCluster()).toMatchObject({ name: c, caData: Buffer.from(`ca of ${c}`).toString('base64') });
      expect(kubeConfigOf(conn).getCurrentCluster()).not.toHaveProperty('caFile');
    }
    expect(kubeConfigOf(conns.get('dp2')).getCurrentUser()).toMatchObject({ certData: Buffer.from('cert of c2').toString('base64'), keyData: Buffer.from('key of c2').toString('base64') });
    expect(kubeConfigOf(conns.get('dp4')).getCurrentUser()).toMatchObject({ name: 'c4-token' });
  });

  it('what each context resolves to is what a load of its own gives', async () => {
    const kc = kubeconfig('same', 2);
    const loads = new KubeconfigLoads(readRegularFile, {});
    for (const ctx of ['c1', 'c2', 'c1-tok', 'c2']) {
      const alone = await loadKubeconfig(kc, ctx, readRegularFile, {});
      const shared = await loads.load(kc, ctx);
      expect(shared.exportConfig()).toEqual(alone.exportConfig());
    }
  });

  it('the next run reads the files again: a changed token-file is used then, not within the run', async () => {
    const kc = kubeconfig('changing', 1);
    const tokenFile = join(kc, '..', 'c1-token');
    writeFileSync(tokenFile, 'first-token-of-the-run\n');
    const cfg = fleet(kc, ['c1-tok'], 3);
    const run1 = forRun(countingIo());
    const a = await connect('data plane dp1', cfg.dataPlanes[0]!.access, run1);
    writeFileSync(tokenFile, 'second-token-next-run\n');
    const b = await connect('data plane dp2', cfg.dataPlanes[1]!.access, run1);
    expect(await authHeader(a)).toBe('Bearer first-token-of-the-run');
    expect(await authHeader(b)).toBe('Bearer first-token-of-the-run');
    const io2 = countingIo();
    const c = await connect('data plane dp3', cfg.dataPlanes[2]!.access, forRun(io2));
    expect(await authHeader(c)).toBe('Bearer second-token-next-run');
    expect(io2.reads.get(tokenFile)).toBe(1);
    expect(io2.reads.get(kc)).toBe(1);
    // checkLocalAccess makes a run of its own each time it is called.
    const io3 = countingIo();
    await checkLocalAccess(cfg, io3);
    await checkLocalAccess(cfg, io3);
    expect(io3.reads.get(kc)).toBe(2);
  });

  it('buildDeps: the data planes of one deps share the run\'s loads; new deps (the next run) read the changed file', async () => {
    const kc = kubeconfig('deps', 1);
    const tokenFile = join(kc, '..', 'c1-token');
    writeFileSync(tokenFile, 'token-of-run-one\n');
    const cfg = fleet(kc, ['c1-tok'], 2);
    const conn = (api: unknown) => (api as { conn: ClusterConnection }).conn;
    const deps1 = buildDeps(cfg, silentLog, { store: {} as never });
    const first = conn(await deps1.dataPlane(cfg.dataPlanes[0]!));
    writeFileSync(tokenFile, 'token-of-run-two\n');
    const second = conn(await deps1.dataPlane(cfg.dataPlanes[1]!));
    expect(kubeConfigOf(second)).toBe(kubeConfigOf(first));
    expect(await authHeader(second)).toBe('Bearer token-of-run-one');
    const deps2 = buildDeps(cfg, silentLog, { store: {} as never });
    expect(await authHeader(conn(await deps2.dataPlane(cfg.dataPlanes[1]!)))).toBe('Bearer token-of-run-two');
  });

  it('$KUBECONFIG and the default kubeconfig are shared the same way, keyed by their value', async () => {
    const kc = kubeconfig('env', 2);
    const io = countingIo({ KUBECONFIG: kc });
    const conns = await checkLocalAccess(fleet(undefined, ['c1', 'c2'], 10), io);
    expect(conns.size).toBe(11);
    expect(io.reads.get(kc)).toBe(1);
    const home = mkdtempSync(join(dir, 'home-'));
    mkdirSync(join(home, '.kube'));
    copyFileSync(kc, join(home, '.kube', 'config'));
    const io2 = countingIo({ HOME: home });
    await checkLocalAccess(fleet(undefined, ['c1', 'c2'], 10), io2);
    expect(io2.reads.get(join(home, '.kube', 'config'))).toBe(1);
  });
});

describe('errors are the ones a load of its own gives, named per data plane', () => {
  const issues = async (cfg: ReturnType<typeof fleet>, io: AccessEnv) => {
    try {
      await checkLocalAccess(cfg, io);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    }
    throw new Error('expected a ConfigError');
  };
  const alone = async (path: string | undefined, ctx: string, env: NodeJS.ProcessEnv = {}) =>
    loadKubeconfig(path, ctx, readRegularFile, env).then(
      () => 'loaded',
      (err: KubeconfigError) => `access.${err.field.slice('access.'.length)}: ${err.message}`,
    );

  it('an unreadable kubeconfig, a missing context, and a file the context names: each data plane that names it, once read', async () => {
    const kc = kubeconfig('errors', 2);
    writeFileSync(join(kc, '..', 'c2-ca.crt'), 'x'.repeat(FILE_LIMITS.ca + 1));
    unlinkSync(join(kc, '..', 'c1-token'));
    const cfg = parseConfig({
      controlPlane: { access: { type: 'kubeconfig', context: 'c1', path: kc } },
      store: { aws: { region: 'eu-west-1' } },
      dataPlanes: [
        ...[1, 2, 3].map((i) => ({ id: `zero${i}`, access: { type: 'kubeconfig', context: 'c1', path: '/dev/zero' }, labels: { a: 1 } })),
        ...[1, 2].map((i) => ({ id: `nocontext${i}`, access: { type: 'kubeconfig', context: 'nope', path: kc }, labels: { a: 1 } })),
        ...[1, 2].map((i) => ({ id: `bigca${i}`, access: { type: 'kubeconfig', context: 'c2', path: kc }, labels: { a: 1 } })),
        ...[1, 2].map((i) => ({ id: `notoken${i}`, access: { type: 'kubeconfig', context: 'c1-tok', path: kc }, labels: { a: 1 } })),
      ],
    });
    const io = countingIo();
    const got = await issues(cfg, io);
    const want = async (id: string, path: string, ctx: string) => `dataPlanes[${id}].${await alone(path, ctx)}`;
    expect(got).toEqual([
      await want('zero1', '/dev/zero', 'c1'),
      await want('zero2', '/dev/zero', 'c1'),
      await want('zero3', '/dev/zero', 'c1'),
      await want('nocontext1', kc, 'nope'),
      await want('nocontext2', kc, 'nope'),
      await want('bigca1', kc, 'c2'),
      await want('bigca2', kc, 'c2'),
      await want('notoken1', kc, 'c1-tok'),
      await want('notoken2', kc, 'c1-tok'),
    ]);
    expect(got[0]).toBe('dataPlanes[zero1].access.path: cannot read kubeconfig /dev/zero: not a regular file (a character device)');
    expect(got[3]).toBe(`dataPlanes[nocontext1].access.context: kubeconfig ${kc} has no context "nope"`);
    expect(got[5]).toBe(`dataPlanes[bigca1].access.path: kubeconfig ${kc}: cluster "c2" certificate-authority ${join(kc, '..', 'c2-ca.crt')}: larger than ${FILE_LIMITS.ca} bytes (${FILE_LIMITS.ca + 1})`);
    expect(got[7]).toMatch(new RegExp(`^dataPlanes\\[notoken1\\]\\.access\\.path: kubeconfig ${kc}: user "c1-token" token-file ${join(kc, '..', 'c1-token')}: no such file \\(ENOENT\\)$`));
    // Each refused file was tried once, not once per data plane.
    expect(io.reads.get('/dev/zero')).toBe(1);
    expect(io.reads.get(kc)).toBe(1);
    expect(io.reads.get(join(kc, '..', 'c2-ca.crt'))).toBe(1);
  });

  it('a $KUBECONFIG file that cannot be read fails every data plane with the same message', async () => {
    const kc = kubeconfig('envbad', 1);
    const env = { KUBECONFIG: `${kc}:/dev/zero` };
    const got = await issues(fleet(undefined, ['c1'], 3), countingIo(env));
    const one = await alone(undefined, 'c1', env);
    expect(one).toBe('access.path: cannot read kubeconfig /dev/zero (from $KUBECONFIG): not a regular file (a character device)');
    expect(got).toEqual([`controlPlane.${one}`, `dataPlanes[dp1].${one}`, `dataPlanes[dp2].${one}`, `dataPlanes[dp3].${one}`]);
  });
});

describe("an auth-provider's tokenFile (client-node's FileAuth)", () => {
  const provider = (name: string, config: Record<string, unknown>) => ({ name, user: { 'auth-provider': { name: 'file', config } } });

  it('is read bounded at load: /dev/zero, a directory or a huge file is a configuration error naming it', async () => {
    const huge = write('huge-provider-token', 'a'.repeat(FILE_LIMITS.token + 1));
    const kc = kubeconfig('provider-bad', 1, [provider('pzero', { tokenFile: '/dev/zero' }), provider('pdir', { tokenFile: dir }), provider('phuge', { tokenFile: huge })]);
    const cfg = parseConfig({
      controlPlane: { access: { type: 'kubeconfig', context: 'c1', path: kc } },
      store: { aws: { region: 'eu-west-1' } },
      dataPlanes: ['pzero', 'pdir', 'phuge'].map((id) => ({ id, access: { type: 'kubeconfig', context: id, path: kc }, labels: { a: 1 } })),
    });
    await expect(checkLocalAccess(cfg, countingIo())).rejects.toThrow(
      new ConfigError(
        [
          { path: 'dataPlanes[pzero].access.path', message: `kubeconfig ${kc}: user "pzero" auth-provider tokenFile /dev/zero: not a regular file (a character device)` },
          { path: 'dataPlanes[pdir].access.path', message: `kubeconfig ${kc}: user "pdir" auth-provider tokenFile ${dir}: not a regular file (a directory)` },
          { path: 'dataPlanes[phuge].access.path', message: `kubeconfig ${kc}: user "phuge" auth-provider tokenFile ${huge}: larger than ${FILE_LIMITS.token} bytes (${FILE_LIMITS.token + 1})` },
        ],
        'cluster access',
      ),
    );
  });

  it('gives the bearer token (trimmed, redacted), read again after 60 s as FileAuth does, bounded then too', async () => {
    const tokenFile = write('provider-token', 'provider-token-one\n');
    const kc = kubeconfig('provider', 1, [provider('pfile', { tokenFile })]);
    const io = countingIo();
    const conn = await connect('data plane p', { type: 'kubeconfig', path: kc, context: 'pfile' }, io);
    expect(await authHeader(conn)).toBe('Bearer provider-token-one');
    expect(redact('said provider-token-one')).toBe('said [REDACTED]');
    writeFileSync(tokenFile, 'provider-token-two\n');
    expect(await authHeader(conn)).toBe('Bearer provider-token-one');
    expect(io.reads.get(tokenFile)).toBe(1);
    const now = Date.now();
    jest.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    expect(await authHeader(conn)).toBe('Bearer provider-token-two');
    expect(io.reads.get(tokenFile)).toBe(2);
    expect(redact('said provider-token-two')).toBe('said [REDACTED]');
    writeFileSync(tokenFile, 'b'.repeat(FILE_LIMITS.token + 1));
    jest.spyOn(Date, 'now').mockReturnValue(now + 122_000);
    await expect(authHeader(conn)).rejects.toThrow(`user "pfile" auth-provider tokenFile ${tokenFile}: larger than ${FILE_LIMITS.token} bytes`);
  });

  it('is left to its own authenticator where client-node would not use FileAuth (gcp, azure, exec)', async () => {
    const kc = kubeconfig('provider-other', 1, [{ name: 'pgcp', user: { 'auth-provider': { name: 'gcp', config: { tokenFile: '/dev/zero', 'access-token': 'gcp-access-token-x' } } } }]);
    const conn = await connect('data plane g', { type: 'kubeconfig', path: kc, context: 'pgcp' }, countingIo());
    expect(kubeConfigOf(conn).getCurrentUser()?.authProvider).toEqual({ name: 'gcp', config: { tokenFile: '/dev/zero', 'access-token': 'gcp-access-token-x' } });
  });
});
