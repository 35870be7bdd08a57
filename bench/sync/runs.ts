/**
 * One timed sync (counted, from no open connection, with its critical-path bound) and one
 * invocation in a new process: the bundled CLI, or the packaged scheduled Lambda function.
 */
import { readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import type { Config } from '../../lib/config/schema.ts';
import { runSync, type SyncReport } from '../../lib/sync/sync.ts';
import { closeAllSessions, requestsSent, tlsHandshakes } from '../../lib/kube/http2.ts';
import { spawnSync } from 'node:child_process';
import { CONTROL_PLANE_DEPLOYMENTS } from '../../test/env/seed.ts';
import type { EnvInfo } from '../../test/env/testenv.ts';
import { log } from './common.ts';
import { bump, countedDeps, criticalPath, newCounts, summarize, type CallSummary, type Counts, type CriticalPath } from './counting.ts';

/**
 * What an invocation's process writes at its end: its peak RSS and its CPU time. The peak is
 * VmHWM (the high-water mark of this program's own memory), not resourceUsage().maxRSS: Linux
 * folds the RSS of the forked child before its exec, a copy of this bench process, into maxRSS,
 * so a bench holding 250 MiB reported at least 250 MiB for every invocation.
 */
const REPORT_USAGE =
  "{const u=process.resourceUsage();const h=/VmHWM:\\s+(\\d+)/.exec(process.getBuiltinModule('node:fs').readFileSync('/proc/self/status','utf8'));" +
  "process.stderr.write('\\nCREDSYNC_BENCH_MAXRSS='+(h?h[1]:u.maxRSS)+'\\nCREDSYNC_BENCH_CPU='+(u.userCPUTime+u.systemCPUTime)+'\\n');}";

/** A sync (or `command`) by the bundled CLI in a new process: its wall time (spawn to exit) and peak RSS. */
export function invokeCli(configFile: string, command: readonly string[] = ['sync']): Invocation {
  const cli = path.resolve(import.meta.dirname, '../../dist/credsync.mjs');
  const rss = `process.on('exit',()=>{${REPORT_USAGE}})`;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(rss)}`, cli, ...command, '--config', configFile, '--json'], {
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 256 << 20,
  });
  const ms = performance.now() - t0;
  const m = /CREDSYNC_BENCH_MAXRSS=(\d+)/.exec(r.stderr ?? '');
  if (!m) throw new Error(`one invocation: no RSS reported (exit ${r.status}): ${(r.stderr ?? String(r.error)).slice(-500)}`);
  return { ms, peakRssMiB: Number(m[1]) / 1024, ok: r.status === 0, ...cpuOf(r.stderr) };
}

/**
 * A sync by the packaged scheduled Lambda function in a new process, as the Lambda runtime runs it:
 * the handler is loaded from the unzipped `.serverless/scheduled.zip` (`serverless package`) and
 * invoked with a schedule event and a context with 15 minutes left. Wall time is spawn to exit.
 */
export function invokeLambda(dir: string, configFile: string, heapMb?: number): Invocation {
  const handler = readdirSync(path.join(dir, 'handlers')).find((f) => /^scheduled\.(c|m)?js$/.test(f));
  if (!handler) throw new Error(`one invocation: no scheduled handler in ${dir}/handlers`);
  const script =
    `const m = await import(${JSON.stringify(pathToFileURL(path.join(dir, 'handlers', handler)).href)});` +
    `const h = m.handler ?? m.default?.handler;` +
    `const r = await h({ id: 'bench', time: new Date().toISOString(), 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} }, { getRemainingTimeInMillis: () => 900000 });` +
    REPORT_USAGE +
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
  return { ms, peakRssMiB: Number(m[1]) / 1024, ok: r.status === 0, ...cpuOf(r.stderr) };
}

/** The CPU time (user + system, ms) an invocation reported, if it did. */
function cpuOf(stderr: string | undefined): { cpuMs?: number } {
  const c = /CREDSYNC_BENCH_CPU=(\d+)/.exec(stderr ?? '');
  return c ? { cpuMs: Math.round(Number(c[1]) / 1000) } : {};
}

export interface SyncRun {
  ms: number;
  dataPlanePhaseMs: number;
  busyMs: Counts['busyMs'];
  calls: CallSummary;
  report: SyncReport;
  /** TLS handshakes this run made, and to how many API servers. */
  handshakes: number;
  servers: number;
  /** Critical-path bound (ms) and its terms: the drain plan's reads + batch read + slowest data plane's chain + control-plane phase. */
  boundMs: number;
  path: CriticalPath;
  batchFallback: boolean;
}

const totalHandshakes = () => Object.values(tlsHandshakes()).reduce((a, b) => a + b, 0);

export async function timedSync(env: EnvInfo, cfg: Config): Promise<SyncRun> {
  const c = newCounts();
  const deps = countedDeps(cfg, env, c);
  closeAllSessions(); // as in a new function instance: no connection open yet
  const before = totalHandshakes();
  const sentBefore = requestsSent();
  const start = performance.now();
  const report = await runSync(deps);
  const end = performance.now();
  const ms = end - start;
  const handshakes = totalHandshakes() - before;
  const sentAfter = requestsSent();
  for (const [name, key] of [['SelfSubjectReview', 'POST selfsubjectreviews'], ['SelfSubjectAccessReview', 'POST selfsubjectaccessreviews']] as const)
    bump(c.verify, name, (sentAfter[key] ?? 0) - (sentBefore[key] ?? 0));
  const servers = new Set([cfg.controlPlane.access, ...cfg.dataPlanes.map((d) => d.access)].map((a) => JSON.stringify(a.type === 'kubeconfig' ? a.context : a))).size;
  const path = criticalPath({ start, end, batchSpan: c.batchSpan, chainSpans: c.chainSpans.values(), controlPlaneSpans: c.controlPlaneSpans });
  return {
    ms,
    dataPlanePhaseMs: path.dataPlanePhaseMs,
    busyMs: c.busyMs,
    calls: summarize(c),
    report,
    handshakes,
    servers,
    boundMs: path.boundMs,
    path,
    batchFallback: c.batchFallback,
  };
}

function failuresOf(r: SyncReport): string {
  const bad = r.clusters.filter((c) => c.status === 'failed').map((c) => `${c.id}: ${c.code} ${c.reason}`);
  if (r.controlPlaneError) bad.push(`control plane: ${r.controlPlaneError.code} ${r.controlPlaneError.reason}`);
  for (const f of r.controlPlane?.restartFailures ?? []) bad.push(`restart ${f.name}: ${f.reason}`);
  return bad.slice(0, 5).join('; ');
}

export function checkFirst(n: number, run: SyncRun): void {
  const r = run.report;
  if (!r.ok) throw new Error(`first sync of ${n} data planes failed: ${failuresOf(r)}`);
  const notCreated = r.clusters.filter((c) => c.store !== 'created');
  if (notCreated.length) throw new Error(`first sync: ${notCreated.length} store entries not created (fresh prefix expected)`);
  if (r.controlPlane?.restarted.length !== CONTROL_PLANE_DEPLOYMENTS.length) throw new Error('first sync did not restart the control plane');
}

export function checkNoop(n: number, run: SyncRun): string | undefined {
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

export interface Invocation {
  ms: number;
  peakRssMiB: number;
  ok: boolean;
  /** CPU time of the process (user + system), when it reported it. */
  cpuMs?: number;
}
