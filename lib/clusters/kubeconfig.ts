/**
 * Loading a kubeconfig with the same care as every other file a configuration names
 * (lib/util/files.ts): the kubeconfig itself, each file of `$KUBECONFIG` when no path is given, and
 * the files the chosen context's cluster and user name (`certificate-authority`,
 * `client-certificate`, `client-key`, `token-file`) must each be a regular file within a bound.
 * `/dev/zero`, a FIFO or a directory is refused at once instead of being read forever.
 *
 * Those files are read once, here, and put inline (`certificate-authority-data`, ...), so nothing
 * reads them later; an `auth-provider`'s `tokenFile` (client-node's FileAuth, which reads it again
 * every 60 s) is read here and then again by a bounded reader. Relative paths resolve against the
 * kubeconfig's directory, as kubectl does (client-node would read a relative `token-file` against
 * the working directory). Within a run ({@link KubeconfigLoads}) each kubeconfig is read and
 * parsed once, and each context resolved once.
 */
import { homedir } from 'node:os';
import { delimiter, dirname, resolve } from 'node:path';
// Its own module, not the package index: the index re-exports every API class, which a bundle that
// loads this module lazily (./access.ts imports it on first kubeconfig access) would keep whole.
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { newClusters, newContexts, newUsers, type User } from '@kubernetes/client-node/dist/config_types.js';
import { parse as parseYaml } from 'yaml';
import type { Authenticator } from '@kubernetes/client-node/dist/auth.js';
import { echo } from '../util/bounded.ts';
import { FILE_LIMITS } from '../util/files.ts';
import { registerSecret } from '../util/redact.ts';

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

/** Keys of which a kubeconfig has at least one (a file with none of them is something else). */
const KUBECONFIG_KEYS = ['clusters', 'contexts', 'users', 'current-context', 'kind', 'apiVersion', 'preferences'];

const isEnoent = (err: unknown) => ((err as { cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code) === 'ENOENT';

async function readKubeconfig(path: string, readFile: ReadFile, how: string): Promise<RawFile> {
  const text = await readFile(path, FILE_LIMITS.kubeconfig).catch((err: Error) => {
    throw new KubeconfigError('access.path', `cannot read kubeconfig ${echo(path)}${how}: ${err.message}`, { cause: err });
  });
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new KubeconfigError('access.path', `${echo(path)} is not a valid kubeconfig: ${echo((err as Error).message)}`, { cause: err });
  }
  // /etc/passwd parses as YAML (one string): say what the file is, not that a context is missing.
  const what = parsed === null || parsed === undefined ? 'it is empty' : Array.isArray(parsed) ? 'it is a list' : typeof parsed !== 'object' ? `it is a single ${typeof parsed}` : undefined;
  if (what || !KUBECONFIG_KEYS.some((k) => k in (parsed as object)))
    throw new KubeconfigError('access.path', `${echo(path)} is not a kubeconfig (${what ?? 'it has none of clusters, contexts, users'}; expected a YAML mapping with clusters, contexts and users)`);
  const doc = parsed as RawFile['doc'];
  const tokenFiles = new Map<string, string>();
  for (const u of Array.isArray(doc.users) ? doc.users : []) {
    const user = u?.['user'] as Record<string, unknown> | undefined;
    if (!user || typeof user['token-file'] !== 'string') continue;
    if (!user['token']) tokenFiles.set(String(u.name), resolve(dirname(path), user['token-file']));
    delete user['token-file'];
  }
  return { path, doc, tokenFiles };
}

/**
 * A KubeConfig of one parsed file, as client-node's `loadFromString` makes it (the same checks of
 * every cluster, user and context, the same errors) without parsing the file a second time
 * (`loadFromString` parsed the JSON text of what was parsed here once more, with js-yaml). The
 * JSON round trip gives client-node the same plain data js-yaml gave it.
 */
function toKubeConfig(f: RawFile): KubeConfig {
  const kc = new KubeConfig();
  try {
    const obj = JSON.parse(JSON.stringify(f.doc)) as RawFile['doc'];
    kc.loadFromOptions({ clusters: newClusters(obj.clusters), contexts: newContexts(obj.contexts), users: newUsers(obj.users), currentContext: obj['current-context'] as string });
  } catch (err) {
    throw new KubeconfigError('access.path', `${echo(f.path)} is not a valid kubeconfig: ${echo((err as Error).message)}`, { cause: err });
  }
  kc.makePathsAbsolute(dirname(f.path));
  return kc;
}

/** The auth-provider name a user whose `auth-provider` token file is read by {@link BoundedTokenFileAuth} gets (no built-in one matches it). */
const TOKEN_FILE_PROVIDER = 'flyte-credsync-token-file';
/** How long a token read from an auth-provider's `tokenFile` is used before the file is read again (client-node's FileAuth and client-go: 60 s). */
const TOKEN_FILE_REFRESH_MS = 60_000;

/**
 * The `tokenFile` of the user's `auth-provider` when client-node's FileAuth would be the
 * authenticator that reads it (it comes after the azure, gcp and exec authenticators and before
 * oidc), else undefined. FileAuth reads it with readFileSync, unbounded, every 60 s.
 */
function fileAuthPath(user: User): string | undefined {
  const p = user.authProvider as { name?: unknown; config?: Record<string, unknown> } | undefined;
  if (!p || user.exec || p.name === 'azure' || p.name === 'gcp' || p.name === 'exec' || p.config?.['exec']) return undefined;
  const f = p.config?.['tokenFile'];
  return typeof f === 'string' && f ? f : undefined;
}

/**
 * client-node's FileAuth (an `auth-provider` with a `tokenFile`), with the file read like every
 * other (a regular file within {@link FILE_LIMITS}.token): the first read is the load's, so a bad
 * file is a configuration error before anything is sent; then the file is read again when the
 * token is older than 60 s, as FileAuth does. The token is trimmed (a trailing newline is no
 * header value) and registered for redaction. A path is used as written (FileAuth reads a relative
 * one against the working directory).
 */
class BoundedTokenFileAuth implements Authenticator {
  private readonly path: string;
  private readonly readFile: (path: string) => Promise<string>;
  private token: string;
  private readAt = Date.now();
  constructor(path: string, first: string, readFile: (path: string) => Promise<string>) {
    this.path = path;
    this.readFile = readFile;
    this.token = first.trim();
    registerSecret(this.token);
  }
  isAuthProvider(user: User): boolean {
    return (user.authProvider as { name?: unknown } | undefined)?.name === TOKEN_FILE_PROVIDER;
  }
  async applyAuthentication(_user: User, opts: { headers?: Record<string, unknown> }): Promise<void> {
    if (Date.now() - this.readAt > TOKEN_FILE_REFRESH_MS) {
      this.token = (await this.readFile(this.path)).trim();
      this.readAt = Date.now();
      registerSecret(this.token);
    }
    if (this.token) (opts.headers ??= {})['Authorization'] = `Bearer ${this.token}`;
  }
}

/** What a kubeconfig source (a path, `$KUBECONFIG`'s files, `~/.kube/config` or client-node's default) loads to, before a context is chosen. */
interface LoadedFiles {
  /** The files merged, with relative paths made absolute; never changed after loading (shared by contexts). */
  kc: KubeConfig;
  /** user name -> absolute token-file path (later files win, as they do in the merge). */
  tokenFiles: Map<string, string>;
}

async function loadFiles(path: string | undefined, readFile: ReadFile, env: NodeJS.ProcessEnv): Promise<LoadedFiles> {
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
        throw new KubeconfigError('access.path', `cannot merge ${echo(f.path)} (from $KUBECONFIG): ${echo((err as Error).message)}`, { cause: err });
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
  return { kc, tokenFiles };
}

/** Selects `context` in what {@link loadFiles} loaded (which it does not change) and inlines the files its cluster and user name. */
async function selectContext(loaded: LoadedFiles, where: string, context: string, readFile: ReadFile): Promise<KubeConfig> {
  const { kc, tokenFiles } = loaded;
  const ctx = kc.getContextObject(context);
  if (!ctx) throw new KubeconfigError('access.context', `kubeconfig ${echo(where)} has no context "${echo(context)}"`);
  const cluster = kc.getCluster(ctx.cluster);
  if (!cluster) throw new KubeconfigError('access.context', `context "${echo(context)}" names no cluster`);
  const user = kc.getUser(ctx.user);

  const read = async (what: string, file: string, max: number) =>
    readFile(file, max).catch((err: Error) => {
      throw new KubeconfigError('access.path', `kubeconfig ${echo(where)}: ${echo(what)} ${echo(file)}: ${err.message}`, { cause: err });
    });
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  let tokenFileAuth: BoundedTokenFileAuth | undefined;
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
    const providerFile = fileAuthPath(user);
    if (providerFile !== undefined) {
      const what = `user "${user.name}" auth-provider tokenFile`;
      const first = await read(what, providerFile, FILE_LIMITS.token);
      (newUser as { authProvider?: unknown }).authProvider = { name: TOKEN_FILE_PROVIDER, config: {} };
      tokenFileAuth = new BoundedTokenFileAuth(providerFile, first, (f) => read(what, f, FILE_LIMITS.token));
    }
  }
  const out = new KubeConfig();
  if (tokenFileAuth) out.addAuthenticator(tokenFileAuth);
  out.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === cluster.name ? newCluster : c)),
    users: kc.users.map((u) => (user && u.name === user.name ? newUser! : u)),
    contexts: kc.contexts,
    currentContext: context,
  });
  return out;
}

/**
 * One run's kubeconfig loads. Each kubeconfig source (a path; `$KUBECONFIG`'s files; the default)
 * is read, checked and parsed once, and each of its contexts resolved (its files read and
 * inlined) once, however many clusters name it: data planes that share a kubeconfig share the
 * work and the resulting KubeConfig (which nothing changes after loading). A failed load fails
 * every cluster that names it with the same error.
 *
 * Keep one per run, never longer: the files may change between runs, and the next run must read
 * them again.
 */
export class KubeconfigLoads {
  private readonly sources = new Map<string, Promise<LoadedFiles>>();
  private readonly contexts = new Map<string, Promise<KubeConfig>>();
  private readonly readFile: ReadFile;
  private readonly env: NodeJS.ProcessEnv;
  /**
   * @param readFile reads a file the kubeconfig names, bounded (lib/util/files.ts readRegularFile)
   * @param env where `KUBECONFIG` and `HOME` are read (default: process.env)
   */
  constructor(readFile: ReadFile, env: NodeJS.ProcessEnv = process.env) {
    this.readFile = readFile;
    this.env = env;
  }

  /** See {@link loadKubeconfig}. */
  load(path: string | undefined, context: string): Promise<KubeConfig> {
    const source = path !== undefined && path !== '' ? `path\0${path}` : this.env['KUBECONFIG'] ? `env\0${this.env['KUBECONFIG']}` : `home\0${this.env['HOME'] || homedir()}`;
    const key = `${source}\0${context}`;
    let kc = this.contexts.get(key);
    if (!kc) {
      let files = this.sources.get(source);
      if (!files) this.sources.set(source, (files = loadFiles(path, this.readFile, this.env)));
      kc = files.then((f) => selectContext(f, path ?? '(default)', context, this.readFile));
      this.contexts.set(key, kc);
    }
    return kc;
  }
}

/**
 * Loads the kubeconfig at `path`, or the default one (every file of `$KUBECONFIG`, merged as
 * kubectl and client-node merge them; else `~/.kube/config`; else client-node's in-cluster
 * default), selects `context`, and inlines the files its cluster and user name. Reads everything
 * anew on each call; {@link KubeconfigLoads} shares the work within a run.
 *
 * @param env where `KUBECONFIG` and `HOME` are read (default: process.env)
 * @throws KubeconfigError naming the file and why (not a regular file, too large, unreadable,
 *   not a kubeconfig), or the missing context
 */
export function loadKubeconfig(path: string | undefined, context: string, readFile: ReadFile, env: NodeJS.ProcessEnv = process.env): Promise<KubeConfig> {
  return new KubeconfigLoads(readFile, env).load(path, context);
}
