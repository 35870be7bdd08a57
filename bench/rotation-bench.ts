/**
 * Rotation benchmark (not a timed test): N data planes rotated in one run against the local test
 * environment (real kube-apiservers, real rollouts of flyteadmin/syncresources on KWOK nodes,
 * moto), through the real wiring.
 *
 *   npm run bench:rotation -- [--sizes 10,50] [--runs 3] [--invocations K] [--lambda-node-options OPTS] [--json FILE] [--dir STATE_DIR]
 *
 * Data plane k (id `r<k>`) is the sync benchmark's namespace `bench-<k>` on cluster dp((k-1) % D + 1)
 * (ServiceAccount flyteadmin bound to the chart's ClusterRole; idempotent set-up); rotation's
 * objects are named `bench-rot-<run>-<generation>`, so the sync benchmark's token Secrets stay. Per N: one
 * untimed run mints generation 1 everywhere (fresh store prefix), then each timed run is
 * `rotate --now` for all N: mint, stage, verify, promote, publish, restart, wait for the rollout,
 * revoke. Reported: wall time, time to publish (the control-plane write), time to the last revoke,
 * the rollout wait, and HTTP requests per data plane (data-plane calls, verification reviews,
 * Secrets Manager requests; control-plane calls shown apart, they do not grow with N).
 *
 * Its critical-path bound, what no concurrency could beat (bench/rotation/bound.ts, unit-tested):
 * max(shared store + slowest data plane, store work) + control plane + rollout wait, where the store
 * work is moto's CPU time in the run (moto answers one request at a time). Also reported: the
 * Secrets Manager requests per rotated data plane by kind, and the CPU time of our process and of
 * the environment's servers during each run (what the run is up against).
 *
 * With `--invocations K`, per N after the timed runs: K rotations of all N by the bundled CLI
 * (`dist/credsync.mjs rotate --now`, `npm run build`) and K by the packaged scheduled Lambda function
 * (the unzipped `.serverless/scheduled.zip`, `npx serverless package`; its configuration says
 * `every: 1s`, so every credential is due and the scheduled run rotates them all, as `--now` does),
 * each in a new process: wall time and peak RSS. `--lambda-node-options` is the function's NODE_OPTIONS
 * (a Lambda environment variable), e.g. `--max-semi-space-size=4`.
 */
import { readFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { parseConfig } from '../lib/config/load.ts';
import type { Config } from '../lib/config/schema.ts';
import { buildDeps } from '../lib/runtime/wiring.ts';
import { runSync, type SyncDeps } from '../lib/sync/sync.ts';
import { silentLog } from '../lib/util/log.ts';
import { readEnv, type EnvInfo } from '../test/env/testenv.ts';
import { exportAwsEnv, resetControlPlane } from '../test/integration/helpers.ts';
import { countingProxy, countingSecretsManager, stat, type Stat } from './sync/counting.ts';
import { clusterOf, deleteEntries, namespaceOf, range, setUpDataPlanes } from './sync/fleet.ts';
import { invokeCli, invokeLambda, type Invocation } from './sync/runs.ts';
import { rotationBound, storeCallId, type RotationBound, type Span } from './rotation/bound.ts';

/**
 * Every method call on `target` timed: `onSpan(name, args, span)` when it settles. Synchronous
 * methods stay synchronous; an object a call resolves to that has store methods (a batch view) is
 * wrapped the same way.
 */
function timedProxy<T extends object>(target: T, onSpan: (name: string, args: unknown[], span: Span) => void): T {
  return new Proxy(target, {
    get(t, prop) {
      const v: unknown = Reflect.get(t, prop, t);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const s = performance.now();
        const out = (v as (...a: unknown[]) => unknown).apply(t, args);
        if (!(out instanceof Promise)) return out;
        return out.then(
          (r: unknown) => {
            onSpan(String(prop), args, [s, performance.now()]);
            return r && typeof r === 'object' && typeof (r as { get?: unknown }).get === 'function' && typeof (r as { put?: unknown }).put === 'function' ? timedProxy(r, onSpan) : r;
          },
          (err: unknown) => {
            onSpan(String(prop), args, [s, performance.now()]);
            throw err;
          },
        );
      };
    },
  });
}

// ---------------------------------------------------------------------------------------------
// CPU time of the environment's servers (Linux /proc), to see what a run is up against

const CORES = os.availableParallelism();
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** user + system CPU ms of a process, or undefined when it is gone. */
function procCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** The environment's processes by group: moto, the API servers, the controllers, etcd, the rest. */
function envGroups(env: EnvInfo): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  try {
    const { processes } = JSON.parse(readFileSync(path.join(env.dir, 'pids.json'), 'utf8')) as { processes: Array<{ name: string; pid: number }> };
    for (const p of processes) {
      const g = p.name === 'moto' ? 'moto' : p.name.startsWith('kube-apiserver') ? 'apiservers' : p.name.startsWith('kube-controller-manager') ? 'controllers' : p.name === 'etcd' ? 'etcd' : 'other';
      (groups.get(g) ?? groups.set(g, []).get(g)!).push(p.pid);
    }
  } catch {
    // no pids.json: no CPU figures
  }
  return groups;
}

/** CPU ms per group, and of this process (`bench`), now. */
function cpuNow(groups: Map<string, number[]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [g, pids] of groups) out[g] = pids.reduce((a, pid) => a + (procCpuMs(pid) ?? 0), 0);
  const u = process.cpuUsage();
  out['bench'] = (u.user + u.system) / 1000;
  return out;
}

const cpuDelta = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(b).map((k) => [k, Math.round(b[k]! - (a[k] ?? 0))]));

function configInput(env: EnvInfo, n: number, prefix: string, tokenSecret: string, every = 'off'): Record<string, unknown> {
  return {
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, defaultExecutionLabel: 'team1' },
    store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
    dataPlanes: range(n).map((k) => ({
      id: `r${k}`,
      access: { type: 'kubeconfig', context: clusterOf(env, k), path: env.kubeconfig },
      namespace: namespaceOf(k),
      tokenSecret,
      labels: { team1: 1 },
    })),
    tokenWaitSeconds: 60,
    rotation: { mode: 'secret', every, rolloutTimeoutSeconds: 300, runEvery: '6h' },
  };
}

interface RunResult {
  ms: number;
  publishMs: number;
  revokeMs: number;
  perDataPlane: { dataPlane: number; verify: number; awsHttp: number; total: number };
  /** Secrets Manager requests per data plane, by command. */
  awsPerDataPlane: Record<string, number>;
  controlPlaneCalls: number;
  bound: RotationBound;
  /** CPU ms during the run: this process (`bench`) and the environment's servers by group. */
  cpuMs: Record<string, number>;
  detail: { dataPlane: Record<string, number>; controlPlane: Record<string, number>; aws: Record<string, number> };
}

/** One rotation of every data plane, counted and timed. */
async function timedRotation(env: EnvInfo, cfg: Config, n: number, groups: Map<string, number[]>): Promise<RunResult> {
  const c = { dataPlane: {} as Record<string, number>, controlPlane: {} as Record<string, number>, verify: 0, aws: {} as Record<string, number>, awsHttp: 0 };
  let t0 = 0;
  let publishedAt = 0;
  let lastRevoke = 0;
  const base = buildDeps(cfg, silentLog, { secretsManager: countingSecretsManager(env, c) });
  const ids = new Set(cfg.dataPlanes.map((d) => d.id));
  const chains = new Map<string, Span[]>();
  const chain = (id: string, span: Span) => void (chains.get(id) ?? chains.set(id, []).get(id)!).push(span);
  const sharedStore: Span[] = [];
  const controlPlaneSpans: Array<{ name: string; span: Span }> = [];
  const store = timedProxy(base.store, (_name, args, span) => {
    const id = storeCallId(args);
    if (id !== undefined && ids.has(id)) chain(id, span);
    else sharedStore.push(span);
  });
  const dataPlane: NonNullable<SyncDeps['rotation']>['dataPlane'] = async (dp) => {
    const api = countingProxy(await base.rotation!.dataPlane(dp), c.dataPlane, (ms) => chain(dp.id, [performance.now() - ms, performance.now()]));
    return new Proxy(api, {
      get(t, p) {
        const v = Reflect.get(t, p, t);
        if (p !== 'deleteSecret' || typeof v !== 'function') return v;
        return async (...a: unknown[]) => {
          const r = await (v as (...x: unknown[]) => Promise<unknown>).apply(t, a);
          lastRevoke = performance.now();
          return r;
        };
      },
    });
  };
  const controlPlane = async () => {
    const api = timedProxy(countingProxy(await base.rotation!.controlPlane(), c.controlPlane, () => {}), (name, _args, span) => controlPlaneSpans.push({ name, span }));
    return new Proxy(api, {
      get(t, p) {
        const v = Reflect.get(t, p, t);
        if (p !== 'replaceSecret' && p !== 'createSecret') return v;
        return async (...a: unknown[]) => {
          const r = await (v as (...x: unknown[]) => Promise<unknown>).apply(t, a);
          publishedAt ||= performance.now();
          return r;
        };
      },
    });
  };
  const deps: SyncDeps = {
    ...base,
    store,
    dataPlane,
    controlPlane,
    rotation: { dataPlane, controlPlane },
    verify: async (req) => {
      c.verify += 1 + req.checks.length;
      const s = performance.now();
      try {
        return await base.verify(req);
      } finally {
        chain(req.cluster, [s, performance.now()]);
      }
    },
  };
  const cpu0 = cpuNow(groups);
  t0 = performance.now();
  const r = await runSync(deps, { rotateNow: true });
  const ms = performance.now() - t0;
  const cpuMs = cpuDelta(cpu0, cpuNow(groups));
  if (!r.ok) throw new Error(`rotation of ${n} data planes failed: ${JSON.stringify(r.rotationError ?? r.controlPlaneError ?? r.clusters.filter((x) => x.status === 'failed').map((x) => `${x.id} ${x.code}`))}`);
  const notRevoked = r.clusters.filter((x) => x.rotation?.revoked === undefined).map((x) => x.id);
  if (notRevoked.length) throw new Error(`not revoked: ${notRevoked.join(', ')}`);
  const dpCalls = Object.values(c.dataPlane).reduce((a, b) => a + b, 0);
  const cpCalls = Object.values(c.controlPlane).reduce((a, b) => a + b, 0);
  const per = (x: number) => Math.round((x / n) * 100) / 100;
  const rolloutWaitMs = r.clusters[0]!.rotation!.rollout!.waitedMs;
  return {
    bound: rotationBound({ chains, sharedStore, controlPlane: controlPlaneSpans, rolloutWaitMs, ...(cpuMs['moto'] !== undefined ? { storeCpuMs: cpuMs['moto'] } : {}) }),
    ms,
    publishMs: publishedAt - t0,
    revokeMs: lastRevoke - t0,
    perDataPlane: { dataPlane: per(dpCalls), verify: per(c.verify), awsHttp: per(c.awsHttp), total: per(dpCalls + c.verify + c.awsHttp) },
    awsPerDataPlane: Object.fromEntries(Object.entries(c.aws).map(([k, v]) => [k, per(v)])),
    controlPlaneCalls: cpCalls,
    cpuMs,
    detail: { dataPlane: c.dataPlane, controlPlane: c.controlPlane, aws: c.aws },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  n: number;
  total: Stat;
  publish: Stat;
  revoke: Stat;
  rolloutWait: Stat;
  bound: Stat;
  ratio: string;
  terms: { slowestChain: Stat; sharedStore: Stat; storeWork: Stat; controlPlane: Stat; limitedBy: string[] };
  cpuMs: Record<string, Stat>;
  /** The CPU of this process and the environment's servers together. */
  cpuAllMs: Stat;
  perDataPlane: RunResult['perDataPlane'];
  awsPerDataPlane: Record<string, number>;
  controlPlaneCalls: number;
  cli?: Invocation[];
  lambda?: Invocation[];
  runs: RunResult[];
}

/** `fn` with NODE_OPTIONS set for the processes it spawns (this one started without it). */
function withNodeOptions<T>(opts: string | undefined, fn: () => T): T {
  if (!opts) return fn();
  const before = process.env['NODE_OPTIONS'];
  process.env['NODE_OPTIONS'] = opts;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = before;
  }
}

/** The packaged scheduled function, unzipped, when `serverless package` has made it. */
async function unpackScheduled(): Promise<string | undefined> {
  const zip = path.resolve(import.meta.dirname, '../.serverless/scheduled.zip');
  if (!existsSync(zip)) return undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'credsync-rotbench-lambda-'));
  const u = spawnSync('python3', ['-m', 'zipfile', '-e', zip, dir], { encoding: 'utf8', timeout: 60_000 });
  if (u.status !== 0) throw new Error(`unzip ${zip} failed: ${u.stderr}`);
  return dir;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10,50' }, runs: { type: 'string', default: '3' }, invocations: { type: 'string', default: '0' }, 'lambda-node-options': { type: 'string' }, json: { type: 'string' }, dir: { type: 'string' } } });
  const sizes = values.sizes!.split(',').map(Number);
  const runs = Number(values.runs);
  const invocations = Number(values.invocations);
  const env = await readEnv(values.dir ? { dir: values.dir } : {});
  if (!env) throw new Error('no running test environment: npm run testenv -- up');
  exportAwsEnv(env);
  const groups = envGroups(env);
  // The sync benchmark's data planes (namespace bench-k); rotation's objects have names of their own.
  await setUpDataPlanes(env, Math.max(...sizes));
  const lambdaDir = invocations > 0 ? await unpackScheduled() : undefined;
  if (invocations > 0 && !lambdaDir) console.error('no .serverless/scheduled.zip (run `npx serverless package` first): the Lambda invocations are skipped');
  const rows: Row[] = [];
  for (const n of sizes) {
    await resetControlPlane(env);
    const tag = randomBytes(3).toString('hex');
    const prefix = `bench-rot-${tag}/`;
    const input = configInput(env, n, prefix, `bench-rot-${tag}`);
    const cfg = parseConfig(input);
    const first = await runSync(buildDeps(cfg, silentLog));
    if (!first.ok) throw new Error(`generation 1 of ${n} data planes failed`);
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await timedRotation(env, cfg, n, groups);
      const b = r.bound;
      console.error(
        `N=${n} run ${i + 1}: ${Math.round(r.ms)} ms (published at ${Math.round(r.publishMs)} ms, last revoke at ${Math.round(r.revokeMs)} ms); bound ${Math.round(b.boundMs)} ms = max(shared store ${Math.round(b.sharedStoreMs)} + slowest data plane ${Math.round(b.slowestChainMs)}, store work ${Math.round(b.storeWorkMs)}) + control plane ${Math.round(b.controlPlaneMs)} + rollout wait ${Math.round(b.rolloutWaitMs)}; ${(r.ms / b.boundMs).toFixed(2)}x; Secrets Manager per data plane ${JSON.stringify(r.awsPerDataPlane)}; CPU ms ${JSON.stringify(r.cpuMs)}`,
      );
      results.push(r);
    }
    const row: Row = {
      n,
      total: stat(results.map((r) => r.ms)),
      publish: stat(results.map((r) => r.publishMs)),
      revoke: stat(results.map((r) => r.revokeMs)),
      rolloutWait: stat(results.map((r) => r.bound.rolloutWaitMs)),
      bound: stat(results.map((r) => r.bound.boundMs)),
      ratio: (() => {
        const x = results.map((r) => r.ms / r.bound.boundMs).sort((a, b) => a - b);
        return `${x[Math.floor(x.length / 2)]!.toFixed(2)}x (${x[0]!.toFixed(2)}–${x.at(-1)!.toFixed(2)})`;
      })(),
      terms: {
        slowestChain: stat(results.map((r) => r.bound.slowestChainMs)),
        sharedStore: stat(results.map((r) => r.bound.sharedStoreMs)),
        storeWork: stat(results.map((r) => r.bound.storeWorkMs)),
        controlPlane: stat(results.map((r) => r.bound.controlPlaneMs)),
        limitedBy: results.map((r) => r.bound.limitedBy),
      },
      cpuMs: Object.fromEntries(Object.keys(results[0]!.cpuMs).map((k) => [k, stat(results.map((r) => r.cpuMs[k] ?? 0))])),
      cpuAllMs: stat(results.map((r) => Object.values(r.cpuMs).reduce((a, b) => a + b, 0))),
      perDataPlane: results[0]!.perDataPlane,
      awsPerDataPlane: Object.fromEntries(Object.keys(results.at(-1)!.awsPerDataPlane).map((k) => [k, median(results.map((r) => r.awsPerDataPlane[k] ?? 0))])),
      controlPlaneCalls: results[0]!.controlPlaneCalls,
      runs: results,
    };
    if (invocations > 0) {
      const file = path.join(os.tmpdir(), `credsync-rotbench-${tag}.yaml`);
      try {
        await writeFile(file, toYaml(input));
        row.cli = [];
        for (let i = 0; i < invocations; i++) {
          await resetControlPlane(env);
          const inv = invokeCli(file, ['rotate', '--now']);
          if (!inv.ok) throw new Error(`CLI rotate --now of ${n} data planes failed`);
          console.error(`N=${n} CLI rotate --now: ${Math.round(inv.ms)} ms, CPU ${inv.cpuMs ?? '?'} ms, peak RSS ${inv.peakRssMiB.toFixed(1)} MiB`);
          row.cli.push(inv);
        }
        if (lambdaDir) {
          // Every credential due: the scheduled run rotates all of them, as rotate --now does.
          await writeFile(file, toYaml(configInput(env, n, prefix, `bench-rot-${tag}`, '1s')));
          row.lambda = [];
          for (let i = 0; i < invocations; i++) {
            await resetControlPlane(env);
            await new Promise((r) => setTimeout(r, 1100)); // the last generation more than 1 s old
            const inv = withNodeOptions(values['lambda-node-options'], () => invokeLambda(lambdaDir, file));
            if (!inv.ok) throw new Error(`Lambda rotation of ${n} data planes failed`);
            console.error(`N=${n} Lambda scheduled (every: 1s): ${Math.round(inv.ms)} ms, CPU ${inv.cpuMs ?? '?'} ms, peak RSS ${inv.peakRssMiB.toFixed(1)} MiB`);
            row.lambda.push(inv);
          }
        }
      } finally {
        await rm(file, { force: true });
      }
    }
    await deleteEntries(env, range(n).map((k) => `${prefix}r${k}`));
    rows.push(row);
  }
  await resetControlPlane(env);
  if (lambdaDir) await rm(lambdaDir, { recursive: true, force: true });
  const f = (s: Stat) => `${s.median} (${s.min}–${s.max})`;
  console.log('| N | rotation ms | published at ms | last revoke at ms | rollout wait ms | bound ms: max(shared store + slowest data plane, store work) + control plane + rollout wait (medians) | rotation / bound | calls/data plane (data plane + reviews + Secrets Manager) | control-plane calls |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(
      `| ${r.n} | ${f(r.total)} | ${f(r.publish)} | ${f(r.revoke)} | ${f(r.rolloutWait)} | ${f(r.bound)} = max(${r.terms.sharedStore.median} + ${r.terms.slowestChain.median}, ${r.terms.storeWork.median}) + ${r.terms.controlPlane.median} + ${r.rolloutWait.median} | ${r.ratio} | ${r.perDataPlane.total} (${r.perDataPlane.dataPlane} + ${r.perDataPlane.verify} + ${r.perDataPlane.awsHttp}) | ${r.controlPlaneCalls} |`,
    );
  console.log('\nSecrets Manager requests per data plane by kind (median of the runs), and CPU ms during a run (median):');
  for (const r of rows) {
    console.log(`N=${r.n}: ${Object.entries(r.awsPerDataPlane).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log(`N=${r.n}: CPU ${Object.entries(r.cpuMs).map(([k, s]) => `${k} ${s.median}`).join(', ')} (all: ${f(r.cpuAllMs)} ms, over ${CORES} cores: ${Math.round(r.cpuAllMs.median / CORES)} ms); bound limited by ${r.terms.limitedBy.join(', ')}`);
    if (r.cli) console.log(`N=${r.n}: CLI rotate --now ${r.cli.map((i) => `${Math.round(i.ms)} ms, ${i.cpuMs ?? '?'} ms CPU, ${i.peakRssMiB.toFixed(1)} MiB`).join('; ')}`);
    if (r.lambda) console.log(`N=${r.n}: Lambda scheduled ${r.lambda.map((i) => `${Math.round(i.ms)} ms, ${i.cpuMs ?? '?'} ms CPU, ${i.peakRssMiB.toFixed(1)} MiB`).join('; ')}`);
  }
  if (values.json) await writeFile(values.json, JSON.stringify({ date: new Date().toISOString(), runs, rows }, null, 2) + '\n');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`rotation benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
