/**
 * Loading a kubeconfig with the same care as every other file a configuration names
 * (lib/util/files.ts): the kubeconfig itself, each file of `$KUBECONFIG` when no path is given, and
 * the files the chosen context's cluster and user name (`certificate-authority`,
 * `client-certificate`, `client-key`, `token-file`) must each be a regular file within a bound.
 * `/dev/zero`, a FIFO or a directory is refused at once instead of being read forever.
 *
 * Those files are read once, here, and put inline (`certificate-authority-data`, ...), so nothing
 * reads them later. Relative paths resolve against the kubeconfig's directory, as kubectl does
 * (client-node would read a relative `token-file` against the working directory).
 */
import { homedir } from 'node:os';
import { delimiter, dirname, resolve } from 'node:path';
// Its own module, not the package index (see ./access.ts).
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { parse as parseYaml } from 'yaml';
import { FILE_LIMITS } from '../util/files.ts';

/** A kubeconfig problem, said in a few words (the caller names the cluster and the field). */
export class KubeconfigError extends Error {
  /** The configuration field at fault: `access.path` or `access.context`. */
  readonly field: 'access.path' | 'access.context';
  constructor(field: 'access.path' | 'access.context', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeconfigError';
    this.field = field;
  }
}

type ReadFile = (path: string, maxBytes: number) => Promise<string>;

interface RawNamed {
  name?: unknown;
  [k: string]: unknown;
}

/** One kubeconfig file, parsed, with its `token-file` references taken out (client-node would read them unbounded). */
interface RawFile {
  path: string;
  doc: { clusters?: RawNamed[]; users?: RawNamed[]; contexts?: RawNamed[]; [k: string]: unknown };
  /** user name -> absolute token-file path */
  tokenFiles: Map<string, string>;
}

const isEnoent = (err: unknown) => ((err as { cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code) === 'ENOENT';

async function readKubeconfig(path: string, readFile: ReadFile, how: string): Promise<RawFile> {
  const text = await readFile(path, FILE_LIMITS.kubeconfig).catch((err: Error) => {
    throw new KubeconfigError('access.path', `cannot read kubeconfig ${path}${how}: ${err.message}`, { cause: err });
  });
  let doc: RawFile['doc'];
  try {
    const parsed = parseYaml(text) as unknown;
    doc = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as RawFile['doc']) : {};
  } catch (err) {
    throw new KubeconfigError('access.path', `${path} is not a valid kubeconfig: ${(err as Error).message}`, { cause: err });
  }
  const tokenFiles = new Map<string, string>();
  for (const u of Array.isArray(doc.users) ? doc.users : []) {
    const user = u?.['user'] as Record<string, unknown> | undefined;
    if (!user || typeof user['token-file'] !== 'string') continue;
    if (!user['token']) tokenFiles.set(String(u.name), resolve(dirname(path), user['token-file']));
    delete user['token-file'];
  }
  return { path, doc, tokenFiles };
}

function toKubeConfig(f: RawFile): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromString(JSON.stringify(f.doc));
  } catch (err) {
    throw new KubeconfigError('access.path', `${f.path} is not a valid kubeconfig: ${(err as Error).message}`, { cause: err });
  }
  kc.makePathsAbsolute(dirname(f.path));
  return kc;
}

/**
 * Loads the kubeconfig at `path`, or the default one (every file of `$KUBECONFIG`, merged as
 * kubectl and client-node merge them; else `~/.kube/config`; else client-node's in-cluster
 * default), selects `context`, and inlines the files its cluster and user name.
 *
 * @param env where `KUBECONFIG` and `HOME` are read (default: process.env)
 * @throws KubeconfigError naming the file and why (not a regular file, too large, unreadable,
 *   not a kubeconfig), or the missing context
 */
export async function loadKubeconfig(path: string | undefined, context: string, readFile: ReadFile, env: NodeJS.ProcessEnv = process.env): Promise<KubeConfig> {
  const files: RawFile[] = [];
  if (path) files.push(await readKubeconfig(path, readFile, ''));
  else if (env['KUBECONFIG']) {
    for (const p of env['KUBECONFIG'].split(delimiter).filter(Boolean)) files.push(await readKubeconfig(p, readFile, ' (from $KUBECONFIG)'));
  } else {
    const home = env['HOME'] || homedir();
    const p = resolve(home, '.kube', 'config');
    try {
      files.push(await readKubeconfig(p, readFile, ''));
    } catch (err) {
      if (!isEnoent(err)) throw err;
    }
  }
  let kc: KubeConfig;
  const tokenFiles = new Map<string, string>();
  if (files.length) {
    kc = toKubeConfig(files[0]!);
    for (const f of files.slice(1)) {
      try {
        kc.mergeConfig(toKubeConfig(f));
      } catch (err) {
        throw new KubeconfigError('access.path', `cannot merge ${f.path} (from $KUBECONFIG): ${(err as Error).message}`, { cause: err });
      }
    }
    for (const f of files) for (const [u, p] of f.tokenFiles) tokenFiles.set(u, p);
  } else {
    kc = new KubeConfig();
    try {
      kc.loadFromDefault();
    } catch (err) {
      throw new KubeconfigError('access.path', `cannot load the default kubeconfig: ${(err as Error).message}`, { cause: err });
    }
  }
  const where = path ?? '(default)';
  const ctx = kc.getContextObject(context);
  if (!ctx) throw new KubeconfigError('access.context', `kubeconfig ${where} has no context "${context}"`);
  kc.setCurrentContext(context);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeconfigError('access.context', `context "${context}" names no cluster`);
  const user = kc.getCurrentUser();

  const read = async (what: string, file: string, max: number) =>
    readFile(file, max).catch((err: Error) => {
      throw new KubeconfigError('access.path', `kubeconfig ${where}: ${what} ${file}: ${err.message}`, { cause: err });
    });
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const newCluster = { ...cluster };
  if (cluster.caFile && !cluster.caData) {
    newCluster.caData = b64(await read(`cluster "${cluster.name}" certificate-authority`, cluster.caFile, FILE_LIMITS.ca));
    delete (newCluster as { caFile?: string }).caFile;
  }
  const newUser = user && { ...user };
  if (user && newUser) {
    if (user.certFile && !user.certData) {
      newUser.certData = b64(await read(`user "${user.name}" client-certificate`, user.certFile, FILE_LIMITS.ca));
      delete (newUser as { certFile?: string }).certFile;
    }
    if (user.keyFile && !user.keyData) {
      newUser.keyData = b64(await read(`user "${user.name}" client-key`, user.keyFile, FILE_LIMITS.ca));
      delete (newUser as { keyFile?: string }).keyFile;
    }
    const tokenFile = tokenFiles.get(user.name);
    if (tokenFile && !user.token) newUser.token = (await read(`user "${user.name}" token-file`, tokenFile, FILE_LIMITS.token)).trim();
  }
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === cluster.name ? newCluster : c)),
    users: kc.users.map((u) => (user && u.name === user.name ? newUser! : u)),
    contexts: kc.contexts,
    currentContext: context,
  });
  return out;
}
