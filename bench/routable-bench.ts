/**
 * Time-to-routable benchmark (issue #21, not a timed test): one new data plane joining N existing
 * ones, from the cluster-created event to the new data plane routable in the control plane: the
 * sync of that data plane (read its token, verify it, store it), the control plane rendered from
 * the store and written (publish), the restarts, and the rollouts of flyteadmin and syncresources
 * complete (Flyte reads clusters.yaml and the credentials only at start-up: before that, nothing
 * routes to the new data plane). Real kube-apiservers, real rollouts on KWOK nodes, moto.
 *
 *   npm run bench:routable -- [--existing 50] [--runs 3] [--json FILE]
 *
 * Data plane k (id `b<k>`) is the sync benchmark's namespace `bench-<k>` on cluster
 * dp((k-1) % D + 1); the new one is `b<N+1>`. Per run: a fresh store prefix, the control plane
 * reset, the N existing ones synced and rolled out (untimed), then the event for `b<N+1>` through
 * the invocation path a cluster-created function runs (syncCreatedCluster, the real wiring), and
 * the wait for both rollouts (polled every 100 ms, as `kubectl rollout status` decides it).
 *
 * Its bound, in the same run, as the sync benchmark's (bench/sync/counting.ts criticalPath) up to
 * the first restart: the drain plan's control-plane reads + the store's batch read + the new data
 * plane's own calls (the union of their spans: reads, verification, store write) + the
 * control-plane phase from the apply's first call to the first restart (reads, render, writes
 * under the Lease), as measured; then + both Deployments restarted and rolled out on their own,
 * with nothing else running, waited for the same way (a floor measured apart).
 * Needs a running environment (`npm run testenv -- up`).
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { parseConfig } from '../lib/config/load.ts';
import type { Config } from '../lib/config/schema.ts';
import type { ControlPlaneApi, RolloutApi } from '../lib/kube/ports.ts';
import { closeAllSessions } from '../lib/kube/http2.ts';
import { waitForRollouts } from '../lib/rotation/rollout.ts';
import { syncCreatedCluster } from '../lib/runtime/invocation.ts';
import { buildDeps } from '../lib/runtime/wiring.ts';
import { runSync, type SyncDeps, type SyncReport } from '../lib/sync/sync.ts';
import { silentLog } from '../lib/util/log.ts';
import { CONTROL_PLANE_DEPLOYMENTS, FLYTE_NAMESPACE } from '../test/env/seed.ts';
import { readEnv, type EnvInfo } from '../test/env/testenv.ts';
import { exportAwsEnv, resetControlPlane } from '../test/integration/helpers.ts';
import { countedDeps, criticalPath, newCounts, stat, type Stat } from './sync/counting.ts';
import { clusterOf, namespaceOf, range, setUpDataPlanes } from './sync/fleet.ts';

const { values } = parseArgs({ options: { existing: { type: 'string', default: '50' }, runs: { type: 'string', default: '3' }, json: { type: 'string' } } });
const existing = Number(values.existing);
const runs = Number(values.runs);
if (!Number.isInteger(existing) || existing < 1 || !Number.isInteger(runs) || runs < 1) throw new Error('--existing and --runs must be integers >= 1');
const log = (line: string) => console.error(line);
const DEPLOYMENTS = [...CONTROL_PLANE_DEPLOYMENTS];
const ROLLOUT_TIMEOUT_MS = 300_000;

function config(env: EnvInfo, n: number, prefix: string): Config {
  return parseConfig({
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, defaultExecutionLabel: 'team1' },
    store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
    dataPlanes: range(n).map((k) => ({
      id: `b${k}`,
      access: { type: 'kubeconfig', context: clusterOf(env, k), path: env.kubeconfig },
      namespace: namespaceOf(k),
      labels: { team1: 1 },
    })),
    tokenWaitSeconds: 60,
  });
}

const failures = (r: SyncReport) =>
  r.clusters
    .filter((c) => c.status === 'failed')
    .map((c) => `${c.id}: ${c.reason}`)
    .join('; ');

/** Both Deployments rolled out (and restarted at or after `since`, when given). */
async function rolledOut(deps: SyncDeps, since?: Date): Promise<number> {
  const cp = (await deps.controlPlane()) as ControlPlaneApi & RolloutApi;
  const r = await waitForRollouts(cp, FLYTE_NAMESPACE, DEPLOYMENTS, { timeoutMs: ROLLOUT_TIMEOUT_MS, pollMs: 100, ...(since ? { restartedSince: since } : {}) });
  if (!r.complete) throw new Error(`rollout not complete after ${ROLLOUT_TIMEOUT_MS} ms: ${JSON.stringify(r.deployments)}`);
  return r.waitedMs;
}

interface Run {
  /** Event to routable: the sync, then the rollouts. */
  routableMs: number;
  /** Event to the end of the sync (published, restarts made). */
  syncMs: number;
  rolloutWaitMs: number;
  /** Event to the apply's first control-plane call. */
  dataPlanePhaseMs: number;
  /** The drain plan's control-plane reads (before the data planes). */
  preludeMs: number;
  /** The store's batch read (every data plane's entry). */
  batchMs: number;
  /** The new data plane's own calls: Kubernetes reads, reviews, store write (union of spans). */
  newDataPlaneCallsMs: number;
  /** The apply's first control-plane call to the first restart. */
  controlPlaneToRestartMs: number;
  /** Both Deployments restarted on their own, to rolled out. */
  rolloutAloneMs: number;
  boundMs: number;
}

async function oneRun(env: EnvInfo, run: number): Promise<Run> {
  const prefix = `credsync-routable-${randomBytes(3).toString('hex')}/`;
  const newId = `b${existing + 1}`;
  await resetControlPlane(env);
  // The N existing data planes, synced and rolled out.
  const before = await runSync(buildDeps(config(env, existing, prefix), silentLog));
  if (!before.ok) throw new Error(`sync of the existing data planes failed: ${failures(before)}`);
  await rolledOut(buildDeps(config(env, existing, prefix), silentLog));

  // The event: a new cluster named like the new data plane (kubeconfig access: matched by id).
  const cfg = config(env, existing + 1, prefix);
  const base = buildDeps(cfg, silentLog);
  // Every call timed as the sync benchmark times it: the control plane's, the batch read, the new data plane's chain.
  const c = newCounts();
  const counted = countedDeps(cfg, env, c);
  let restartFrom: number | undefined;
  const deps: SyncDeps = {
    ...counted,
    controlPlane: async () => {
      const api = await counted.controlPlane();
      return new Proxy(api, {
        get(target, key) {
          const v = Reflect.get(target, key) as unknown;
          if (typeof v !== 'function') return v;
          return key === 'restartDeployment'
            ? (...args: unknown[]) => ((restartFrom ??= performance.now()), (v as (...a: unknown[]) => unknown).apply(target, args))
            : (v as (...a: unknown[]) => unknown).bind(target);
        },
      });
    },
  };
  closeAllSessions(); // as in a new function instance: no connection open yet
  const since = new Date();
  const t0 = performance.now();
  const result = await syncCreatedCluster(
    { cloud: 'gke', project: 'bench', location: 'local', clusterName: newId, finished: true },
    { log: silentLog, prepare: async () => ({ config: cfg, deps }) },
  );
  const syncMs = performance.now() - t0;
  if ('ignored' in result) throw new Error(`the event was ignored: ${result.reason}`);
  if (!result.ok) throw new Error(`the sync failed: ${failures(result)}`);
  const mine = result.clusters.find((c) => c.id === newId);
  if (mine?.status !== 'updated' || result.clusters.length !== 1) throw new Error(`expected ${newId} alone, updated: ${JSON.stringify(result.clusters.map((c) => [c.id, c.status]))}`);
  if (!result.controlPlane?.restarted?.length) throw new Error('the control plane was not restarted');
  const rolloutWaitMs = await rolledOut(base, since);
  const routableMs = performance.now() - t0;

  // The rollout on its own: both Deployments restarted, nothing else running, the same wait.
  const cp = await base.controlPlane();
  const alone = new Date();
  const a0 = performance.now();
  for (const d of DEPLOYMENTS) await cp.restartDeployment(FLYTE_NAMESPACE, d, alone.toISOString());
  await rolledOut(base, alone);
  const rolloutAloneMs = performance.now() - a0;

  if (restartFrom === undefined) throw new Error('the control plane was not restarted');
  const upToRestart = c.controlPlaneSpans.filter(([a]) => a < restartFrom!);
  const path = criticalPath({ start: t0, end: restartFrom, batchSpan: c.batchSpan, chainSpans: [c.chainSpans.get(newId) ?? []], controlPlaneSpans: upToRestart });
  const boundMs = path.boundMs + rolloutAloneMs;
  log(
    `run ${run}: routable ${routableMs.toFixed(0)} ms (sync ${syncMs.toFixed(0)}, rollout wait ${rolloutWaitMs.toFixed(0)}); bound ${boundMs.toFixed(0)} ms = ` +
      `${path.preludeMs.toFixed(0)} + ${path.batchMs.toFixed(0)} + ${path.slowestChainMs.toFixed(0)} + ${path.controlPlaneMs.toFixed(0)} + ${rolloutAloneMs.toFixed(0)}`,
  );
  return {
    routableMs,
    syncMs,
    rolloutWaitMs,
    dataPlanePhaseMs: path.dataPlanePhaseMs,
    preludeMs: path.preludeMs,
    batchMs: path.batchMs,
    newDataPlaneCallsMs: path.slowestChainMs,
    controlPlaneToRestartMs: path.controlPlaneMs,
    rolloutAloneMs,
    boundMs,
  };
}

async function main(): Promise<void> {
  const env = await readEnv();
  if (!env) throw new Error('no running environment: start one with `npm run testenv -- up`');
  exportAwsEnv(env);
  log(`setting up ${existing + 1} data planes…`);
  await setUpDataPlanes(env, existing + 1);
  const results: Run[] = [];
  for (let r = 1; r <= runs; r++) results.push(await oneRun(env, r));
  const s = (k: keyof Run): Stat => stat(results.map((x) => x[k]));
  const ratios = results.map((x) => x.routableMs / x.boundMs).sort((a, b) => a - b);
  const ratio = { median: ratios.length % 2 ? ratios[(ratios.length - 1) / 2]! : (ratios[ratios.length / 2 - 1]! + ratios[ratios.length / 2]!) / 2, min: ratios[0]!, max: ratios.at(-1)! };
  const [l1, l5] = loadavg();
  const row = (name: string, st: Stat) => `| ${name} | ${st.median.toFixed(0)} (${st.min.toFixed(0)}–${st.max.toFixed(0)}) |`;
  console.log(`time to routable: 1 new data plane joining ${existing}, ${runs} runs; ${new Date().toISOString()}; load average ${l1!.toFixed(1)} (1 min), ${l5!.toFixed(1)} (5 min)`);
  console.log('| figure | ms median (min–max) |\n| --- | --- |');
  for (const [name, k] of [
    ['event to routable (sync + rollouts complete)', 'routableMs'],
    ['event to the end of the sync (published, restarted)', 'syncMs'],
    ['rollout wait after the sync', 'rolloutWaitMs'],
    ["event to the apply's first control-plane call (measured, not a bound term)", 'dataPlanePhaseMs'],
    ["bound: the drain plan's control-plane reads", 'preludeMs'],
    ["bound: the store's batch read", 'batchMs'],
    ["bound: the new data plane's own calls (reads, reviews, store write)", 'newDataPlaneCallsMs'],
    ["bound: the control-plane phase, the apply's first call to the first restart", 'controlPlaneToRestartMs'],
    ['bound: both Deployments restarted and rolled out on their own', 'rolloutAloneMs'],
    ['bound (sum of the five)', 'boundMs'],
  ] as const)
    console.log(row(name, s(k)));
  console.log(`| routable / bound | ${ratio.median.toFixed(2)}x (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}) |`);
  if (values.json) await writeFile(values.json, JSON.stringify({ date: new Date().toISOString(), existing, runs, loadavg: loadavg(), results, ratio }, null, 2) + '\n');
}

await main();
