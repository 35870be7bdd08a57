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
 * no amount of concurrency could beat (bench/sync/counting.ts criticalPath): the drain plan's
 * control-plane reads, plus the store's batch read, plus the slowest data plane's own calls (the
 * union of their measured spans: sequential calls add up, concurrent ones count once), plus the
 * control-plane phase (from the apply's first call to the end, as measured).
 *
 * "One invocation" runs the bundled CLI (dist/credsync.mjs, built like the functions) in a new
 * process for a first sync and a no-op re-sync of each size, and reports its wall time and peak RSS;
 * and the same with the packaged scheduled Lambda function (the handler from the unzipped
 * `.serverless/scheduled.zip`, when `npx serverless package` has made it), as the runtime loads it.
 *
 * Uses the running environment (.testenv/); starts one if none runs, and stops only that one.
 * Tokens are never printed.
 *
 * This file is the script (options, the loop over sizes, the output); its parts are in bench/sync/:
 * counting.ts (calls counted at the ports and the store's HTTP requests, the critical-path bound),
 * fleet.ts (the bench data planes and their configuration), runs.ts (a timed sync, one invocation of
 * the bundled CLI or the packaged function), manual.ts (the guide's manual steps) and report.ts
 * (the tables).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { spawnSync } from 'node:child_process';
import { ensureKubectl } from '../test/env/build.ts';
import { down, readEnv, up } from '../test/env/testenv.ts';
import { exportAwsEnv, resetControlPlane } from '../test/integration/helpers.ts';
import { log } from './sync/common.ts';
import { stat, type CallSummary } from './sync/counting.ts';
import { benchConfig, benchConfigInput, deleteEntries, idOf, range, setUpDataPlanes } from './sync/fleet.ts';
import { checkManual, manualRun, type ManualRun } from './sync/manual.ts';
import { callsTable, invocationTable, pathFigures, pathTable, table, type SizeResult } from './sync/report.ts';
import { checkFirst, checkNoop, invokeCli, invokeLambda, timedSync, type SyncRun } from './sync/runs.ts';

const USAGE =
  'usage: npm run bench -- [--sizes 1,10,50] [--runs 5] [--manual-runs R] [--concurrency C] [--skip-manual] [--skip-invocation] [--lambda-heap-mb MB] [--json FILE] [--dir STATE_DIR]';

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

    log('per run: bound = the drain plan\'s control-plane reads + the store\'s batch read + the slowest data plane + the control-plane phase (ms)');
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
        const bound = (r: SyncRun) =>
          `bound ${Math.round(r.boundMs)} = ${Math.round(r.path.preludeMs)} + ${Math.round(r.path.batchMs)} + ${Math.round(r.path.slowestChainMs)} + ${Math.round(r.path.controlPlaneMs)}`;
        log(
          `N=${n} run ${i}/${opts.runs}: first sync ${Math.round(f.ms)} ms (${f.calls.total} calls, ${bound(f)}), ` +
            `no-op ${Math.round(z.ms)} ms (${z.calls.total} calls, ${z.calls.writes} writes, ${bound(z)})`,
        );
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

// Run only as the script.
if (import.meta.url === `file://${process.argv[1]}`) main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
