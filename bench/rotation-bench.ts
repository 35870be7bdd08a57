/**
 * Rotation benchmark (not a timed test): N data planes rotated in one run against the local test
 * environment (real kube-apiservers, real rollouts of flyteadmin/syncresources on KWOK nodes,
 * moto), through the real wiring.
 *
 *   npm run bench:rotation -- [--sizes 10,50] [--runs 3] [--json FILE]
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
 * And its critical-path bound, what no concurrency could beat, as the sync benchmark computes one:
 * the slowest data plane's own calls (its data-plane API calls, verification reviews and store
 * calls naming it: the union of their spans, before the publish and for the revoke after it) + the
 * store calls naming no data plane (batch reads, listings; union) + the control plane's calls
 * (union; the rollout wait's polls excluded) + the rollout wait as measured (Kubernetes' rollout:
 * nothing the rotation can shorten).
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../lib/config/load.ts';
import type { Config } from '../lib/config/schema.ts';
import { buildDeps } from '../lib/runtime/wiring.ts';
import { runSync, type SyncDeps } from '../lib/sync/sync.ts';
import { silentLog } from '../lib/util/log.ts';
import { readEnv, type EnvInfo } from '../test/env/testenv.ts';
import { exportAwsEnv, resetControlPlane } from '../test/integration/helpers.ts';
import { countingProxy, countingSecretsManager, stat, unionMs, type Stat } from './sync/counting.ts';
import { clusterOf, namespaceOf, range, setUpDataPlanes } from './sync/fleet.ts';

type Span = readonly [number, number];
/** The control plane's reads that poll a rollout (waitForRollouts): the rollout wait, counted as such. */
const ROLLOUT_READS = new Set(['getDeployment', 'listReplicaSets', 'listPods']);

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

/** The data plane a store call names: a cluster id, or a record's. */
function storeCallId(args: unknown[]): string | undefined {
  const a = args[0];
  if (typeof a === 'string') return a;
  if (a && typeof a === 'object' && typeof (a as { clusterId?: unknown }).clusterId === 'string') return (a as { clusterId: string }).clusterId;
  return undefined;
}

function config(env: EnvInfo, n: number, prefix: string, tokenSecret: string): Config {
  return parseConfig({
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
    rotation: { mode: 'secret', every: 'off', rolloutTimeoutSeconds: 300, runEvery: '6h' },
  });
}

interface RunResult {
  ms: number;
  publishMs: number;
  revokeMs: number;
  rolloutWaitMs: number;
  perDataPlane: { dataPlane: number; verify: number; awsHttp: number; total: number };
  controlPlaneCalls: number;
  /** The critical-path bound and its terms (see the header). */
  boundMs: number;
  slowestChainMs: number;
  sharedStoreMs: number;
  controlPlaneMs: number;
  detail: { dataPlane: Record<string, number>; controlPlane: Record<string, number>; aws: Record<string, number> };
}

/** One rotation of every data plane, counted and timed. */
async function timedRotation(env: EnvInfo, cfg: Config, n: number): Promise<RunResult> {
  const c = { dataPlane: {} as Record<string, number>, controlPlane: {} as Record<string, number>, verify: 0, aws: {} as Record<string, number>, awsHttp: 0 };
  let t0 = 0;
  let publishedAt = 0;
  let lastRevoke = 0;
  const base = buildDeps(cfg, silentLog, { secretsManager: countingSecretsManager(env, c) });
  const chains = new Map<string, Span[]>();
  const chain = (id: string, span: Span) => void (chains.get(id) ?? chains.set(id, []).get(id)!).push(span);
  const sharedStore: Span[] = [];
  const controlPlaneSpans: Span[] = [];
  const store = timedProxy(base.store, (_name, args, span) => {
    const id = storeCallId(args);
    if (id !== undefined && cfg.dataPlanes.some((d) => d.id === id)) chain(id, span);
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
    const api = timedProxy(countingProxy(await base.rotation!.controlPlane(), c.controlPlane, () => {}), (name, _args, span) => {
      if (!ROLLOUT_READS.has(name)) controlPlaneSpans.push(span);
    });
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
  t0 = performance.now();
  const r = await runSync(deps, { rotateNow: true });
  const ms = performance.now() - t0;
  if (!r.ok) throw new Error(`rotation of ${n} data planes failed: ${JSON.stringify(r.rotationError ?? r.controlPlaneError ?? r.clusters.filter((x) => x.status === 'failed').map((x) => `${x.id} ${x.code}`))}`);
  const notRevoked = r.clusters.filter((x) => x.rotation?.revoked === undefined).map((x) => x.id);
  if (notRevoked.length) throw new Error(`not revoked: ${notRevoked.join(', ')}`);
  const dpCalls = Object.values(c.dataPlane).reduce((a, b) => a + b, 0);
  const cpCalls = Object.values(c.controlPlane).reduce((a, b) => a + b, 0);
  const per = (x: number) => Math.round((x / n) * 10) / 10;
  const rolloutWaitMs = r.clusters[0]!.rotation!.rollout!.waitedMs;
  const slowestChainMs = Math.max(0, ...[...chains.values()].map(unionMs));
  const sharedStoreMs = unionMs(sharedStore);
  const controlPlaneMs = unionMs(controlPlaneSpans);
  return {
    boundMs: slowestChainMs + sharedStoreMs + controlPlaneMs + rolloutWaitMs,
    slowestChainMs,
    sharedStoreMs,
    controlPlaneMs,
    ms,
    publishMs: publishedAt - t0,
    revokeMs: lastRevoke - t0,
    rolloutWaitMs,
    perDataPlane: { dataPlane: per(dpCalls), verify: per(c.verify), awsHttp: per(c.awsHttp), total: per(dpCalls + c.verify + c.awsHttp) },
    controlPlaneCalls: cpCalls,
    detail: { dataPlane: c.dataPlane, controlPlane: c.controlPlane, aws: c.aws },
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10,50' }, runs: { type: 'string', default: '3' }, json: { type: 'string' }, dir: { type: 'string' } } });
  const sizes = values.sizes!.split(',').map(Number);
  const runs = Number(values.runs);
  const env = await readEnv(values.dir ? { dir: values.dir } : {});
  if (!env) throw new Error('no running test environment: npm run testenv -- up');
  exportAwsEnv(env);
  // The sync benchmark's data planes (namespace bench-k); rotation's objects have names of their own.
  await setUpDataPlanes(env, Math.max(...sizes));
  const rows: Array<{ n: number; total: Stat; publish: Stat; revoke: Stat; rolloutWait: Stat; bound: Stat; ratio: string; terms: string; perDataPlane: RunResult['perDataPlane']; controlPlaneCalls: number; detail: RunResult['detail'] }> = [];
  for (const n of sizes) {
    await resetControlPlane(env);
    const tag = randomBytes(3).toString('hex');
    const cfg = config(env, n, `bench-rot-${tag}/`, `bench-rot-${tag}`);
    const first = await runSync(buildDeps(cfg, silentLog));
    if (!first.ok) throw new Error(`generation 1 of ${n} data planes failed`);
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await timedRotation(env, cfg, n);
      console.error(
        `N=${n} run ${i + 1}: ${Math.round(r.ms)} ms (published at ${Math.round(r.publishMs)} ms, last revoke at ${Math.round(r.revokeMs)} ms); bound ${Math.round(r.boundMs)} ms = slowest data plane ${Math.round(r.slowestChainMs)} + shared store ${Math.round(r.sharedStoreMs)} + control plane ${Math.round(r.controlPlaneMs)} + rollout wait ${Math.round(r.rolloutWaitMs)}`,
      );
      results.push(r);
    }
    rows.push({
      n,
      total: stat(results.map((r) => r.ms)),
      publish: stat(results.map((r) => r.publishMs)),
      revoke: stat(results.map((r) => r.revokeMs)),
      rolloutWait: stat(results.map((r) => r.rolloutWaitMs)),
      bound: stat(results.map((r) => r.boundMs)),
      ratio: (() => {
        const x = results.map((r) => r.ms / r.boundMs).sort((a, b) => a - b);
        return `${x[Math.floor(x.length / 2)]!.toFixed(2)}x (${x[0]!.toFixed(2)}–${x.at(-1)!.toFixed(2)})`;
      })(),
      terms: `${stat(results.map((r) => r.slowestChainMs)).median} + ${stat(results.map((r) => r.sharedStoreMs)).median} + ${stat(results.map((r) => r.controlPlaneMs)).median} + ${stat(results.map((r) => r.rolloutWaitMs)).median}`,
      perDataPlane: results[0]!.perDataPlane,
      controlPlaneCalls: results[0]!.controlPlaneCalls,
      detail: results[0]!.detail,
    });
  }
  await resetControlPlane(env);
  const f = (s: Stat) => `${s.median} (${s.min}–${s.max})`;
  console.log('| N | rotation ms | published at ms | last revoke at ms | rollout wait ms | bound ms (slowest data plane + shared store + control plane + rollout wait, medians) | rotation / bound | calls/data plane (data plane + reviews + Secrets Manager) | control-plane calls |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(`| ${r.n} | ${f(r.total)} | ${f(r.publish)} | ${f(r.revoke)} | ${f(r.rolloutWait)} | ${f(r.bound)} (${r.terms}) | ${r.ratio} | ${r.perDataPlane.total} (${r.perDataPlane.dataPlane} + ${r.perDataPlane.verify} + ${r.perDataPlane.awsHttp}) | ${r.controlPlaneCalls} |`);
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
