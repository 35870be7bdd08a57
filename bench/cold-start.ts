/**
 * Cold-start benchmark (not a timed test): process start to handler ready, for each packaged
 * function, against an empty Node start and an empty handler, measured side by side in one run
 * (the targets take turns in every round, so a busy machine slows all of them alike).
 *
 *   npm run bench:cold -- [--runs 7] [--skip-package] [--json FILE] [--compare DIR]
 *
 * Packages first (`serverless package`, `scripts/build.mjs`), unzips each `.serverless/<fn>.zip`
 * into a temporary directory and requires the handler from there, as the Lambda runtime does;
 * the Cloud Functions bundle is required from `dist/gcf/` (its one dependency, the Functions
 * Framework, resolves from this checkout's node_modules, as it would from its own).
 * Reports the wall time of the whole process (median, min–max) and its peak RSS. `--compare DIR`
 * adds the zips of another checkout's `DIR/.serverless/` (e.g. main's) to the same rounds.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '7' }, 'skip-package': { type: 'boolean', default: false }, json: { type: 'string' }, compare: { type: 'string' } },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be an integer >= 1');

function run(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 600_000, env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' } });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${(r.stderr || r.stdout || String(r.error)).slice(-2000)}`);
}

if (!values['skip-package']) {
  console.error('packaging (serverless package, scripts/build.mjs)…');
  run(process.execPath, ['node_modules/osls/bin/serverless.js', 'package'], 'serverless package');
  run(process.execPath, ['scripts/build.mjs'], 'scripts/build.mjs');
}

const work = mkdtempSync(path.join(tmpdir(), 'credsync-cold-'));
try {
  const targets: Array<{ name: string; cwd: string; require?: string; size?: string }> = [{ name: 'node -e 0 (empty Node start)', cwd: work }];
  const empty = path.join(work, 'empty');
  mkdirSync(empty);
  writeFileSync(path.join(empty, 'handler.cjs'), 'exports.handler = async () => ({});\n');
  targets.push({ name: 'empty handler', cwd: empty, require: './handler.cjs' });
  const lambdaTargets = (from: string, label: string) => {
    for (const zip of readdirSync(path.join(from, '.serverless')).filter((f) => f.endsWith('.zip')).sort()) {
      const fn = zip.replace(/\.zip$/, '');
      const dir = path.join(work, `${label}${fn}`);
      run('python3', ['-m', 'zipfile', '-e', path.join(from, '.serverless', zip), dir], `unzip ${zip}`);
      const handler = readdirSync(path.join(dir, 'handlers')).find((f) => f.startsWith(`${fn}.`))!;
      targets.push({ name: `${label}Lambda ${fn}`, cwd: dir, require: `./handlers/${handler}`, size: `${(statSync(path.join(from, '.serverless', zip)).size / 1024).toFixed(0)} KiB zip` });
    }
  };
  lambdaTargets(root, '');
  if (values.compare) lambdaTargets(path.resolve(values.compare), 'compared: ');
  const gcfBytes = readdirSync(path.join(root, 'dist/gcf')).reduce((a, f) => a + (statSync(path.join(root, 'dist/gcf', f)).isFile() ? statSync(path.join(root, 'dist/gcf', f)).size : 0), 0);
  targets.push({ name: 'Cloud Functions dist/gcf', cwd: path.join(root, 'dist/gcf'), require: './index.js', size: `${(gcfBytes / 1024).toFixed(0)} KiB (index.js + package.json)` });

  const results = new Map<string, { ms: number[]; rssMiB: number[] }>(targets.map((t) => [t.name, { ms: [], rssMiB: [] }]));
  for (let r = 1; r <= runs; r++) {
    for (const t of targets) {
      const script = `${t.require ? `require(${JSON.stringify(t.require)});` : ''}process.stdout.write(String(process.resourceUsage().maxRSS))`;
      const t0 = performance.now();
      const p = spawnSync(process.execPath, ['-e', script], { cwd: t.cwd, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env['PATH'] ?? '' } });
      const ms = performance.now() - t0;
      if (p.status !== 0) throw new Error(`${t.name}: exit ${p.status}: ${p.stderr.slice(-1000)}`);
      results.get(t.name)!.ms.push(ms);
      results.get(t.name)!.rssMiB.push(Number(p.stdout) / 1024);
    }
    console.error(`round ${r}/${runs} done`);
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const base = median(results.get(targets[0]!.name)!.ms);
  console.log(`cold start, ${runs} rounds (targets interleaved), node ${process.version}; ${new Date().toISOString()}`);
  console.log('| target | size | wall ms median (min–max) | above empty Node | peak RSS MiB (median) |');
  console.log('| --- | --- | --- | --- | --- |');
  const out: Record<string, unknown> = {};
  for (const t of targets) {
    const r = results.get(t.name)!;
    const m = median(r.ms);
    out[t.name] = { ...r, medianMs: m, aboveEmptyMs: m - base, size: t.size };
    console.log(
      `| ${t.name} | ${t.size ?? '–'} | ${m.toFixed(0)} (${Math.min(...r.ms).toFixed(0)}–${Math.max(...r.ms).toFixed(0)}) | ${t.require ? `+${(m - base).toFixed(0)}` : '–'} | ${median(r.rssMiB).toFixed(0)} |`,
    );
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), runs, node: process.version, results: out }, null, 2) + '\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}
