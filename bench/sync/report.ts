/** The benchmark's tables (Markdown): times, calls per data plane, critical path, one invocation. */
import { CONTROL_PLANE_WRITES, median, stat, type CallSummary, type Counts, type Stat } from './counting.ts';
import type { Invocation, SyncRun } from './runs.ts';

interface PathFigures {
  /** Critical-path bound per run (ms), and each run's time over its own bound. */
  boundMs: Stat;
  overBound: number[];
  /** TLS handshakes per run (max over the runs) and the API servers the run talked to. */
  handshakesMax: number;
  servers: number;
  batchFallback: boolean;
}

export interface SizeResult {
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

export function pathFigures(runs: SyncRun[]): PathFigures {
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

export function table(rows: SizeResult[]): string {
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

export function pathTable(rows: SizeResult[]): string {
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

export function invocationTable(rows: SizeResult[]): string {
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

export function callsTable(rows: SizeResult[]): string {
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
