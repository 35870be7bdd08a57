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
 *
 * This file is the environment's front door (up, down, status, a server's signal or restart); the
 * rest is one file per concern: ./info.ts (EnvInfo and shared constants), ./processes.ts (the
 * process table and the launcher), ./probes.ts, ./pki.ts, ./kubeconfig.ts, ./standins.ts (EKS, GKE
 * and FlyteAdmin stand-ins) and ./launch.ts (starting every server of one environment).
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import { ensureBinaries } from './build.ts';
import { DEFAULT_STATE_DIR, defaultLog, envFile, pidsFile, sleep, stateDir, type DirOptions, type EnvInfo, type UpOptions } from './info.ts';
import { start } from './launch.ts';
import { apiserverReady, freePorts, httpStatus, tcpOpen } from './probes.ts';
import { Launcher, isProcessAlive, procStat, readProcessRecords, stopProcesses, type PidsFile, type ProcessRecord } from './processes.ts';
import { adminKubeConfig } from './kubeconfig.ts';

// The environment's parts, for its users (tests, benchmarks, the testenv CLI).
export { REPO_ROOT, DEFAULT_STATE_DIR, CONTROL_PLANE, FLYTEADMIN_CLIENT_ID, MOTO_DEFAULT_CALLER_ARN, EKS_GROUP, CROSS_ACCOUNT_ROLE_ARN, GKE_SHORT_TOKEN_SECONDS, type ClusterRole, type ClusterInfo, type EksInfo, type GkeServiceAccountInfo, type GkeInfo, type FlyteAdminInfo, type RolloutsInfo, type EnvInfo, type UpOptions, type DirOptions } from './info.ts';
export { type ProcessRecord, isProcessAlive, readProcessRecords } from './processes.ts';
export { freePorts } from './probes.ts';
export { adminKubeConfig } from './kubeconfig.ts';


/**
 * A server found its port taken: between choosing a free port and binding it, another process
 * (another environment starting, or any outgoing connection, whose local port comes from the
 * same ephemeral range) took it. etcd and kube-apiserver say `bind: address already in use`,
 * Node `EADDRINUSE`, moto `Address already in use`.
 */
const PORT_TAKEN = /EADDRINUSE|address already in use/i;

/** Starts tried when a port was taken (each on new ports). */
const START_ATTEMPTS = 3;

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

/**
 * Restarts a cluster's API server after a test killed it, then what talks to it: its
 * kube-controller-manager (and on the control plane the scheduler and KWOK), as a real cluster's
 * do when they lose their leader lease with the API server and are restarted. Left running, they
 * come back on their own only after their informers' reconnect backoff (measured: the token
 * controller filled a new token Secret 54 and 63 s after the API server served again; restarted,
 * within a second). Waits until the API server is ready and the controllers work again (a new
 * namespace gets its `default` ServiceAccount).
 * @throws when a server does not come back within `timeoutMs` (default 180 s)
 */
export async function restartApiServer(cluster: string, opts: DirOptions & { timeoutMs?: number } = {}): Promise<void> {
  const dir = stateDir(opts.dir);
  const env = JSON.parse(await fs.readFile(envFile(dir), 'utf8')) as EnvInfo;
  const info = env.clusters[cluster];
  if (!info) throw new Error(`no cluster named ${cluster} in ${dir}`);
  const until = Date.now() + (opts.timeoutMs ?? 180_000);
  const waitFor = async (what: string, probe: () => Promise<boolean>) => {
    while (!(await probe().catch(() => false))) {
      if (Date.now() > until) throw new Error(`${cluster}: ${what} within ${(opts.timeoutMs ?? 180_000) / 1000} s of its API server's restart`);
      await sleep(250);
    }
  };
  await restartServer(`kube-apiserver-${cluster}`, { dir });
  await waitFor('the API server was not ready', () => apiserverReady(info));
  const dependants = [`kube-controller-manager-${cluster}`, ...(info.role === 'control-plane' ? ['kube-scheduler', 'kwok'] : [])];
  const recs = (await readProcessRecords(dir)).filter((p) => dependants.includes(p.name));
  await stopProcesses(recs, opts.log ?? (() => undefined));
  for (const r of recs) await restartServer(r.name, { dir });
  const core = adminKubeConfig(env, cluster).makeApiClient(CoreV1Api);
  const probe = `credsync-restart-probe-${Date.now().toString(36)}`;
  await waitFor('could not create a namespace', () => core.createNamespace({ body: { metadata: { name: probe } } }).then(() => true));
  await waitFor('kube-controller-manager did not work again', () => core.readNamespacedServiceAccount({ name: 'default', namespace: probe }).then(() => true));
  await core.deleteNamespace({ name: probe }).catch(() => undefined);
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
