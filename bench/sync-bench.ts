/**
 * Benchmark (not a timed test): credsync against N data planes of the local test environment, and
 * the published guide's manual steps (kubectl + the AWS API) against the same servers.
 *
 *   npm run bench -- [--sizes 1,10,50] [--runs 5] [--manual-runs R] [--concurrency C]
 *                    [--skip-manual] [--skip-invocation] [--json FILE]
 *
 * Data plane k (ids b1..bN) lives on cluster dp((k-1) % D + 1) in its own namespace `bench-k`
 * (ServiceAccount flyteadmin, a ClusterRoleBinding to the chart's flyteadmin ClusterRole, a filled
 * token Secret flyteadmin-token); set-up is idempotent, so reruns skip it.
 *
 * For each N, R times: reset the control plane, sync with a fresh store prefix ("first sync"),
 * then sync again unchanged ("no-op re-sync", which must write nothing: the script exits 1 if it
 * does). API calls are counted at the ports (each DataPlaneApi/ControlPlaneApi call and each
 * verification review as the HTTP request the transport sent: lib/kube/http2.ts requestsSent) and,
 * for the store, as real HTTP requests of the SecretsManagerClient. The manual baseline is timed
 * the same way (median of its runs).
 *
 * Each sync starts with no open connection (the pooled HTTP/2 sessions are closed first, as in a
 * new function instance) and counts the TLS handshakes it makes. Its critical-path bound is what
 * no amount of concurrency could beat: the store's batch read, plus the slowest data plane's own
 * calls (the union of their measured spans: sequential calls add up, concurrent ones count once),
 * plus the control-plane phase.
 *
 * "One invocation" runs the bundled CLI (dist/credsync.mjs, built like the functions) in a new
 * process for a first sync and a no-op re-sync of each size, and reports its wall time and peak RSS;
 * and the same with the packaged scheduled Lambda function (the handler from the unzipped
 * `.serverless/scheduled.zip`, when `npx serverless package` has made it), as the runtime loads it.
 *
 * Uses the running environment (.testenv/); starts one if none runs, and stops only that one.
 * Tokens are never printed.
 */
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { ApiException, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { parseConfig } from '../lib/config/load.ts';
import type { Config } from '../lib/config/schema.ts';
import type { ControlPlaneApi, DataPlaneApi } from '../lib/kube/ports.ts';
import type { SecretStore } from '../lib/stores/types.ts';
import { runSync, type SyncDeps, type SyncReport } from '../lib/sync/sync.ts';
import { buildDeps } from '../lib/runtime/wiring.ts';
import { closeAllSessions, requestsSent, tlsHandshakes } from '../lib/kube/http2.ts';
import { spawnSync } from 'node:child_process';
import { mapBounded, silentLog } from '../lib/util/log.ts';
import { ensureKubectl } from '../test/env/build.ts';
import {
  ADMIN_CLUSTERS_CONFIGMAP,
  CLUSTERRESOURCESYNC_CONFIGMAP,
  CONTROL_PLANE_DEPLOYMENTS,
  FLYTE_NAMESPACE,
  FLYTEADMIN_CLUSTER_ROLE,
  FLYTEADMIN_SA,
  TOKEN_SECRET,
} from '../test/env/seed.ts';
import { adminKubeConfig, down, readEnv, up, type EnvInfo } from '../test/env/testenv.ts';
import { awsClient, exportAwsEnv, resetControlPlane } from '../test/integration/helpers.ts';

const execFileP = promisify(execFile);
const USAGE =
  'usage: npm run bench -- [--sizes 1,10,50] [--runs 5] [--manual-runs R] [--concurrency C] [--skip-manual] [--skip-invocation] [--lambda-heap-mb MB] [--json FILE] [--dir STATE_DIR]';
const log = (line: string) => console.error(line);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Statistics

export interface Stat {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median: Math.round(median), min: Math.round(s[0]!), max: Math.round(s[s.length - 1]!), runs: xs.map((x) => Math.round(x)) };
}

// ---------------------------------------------------------------------------------------------
// Counting API calls

const DATA_PLANE_WRITES = new Set(['createTokenSecret']);
const CONTROL_PLANE_WRITES = new Set(['createSecret', 'replaceSecret', 'replaceConfigMap', 'restartDeployment', 'createLease', 'replaceLease', 'createEvent']);
const isAwsRead = (command: string) => /^(Describe|Get|List|BatchGet)/.test(command);

interface Counts {
  /** DataPlaneApi method -> calls (each one HTTP request). */
  dataPlane: Record<string, number>;
  /** SelfSubjectReview / SelfSubjectAccessReview requests sent (creates that persist nothing: counted as reads). */
  verify: Record<string, number>;
  /** SecretStore port: get, put, and puts that wrote (outcome != unchanged, not a dry run). */
  store: { get: number; put: number; writes: number };
  /** AWS commands sent (SecretsManagerClient.send), by command name. */
  aws: Record<string, number>;
  /** Real HTTP requests of the SecretsManagerClient (retries included). */
  awsHttp: number;
  /** ControlPlaneApi method -> calls (each one HTTP request). */
  controlPlane: Record<string, number>;
  /** Summed latency per target (ms; concurrent calls overlap, so these exceed wall time). */
  busyMs: { dataPlane: number; verify: number; store: number; controlPlane: number };
  /** ms from the start of the sync to its first control-plane call (read/verify/store phase). */
  dataPlanePhaseMs?: number;
  /**
   * Per data plane: the time spans of its own calls (reads, verification, store put). Its chain is
   * the length of their union: calls it makes one after another add up, calls it has in flight at
   * once (the no-op's access reviews asked while its Secret is read) count once.
   */
  chainSpans: Map<string, Array<[number, number]>>;
  /** The store's batch read (ms), and whether it fell back to one read per entry. */
  batchMs: number;
  batchFallback: boolean;
}

const newCounts = (): Counts => ({
  dataPlane: {},
  verify: {},
  store: { get: 0, put: 0, writes: 0 },
  aws: {},
  awsHttp: 0,
  controlPlane: {},
  busyMs: { dataPlane: 0, verify: 0, store: 0, controlPlane: 0 },
  chainSpans: new Map(),
  batchMs: 0,
  batchFallback: false,
});

export const bump = (m: Record<string, number>, k: string, by = 1) => {
  m[k] = (m[k] ?? 0) + by;
};
const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);

interface CallSummary {
  /** HTTP requests in total, and split. */
  total: number;
  reads: number;
  writes: number;
  kube: { dataPlane: number; verify: number; controlPlane: number };
  awsHttp: number;
  storeWrites: number;
  detail: Omit<Counts, 'busyMs' | 'dataPlanePhaseMs' | 'chainSpans' | 'batchMs' | 'batchFallback'>;
}

function summarize(c: Counts): CallSummary {
  const dpWrites = Object.entries(c.dataPlane).reduce((a, [k, v]) => a + (DATA_PLANE_WRITES.has(k) ? v : 0), 0);
  const cpWrites = Object.entries(c.controlPlane).reduce((a, [k, v]) => a + (CONTROL_PLANE_WRITES.has(k) ? v : 0), 0);
  const awsWrites = Object.entries(c.aws).reduce((a, [k, v]) => a + (isAwsRead(k) ? 0 : v), 0);
  const kube = { dataPlane: sum(c.dataPlane), verify: sum(c.verify), controlPlane: sum(c.controlPlane) };
  const total = kube.dataPlane + kube.verify + kube.controlPlane + c.awsHttp;
  const writes = dpWrites + cpWrites + awsWrites;
  return {
    total,
    reads: total - writes,
    writes,
    kube,
    awsHttp: c.awsHttp,
    storeWrites: c.store.writes,
    detail: { dataPlane: c.dataPlane, verify: c.verify, store: c.store, aws: c.aws, awsHttp: c.awsHttp, controlPlane: c.controlPlane },
  };
}

/** Every method call on the target is tallied by name (and timed) before it runs. */
export function countingProxy<T extends object>(target: T, tally: Record<string, number>, busy: (ms: number) => void): T {
  return new Proxy(target, {
    get(t, prop) {
      const v: unknown = Reflect.get(t, prop, t);
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        bump(tally, String(prop));
        const t0 = performance.now();
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(t, args);
        } finally {
          busy(performance.now() - t0);
        }
      };
    },
  });
}

/** A SecretsManagerClient of the env whose commands and HTTP requests are counted. */
export function countingSecretsManager(env: EnvInfo, c: Pick<Counts, 'aws' | 'awsHttp'>): SecretsManagerClient {
  const client = awsClient(env);
  const send = client.send.bind(client) as (cmd: unknown, ...rest: unknown[]) => Promise<unknown>;
  (client as unknown as { send: typeof send }).send = (cmd, ...rest) => {
    bump(c.aws, (cmd as object).constructor.name.replace(/Command$/, ''));
    return send(cmd, ...rest);
  };
  // The deserialize step runs below the retry middleware (finalizeRequest): once per HTTP attempt.
  client.middlewareStack.add(
    (next) => async (args) => {
      c.awsHttp++;
      return next(args);
    },
    { step: 'deserialize', name: 'credsyncBenchHttpCounter' },
  );
  return client;
}

/** The total length of time spans, overlapping ones counted once (ms). */
export function unionMs(spans: ReadonlyArray<readonly [number, number]>): number {
  let total = 0;
  let end = -Infinity;
  for (const [s, e] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (e <= end) continue;
    total += e - Math.max(s, end);
    end = e;
  }
  return total;
}

/** The real wiring (buildDeps), with every port counted and each data plane's chain timed. */
function countedDeps(cfg: Config, env: EnvInfo, c: Counts, t0: () => number): SyncDeps {
  const deps = buildDeps(cfg, silentLog, { secretsManager: countingSecretsManager(env, c) });
  const chain = (id: string, ms: number) => {
    const end = performance.now();
    const spans = c.chainSpans.get(id) ?? [];
    spans.push([end - ms, end]);
    c.chainSpans.set(id, spans);
  };
  const timed = async <T>(key: keyof Counts['busyMs'], fn: () => Promise<T>, id?: string): Promise<T> => {
    const s = performance.now();
    try {
      return await fn();
    } finally {
      const ms = performance.now() - s;
      c.busyMs[key] += ms;
      if (id !== undefined) chain(id, ms);
    }
  };
  const counted = (store: SecretStore): SecretStore => ({
    kind: store.kind,
    entryName: (id) => store.entryName(id),
    get: (id) => {
      c.store.get++;
      return timed('store', () => store.get(id));
    },
    put: async (record, opts) => {
      c.store.put++;
      const r = await timed('store', () => store.put(record, opts), record.clusterId);
      if (r.outcome !== 'unchanged' && !opts?.dryRun) c.store.writes++;
      return r;
    },
    ...(store.batch
      ? {
          batch: async (ids: readonly string[], onFallback?: (err: unknown) => void) => {
            const s = performance.now();
            const view = await store.batch!(ids, (err) => {
              c.batchFallback = true;
              onFallback?.(err);
            });
            c.batchMs += performance.now() - s;
            return counted(view);
          },
        }
      : {}),
  });
  return {
    ...deps,
    dataPlane: async (dp) => countingProxy<DataPlaneApi>(await deps.dataPlane(dp), c.dataPlane, (ms) => ((c.busyMs.dataPlane += ms), chain(dp.id, ms))),
    controlPlane: async () => {
      c.dataPlanePhaseMs ??= performance.now() - t0();
      return countingProxy<ControlPlaneApi>(await deps.controlPlane(), c.controlPlane, (ms) => (c.busyMs.controlPlane += ms));
    },
    // The reviews are counted as the HTTP requests the transport sent (timedSync): a verification
    // asks the SelfSubjectReview only when the identity is not proven already.
    verify: (req) => timed('verify', () => deps.verify(req), req.cluster),
    store: counted(deps.store),
  };
}

// ---------------------------------------------------------------------------------------------
// Data planes b1..bN

export const clusterOf = (env: EnvInfo, k: number) => env.dataPlanes[(k - 1) % env.dataPlanes.length]!;
export const namespaceOf = (k: number) => `bench-${k}`;
const idOf = (k: number) => `b${k}`;
export const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

export async function ignoreConflict(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (err) {
    if (err instanceof ApiException && err.code === 409) return false;
    throw err;
  }
}

/** Namespace, ServiceAccount, ClusterRoleBinding and filled token Secret for b1..bN (409 = there). */
export async function setUpDataPlanes(env: EnvInfo, n: number): Promise<{ created: number; fillWaitMs: number[] }> {
  const fillWaitMs: number[] = [];
  let created = 0;
  await mapBounded(range(n), 8, async (k) => {
    const kc = adminKubeConfig(env, clusterOf(env, k));
    const core = kc.makeApiClient(CoreV1Api);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const namespace = namespaceOf(k);
    const labels = { 'app.kubernetes.io/part-of': 'credsync-bench' };
    await ignoreConflict(core.createNamespace({ body: { metadata: { name: namespace, labels } } }));
    await ignoreConflict(core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: FLYTEADMIN_SA, namespace, labels } } }));
    await ignoreConflict(
      rbac.createClusterRoleBinding({
        body: {
          metadata: { name: `credsync-bench-${namespace}-flyteadmin`, labels },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: FLYTEADMIN_CLUSTER_ROLE },
          subjects: [{ kind: 'ServiceAccount', name: FLYTEADMIN_SA, namespace }],
        },
      }),
    );
    const t0 = performance.now();
    const isNew = await ignoreConflict(
      core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: TOKEN_SECRET, namespace, labels, annotations: { 'kubernetes.io/service-account.name': FLYTEADMIN_SA } },
          type: 'kubernetes.io/service-account-token',
        },
      }),
    );
    for (let i = 0; ; i++) {
      const s = await core.readNamespacedSecret({ name: TOKEN_SECRET, namespace });
      if (s.data?.['token'] && s.data['ca.crt']) break;
      if (i > 600) throw new Error(`token Secret ${namespace}/${TOKEN_SECRET} on ${clusterOf(env, k)} was never filled`);
      await sleep(50);
    }
    if (isNew) {
      created++;
      fillWaitMs.push(performance.now() - t0);
    }
  });
  return { created, fillWaitMs };
}

function benchConfig(env: EnvInfo, n: number, prefix: string, concurrency?: number): Config {
  return parseConfig(benchConfigInput(env, n, prefix, concurrency));
}

function benchConfigInput(env: EnvInfo, n: number, prefix: string, concurrency?: number): Record<string, unknown> {
  return {
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, defaultExecutionLabel: 'team1' },
    store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
    dataPlanes: range(n).map((k) => ({
      id: idOf(k),
      access: { type: 'kubeconfig', context: clusterOf(env, k), path: env.kubeconfig },
      namespace: namespaceOf(k),
      labels: { team1: 1 },
    })),
    tokenWaitSeconds: 60,
    ...(concurrency ? { concurrency } : {}),
  };
}

/** A sync by the bundled CLI in a new process: its wall time (spawn to exit) and peak RSS. */
function invokeCli(configFile: string): Invocation {
  const cli = path.resolve(import.meta.dirname, '../dist/credsync.mjs');
  const rss = "process.on('exit',()=>process.stderr.write('\\nCREDSYNC_BENCH_MAXRSS='+process.resourceUsage().maxRSS+'\\n'))";
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(rss)}`, cli, 'sync', '--config', configFile, '--json'], {
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 256 << 20,
  });
  const ms = performance.now() - t0;
  const m = /CREDSYNC_BENCH_MAXRSS=(\d+)/.exec(r.stderr ?? '');
  if (!m) throw new Error(`one invocation: no RSS reported (exit ${r.status}): ${(r.stderr ?? String(r.error)).slice(-500)}`);
  return { ms, peakRssMiB: Number(m[1]) / 1024, ok: r.status === 0 };
}

/**
 * A sync by the packaged scheduled Lambda function in a new process, as the Lambda runtime runs it:
 * the handler is loaded from the unzipped `.serverless/scheduled.zip` (`serverless package`) and
 * invoked with a schedule event and a context with 15 minutes left. Wall time is spawn to exit.
 */
function invokeLambda(dir: string, configFile: string, heapMb?: number): Invocation {
  const handler = readdirSync(path.join(dir, 'handlers')).find((f) => /^scheduled\.(c|m)?js$/.test(f));
  if (!handler) throw new Error(`one invocation: no scheduled handler in ${dir}/handlers`);
  const script =
    `const m = await import(${JSON.stringify(pathToFileURL(path.join(dir, 'handlers', handler)).href)});` +
    `const h = m.handler ?? m.default?.handler;` +
    `const r = await h({ id: 'bench', time: new Date().toISOString(), 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} }, { getRemainingTimeInMillis: () => 900000 });` +
    `process.stderr.write('\\nCREDSYNC_BENCH_MAXRSS=' + process.resourceUsage().maxRSS + '\\n');` +
    `process.stderr.write('CREDSYNC_BENCH_MEMORY=' + JSON.stringify(process.memoryUsage()) + '\\n');` +
    // Lambda freezes the process once the handler returns: exit there instead of waiting for idle
    // keep-alive sessions to close.
    `process.exit(r.ok ? 0 : 1);`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...(heapMb ? [`--max-old-space-size=${heapMb}`] : []), '--input-type=module', '-e', script], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 256 << 20,
    env: { ...process.env, CREDSYNC_CONFIG: configFile, POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' },
  });
  const ms = performance.now() - t0;
  const m = /CREDSYNC_BENCH_MAXRSS=(\d+)/.exec(r.stderr ?? '');
  if (!m) throw new Error(`one Lambda invocation: no RSS reported (exit ${r.status}): ${(r.stderr ?? String(r.error)).slice(-500)}`);
  const mem = /CREDSYNC_BENCH_MEMORY=(\{.*\})/.exec(r.stderr ?? '');
  if (mem) log(`  Lambda invocation memory at the end (bytes): ${mem[1]}`);
  return { ms, peakRssMiB: Number(m[1]) / 1024, ok: r.status === 0 };
}

/** Deletes the store entries a run created (untimed; keeps moto small across runs). */
async function deleteEntries(env: EnvInfo, names: string[]): Promise<void> {
  const sm = awsClient(env);
  await mapBounded(names, 8, (name) =>
    sm.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true })).catch(() => undefined),
  );
  sm.destroy();
}

// ---------------------------------------------------------------------------------------------
// credsync runs

interface SyncRun {
  ms: number;
  dataPlanePhaseMs: number;
  busyMs: Counts['busyMs'];
  calls: CallSummary;
  report: SyncReport;
  /** TLS handshakes this run made, and to how many API servers. */
  handshakes: number;
  servers: number;
  /** Critical-path bound (ms): batch read + slowest data plane's chain + control-plane phase. */
  boundMs: number;
  slowestChainMs: number;
  batchMs: number;
  batchFallback: boolean;
}

const totalHandshakes = () => Object.values(tlsHandshakes()).reduce((a, b) => a + b, 0);

async function timedSync(env: EnvInfo, cfg: Config): Promise<SyncRun> {
  const c = newCounts();
  let start = 0;
  const deps = countedDeps(cfg, env, c, () => start);
  closeAllSessions(); // as in a new function instance: no connection open yet
  const before = totalHandshakes();
  const sentBefore = requestsSent();
  start = performance.now();
  const report = await runSync(deps);
  const ms = performance.now() - start;
  const handshakes = totalHandshakes() - before;
  const sentAfter = requestsSent();
  for (const [name, key] of [['SelfSubjectReview', 'POST selfsubjectreviews'], ['SelfSubjectAccessReview', 'POST selfsubjectaccessreviews']] as const)
    bump(c.verify, name, (sentAfter[key] ?? 0) - (sentBefore[key] ?? 0));
  const servers = new Set([cfg.controlPlane.access, ...cfg.dataPlanes.map((d) => d.access)].map((a) => JSON.stringify(a.type === 'kubeconfig' ? a.context : a))).size;
  const dataPlanePhaseMs = c.dataPlanePhaseMs ?? ms;
  const slowestChainMs = Math.max(0, ...[...c.chainSpans.values()].map(unionMs));
  const boundMs = c.batchMs + slowestChainMs + (ms - dataPlanePhaseMs);
  return {
    ms,
    dataPlanePhaseMs,
    busyMs: c.busyMs,
    calls: summarize(c),
    report,
    handshakes,
    servers,
    boundMs,
    slowestChainMs,
    batchMs: c.batchMs,
    batchFallback: c.batchFallback,
  };
}

function failuresOf(r: SyncReport): string {
  const bad = r.clusters.filter((c) => c.status === 'failed').map((c) => `${c.id}: ${c.code} ${c.reason}`);
  if (r.controlPlaneError) bad.push(`control plane: ${r.controlPlaneError.code} ${r.controlPlaneError.reason}`);
  for (const f of r.controlPlane?.restartFailures ?? []) bad.push(`restart ${f.name}: ${f.reason}`);
  return bad.slice(0, 5).join('; ');
}

function checkFirst(n: number, run: SyncRun): void {
  const r = run.report;
  if (!r.ok) throw new Error(`first sync of ${n} data planes failed: ${failuresOf(r)}`);
  const notCreated = r.clusters.filter((c) => c.store !== 'created');
  if (notCreated.length) throw new Error(`first sync: ${notCreated.length} store entries not created (fresh prefix expected)`);
  if (r.controlPlane?.restarted.length !== CONTROL_PLANE_DEPLOYMENTS.length) throw new Error('first sync did not restart the control plane');
}

function checkNoop(n: number, run: SyncRun): string | undefined {
  const r = run.report;
  if (!r.ok) throw new Error(`no-op re-sync of ${n} data planes failed: ${failuresOf(r)}`);
  const problems: string[] = [];
  if (run.calls.writes !== 0) problems.push(`${run.calls.writes} write request(s): ${JSON.stringify(run.calls.detail)}`);
  if (run.calls.storeWrites !== 0) problems.push(`${run.calls.storeWrites} store put(s) wrote`);
  if (r.clusters.some((c) => c.status !== 'unchanged')) problems.push('clusters reported as updated');
  if (r.controlPlane?.applied || (r.controlPlane?.restarted.length ?? 0) > 0) problems.push('control plane applied or restarted');
  return problems.length ? `no-op re-sync of ${n} data planes was not a no-op: ${problems.join('; ')}` : undefined;
}

// ---------------------------------------------------------------------------------------------
// The manual baseline: the published guide's steps, scripted sequentially

interface ManualRun {
  ms: number;
  kubectlInvocations: number;
  awsCalls: number;
}

class Kubectl {
  invocations = 0;
  private readonly bin: string;
  private readonly kubeconfig: string;

  constructor(bin: string, kubeconfig: string) {
    this.bin = bin;
    this.kubeconfig = kubeconfig;
  }

  private args(context: string, args: string[]): string[] {
    return ['--kubeconfig', this.kubeconfig, '--context', context, ...args];
  }

  /** Runs kubectl; returns stdout (never put into errors: it may hold secrets). */
  async run(context: string, args: string[]): Promise<string> {
    this.invocations++;
    try {
      const { stdout } = await execFileP(this.bin, this.args(context, args), { maxBuffer: 64 << 20, encoding: 'utf8' });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; code?: unknown };
      throw new Error(`kubectl ${args.slice(0, 4).join(' ')} failed (exit ${String(e.code)}): ${(e.stderr ?? '').trim().slice(0, 500)}`);
    }
  }

  /** `kubectl A | kubectl B`, as a shell pipeline would run them (both at once). */
  pipe(context: string, a: string[], b: string[]): Promise<void> {
    this.invocations += 2;
    return new Promise((resolve, reject) => {
      const p1 = spawn(this.bin, this.args(context, a), { stdio: ['ignore', 'pipe', 'pipe'] });
      const p2 = spawn(this.bin, this.args(context, b), { stdio: ['pipe', 'ignore', 'pipe'] });
      const errs = ['', ''];
      p1.stderr.on('data', (d: Buffer) => (errs[0] += d.toString()));
      p2.stderr.on('data', (d: Buffer) => (errs[1] += d.toString()));
      p2.stdin.on('error', () => undefined);
      p1.stdout.pipe(p2.stdin);
      const codes: Array<number | null> = [];
      let pending = 2;
      const done = () => {
        if (--pending > 0) return;
        if (codes.every((c) => c === 0)) return resolve();
        reject(new Error(`kubectl ${a.slice(0, 3).join(' ')} | kubectl ${b.join(' ')} failed (exit ${codes.join(',')}): ${errs.join(' ').trim().slice(0, 500)}`));
      };
      for (const [i, p] of [p1, p2].entries()) {
        p.once('error', reject);
        p.once('close', (code) => {
          codes[i] = code;
          done();
        });
      }
    });
  }
}

/** What the guide puts into clusters.yaml (and what credsync renders for the same clusters). */
function manualClustersYaml(env: EnvInfo, n: number): string {
  return toYaml({
    clusters: {
      labelClusterMap: { team1: range(n).map((k) => ({ id: idOf(k), weight: 1 })) },
      clusterConfigs: range(n).map((k) => ({
        name: idOf(k),
        endpoint: env.clusters[clusterOf(env, k)]!.server,
        enabled: true,
        auth: { tokenPath: `/var/run/credentials/${idOf(k)}_token`, certPath: `/var/run/credentials/${idOf(k)}_cacert` },
      })),
      defaultExecutionLabel: 'team1',
    },
  });
}

async function manualRun(env: EnvInfo, kubectlBin: string, n: number, prefix: string): Promise<ManualRun> {
  const kubectl = new Kubectl(kubectlBin, env.kubeconfig);
  const sm = awsClient(env);
  let awsCalls = 0;
  const cp = env.controlPlane;
  const t0 = performance.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'credsync-bench-manual-')); // mode 0700
  try {
    const fromFiles: string[] = [];
    for (const k of range(n)) {
      const ctx = clusterOf(env, k);
      const get = (jsonpath: string) =>
        kubectl.run(ctx, ['-n', namespaceOf(k), 'get', 'secret', TOKEN_SECRET, '-o', `jsonpath=${jsonpath}`]);
      // ... | base64 -d
      const token = Buffer.from(await get('{.data.token}'), 'base64').toString('utf8');
      const caCert = Buffer.from(await get('{.data.ca\\.crt}'), 'base64').toString('utf8');
      if (!token || !caCert.startsWith('-----BEGIN')) throw new Error(`manual: ${namespaceOf(k)} on ${ctx}: empty token or CA`);
      awsCalls++;
      await sm.send(new CreateSecretCommand({ Name: prefix + idOf(k), SecretString: JSON.stringify({ token, caCert }) }));
      for (const [key, value] of [[`${idOf(k)}_token`, token], [`${idOf(k)}_cacert`, caCert]] as const) {
        const file = path.join(dir, key);
        await writeFile(file, value, { mode: 0o600 });
        fromFiles.push(`--from-file=${key}=${file}`);
      }
    }
    await kubectl.pipe(
      cp,
      ['create', 'secret', 'generic', 'cluster-credentials', '-n', FLYTE_NAMESPACE, ...fromFiles, '--dry-run=client', '-o', 'yaml'],
      // Server-side: a client-side apply keeps the whole Secret in an annotation, which Kubernetes
      // caps at 256 KiB, so the guide's plain `kubectl apply` fails from about 100 data planes on.
      ['apply', '--server-side', '--force-conflicts', '-f', '-'],
    );
    const clustersYaml = manualClustersYaml(env, n);
    const clustersFile = path.join(dir, 'clusters.yaml');
    await writeFile(clustersFile, clustersYaml, { mode: 0o600 });
    // flyte-admin-clusters-config has no other key: recreating it from the file is fine.
    await kubectl.pipe(
      cp,
      ['create', 'configmap', ADMIN_CLUSTERS_CONFIGMAP, '-n', FLYTE_NAMESPACE, `--from-file=clusters.yaml=${clustersFile}`, '--dry-run=client', '-o', 'yaml'],
      ['apply', '-f', '-'],
    );
    // flyte-clusterresourcesync-config has other keys that must stay: patch clusters.yaml only.
    await kubectl.run(cp, [
      'patch', 'configmap', CLUSTERRESOURCESYNC_CONFIGMAP, '-n', FLYTE_NAMESPACE, '--type', 'merge',
      '-p', JSON.stringify({ data: { 'clusters.yaml': clustersYaml } }),
    ]);
    await kubectl.run(cp, ['rollout', 'restart', 'deployment', ...CONTROL_PLANE_DEPLOYMENTS, '-n', FLYTE_NAMESPACE]);
  } finally {
    await rm(dir, { recursive: true, force: true });
    sm.destroy();
  }
  return { ms: performance.now() - t0, kubectlInvocations: kubectl.invocations, awsCalls };
}

/** Untimed: the manual run left what Flyte needs (and kept the other ConfigMap keys). */
async function checkManual(env: EnvInfo, n: number): Promise<void> {
  const core = adminKubeConfig(env, env.controlPlane).makeApiClient(CoreV1Api);
  const s = await core.readNamespacedSecret({ name: 'cluster-credentials', namespace: FLYTE_NAMESPACE });
  const keys = Object.keys(s.data ?? {}).length;
  if (keys !== 2 * n) throw new Error(`manual baseline: cluster-credentials has ${keys} keys, expected ${2 * n}`);
  const crs = await core.readNamespacedConfigMap({ name: CLUSTERRESOURCESYNC_CONFIGMAP, namespace: FLYTE_NAMESPACE });
  if (!crs.data?.['db.yaml'] || !crs.data['clusters.yaml']?.includes(`name: ${idOf(n)}`))
    throw new Error('manual baseline: flyte-clusterresourcesync-config lost a key or lacks the clusters');
}

// ---------------------------------------------------------------------------------------------
// Report

interface PathFigures {
  /** Critical-path bound per run (ms), and each run's time over its own bound. */
  boundMs: Stat;
  overBound: number[];
  /** TLS handshakes per run (max over the runs) and the API servers the run talked to. */
  handshakesMax: number;
  servers: number;
  batchFallback: boolean;
}

interface Invocation {
  ms: number;
  peakRssMiB: number;
  ok: boolean;
}

interface SizeResult {
  n: number;
  firstSync: Stat & PathFigures & { dataPlanePhaseMs: Stat; calls: CallSummary; callsVary: boolean; busyMs: Counts['busyMs'] };
  noopResync: Stat & PathFigures & { dataPlanePhaseMs: Stat; calls: CallSummary; callsVary: boolean; writes: number };
  manual?: Stat & { kubectlInvocations: number; awsCalls: number };
  /** manual median / credsync first-sync median. */
  ratio?: number;
  /** manual median / credsync no-op median. */
  noopRatio?: number;
  /** One invocation of the bundled CLI in a new process: first sync and no-op. */
  invocation?: { first: Invocation; noop: Invocation };
  /** The same through the packaged scheduled Lambda function (when .serverless/scheduled.zip exists). */
  lambdaInvocation?: { first: Invocation; noop: Invocation };
}

function pathFigures(runs: SyncRun[]): PathFigures {
  return {
    boundMs: stat(runs.map((r) => r.boundMs)),
    overBound: runs.map((r) => Math.round((r.ms / r.boundMs) * 100) / 100),
    handshakesMax: Math.max(...runs.map((r) => r.handshakes)),
    servers: runs[0]!.servers,
    batchFallback: runs.some((r) => r.batchFallback),
  };
}

const perCluster = (x: number, n: number) => (x / n).toFixed(n === 1 ? 0 : 1);
const msStat = (s: Stat) => `${s.median} (${s.min}–${s.max})`;

const median = (xs: number[]) => stat(xs.map((x) => x * 100)).median / 100;

function table(rows: SizeResult[]): string {
  const head = [
    'N',
    'first sync ms median (min–max)',
    'first: calls/cluster r/w',
    'no-op ms median (min–max)',
    'no-op: calls/cluster r/w',
    'no-op writes',
    'manual ms median (min–max)',
    'manual/first',
    'manual/no-op',
  ];
  const body = rows.map((r) => [
    String(r.n),
    msStat(r.firstSync),
    `${perCluster(r.firstSync.calls.reads, r.n)} / ${perCluster(r.firstSync.calls.writes, r.n)}`,
    msStat(r.noopResync),
    `${perCluster(r.noopResync.calls.reads, r.n)} / ${perCluster(r.noopResync.calls.writes, r.n)}`,
    String(r.noopResync.writes),
    r.manual ? `${msStat(r.manual)}${r.manual.runs.length !== r.firstSync.runs.length ? ` [${r.manual.runs.length} runs]` : ''}` : '–',
    r.ratio !== undefined ? `${r.ratio.toFixed(1)}×` : '–',
    r.noopRatio !== undefined ? `${r.noopRatio.toFixed(1)}×` : '–',
  ]);
  return markdownTable(head, body);
}

function pathTable(rows: SizeResult[]): string {
  const head = ['N', 'sync', 'ms median', 'critical-path bound ms median', 'sync / bound (median)', 'TLS handshakes per run (max) / API servers', 'batch read fell back'];
  const body: string[][] = [];
  for (const r of rows)
    for (const [name, s] of [['first', r.firstSync], ['no-op', r.noopResync]] as const)
      body.push([
        String(r.n),
        name,
        String(s.median),
        String(s.boundMs.median),
        `${median(s.overBound).toFixed(2)}×`,
        `${s.handshakesMax} / ${s.servers}`,
        s.batchFallback ? 'YES' : 'no',
      ]);
  return markdownTable(head, body);
}

function invocationTable(rows: SizeResult[]): string {
  const head = ['N', 'process', 'first sync: wall ms', 'first sync: peak RSS MiB', 'no-op: wall ms', 'no-op: peak RSS MiB'];
  const cell = (x: Invocation, v: number) => `${Math.round(v)}${x.ok ? '' : ' (FAILED)'}`;
  const body: string[][] = [];
  for (const r of rows)
    for (const [name, i] of [['CLI dist/credsync.mjs', r.invocation], ['Lambda scheduled (zip)', r.lambdaInvocation]] as const)
      if (i) body.push([String(r.n), name, cell(i.first, i.first.ms), cell(i.first, i.first.peakRssMiB), cell(i.noop, i.noop.ms), cell(i.noop, i.noop.peakRssMiB)]);
  return markdownTable(head, body);
}

function markdownTable(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

function callsTable(rows: SizeResult[]): string {
  const head = ['N', 'sync', 'total', 'data-plane GET', 'verify SSR+SSAR', 'AWS HTTP (by command)', 'control plane r/w', 'writes'];
  const body: string[][] = [];
  for (const r of rows) {
    for (const [name, s] of [['first', r.firstSync], ['no-op', r.noopResync]] as const) {
      const c = s.calls;
      const cpW = Object.entries(c.detail.controlPlane).reduce((a, [k, v]) => a + (CONTROL_PLANE_WRITES.has(k) ? v : 0), 0);
      body.push([
        String(r.n),
        name + (s.callsVary ? ' (varied)' : ''),
        String(c.total),
        String(c.kube.dataPlane),
        String(c.kube.verify),
        `${c.awsHttp} (${Object.entries(c.detail.aws).map(([k, v]) => `${k} ${v}`).join(', ')})`,
        `${c.kube.controlPlane - cpW}/${cpW}`,
        String(c.writes),
      ]);
    }
  }
  return markdownTable(head, body);
}

// ---------------------------------------------------------------------------------------------

interface Options {
  sizes: number[];
  runs: number;
  manualRuns?: number;
  concurrency?: number;
  skipManual: boolean;
  skipInvocation: boolean;
  /** V8's old-space cap (MiB) for the Lambda invocation, as a function of limited memory would run it. */
  lambdaHeapMb?: number;
  json?: string;
  /** State dir of the test environment to use (or start): a separate one keeps tests and benchmark apart. */
  dir?: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: 'string', default: '1,10,50' },
      runs: { type: 'string', default: '5' },
      'manual-runs': { type: 'string' },
      concurrency: { type: 'string' },
      'skip-manual': { type: 'boolean', default: false },
      'skip-invocation': { type: 'boolean', default: false },
      'lambda-heap-mb': { type: 'string' },
      json: { type: 'string' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (s: string, what: string, min: number) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v < min) throw new Error(`${what} must be an integer >= ${min} (got "${s}")`);
    return v;
  };
  return {
    sizes: values.sizes.split(',').map((s) => int(s.trim(), '--sizes', 1)),
    runs: int(values.runs, '--runs', 1),
    ...(values['manual-runs'] !== undefined ? { manualRuns: int(values['manual-runs'], '--manual-runs', 1) } : {}),
    ...(values.concurrency !== undefined ? { concurrency: int(values.concurrency, '--concurrency', 1) } : {}),
    skipManual: values['skip-manual'],
    skipInvocation: values['skip-invocation'],
    ...(values['lambda-heap-mb'] !== undefined ? { lambdaHeapMb: int(values['lambda-heap-mb'], '--lambda-heap-mb', 16) } : {}),
    ...(values.json ? { json: values.json } : {}),
    ...(values.dir ? { dir: path.resolve(values.dir) } : {}),
  };
}

function callsEqual(a: CallSummary, b: CallSummary): boolean {
  return JSON.stringify(a.detail) === JSON.stringify(b.detail);
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const date = new Date().toISOString();
  const cpus = os.cpus();
  const machine = {
    cores: cpus.length,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };

  const dirOpt = opts.dir ? { dir: opts.dir } : {};
  let env = await readEnv(dirOpt);
  let startedHere = false;
  if (!env) {
    log('no running test environment: starting one (stopped again at the end)');
    env = await up({ log, ...dirOpt });
    startedHere = true;
  }
  try {
    exportAwsEnv(env);
    const kubectlBin = opts.skipManual ? undefined : await ensureKubectl({ log });
    const maxN = Math.max(...opts.sizes);
    const concurrency = benchConfig(env, 1, 'x/', opts.concurrency).concurrency;
    console.log(`flyte-credsync sync benchmark — ${date}`);
    console.log(`machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, ${machine.os}, node ${machine.node}`);
    console.log(
      `env: kube-apiserver ${env.binaries.versions.kubernetes} (control + ${env.dataPlanes.join(', ')}), moto ${env.binaries.versions.moto}; ` +
        `sizes ${opts.sizes.join(',')}, ${opts.runs} runs, sync concurrency ${concurrency}`,
    );

    const tSetup = performance.now();
    const setup = await setUpDataPlanes(env, maxN);
    const fill = setup.fillWaitMs.length ? stat(setup.fillWaitMs) : undefined;
    console.log(
      `set-up of ${maxN} data planes: ${Math.round(performance.now() - tSetup)} ms; ${setup.created} token Secrets created` +
        (fill ? ` (create → filled by the token controller: median ${fill.median} ms, max ${fill.max} ms)` : ' (all already there)'),
    );

    const tag = randomBytes(3).toString('hex');
    // Warm-up (untimed): module loading, JIT, TLS session setup, kubectl's discovery cache.
    {
      const n = Math.min(10, ...opts.sizes);
      const prefix = `credsync-bench-${tag}/warmup/`;
      await resetControlPlane(env);
      const cfg = benchConfig(env, n, prefix, opts.concurrency);
      checkFirst(n, await timedSync(env, cfg));
      await timedSync(env, cfg);
      await deleteEntries(env, range(n).map((k) => prefix + idOf(k)));
      if (kubectlBin) {
        await resetControlPlane(env);
        await manualRun(env, kubectlBin, n, `credsync-bench-${tag}/warmup-manual/`);
        await deleteEntries(env, range(n).map((k) => `credsync-bench-${tag}/warmup-manual/${idOf(k)}`));
      }
    }

    // The packaged scheduled function, unzipped once, when `serverless package` has made it.
    const zip = path.resolve(import.meta.dirname, '../.serverless/scheduled.zip');
    let lambdaDir: string | undefined;
    if (!opts.skipInvocation && existsSync(zip)) {
      lambdaDir = await mkdtemp(path.join(os.tmpdir(), 'credsync-bench-lambda-'));
      const u = spawnSync('python3', ['-m', 'zipfile', '-e', zip, lambdaDir], { encoding: 'utf8', timeout: 60_000 });
      if (u.status !== 0) throw new Error(`unzip ${zip} failed: ${u.stderr}`);
    } else if (!opts.skipInvocation) log('no .serverless/scheduled.zip (run `npx serverless package` first): the Lambda invocation is skipped');

    const results: SizeResult[] = [];
    const noopProblems: string[] = [];
    for (const n of opts.sizes) {
      const first: SyncRun[] = [];
      const noop: SyncRun[] = [];
      for (let i = 1; i <= opts.runs; i++) {
        const prefix = `credsync-bench-${tag}/n${n}-r${i}/`;
        await resetControlPlane(env);
        const cfg = benchConfig(env, n, prefix, opts.concurrency);
        const f = await timedSync(env, cfg);
        checkFirst(n, f);
        first.push(f);
        const z = await timedSync(env, cfg);
        const problem = checkNoop(n, z);
        if (problem) noopProblems.push(`run ${i}: ${problem}`);
        noop.push(z);
        await deleteEntries(env, range(n).map((k) => prefix + idOf(k)));
        log(`N=${n} run ${i}/${opts.runs}: first sync ${Math.round(f.ms)} ms (${f.calls.total} calls), no-op ${Math.round(z.ms)} ms (${z.calls.total} calls, ${z.calls.writes} writes)`);
      }
      const manual: ManualRun[] = [];
      if (kubectlBin) {
        const runs = opts.manualRuns ?? opts.runs;
        for (let i = 1; i <= runs; i++) {
          const prefix = `credsync-bench-${tag}/manual-n${n}-r${i}/`;
          await resetControlPlane(env);
          const m = await manualRun(env, kubectlBin, n, prefix);
          await checkManual(env, n);
          await deleteEntries(env, range(n).map((k) => prefix + idOf(k)));
          manual.push(m);
          log(`N=${n} manual run ${i}/${runs}: ${Math.round(m.ms)} ms (${m.kubectlInvocations} kubectl, ${m.awsCalls} AWS calls)`);
        }
      }
      const fs_ = stat(first.map((r) => r.ms));
      const ns_ = stat(noop.map((r) => r.ms));
      const mid = <T>(xs: T[]) => xs[Math.floor(xs.length / 2)]!;
      const row: SizeResult = {
        n,
        firstSync: {
          ...fs_,
          ...pathFigures(first),
          dataPlanePhaseMs: stat(first.map((r) => r.dataPlanePhaseMs)),
          calls: first[0]!.calls,
          callsVary: first.some((r) => !callsEqual(r.calls, first[0]!.calls)),
          busyMs: mid([...first].sort((a, b) => a.ms - b.ms)).busyMs,
        },
        noopResync: {
          ...ns_,
          ...pathFigures(noop),
          dataPlanePhaseMs: stat(noop.map((r) => r.dataPlanePhaseMs)),
          calls: noop[0]!.calls,
          callsVary: noop.some((r) => !callsEqual(r.calls, noop[0]!.calls)),
          writes: noop.reduce((a, r) => a + r.calls.writes, 0),
        },
      };
      if (manual.length) {
        row.manual = { ...stat(manual.map((m) => m.ms)), kubectlInvocations: manual[0]!.kubectlInvocations, awsCalls: manual[0]!.awsCalls };
        row.ratio = row.manual.median / row.firstSync.median;
        row.noopRatio = row.manual.median / row.noopResync.median;
      }
      if (!opts.skipInvocation) {
        const prefix = `credsync-bench-${tag}/inv-n${n}/`;
        await resetControlPlane(env);
        const cfgFile = path.join(os.tmpdir(), `credsync-bench-${tag}-n${n}.yaml`);
        await writeFile(cfgFile, toYaml(benchConfigInput(env, n, prefix, opts.concurrency)));
        try {
          const firstInv = invokeCli(cfgFile);
          const noopInv = invokeCli(cfgFile);
          row.invocation = { first: firstInv, noop: noopInv };
          log(`N=${n} one invocation: first sync ${Math.round(firstInv.ms)} ms, peak RSS ${firstInv.peakRssMiB.toFixed(0)} MiB; no-op ${Math.round(noopInv.ms)} ms, ${noopInv.peakRssMiB.toFixed(0)} MiB`);
        } finally {
          await rm(cfgFile, { force: true });
          await deleteEntries(env, range(n).map((k) => prefix + idOf(k)));
        }
        if (lambdaDir) {
          const lprefix = `credsync-bench-${tag}/lambda-n${n}/`;
          await resetControlPlane(env);
          const lcfg = path.join(os.tmpdir(), `credsync-bench-${tag}-lambda-n${n}.yaml`);
          await writeFile(lcfg, toYaml(benchConfigInput(env, n, lprefix, opts.concurrency)));
          try {
            const firstInv = invokeLambda(lambdaDir, lcfg, opts.lambdaHeapMb);
            const noopInv = invokeLambda(lambdaDir, lcfg, opts.lambdaHeapMb);
            row.lambdaInvocation = { first: firstInv, noop: noopInv };
            log(`N=${n} one Lambda invocation: first sync ${Math.round(firstInv.ms)} ms, peak RSS ${firstInv.peakRssMiB.toFixed(0)} MiB; no-op ${Math.round(noopInv.ms)} ms, ${noopInv.peakRssMiB.toFixed(0)} MiB`);
          } finally {
            await rm(lcfg, { force: true });
            await deleteEntries(env, range(n).map((k) => prefix + idOf(k)).map((x) => x.replace(prefix, lprefix)));
          }
        }
      }
      results.push(row);
    }
    await resetControlPlane(env);
    if (lambdaDir) await rm(lambdaDir, { recursive: true, force: true });

    console.log('');
    console.log(table(results));
    console.log('');
    console.log('API calls per sync (HTTP requests; first run of each kind; "varied" when runs differed):');
    console.log(callsTable(results));
    console.log('');
    console.log('Critical path and connections (each run starts with no open connection):');
    console.log(pathTable(results));
    if (results.some((r) => r.invocation || r.lambdaInvocation)) {
      console.log('');
      console.log('One invocation in a new process, one run each: the bundled CLI (dist/credsync.mjs) and, when packaged, the scheduled Lambda function from its zip:');
      console.log(invocationTable(results));
    }
    console.log('');
    for (const r of results) {
      const b = r.firstSync.busyMs;
      console.log(
        `N=${r.n}: first sync: read/verify/store phase median ${r.firstSync.dataPlanePhaseMs.median} ms, control-plane phase ` +
          `~${r.firstSync.median - r.firstSync.dataPlanePhaseMs.median} ms; summed call latency (median run): data planes ${Math.round(b.dataPlane)} ms, ` +
          `verification ${Math.round(b.verify)} ms, store ${Math.round(b.store)} ms, control plane ${Math.round(b.controlPlane)} ms` +
          (r.manual ? `; manual: ${r.manual.kubectlInvocations} kubectl runs + ${r.manual.awsCalls} AWS calls per run` : ''),
      );
    }
    const totalNoopWrites = results.reduce((a, r) => a + r.noopResync.writes, 0);
    console.log('');
    console.log(
      totalNoopWrites === 0 && noopProblems.length === 0
        ? `no-op re-sync writes: 0 in all ${opts.runs * opts.sizes.length} runs — OK`
        : `NO-OP RE-SYNC WROTE: ${totalNoopWrites} write request(s)\n  ${noopProblems.join('\n  ')}`,
    );

    if (opts.json) {
      const out = {
        date,
        command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
        machine,
        env: { kubernetes: env.binaries.versions.kubernetes, moto: env.binaries.versions.moto, dataPlaneClusters: env.dataPlanes },
        options: { ...opts, concurrency },
        setup: { dataPlanes: maxN, tokenSecretsCreated: setup.created, ...(fill ? { fillWaitMs: fill } : {}) },
        results,
        noopWrites: totalNoopWrites,
        noopProblems,
      };
      await writeFile(opts.json, JSON.stringify(out, null, 2) + '\n');
      console.log(`results written to ${opts.json}`);
    }
    return totalNoopWrites === 0 && noopProblems.length === 0 ? 0 : 1;
  } finally {
    if (startedHere) await down({ log, ...dirOpt });
  }
}

// Run only as the script (bench/rotation-bench.ts imports its helpers).
if (import.meta.url === `file://${process.argv[1]}`) main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
