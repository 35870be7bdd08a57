/**
 * Cold-start benchmark (not a timed test): process start to handler ready, for each packaged
 * function, against an empty Node start and an empty handler, measured side by side in one run
 * (the targets take turns in every round, so a busy machine slows all of them alike).
 *
 *   npm run bench:cold -- [--runs 7] [--skip-package] [--json FILE] [--compare DIR] [--env DIR]
 *
 * Packages first (`serverless package`, `scripts/build.mjs`), unzips each `.serverless/<fn>.zip`
 * into a temporary directory and loads the handler from there, as the Lambda runtime does (an ES
 * module handler with import(), a CommonJS one with require());
 * each Cloud Function is imported from its deploy source `dist/gcf/<fn>/` after the Functions
 * Framework's server module, as the framework's main.js loads them (the framework, the function's
 * one dependency, resolves from this checkout's node_modules, as it would from its own); the
 * framework alone is a target too.
 * Reports the wall time of the whole process (median, min–max) and its peak RSS. `--compare DIR`
 * adds the zips of another checkout's `DIR/.serverless/` (e.g. main's) and its `DIR/dist/gcf/` to
 * the same rounds.
 *
 * `--env DIR` (a running local environment, `npm run testenv -- up --dir DIR`) also times process
 * start to the end of a first invocation of each `resync` function (this checkout's and the
 * compared one's), a dry run over two data planes with kubeconfig access and moto as the store:
 * what a cold start leaves to the first invocation (the configuration, the store, client-node's
 * KubeConfig, the sync) is in that figure, so moving work out of init does not hide it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';

const root = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    'skip-package': { type: 'boolean', default: false },
    json: { type: 'string' },
    compare: { type: 'string' },
    env: { type: 'string' },
  },
});
const runs = Number(values.runs);

/** Bytes of every file under `dir`. */
function treeBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((a, e) => a + (e.isDirectory() ? treeBytes(path.join(dir, e.name)) : e.isFile() ? statSync(path.join(dir, e.name)).size : 0), 0);
}
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
  /** `preload`: a module required first (the Functions Framework's server, as its main.js does). */
  type Target = { name: string; cwd: string; require?: string; preload?: string; size?: string; invoke?: boolean };
  const targets: Target[] = [{ name: 'node -e 0 (empty Node start)', cwd: work }];
  const empty = path.join(work, 'empty');
  mkdirSync(empty);
  writeFileSync(path.join(empty, 'handler.cjs'), 'exports.handler = async () => ({});\n');
  writeFileSync(path.join(empty, 'handler.mjs'), 'export const handler = async () => ({});\n');
  targets.push({ name: 'empty handler (CommonJS)', cwd: empty, require: './handler.cjs' });
  targets.push({ name: 'empty handler (ES module)', cwd: empty, require: './handler.mjs' });
  const lambdaTargets = (from: string, label: string) => {
    if (label && !statSync(path.join(from, '.serverless'), { throwIfNoEntry: false })) return console.error(`${from}: no .serverless/, no Lambda zips to compare`);
    for (const zip of readdirSync(path.join(from, '.serverless')).filter((f) => f.endsWith('.zip')).sort()) {
      const fn = zip.replace(/\.zip$/, '');
      const dir = path.join(work, `${label}${fn}`);
      run('python3', ['-m', 'zipfile', '-e', path.join(from, '.serverless', zip), dir], `unzip ${zip}`);
      const handler = readdirSync(path.join(dir, 'handlers')).find((f) => /^[^.]+\.[cm]?js$/.test(f) && f.startsWith(`${fn}.`))!;
      targets.push({ name: `${label}Lambda ${fn}`, cwd: dir, require: `./handlers/${handler}`, size: `${(statSync(path.join(from, '.serverless', zip)).size / 1024).toFixed(0)} KiB zip` });
      if (values.env && fn === 'resync') targets.push({ name: `${label}Lambda resync, to the end of a first invocation`, cwd: dir, require: `./handlers/${handler}`, invoke: true });
    }
  };
  lambdaTargets(root, '');
  if (values.compare) lambdaTargets(path.resolve(values.compare), 'compared: ');
  // Google Cloud Functions: each function's deploy source dist/gcf/<fn>/ (or, in a compared
  // checkout from before, the one bundle dist/gcf/index.js). The framework's main.js loads its
  // server module (Express and the rest) before it loads the function, so every Cloud Functions
  // target loads that first, and "Functions Framework alone" is what a function adds to.
  const frameworkServer = path.join(root, 'node_modules/@google-cloud/functions-framework/build/src/server.js');
  targets.push({ name: 'Functions Framework alone (its server module)', cwd: work, preload: frameworkServer });
  const gcfTargets = (from: string, label: string) => {
    const dir = path.join(from, 'dist/gcf');
    const one = path.join(dir, 'index.js');
    const sources = statSync(one, { throwIfNoEntry: false }) ? [{ fn: 'dist/gcf (one bundle)', dir }] : readdirSync(dir).sort().map((fn) => ({ fn, dir: path.join(dir, fn) }));
    for (const { fn, dir: src } of sources)
      targets.push({ name: `${label}Cloud Functions ${fn}`, cwd: src, require: './index.js', preload: frameworkServer, size: `${(treeBytes(src) / 1024).toFixed(0)} KiB source` });
  };
  gcfTargets(root, '');
  if (values.compare) gcfTargets(path.resolve(values.compare), 'compared: ');

  // The first invocations' configuration: the environment's first two data planes (seeded with a
  // filled token Secret), kubeconfig access, moto as the store, a prefix of this run (a dry run
  // writes nothing).
  let invokeEnv: Record<string, string> = {};
  if (values.env) {
    const env = JSON.parse(readFileSync(path.join(path.resolve(values.env), 'env.json'), 'utf8')) as {
      kubeconfig: string;
      controlPlane: string;
      dataPlanes: string[];
      aws: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
    };
    const config = path.join(work, 'credsync.yaml');
    const kube = (context: string) => ({ type: 'kubeconfig', context, path: env.kubeconfig });
    writeFileSync(
      config,
      toYaml({
        controlPlane: { access: kube(env.controlPlane) },
        store: { aws: { region: env.aws.region, prefix: `credsync-cold-${process.pid}/`, endpoint: env.aws.endpoint } },
        dataPlanes: env.dataPlanes.slice(0, 2).map((id) => ({ id, access: kube(id), labels: { team1: 1 } })),
      }),
    );
    invokeEnv = {
      CREDSYNC_CONFIG: config,
      AWS_ACCESS_KEY_ID: env.aws.accessKeyId,
      AWS_SECRET_ACCESS_KEY: env.aws.secretAccessKey,
      AWS_REGION: env.aws.region,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
    };
  }

  const results = new Map<string, { ms: number[]; cpuMs: number[]; rssMiB: number[] }>(targets.map((t) => [t.name, { ms: [], cpuMs: [], rssMiB: [] }]));
  // Peak RSS and the process's CPU time (user + system, all threads): on a shared machine the CPU
  // time varies far less than the wall time.
  const done = 'const u = process.resourceUsage(); process.stdout.write(`${u.maxRSS} ${u.userCPUTime + u.systemCPUTime}`)';
  for (let r = 1; r <= runs; r++) {
    for (const t of targets) {
      // As the Lambda runtime loads a handler: an ES module (.mjs, or .js under "type": "module") with
      // import(), a CommonJS one with require(). A first invocation ends when the handler returns
      // (Lambda freezes the process there: exit instead of waiting for idle connections).
      const preload = t.preload ? `require(${JSON.stringify(t.preload)}); ` : '';
      const load = !t.require ? '' : t.require.endsWith('.cjs') ? `Promise.resolve(require(${JSON.stringify(t.require)}))` : `import(${JSON.stringify(pathToFileURL(path.join(t.cwd, t.require)).href)})`;
      const script = preload + (!t.require
        ? done
        : t.invoke
          ? `${load}.then((m) => m.handler({ dryRun: true })).then((r) => { if (!r.ok) throw new Error('sync not ok'); ${done}; process.exit(0); }, (e) => { console.error(e.message); process.exit(1); })`
          : `${load}.then(() => { ${done}; })`);
      const t0 = performance.now();
      const p = spawnSync(process.execPath, ['-e', script], { cwd: t.cwd, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env['PATH'] ?? '', ...(t.invoke ? invokeEnv : {}) } });
      const ms = performance.now() - t0;
      if (p.status !== 0) throw new Error(`${t.name}: exit ${p.status}: ${p.stderr.slice(-1000)}`);
      const [rss, cpu] = p.stdout.trim().split(' ').map(Number);
      results.get(t.name)!.ms.push(ms);
      results.get(t.name)!.cpuMs.push(cpu! / 1000);
      results.get(t.name)!.rssMiB.push(rss! / 1024);
    }
    console.error(`round ${r}/${runs} done`);
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const base = median(results.get(targets[0]!.name)!.ms);
  const cpuBase = median(results.get(targets[0]!.name)!.cpuMs);
  const [l1, l5] = loadavg();
  console.log(`cold start, ${runs} rounds (targets interleaved), node ${process.version}; ${new Date().toISOString()}; load average ${l1!.toFixed(1)} (1 min), ${l5!.toFixed(1)} (5 min)`);
  const fw = results.get('Functions Framework alone (its server module)')!;
  const [fwMs, fwCpu] = [median(fw.ms), median(fw.cpuMs)];
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(0)}`;
  console.log('| target | size | wall ms median (min–max) | above empty Node | CPU ms median (above empty Node) | above the Functions Framework alone (wall / CPU ms) | peak RSS MiB (median) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const out: Record<string, unknown> = {};
  for (const t of targets) {
    const r = results.get(t.name)!;
    const m = median(r.ms);
    const c = median(r.cpuMs);
    const loads = !!(t.require || t.preload);
    const gcf = !!(t.preload && t.require);
    out[t.name] = { ...r, medianMs: m, aboveEmptyMs: m - base, medianCpuMs: c, cpuAboveEmptyMs: c - cpuBase, ...(gcf ? { aboveFrameworkMs: m - fwMs, cpuAboveFrameworkMs: c - fwCpu } : {}), size: t.size };
    console.log(
      `| ${t.name} | ${t.size ?? '–'} | ${m.toFixed(0)} (${Math.min(...r.ms).toFixed(0)}–${Math.max(...r.ms).toFixed(0)}) | ${loads ? signed(m - base) : '–'} | ${c.toFixed(0)}${loads ? ` (${signed(c - cpuBase)})` : ''} | ${gcf ? `${signed(m - fwMs)} / ${signed(c - fwCpu)}` : '–'} | ${median(r.rssMiB).toFixed(0)} |`,
    );
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), runs, node: process.version, loadavg: loadavg(), results: out }, null, 2) + '\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}
