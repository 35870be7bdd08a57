/**
 * The local test environment ("testenv"): real servers, no Docker, all on 127.0.0.1.
 *
 *   - one etcd, shared by every cluster (each kube-apiserver has its own --etcd-prefix);
 *   - the Flyte control plane `control` and data planes `dp1`..`dpN`: a kube-apiserver and a
 *     kube-controller-manager each, every cluster with its own CA and service-account key;
 *   - on the control plane only, real rollouts: the deployment, replicaset and node-lifecycle
 *     controllers, a kube-scheduler, and KWOK (sigs.k8s.io/kwok) keeping simulated nodes whose
 *     pods become Running and Ready, so `flyteadmin`/`syncresources` roll out like on a cluster;
 *   - moto (AWS Secrets Manager, and STS and EKS for EKS access) and an emulator of GCP Secret
 *     Manager (gRPC);
 *   - an EKS authentication stand-in (./eks-webhook.ts): every data-plane API server also accepts
 *     `k8s-aws-v1.` tokens through it (a TokenReview webhook that checks them as EKS does and maps
 *     the AWS identity to user/group), besides its client certificates and ServiceAccount tokens;
 *   - a GKE authentication stand-in (./gke-auth.ts): Google's OAuth token endpoint (JWT-bearer
 *     grant, for the service-account keys the env writes) and GKE's review of the `ya29.` access
 *     tokens it issued; the EKS webhook passes `ya29.` tokens on to it.
 *
 * Servers are started detached so that the environment outlives the process that started it; their
 * pids are in <dir>/pids.json and their logs in <dir>/logs/<name>.log. Everything else a client needs
 * is in <dir>/env.json (EnvInfo) and <dir>/kubeconfig (one context per cluster, named after it).
 * The default state dir is `.testenv/` at the repository root.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPair, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { ensureBinaries, type Binaries, type Log } from './build.ts';
import { KWOK_NODES, seedControllerManagerRbac, seedControlPlane, seedDataPlane, waitForControllers } from './seed.ts';
import type { EksWebhookConfig, KeyStoreFile } from './eks-webhook.ts';
// Types only: jest's global setup loads this file natively, and a value import of a module with a
// top-level await (the servers' main blocks) fails there.
import type { GkeAuthConfig } from './gke-auth.ts';
import type { FlyteAdminStandInConfig } from './flyteadmin.ts';

const execFileP = promisify(execFile);
const generateKeyPairP = promisify(generateKeyPair);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_STATE_DIR = path.join(REPO_ROOT, '.testenv');
export const CONTROL_PLANE = 'control';
const EKS_WEBHOOK_SCRIPT = path.join(REPO_ROOT, 'test', 'env', 'eks-webhook.ts');
const GKE_AUTH_SCRIPT = path.join(REPO_ROOT, 'test', 'env', 'gke-auth.ts');
const FLYTEADMIN_SCRIPT = path.join(REPO_ROOT, 'test', 'env', 'flyteadmin.ts');
/** The OAuth2 client the FlyteAdmin stand-in knows (its secret is in EnvInfo.flyteadmin.clientSecretFile). */
export const FLYTEADMIN_CLIENT_ID = 'flyte-credsync';
/** What moto 5.2.5's STS GetCallerIdentity answers for a key it did not issue (default account). */
export const MOTO_DEFAULT_CALLER_ARN = 'arn:aws:sts::123456789012:user/moto';
export const EKS_GROUP = 'flyte-credsync';
/** The cross-account role the webhook maps too (EksInfo.crossAccountRoleArn). */
export const CROSS_ACCOUNT_ROLE_ARN = 'arn:aws:iam::210987654321:role/flyte-credsync-data-plane';
const GCP_PROJECT = 'credsync-local';
const GKE_SERVICE_ACCOUNT = 'credsync';
/** gke-auth.ts's GOOGLE_TOKEN_URL and CLOUD_PLATFORM_SCOPE (see the import above). */
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** Lifetime of gke.shortLived's access tokens: well inside google-auth-library's 5-minute refresh window. */
export const GKE_SHORT_TOKEN_SECONDS = 3;

export type ClusterRole = 'control-plane' | 'data-plane';

export interface ClusterInfo {
  name: string;
  /** Context name in EnvInfo.kubeconfig (same as the cluster name). */
  context: string;
  /** https://127.0.0.1:PORT */
  server: string;
  caFile: string;
  /** Base64 of the CA PEM: what kubeconfig's certificate-authority-data holds. */
  caData: string;
  adminCertFile: string;
  adminKeyFile: string;
  role: ClusterRole;
  /** kube-apiserver log. */
  logFile: string;
  controllerManagerLogFile: string;
  etcdPrefix: string;
  serviceAccountIssuer: string;
}

/** EKS access to the data planes: see ./eks-webhook.ts. */
export interface EksInfo {
  /** The TokenReview webhook, http://127.0.0.1:PORT (POST /authenticate/<EKS cluster name>). */
  webhook: string;
  /** Data plane -> the EKS cluster name its API server stands for (the `x-k8s-aws-id` it requires). */
  clusterNames: Record<string, string>;
  /** The principal mapped to a Kubernetes identity: what moto's STS answers for env.aws's static key. */
  mappedArn: string;
  /**
   * A role "in another account" (moto's STS assumes any role ARN), also mapped to the group: what a
   * data plane's `roleArn` (cross-account access) names in the tests.
   */
  crossAccountRoleArn: string;
  /** The username and group it gets (deploy/dataplane-rbac.yaml binds the group). */
  username: string;
  group: string;
  /** The webhook's STS key store (JSON, see KeyStoreFile): static moto credentials; tests may add keys. */
  keyStore: string;
  logFile: string;
}

/** A service-account key of the GKE stand-in (./gke-auth.ts). */
export interface GkeServiceAccountInfo {
  /** Standard service-account key JSON (type service_account, private_key, client_email, token_uri = gke.tokenEndpoint, ...). */
  keyFile: string;
  clientEmail: string;
  /** `expires_in` of the access tokens the token endpoint issues for this account. */
  tokenLifetimeSeconds: number;
  /** What a data-plane API server calls it (`gke:<email>`); deploy/dataplane-rbac.yaml binds gke.group. */
  username: string;
}

/** GKE access to the data planes: see ./gke-auth.ts. */
export interface GkeInfo extends GkeServiceAccountInfo {
  /** The stand-in: http://127.0.0.1:PORT (POST /token, POST /authenticate-gke/<cluster>). */
  server: string;
  /** <server>/token: the keys' token_uri. */
  tokenEndpoint: string;
  /** What google-auth-library posts to and signs for, whatever token_uri says (see docs/testing.md). */
  googleTokenUrl: string;
  /** The scope GKE's review requires of a token. */
  scope: string;
  group: string;
  /** A second service account whose tokens live only a few seconds (expiry and renewal tests). */
  shortLived: GkeServiceAccountInfo;
  /** Where the data planes are as GKE clusters (access { type: gke, project, location, clusterName }). */
  project: string;
  location: string;
  clusterNames: Record<string, string>;
  logFile: string;
}

/**
 * The FlyteAdmin STAND-IN (./flyteadmin.ts; FlyteAdmin itself is in no package registry): the
 * execution-cluster-label calls of AdminService, over the same in-memory rows on two listeners.
 */
export interface FlyteAdminInfo {
  /** host:port, plaintext gRPC, no auth. */
  insecureEndpoint: string;
  /** host:port, TLS (certificate of caFile) and OAuth2 client credentials required. */
  endpoint: string;
  /** The stand-in's own CA (PEM). */
  caFile: string;
  /** https://127.0.0.1:PORT/oauth2/token (also advertised by AuthMetadataService). */
  tokenEndpoint: string;
  clientId: string;
  /** The client secret (0600); tests put it into the secret store. */
  clientSecretFile: string;
  /** Projects registered at start; tests register their own with RegisterProject. */
  projects: string[];
  logFile: string;
}

/** Real rollouts on the control plane: kube-scheduler + KWOK nodes (see docs/testing.md "Rollouts"). */
export interface RolloutsInfo {
  /** The simulated nodes KWOK manages (annotation kwok.x-k8s.io/node=fake). */
  nodes: string[];
  /** KWOK's server (GET /healthz). */
  kwokServer: string;
  kwokLogFile: string;
  schedulerLogFile: string;
}

export interface EnvInfo {
  version: 1;
  dir: string;
  kubeconfig: string;
  controlPlane: string;
  dataPlanes: string[];
  clusters: Record<string, ClusterInfo>;
  etcd: { endpoint: string };
  aws: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  gcp: { secretManagerEndpoint: string; project: string };
  eks: EksInfo;
  gke: GkeInfo;
  flyteadmin: FlyteAdminInfo;
  rollouts: RolloutsInfo;
  binaries: Binaries;
  startedAt: string;
}

export interface ProcessRecord {
  name: string;
  pid: number;
  /** /proc/<pid>/stat start time: guards against signalling a recycled pid. */
  startTime: string;
  logFile: string;
  argv: string[];
}

interface PidsFile {
  version: 1;
  processes: ProcessRecord[];
}

export interface UpOptions {
  /** Number of data planes dp1..dpN (default 3). */
  dataPlanes?: number;
  /** State dir (default `.testenv/` at the repository root). */
  dir?: string;
  log?: Log;
  /** How the servers' ports are chosen, per attempt (default {@link freePorts}; tests). */
  ports?: (n: number) => Promise<number[]>;
}

/**
 * A server found its port taken: between choosing a free port and binding it, another process
 * (another environment starting, or any outgoing connection, whose local port comes from the
 * same ephemeral range) took it. etcd and kube-apiserver say `bind: address already in use`,
 * Node `EADDRINUSE`, moto `Address already in use`.
 */
const PORT_TAKEN = /EADDRINUSE|address already in use/i;
/** Starts tried when a port was taken (each on new ports). */
const START_ATTEMPTS = 3;

export interface DirOptions {
  dir?: string;
  log?: Log;
}

const defaultLog: Log = (line) => console.log(line);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stateDir = (dir?: string) => path.resolve(dir ?? DEFAULT_STATE_DIR);
const envFile = (dir: string) => path.join(dir, 'env.json');
const pidsFile = (dir: string) => path.join(dir, 'pids.json');

// ---------------------------------------------------------------------------------------------
// Processes

function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', startTime: rest[19] ?? '' };
  } catch {
    return undefined;
  }
}

const HAVE_PROC = existsSync('/proc/self/stat');

/** Whether the recorded process still runs (a zombie or a recycled pid counts as gone). */
export function isProcessAlive(rec: Pick<ProcessRecord, 'pid' | 'startTime'>): boolean {
  if (!HAVE_PROC) {
    try {
      process.kill(rec.pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  const st = procStat(rec.pid);
  return !!st && st.state !== 'Z' && st.state !== 'X' && st.startTime === rec.startTime;
}

export async function readProcessRecords(dir?: string): Promise<ProcessRecord[]> {
  try {
    const file = JSON.parse(await fs.readFile(pidsFile(stateDir(dir)), 'utf8')) as PidsFile;
    return file.processes ?? [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function tailFile(file: string, lines = 40): Promise<string> {
  try {
    const text = (await fs.readFile(file, 'utf8')).trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(log file missing)';
  }
}

interface Running {
  rec: ProcessRecord;
  child: ChildProcess;
  exit?: string;
}

/** Starts servers detached, recording each in pids.json as soon as it exists. */
class Launcher {
  readonly running: Running[] = [];
  private writes: Promise<void> = Promise.resolve();
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async start(name: string, cmd: string, args: string[]): Promise<Running> {
    const logFile = path.join(this.dir, 'logs', `${name}.log`);
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { cwd: this.dir, detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`cannot start ${name} (${cmd}): ${err.message}`)));
    });
    child.unref();
    const pid = child.pid!;
    const rec: ProcessRecord = { name, pid, startTime: procStat(pid)?.startTime ?? '', logFile, argv: [cmd, ...args] };
    const r: Running = { rec, child };
    child.once('exit', (code, signal) => {
      r.exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
    });
    this.running.push(r);
    const snapshot: PidsFile = { version: 1, processes: this.running.map((x) => x.rec) };
    this.writes = this.writes.then(() => fs.writeFile(pidsFile(this.dir), JSON.stringify(snapshot, null, 2) + '\n'));
    await this.writes;
    return r;
  }
}

async function failure(r: Running, what: string, reason: string): Promise<Error> {
  return new Error(`${what} ${reason}; last 40 lines of ${r.rec.logFile}:\n${await tailFile(r.rec.logFile)}`);
}

/** Polls probe until true; fails fast (with the log tail) if the process exits. */
async function waitUntil(r: Running, what: string, probe: () => Promise<boolean>, timeoutMs: number, log: Log): Promise<void> {
  log(`waiting for ${what}…`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (r.exit || !isProcessAlive(r.rec)) throw await failure(r, what, r.exit ?? 'is gone');
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw await failure(r, what, `not ready after ${timeoutMs / 1000}s`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------
// Probes

function httpStatus(url: string, tls?: https.RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ...tls, agent: false, timeout: 3_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, timeout: 2_000 });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(false));
  });
}

async function apiserverReady(c: ClusterInfo): Promise<boolean> {
  const [ca, cert, key] = await Promise.all([fs.readFile(c.caFile), fs.readFile(c.adminCertFile), fs.readFile(c.adminKeyFile)]);
  return (await httpStatus(`${c.server}/readyz`, { ca, cert, key })) === 200;
}

/**
 * Free TCP ports on 127.0.0.1 (all held open together, so they are distinct). Also handy in tests
 * for an address where nothing listens (ECONNREFUSED), unlike ports fetch() refuses (1, 6000, ...).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, '127.0.0.1', resolve));
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

// ---------------------------------------------------------------------------------------------
// PKI (openssl for certificates, node:crypto for the service-account key)

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed in ${cwd}: ${e.stderr?.trim() || e.message}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function issue(cwd: string, name: string, subj: string, ext: string[]): Promise<void> {
  await openssl(['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], cwd);
  await fs.writeFile(path.join(cwd, `${name}.ext`), ext.join('\n') + '\n');
  await openssl(
    [
      'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
      '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', '3650', '-sha256',
      '-extfile', `${name}.ext`, '-out', `${name}.crt`,
    ],
    cwd,
  );
  await fs.rm(path.join(cwd, `${name}.csr`));
  await fs.chmod(path.join(cwd, `${name}.key`), 0o600);
}

/** CA, serving cert, admin and controller-manager client certs, SA key pair for one cluster. */
async function makeClusterPki(cdir: string, cluster: string): Promise<void> {
  await fs.mkdir(cdir, { recursive: true, mode: 0o700 });
  await openssl(
    [
      'req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-sha256',
      '-subj', `/CN=credsync-testenv-${cluster}-ca`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ],
    cdir,
  );
  await fs.chmod(path.join(cdir, 'ca.key'), 0o600);
  const client = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
  await Promise.all([
    issue(cdir, 'apiserver', `/CN=kube-apiserver-${cluster}`, [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
    ]),
    issue(cdir, 'admin', '/O=system:masters/CN=credsync-admin', client),
    issue(cdir, 'kcm', '/CN=system:kube-controller-manager', client),
    // Only the control plane runs a scheduler; its bootstrap ClusterRole binds this user.
    ...(cluster === CONTROL_PLANE ? [issue(cdir, 'scheduler', '/CN=system:kube-scheduler', client)] : []),
    (async () => {
      const { privateKey, publicKey } = await generateKeyPairP('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      await fs.writeFile(path.join(cdir, 'sa.key'), privateKey, { mode: 0o600 });
      await fs.writeFile(path.join(cdir, 'sa.pub'), publicKey);
    })(),
  ]);
}

function kubeconfigYaml(entries: { name: string; server: string; caFile: string; certFile: string; keyFile: string }[], current: string): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: entries.map((e) => ({ name: e.name, cluster: { server: e.server, 'certificate-authority': e.caFile } })),
    users: entries.map((e) => ({ name: `${e.name}-user`, user: { 'client-certificate': e.certFile, 'client-key': e.keyFile } })),
    contexts: entries.map((e) => ({ name: e.name, context: { cluster: e.name, user: `${e.name}-user` } })),
    'current-context': current,
  });
}

/** kubeconfig-format file of --authentication-token-webhook-config-file: where the TokenReviews go. */
function webhookKubeconfigYaml(url: string): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'eks-webhook', cluster: { server: url } }],
    users: [{ name: 'kube-apiserver', user: {} }],
    contexts: [{ name: 'eks-webhook', context: { cluster: 'eks-webhook', user: 'kube-apiserver' } }],
    'current-context': 'eks-webhook',
  });
}

/**
 * The EKS authentication stand-in (./eks-webhook.ts), on this Node: its STS key store holds
 * moto's static credentials, and the principal moto answers for them is mapped to
 * eks.username / eks.group.
 */
async function startEksWebhookProcess(dir: string, env: EnvInfo, launcher: Launcher): Promise<Running> {
  const wdir = path.join(dir, 'eks-webhook');
  await fs.mkdir(wdir, { recursive: true, mode: 0o700 });
  const keys: KeyStoreFile = { keys: { [env.aws.accessKeyId]: { secretAccessKey: env.aws.secretAccessKey } } };
  await fs.writeFile(env.eks.keyStore, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600 });
  const cfg: EksWebhookConfig = {
    port: Number(new URL(env.eks.webhook).port),
    stsEndpoint: env.aws.endpoint,
    clusters: Object.values(env.eks.clusterNames),
    keyStore: env.eks.keyStore,
    mappings: [
      { arn: env.eks.mappedArn, username: env.eks.username, groups: [env.eks.group] },
      { arn: env.eks.crossAccountRoleArn, username: `eks:${env.eks.crossAccountRoleArn}`, groups: [env.eks.group] },
    ],
    // The API servers' one webhook URL: `ya29.` tokens go on to the GKE stand-in.
    gkeReview: env.gke.server,
  };
  const cfgFile = path.join(wdir, 'config.json');
  await fs.writeFile(cfgFile, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  return launcher.start('eks-webhook', process.execPath, ['--disable-warning=ExperimentalWarning', EKS_WEBHOOK_SCRIPT, cfgFile]);
}

/** A key in the format of a downloaded Google service-account key (token_uri: the local endpoint). */
async function writeServiceAccountKey(file: string, email: string, project: string, tokenUri: string): Promise<{ privateKeyId: string; publicKeyPem: string }> {
  const { privateKey, publicKey } = await generateKeyPairP('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const privateKeyId = randomBytes(20).toString('hex');
  const clientId = `1${Array.from(randomBytes(20), (b) => String(b % 10)).join('')}`;
  const key = {
    type: 'service_account',
    project_id: project,
    private_key_id: privateKeyId,
    private_key: privateKey,
    client_email: email,
    client_id: clientId,
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenUri,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
    universe_domain: 'googleapis.com',
  };
  await fs.writeFile(file, JSON.stringify(key, null, 2) + '\n', { mode: 0o600 });
  return { privateKeyId, publicKeyPem: publicKey };
}

/**
 * The GKE authentication stand-in (./gke-auth.ts), on this Node: two service-account keys
 * (gke.keyFile, and gke.shortLived's with tokens of a few seconds), both mapped to their
 * `gke:<email>` user in gke.group.
 */
async function startGkeAuthProcess(dir: string, env: EnvInfo, launcher: Launcher): Promise<Running> {
  const gdir = path.join(dir, 'gke-auth');
  await fs.mkdir(gdir, { recursive: true, mode: 0o700 });
  const accounts = [env.gke, env.gke.shortLived];
  const keys = await Promise.all(accounts.map((a) => writeServiceAccountKey(a.keyFile, a.clientEmail, env.gke.project, env.gke.tokenEndpoint)));
  const cfg: GkeAuthConfig = {
    port: Number(new URL(env.gke.server).port),
    audiences: [env.gke.googleTokenUrl, env.gke.tokenEndpoint],
    serviceAccounts: accounts.map((a, i) => ({ clientEmail: a.clientEmail, privateKeyId: keys[i]!.privateKeyId, publicKeyPem: keys[i]!.publicKeyPem, tokenLifetimeSeconds: a.tokenLifetimeSeconds })),
    clusters: Object.values(env.gke.clusterNames),
    requiredScope: env.gke.scope,
    mappings: accounts.map((a) => ({ email: a.clientEmail, username: a.username, groups: [env.gke.group] })),
  };
  const cfgFile = path.join(gdir, 'config.json');
  await fs.writeFile(cfgFile, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  return launcher.start('gke-auth', process.execPath, ['--disable-warning=ExperimentalWarning', GKE_AUTH_SCRIPT, cfgFile]);
}

/**
 * The FlyteAdmin stand-in (./flyteadmin.ts), on this Node: its own CA and serving certificate
 * (127.0.0.1), one OAuth2 client with a random secret (the stand-in's config holds its SHA-256 only).
 */
async function startFlyteAdminProcess(dir: string, env: EnvInfo, launcher: Launcher): Promise<Running> {
  const fdir = path.join(dir, 'flyteadmin');
  await fs.mkdir(fdir, { recursive: true, mode: 0o700 });
  await openssl(
    [
      'req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-sha256',
      '-subj', '/CN=credsync-testenv-flyteadmin-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ],
    fdir,
  );
  await fs.chmod(path.join(fdir, 'ca.key'), 0o600);
  await issue(fdir, 'server', '/CN=flyteadmin-standin', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const secret = randomBytes(24).toString('base64url');
  await fs.writeFile(env.flyteadmin.clientSecretFile, secret, { mode: 0o600 });
  const port = (hostPort: string) => Number(hostPort.split(':')[1]);
  const cfg: FlyteAdminStandInConfig = {
    insecurePort: port(env.flyteadmin.insecureEndpoint),
    secure: {
      port: port(env.flyteadmin.endpoint),
      tokenPort: Number(new URL(env.flyteadmin.tokenEndpoint).port),
      certFile: path.join(fdir, 'server.crt'),
      keyFile: path.join(fdir, 'server.key'),
      clients: [{ clientId: env.flyteadmin.clientId, secretSha256: createHash('sha256').update(secret).digest('hex'), scopes: ['all'] }],
      scopes: ['all'],
    },
    projects: env.flyteadmin.projects,
  };
  const cfgFile = path.join(fdir, 'config.json');
  await fs.writeFile(cfgFile, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  return launcher.start('flyteadmin', process.execPath, ['--disable-warning=ExperimentalWarning', FLYTEADMIN_SCRIPT, cfgFile]);
}

// ---------------------------------------------------------------------------------------------
// Public API

/** An in-memory KubeConfig with the admin identity (system:masters) of one cluster. */
export function adminKubeConfig(env: EnvInfo, cluster: string): KubeConfig {
  const c = env.clusters[cluster];
  if (!c) throw new Error(`no cluster "${cluster}" in the test environment (have: ${Object.keys(env.clusters).join(', ')})`);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: c.name, server: c.server, caData: c.caData, skipTLSVerify: false }],
    users: [{ name: `${c.name}-admin`, certFile: c.adminCertFile, keyFile: c.adminKeyFile }],
    contexts: [{ name: c.context, cluster: c.name, user: `${c.name}-admin` }],
    currentContext: c.context,
  });
  return kc;
}

export interface EnvStatus {
  state: 'running' | 'absent' | 'stale';
  env?: EnvInfo;
  problems: string[];
}

/** Whether the env in dir runs: every recorded process alive and every server answering. */
export async function envStatus(opts: DirOptions = {}): Promise<EnvStatus> {
  const dir = stateDir(opts.dir);
  let env: EnvInfo;
  try {
    env = JSON.parse(await fs.readFile(envFile(dir), 'utf8')) as EnvInfo;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { state: 'stale', problems: [`unreadable ${envFile(dir)}: ${String(err)}`] };
    const leftovers = existsSync(dir);
    return { state: leftovers ? 'stale' : 'absent', problems: leftovers ? [`${dir} exists without env.json (an up that did not finish?)`] : [] };
  }
  const problems: string[] = [];
  if (env.version !== 1) problems.push(`env.json version ${String(env.version)} is not 1`);
  const procs = await readProcessRecords(dir);
  if (procs.length === 0) problems.push('no processes recorded in pids.json');
  for (const p of procs) if (!isProcessAlive(p)) problems.push(`${p.name} (pid ${p.pid}) is not running`);
  if (problems.length === 0) {
    const checks: Promise<string | undefined>[] = [
      ...Object.values(env.clusters).map(async (c) =>
        (await apiserverReady(c).catch(() => false)) ? undefined : `kube-apiserver ${c.name} (${c.server}) is not ready`,
      ),
      httpStatus(`${env.etcd.endpoint}/health`).then(
        (s) => (s === 200 ? undefined : `etcd /health answered ${s}`),
        (e: Error) => `etcd does not answer: ${e.message}`,
      ),
      httpStatus(`${env.aws.endpoint}/moto-api/`).then(
        () => undefined,
        (e: Error) => `moto does not answer: ${e.message}`,
      ),
      (async () => {
        const [host, port] = env.gcp.secretManagerEndpoint.split(':');
        return (await tcpOpen(host!, Number(port))) ? undefined : `GCP emulator ${env.gcp.secretManagerEndpoint} does not accept connections`;
      })(),
      env.eks
        ? httpStatus(`${env.eks.webhook}/healthz`).then(
            (s) => (s === 200 ? undefined : `EKS webhook /healthz answered ${s}`),
            (e: Error) => `EKS webhook does not answer: ${e.message}`,
          )
        : Promise.resolve('no EKS webhook in env.json (started by an older version of testenv.ts)'),
      env.gke
        ? httpStatus(`${env.gke.server}/healthz`).then(
            (s) => (s === 200 ? undefined : `GKE auth stand-in /healthz answered ${s}`),
            (e: Error) => `GKE auth stand-in does not answer: ${e.message}`,
          )
        : Promise.resolve('no GKE auth stand-in in env.json (started by an older version of testenv.ts)'),
      (async () => {
        if (!env.flyteadmin) return 'no FlyteAdmin stand-in in env.json (started by an older version of testenv.ts)';
        const ends = [env.flyteadmin.insecureEndpoint, env.flyteadmin.endpoint, new URL(env.flyteadmin.tokenEndpoint).host];
        for (const e of ends) {
          const [host, port] = e.split(':');
          if (!(await tcpOpen(host!, Number(port)))) return `FlyteAdmin stand-in ${e} does not accept connections`;
        }
        return undefined;
      })(),
    ];
    for (const p of await Promise.all(checks)) if (p) problems.push(p);
  }
  return problems.length === 0 ? { state: 'running', env, problems } : { state: 'stale', env, problems };
}

/** The running environment, or undefined when there is none (or it is broken). */
export async function readEnv(opts: DirOptions = {}): Promise<EnvInfo | undefined> {
  const s = await envStatus(opts);
  return s.state === 'running' ? s.env : undefined;
}

/** The env the tests run against: $CREDSYNC_TESTENV (set by the jest global setup) or .testenv/env.json. */
export function loadTestEnv(): EnvInfo {
  const file = process.env.CREDSYNC_TESTENV || envFile(DEFAULT_STATE_DIR);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as EnvInfo;
  } catch (err) {
    throw new Error(
      `no test environment at ${file} (${(err as Error).message}). Start one with \`npm run testenv -- up\`, ` +
        'or run the integration tests through jest (its global setup starts one).',
    );
  }
}

/**
 * Stops every recorded process of the env in dir (SIGTERM, SIGKILL after 8s), waits until all are
 * gone, then deletes the state dir. Safe to call when nothing runs.
 */
export async function down(opts: DirOptions = {}): Promise<ProcessRecord[]> {
  const dir = stateDir(opts.dir);
  const log = opts.log ?? defaultLog;
  const procs = await readProcessRecords(dir);
  const stopped = await stopProcesses(procs, log);
  await fs.rm(dir, { recursive: true, force: true });
  return stopped;
}

/**
 * Stops processes in dependency order: controller managers, then API servers and the rest, etcd
 * last (an API server whose etcd is gone hangs in its shutdown). SIGTERM, SIGKILL after 8s.
 */
async function stopProcesses(procs: ProcessRecord[], log: Log): Promise<ProcessRecord[]> {
  const first = ['kube-controller-manager', 'kube-scheduler', 'kwok'];
  const phase = (p: ProcessRecord) => (first.some((f) => p.name.startsWith(f)) ? 0 : p.name === 'etcd' ? 2 : 1);
  const stopped: ProcessRecord[] = [];
  for (const n of [0, 1, 2]) stopped.push(...(await stopGroup(procs.filter((p) => phase(p) === n), log)));
  return stopped;
}

async function stopGroup(procs: ProcessRecord[], log: Log): Promise<ProcessRecord[]> {
  const alive = () => procs.filter((p) => isProcessAlive(p));
  const signal = (sig: NodeJS.Signals) => {
    for (const p of alive()) {
      // Each server leads its own process group (spawned detached): signal the group.
      try {
        process.kill(-p.pid, sig);
      } catch {
        try {
          process.kill(p.pid, sig);
        } catch {
          /* already gone */
        }
      }
    }
  };
  const targets = alive();
  if (targets.length === 0) return [];
  log(`stopping ${targets.map((p) => p.name).join(', ')}…`);
  signal('SIGTERM');
  for (const [sig, waitMs] of [['SIGKILL', 8_000], [undefined, 5_000]] as const) {
    const deadline = Date.now() + waitMs;
    while (alive().length > 0 && Date.now() < deadline) await sleep(50);
    if (alive().length === 0) return targets;
    if (sig) {
      log(`still running 8s after SIGTERM, sending SIGKILL: ${alive().map((p) => `${p.name} (${p.pid})`).join(', ')}`);
      signal(sig);
    }
  }
  throw new Error(`could not stop: ${alive().map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`);
}

/**
 * Sends a signal to one recorded server of the environment (fault tests: SIGKILL an API server,
 * SIGSTOP / SIGCONT the store). Only a process that still matches its record is signalled.
 * @throws when no live process of that name is recorded
 */
export async function signalServer(name: string, signal: NodeJS.Signals, opts: DirOptions = {}): Promise<ProcessRecord> {
  const rec = (await readProcessRecords(opts.dir)).find((p) => p.name === name);
  if (!rec || !isProcessAlive(rec)) throw new Error(`no running server named ${name} in ${stateDir(opts.dir)}`);
  process.kill(rec.pid, signal);
  return rec;
}

/**
 * Starts a recorded server again with its recorded command line, after a test killed it, and
 * records the new process (so `down` stops it). Waits until it has exited first (a SIGKILLed
 * process is gone within moments). The caller waits for it to serve.
 */
export async function restartServer(name: string, opts: DirOptions = {}): Promise<ProcessRecord> {
  const dir = stateDir(opts.dir);
  const procs = await readProcessRecords(dir);
  const i = procs.findIndex((p) => p.name === name);
  if (i < 0) throw new Error(`no server named ${name} in ${dir}`);
  const old = procs[i]!;
  for (let t = 0; isProcessAlive(old); t++) {
    if (t > 200) throw new Error(`${name} (pid ${old.pid}) is still running`);
    await sleep(50);
  }
  const [cmd, ...args] = old.argv as [string, ...string[]];
  const fd = openSync(old.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd: dir, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`cannot restart ${name}: ${err.message}`)));
  });
  child.unref();
  const rec: ProcessRecord = { ...old, pid: child.pid!, startTime: procStat(child.pid!)?.startTime ?? '' };
  procs[i] = rec;
  await fs.writeFile(pidsFile(dir), JSON.stringify({ version: 1, processes: procs } satisfies PidsFile, null, 2) + '\n');
  return rec;
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Starts the environment in dir (default `.testenv/`) and returns its EnvInfo. A running env with
 * the same number of data planes is reused as is; otherwise whatever is left in dir is stopped and
 * removed first. On failure every process started is stopped (logs are kept in dir/logs).
 */
export async function up(opts: UpOptions = {}): Promise<EnvInfo> {
  const dataPlaneCount = opts.dataPlanes ?? 3;
  if (!Number.isInteger(dataPlaneCount) || dataPlaneCount < 1) throw new Error(`dataPlanes must be an integer >= 1 (got ${dataPlaneCount})`);
  const dir = stateDir(opts.dir);
  const log = opts.log ?? defaultLog;
  const t0 = Date.now();

  const status = await envStatus({ dir });
  if (status.state === 'running' && status.env!.dataPlanes.length === dataPlaneCount) {
    log(`test environment already running (${dir})`);
    return status.env!;
  }
  if (status.state === 'running') {
    log(`restarting the test environment: it has ${status.env!.dataPlanes.length} data planes, ${dataPlaneCount} wanted`);
  } else if (status.state === 'stale') {
    log(`cleaning up a stale test environment in ${dir} (${status.problems.join('; ')})`);
  }
  await down({ dir, log });

  const binaries = await ensureBinaries({ log });
  const tStart = Date.now();
  for (let attempt = 1; ; attempt++) {
    await fs.mkdir(path.join(dir, 'logs'), { recursive: true, mode: 0o700 });
    await fs.chmod(dir, 0o700);
    const launcher = new Launcher(dir);
    try {
      const ports = await (opts.ports ?? freePorts)(10 + dataPlaneCount + 1);
      return await start(dir, dataPlaneCount, ports, binaries, launcher, log, t0, tStart);
    } catch (err) {
      const retry = attempt < START_ATTEMPTS && PORT_TAKEN.test((err as Error).message);
      log(`test environment failed to start; stopping what was started${retry ? '' : ` (logs kept in ${path.join(dir, 'logs')})`}`);
      await stopProcesses(launcher.running.map((r) => r.rec), log).catch((e: Error) => log(e.message));
      await fs.rm(pidsFile(dir), { force: true });
      if (!retry) throw err;
      // Nothing of this attempt is reused (etcd's data names its ports): a clean directory.
      log(`${(err as Error).message.split('\n')[0]}: a port was taken before its server bound it; starting again on new ports (attempt ${attempt + 1} of ${START_ATTEMPTS})`);
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
}

async function start(
  dir: string,
  dataPlaneCount: number,
  ports: number[],
  binaries: Binaries,
  launcher: Launcher,
  log: Log,
  t0: number,
  tStart: number,
): Promise<EnvInfo> {
  const dataPlanes = Array.from({ length: dataPlaneCount }, (_, i) => `dp${i + 1}`);
  const names = [CONTROL_PLANE, ...dataPlanes];
  const [etcdClient, etcdPeer, motoPort, gcpPort, webhookPort, gkePort, faInsecure, faSecure, faToken, kwokPort, ...apiPorts] = ports;

  const clusters: Record<string, ClusterInfo> = {};
  names.forEach((name, i) => {
    const cdir = path.join(dir, name);
    clusters[name] = {
      name,
      context: name,
      server: `https://127.0.0.1:${apiPorts[i]}`,
      caFile: path.join(cdir, 'ca.crt'),
      caData: '',
      adminCertFile: path.join(cdir, 'admin.crt'),
      adminKeyFile: path.join(cdir, 'admin.key'),
      role: name === CONTROL_PLANE ? 'control-plane' : 'data-plane',
      logFile: path.join(dir, 'logs', `kube-apiserver-${name}.log`),
      controllerManagerLogFile: path.join(dir, 'logs', `kube-controller-manager-${name}.log`),
      etcdPrefix: `/registry-${name}`,
      serviceAccountIssuer: `https://${name}.credsync.local`,
    };
  });
  const env: EnvInfo = {
    version: 1,
    dir,
    kubeconfig: path.join(dir, 'kubeconfig'),
    controlPlane: CONTROL_PLANE,
    dataPlanes,
    clusters,
    etcd: { endpoint: `http://127.0.0.1:${etcdClient}` },
    aws: { endpoint: `http://127.0.0.1:${motoPort}`, region: 'us-east-1', accessKeyId: 'testing', secretAccessKey: 'testing' },
    gcp: { secretManagerEndpoint: `127.0.0.1:${gcpPort}`, project: GCP_PROJECT },
    eks: {
      webhook: `http://127.0.0.1:${webhookPort}`,
      clusterNames: Object.fromEntries(dataPlanes.map((dp) => [dp, `credsync-${dp}`])),
      mappedArn: MOTO_DEFAULT_CALLER_ARN,
      crossAccountRoleArn: CROSS_ACCOUNT_ROLE_ARN,
      username: `eks:${MOTO_DEFAULT_CALLER_ARN}`,
      group: EKS_GROUP,
      keyStore: path.join(dir, 'eks-webhook', 'keys.json'),
      logFile: path.join(dir, 'logs', 'eks-webhook.log'),
    },
    gke: {
      server: `http://127.0.0.1:${gkePort}`,
      tokenEndpoint: `http://127.0.0.1:${gkePort}/token`,
      googleTokenUrl: GOOGLE_TOKEN_URL,
      scope: CLOUD_PLATFORM_SCOPE,
      keyFile: path.join(dir, 'gcp-sa-key.json'),
      clientEmail: `${GKE_SERVICE_ACCOUNT}@${GCP_PROJECT}.iam.gserviceaccount.com`,
      tokenLifetimeSeconds: 3600,
      username: `gke:${GKE_SERVICE_ACCOUNT}@${GCP_PROJECT}.iam.gserviceaccount.com`,
      group: EKS_GROUP,
      shortLived: {
        keyFile: path.join(dir, 'gcp-sa-key-short-lived.json'),
        clientEmail: `${GKE_SERVICE_ACCOUNT}-short@${GCP_PROJECT}.iam.gserviceaccount.com`,
        tokenLifetimeSeconds: GKE_SHORT_TOKEN_SECONDS,
        username: `gke:${GKE_SERVICE_ACCOUNT}-short@${GCP_PROJECT}.iam.gserviceaccount.com`,
      },
      project: GCP_PROJECT,
      location: 'europe-west1',
      clusterNames: Object.fromEntries(dataPlanes.map((dp) => [dp, `credsync-${dp}`])),
      logFile: path.join(dir, 'logs', 'gke-auth.log'),
    },
    flyteadmin: {
      insecureEndpoint: `127.0.0.1:${faInsecure}`,
      endpoint: `127.0.0.1:${faSecure}`,
      caFile: path.join(dir, 'flyteadmin', 'ca.crt'),
      tokenEndpoint: `https://127.0.0.1:${faToken}/oauth2/token`,
      clientId: FLYTEADMIN_CLIENT_ID,
      clientSecretFile: path.join(dir, 'flyteadmin', 'client-secret'),
      projects: ['flytesnacks'],
      logFile: path.join(dir, 'logs', 'flyteadmin.log'),
    },
    rollouts: {
      nodes: [...KWOK_NODES],
      kwokServer: `http://127.0.0.1:${kwokPort}`,
      kwokLogFile: path.join(dir, 'logs', 'kwok.log'),
      schedulerLogFile: path.join(dir, 'logs', 'kube-scheduler.log'),
    },
    binaries,
    startedAt: new Date().toISOString(),
  };

  // etcd first (the API servers need it); certificates meanwhile.
  const etcd = await launcher.start('etcd', binaries.etcd, [
    '--name', 'testenv',
    '--data-dir', path.join(dir, 'etcd'),
    '--listen-client-urls', env.etcd.endpoint,
    '--advertise-client-urls', env.etcd.endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster', `testenv=http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster-state', 'new',
    '--unsafe-no-fsync',
    '--log-level', 'warn',
  ]);
  const moto = await launcher.start('moto', binaries.motoServer, ['-H', '127.0.0.1', '-p', String(motoPort)]);
  const gcpsm = await launcher.start('gcpsm', binaries.gcpsm, ['-listen', env.gcp.secretManagerEndpoint]);
  const [webhook, gkeAuth, flyteadmin] = await Promise.all([
    startEksWebhookProcess(dir, env, launcher),
    startGkeAuthProcess(dir, env, launcher),
    startFlyteAdminProcess(dir, env, launcher),
  ]);

  await Promise.all(names.map((n) => makeClusterPki(path.join(dir, n), n)));
  for (const c of Object.values(clusters)) c.caData = (await fs.readFile(c.caFile)).toString('base64');
  await fs.writeFile(
    env.kubeconfig,
    kubeconfigYaml(
      names.map((n) => ({ name: n, server: clusters[n]!.server, caFile: clusters[n]!.caFile, certFile: clusters[n]!.adminCertFile, keyFile: clusters[n]!.adminKeyFile })),
      CONTROL_PLANE,
    ),
    { mode: 0o600 },
  );
  await waitUntil(etcd, `etcd on ${env.etcd.endpoint}`, async () => (await httpStatus(`${env.etcd.endpoint}/health`)) === 200, 30_000, log);

  const apiservers = new Map<string, Running>();
  for (const n of names) {
    const c = clusters[n]!;
    const cdir = path.join(dir, n);
    const port = new URL(c.server).port;
    // Data planes also take EKS tokens, through the webhook (after the built-in authenticators:
    // client certificates and ServiceAccount tokens are unaffected).
    const eksAuthn: string[] = [];
    if (c.role === 'data-plane') {
      const webhookKubeconfig = path.join(cdir, 'eks-webhook.kubeconfig');
      await fs.writeFile(webhookKubeconfig, webhookKubeconfigYaml(`${env.eks.webhook}/authenticate/${env.eks.clusterNames[n]}`), { mode: 0o600 });
      eksAuthn.push(
        `--authentication-token-webhook-config-file=${webhookKubeconfig}`,
        '--authentication-token-webhook-version=v1',
        '--authentication-token-webhook-cache-ttl=10s',
      );
    }
    apiservers.set(
      n,
      await launcher.start(`kube-apiserver-${n}`, binaries.kubeApiserver, [
        `--etcd-servers=${env.etcd.endpoint}`,
        `--etcd-prefix=${c.etcdPrefix}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        '--advertise-address=127.0.0.1',
        `--cert-dir=${cdir}`,
        `--tls-cert-file=${path.join(cdir, 'apiserver.crt')}`,
        `--tls-private-key-file=${path.join(cdir, 'apiserver.key')}`,
        `--client-ca-file=${c.caFile}`,
        '--authorization-mode=RBAC',
        `--service-account-issuer=${c.serviceAccountIssuer}`,
        `--service-account-key-file=${path.join(cdir, 'sa.pub')}`,
        `--service-account-signing-key-file=${path.join(cdir, 'sa.key')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        // No kubelet, no other API server replicas: the `kubernetes` Service endpoints (which may
        // not be loopback anyway) and priority-and-fairness are not needed.
        '--endpoint-reconciler-type=none',
        '--enable-priority-and-fairness=false',
        '--profiling=false',
        ...eksAuthn,
      ]),
    );
  }
  await Promise.all([
    ...names.map((n) =>
      waitUntil(apiservers.get(n)!, `kube-apiserver ${n} on :${new URL(clusters[n]!.server).port}`, () => apiserverReady(clusters[n]!), 120_000, log),
    ),
    waitUntil(moto, `moto on :${motoPort}`, async () => (await httpStatus(`${env.aws.endpoint}/moto-api/`)) > 0, 60_000, log),
    waitUntil(gcpsm, `GCP Secret Manager emulator on :${gcpPort}`, () => tcpOpen('127.0.0.1', gcpPort!), 30_000, log),
    waitUntil(webhook, `EKS webhook on :${webhookPort}`, async () => (await httpStatus(`${env.eks.webhook}/healthz`)) === 200, 30_000, log),
    waitUntil(gkeAuth, `GKE auth stand-in on :${gkePort}`, async () => (await httpStatus(`${env.gke.server}/healthz`)) === 200, 30_000, log),
    waitUntil(
      flyteadmin,
      `FlyteAdmin stand-in on :${faInsecure}, :${faSecure}, :${faToken}`,
      async () => (await Promise.all([faInsecure, faSecure, faToken].map((p) => tcpOpen('127.0.0.1', p!)))).every(Boolean),
      60_000,
      log,
    ),
  ]);
  log(`API servers ready after ${formatSeconds(Date.now() - tStart)}`);

  // Controller managers (their RBAC first), then the Flyte objects.
  await Promise.all(names.map((n) => seedControllerManagerRbac(adminKubeConfig(env, n), n)));
  const kcms = new Map<string, Running>();
  for (const n of names) {
    const c = clusters[n]!;
    const cdir = path.join(dir, n);
    const kubeconfig = path.join(cdir, 'kcm.kubeconfig');
    await fs.writeFile(
      kubeconfig,
      kubeconfigYaml([{ name: n, server: c.server, caFile: c.caFile, certFile: path.join(cdir, 'kcm.crt'), keyFile: path.join(cdir, 'kcm.key') }], n),
      { mode: 0o600 },
    );
    kcms.set(
      n,
      await launcher.start(`kube-controller-manager-${n}`, binaries.kubeControllerManager, [
        `--kubeconfig=${kubeconfig}`,
        `--controllers=${[...CONTROLLERS, ...(c.role === 'control-plane' ? ROLLOUT_CONTROLLERS : [])].join(',')}`,
        `--service-account-private-key-file=${path.join(cdir, 'sa.key')}`,
        `--root-ca-file=${c.caFile}`,
        '--use-service-account-credentials=false',
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=0',
      ]),
    );
  }
  const rollouts = await startRollouts(dir, env, binaries, launcher, log);
  const lastDp = dataPlanes[dataPlanes.length - 1];
  await Promise.all(
    names.map(async (n) => {
      const kc = adminKubeConfig(env, n);
      const tokenSecret = clusters[n]!.role === 'data-plane' && n !== lastDp;
      if (clusters[n]!.role === 'control-plane') await seedControlPlane(kc, n);
      else await seedDataPlane(kc, n, { tokenSecret });
      const kcm = kcms.get(n)!;
      // On the control plane the Deployments must roll out: that needs the scheduler and KWOK too.
      const procs = [kcm, ...(clusters[n]!.role === 'control-plane' ? rollouts : [])];
      const gone = () => procs.find((p) => p.exit || !isProcessAlive(p.rec));
      try {
        await waitForControllers(kc, n, {
          tokenSecret,
          rollouts: clusters[n]!.role === 'control-plane',
          timeoutMs: 90_000,
          exited: () => {
            const p = gone();
            return p ? `${p.rec.name} ${p.exit ?? 'is gone'}` : undefined;
          },
        });
      } catch (err) {
        const logs = await Promise.all(procs.map(async (p) => `last 40 lines of ${p.rec.logFile}:\n${await tailFile(p.rec.logFile)}`));
        throw new Error(`${(err as Error).message}; ${logs.join('\n')}`);
      }
    }),
  );

  await fs.writeFile(envFile(dir), JSON.stringify(env, null, 2) + '\n');
  log(`test environment up in ${formatSeconds(Date.now() - tStart)} (total ${formatSeconds(Date.now() - t0)} including checks/builds)`);
  return env;
}

/** What every cluster's kube-controller-manager runs. */
const CONTROLLERS = ['serviceaccount-token-controller', 'serviceaccount-controller', 'namespace-controller', 'garbage-collector-controller'];
/**
 * What the control plane's adds so Deployments roll out: node-lifecycle removes the not-ready taint
 * that admission puts on every new Node once KWOK reports it Ready (and would taint it again if
 * KWOK stopped renewing its Lease).
 */
const ROLLOUT_CONTROLLERS = ['deployment-controller', 'replicaset-controller', 'node-lifecycle-controller'];

/**
 * kube-scheduler (its own identity, system:kube-scheduler) and KWOK (admin identity; manages the
 * nodes annotated kwok.x-k8s.io/node=fake with the stages copied from its module) on the control
 * plane. The nodes themselves are seeded by seedControlPlane.
 */
async function startRollouts(dir: string, env: EnvInfo, binaries: Binaries, launcher: Launcher, log: Log): Promise<Running[]> {
  const c = env.clusters[env.controlPlane]!;
  const cdir = path.join(dir, c.name);
  const schedKubeconfig = path.join(cdir, 'scheduler.kubeconfig');
  const kwokKubeconfig = path.join(cdir, 'kwok.kubeconfig');
  await fs.writeFile(schedKubeconfig, kubeconfigYaml([{ name: c.name, server: c.server, caFile: c.caFile, certFile: path.join(cdir, 'scheduler.crt'), keyFile: path.join(cdir, 'scheduler.key') }], c.name), { mode: 0o600 });
  await fs.writeFile(kwokKubeconfig, kubeconfigYaml([{ name: c.name, server: c.server, caFile: c.caFile, certFile: c.adminCertFile, keyFile: c.adminKeyFile }], c.name), { mode: 0o600 });
  const scheduler = await launcher.start('kube-scheduler', binaries.kubeScheduler, [
    `--kubeconfig=${schedKubeconfig}`,
    '--leader-elect=false',
    // No serving at all (and so no delegated authentication to look up).
    '--secure-port=0',
  ]);
  const kwok = await launcher.start('kwok', binaries.kwok, [
    `--kubeconfig=${kwokKubeconfig}`,
    `--config=${binaries.kwokStages}`,
    '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
    `--server-address=${new URL(env.rollouts.kwokServer).host}`,
    '--node-ip=127.0.0.1',
    '--node-lease-duration-seconds=40',
  ]);
  await waitUntil(kwok, `KWOK on ${env.rollouts.kwokServer}`, async () => (await httpStatus(`${env.rollouts.kwokServer}/healthz`)) === 200, 60_000, log);
  return [scheduler, kwok];
}

/** Human-readable summary of where everything listens. */
export function describeEnv(env: EnvInfo): string {
  const lines = [`state dir:   ${env.dir}`, `env.json:    ${envFile(env.dir)}`, `kubeconfig:  ${env.kubeconfig}  (contexts: ${Object.keys(env.clusters).join(', ')})`];
  for (const c of Object.values(env.clusters)) lines.push(`  ${c.name.padEnd(8)} ${c.role.padEnd(14)} ${c.server}   log ${c.logFile}`);
  lines.push(`etcd:        ${env.etcd.endpoint}`);
  lines.push(`AWS (moto):  ${env.aws.endpoint}  region ${env.aws.region}, access key id "${env.aws.accessKeyId}"`);
  lines.push(`GCP SM:      ${env.gcp.secretManagerEndpoint} (gRPC, plaintext)  project ${env.gcp.project}`);
  if (env.eks)
    lines.push(
      `EKS authn:   ${env.eks.webhook} (TokenReview webhook of ${Object.entries(env.eks.clusterNames).map(([dp, n]) => `${dp}=${n}`).join(', ')}; ` +
        `${env.eks.mappedArn} -> group ${env.eks.group})  log ${env.eks.logFile}`,
    );
  if (env.gke)
    lines.push(
      `GKE authn:   ${env.gke.server} (token endpoint ${env.gke.tokenEndpoint}; keys ${env.gke.keyFile}, ${env.gke.shortLived.keyFile}; ` +
        `${env.gke.clientEmail} -> group ${env.gke.group}; review of ya29. tokens via the EKS webhook)  log ${env.gke.logFile}`,
    );
  if (env.flyteadmin)
    lines.push(
      `FlyteAdmin:  stand-in (not FlyteAdmin), gRPC ${env.flyteadmin.insecureEndpoint} (plaintext, no auth) and ${env.flyteadmin.endpoint} ` +
        `(TLS, CA ${env.flyteadmin.caFile}; OAuth2 client ${env.flyteadmin.clientId} at ${env.flyteadmin.tokenEndpoint})  log ${env.flyteadmin.logFile}`,
    );
  if (env.rollouts)
    lines.push(`rollouts:    kube-scheduler + KWOK ${env.rollouts.kwokServer} on ${env.controlPlane}, nodes ${env.rollouts.nodes.join(', ')}`);
  lines.push(`logs:        ${path.join(env.dir, 'logs')}`);
  return lines.join('\n');
}
