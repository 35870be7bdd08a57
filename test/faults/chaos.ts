/**
 * A randomized fault run, beside the fault suite: `npm run chaos -- --minutes N --seed S`.
 *
 * On an environment of its own (`.testenv-chaos/`, 2 data planes; started here when not running
 * and stopped at the end if started here), it runs syncs in their own processes
 * (./sync-child.ts) and injects a fault chosen from the seed at a point chosen from the seed:
 *   kill-run           a run SIGKILLed before or after one of the apply's writes
 *   stop-run           a run SIGSTOPped with a write in flight, longer than its Lease, then resumed
 *   second-writer      a run paused between its ConfigMap writes while another configuration applies
 *   stop-store         moto SIGSTOPped while a run reads the store, then resumed
 *   kill-apiserver     a data plane's API server SIGKILLed before a run, restarted after it
 *   delete-secret      a data plane's token Secret deleted before a run
 *   switch-config      the next run applies the other configuration (labels and weights changed)
 *   clean              a clean run
 * After every step the invariants are checked from the live state (./harness.ts): right after a
 * fault, that flyteadmin can start (every file clusters.yaml names is in the Secret); after a run
 * that completed, all of them (keys match clusters.yaml, both ConfigMaps agree, every data plane's
 * published credential authenticates, the Deployments are not behind, the report tells the truth,
 * no label routes nowhere). When the time is up, two clean runs: the second must be a no-op.
 * Every violation is printed with the seed and the step; the same seed gives the same sequence of
 * faults and points. Exit 0 with no violation, 1 otherwise. Not part of `npm test`.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { adminKubeConfig, down, readEnv, REPO_ROOT, restartServer, signalServer, up, type EnvInfo } from '../env/testenv.ts';
import { resetControlPlane } from '../integration/helpers.ts';
import { CONFIG_MAPS, clustersOf, controlState, invariantViolations, runChild, safetyViolations, startChild, writeConfig, type ChildResult } from './harness.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, seed: { type: 'string' }, 'env-dir': { type: 'string' } } });
const minutes = Number(values.minutes);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isFinite(minutes) || minutes <= 0 || !Number.isInteger(seed)) {
  process.stderr.write('usage: npm run chaos -- [--minutes N] [--seed S] [--env-dir DIR]\n');
  process.exit(2);
}

/** mulberry32: a small PRNG; the whole sequence of faults and points follows from the seed. */
function prng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

const dir = values['env-dir'] ?? path.join(REPO_ROOT, '.testenv-chaos');
let env = await readEnv({ dir });
let started = false;
if (!env) {
  process.stderr.write(`chaos: starting an environment of its own in ${dir}\n`);
  env = await up({ dir, dataPlanes: 2 });
  await writeFile(path.join(env.dir, 'started-by-chaos'), `${process.pid}\n`);
  started = true;
}
const E: EnvInfo = env;
const [dp1, dp2] = E.dataPlanes as [string, string];
const ids = [dp1, dp2];

// Two configurations a run may apply; a short Lease so that a killed holder delays the next run little.
const LEASE = { controlPlane: { lease: { durationSeconds: 3 } } };
const prefix = `chaos-s${seed}-${Date.now().toString(36)}/`;
const configs = {
  a: writeConfig(E, prefix, [{ id: dp1, labels: { team1: 1, gpu: 1 } }, { id: dp2, labels: { team1: 0.5 } }], LEASE),
  b: writeConfig(E, prefix, [{ id: dp1, labels: { team1: 0.5 } }, { id: dp2, labels: { team1: 1, gpu: 1 } }], LEASE),
};
let current: keyof typeof configs = 'a';

const WRITE_POINTS = ['replaceSecret:1', 'replaceConfigMap:1', 'replaceConfigMap:2', 'restartDeployment:1', 'restartDeployment:2'];
const KINDS = ['kill-run', 'stop-run', 'second-writer', 'stop-store', 'kill-apiserver', 'delete-secret', 'switch-config', 'clean'] as const;
type Kind = (typeof KINDS)[number];

const figures = { steps: 0, runs: 0, faults: Object.fromEntries(KINDS.filter((k) => k !== 'clean').map((k) => [k, 0])) as Record<string, number>, violations: [] as string[] };
const t0 = Date.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function violation(step: number, kind: string, what: string, v: string[]): void {
  for (const x of v) {
    const line = `VIOLATION seed=${seed} step=${step} (${kind}, ${what}): ${x}`;
    figures.violations.push(line);
    process.stderr.write(line + '\n');
  }
}

async function run(cfg: string, opts: Parameters<typeof runChild>[2] = {}): Promise<ChildResult> {
  figures.runs++;
  return runChild(E, cfg, opts);
}

async function waitServing(cluster: string): Promise<void> {
  const c = adminKubeConfig(E, cluster).makeApiClient(CoreV1Api);
  for (let i = 0; i < 600; i++) {
    if (await c.readNamespace({ name: 'flyte' }).then(() => true, () => false)) return;
    await sleep(200);
  }
  throw new Error(`${cluster} does not serve again`);
}

/** Labels that route nowhere: a label whose members are all absent or disabled. */
function routesNowhere(text: string): string[] {
  const c = clustersOf(text);
  const enabled = new Set((c.clusterConfigs ?? []).filter((e) => e.enabled).map((e) => e.name));
  return Object.entries(c.labelClusterMap ?? {}).filter(([, ms]) => !ms.some((m) => enabled.has(m.id))).map(([l]) => `label ${l} routes nowhere`);
}

/** One step: a fault of `kind` and the runs around it; returns the last completed run, if any. */
async function step(kind: Kind): Promise<{ what: string; completed?: ChildResult }> {
  const cfg = configs[current];
  switch (kind) {
    case 'kill-run': {
      const fault = `kill:${pick(['before', 'after'])}:${pick(WRITE_POINTS)}`;
      await run(cfg, { fault });
      return { what: fault };
    }
    case 'stop-run': {
      const point = pick(['replaceConfigMap:1', 'replaceConfigMap:2', 'replaceSecret:1']);
      const child = startChild(E, cfg, { fault: `stop:during:${point}`, timeoutMs: 240_000 });
      figures.runs++;
      const faulted = await child.waitFor('FAULT', 120_000).then(() => true, () => false);
      if (faulted) {
        await sleep(3_000 + Math.floor(random() * 20_000));
        process.kill(child.pid, 'SIGCONT');
      }
      await child.done;
      return { what: `stop:during:${point}${faulted ? '' : ' (point not reached: nothing to write)'}` };
    }
    case 'second-writer': {
      const other = current === 'a' ? configs.b : configs.a;
      const a = startChild(E, other, { fault: 'stop:after:replaceConfigMap:1' });
      figures.runs += 2;
      const faulted = await a.waitFor('FAULT', 120_000).then(() => true, () => false);
      const b = startChild(E, cfg);
      if (faulted) {
        await b.waitFor('waiting for another sync to finish with the control plane', 120_000).catch(() => undefined);
        process.kill(a.pid, 'SIGCONT');
      }
      await Promise.all([a.done, b.done]);
      return { what: `a run of the other configuration paused between its ConfigMap writes${faulted ? '' : ' (not reached)'}` };
    }
    case 'stop-store': {
      const child = startChild(E, cfg, { fault: `stop:after:dataPlane.${dp1}.getSecret:1`, timeoutMs: 240_000 });
      figures.runs++;
      const faulted = await child.waitFor('FAULT', 120_000).then(() => true, () => false);
      await signalServer('moto', 'SIGSTOP', { dir: E.dir });
      if (faulted) process.kill(child.pid, 'SIGCONT');
      await sleep(2_000 + Math.floor(random() * 8_000));
      await signalServer('moto', 'SIGCONT', { dir: E.dir });
      await child.done;
      return { what: 'moto stopped mid-run' };
    }
    case 'kill-apiserver': {
      const dp = pick(ids);
      await signalServer(`kube-apiserver-${dp}`, 'SIGKILL', { dir: E.dir });
      try {
        await run(cfg);
      } finally {
        await restartServer(`kube-apiserver-${dp}`, { dir: E.dir });
        await waitServing(dp);
      }
      return { what: `kube-apiserver-${dp} killed during a run` };
    }
    case 'delete-secret': {
      const dp = pick(ids);
      await adminKubeConfig(E, dp).makeApiClient(CoreV1Api).deleteNamespacedSecret({ name: 'flyteadmin-token', namespace: 'flyte' }).catch(() => undefined);
      const r = await run(cfg);
      return { what: `${dp}'s token Secret deleted`, completed: r };
    }
    case 'switch-config': {
      current = current === 'a' ? 'b' : 'a';
      const r = await run(configs[current]);
      return { what: `configuration ${current}`, completed: r };
    }
    case 'clean': {
      const r = await run(cfg);
      return { what: 'clean run', completed: r };
    }
  }
}

await resetControlPlane(E);
process.stderr.write(`chaos: seed ${seed}, ${minutes} min, environment ${E.dir}, store prefix ${prefix}\n`);
{
  const r = await run(configs[current]);
  if (r.code !== 0) violation(0, 'setup', 'first sync', [`the first sync failed (exit ${r.code}): ${r.stderr.slice(-500)}`]);
}
try {
  while (Date.now() - t0 < minutes * 60_000) {
    const n = ++figures.steps;
    const kind = pick(KINDS);
    if (kind !== 'clean') figures.faults[kind]!++;
    const { what, completed } = await step(kind);
    // Right after any fault: flyteadmin can start.
    const st = await controlState(E);
    violation(n, kind, what, safetyViolations(st));
    // After a run that completed: everything.
    if (completed?.code === 0 && completed.report) {
      violation(n, kind, what, await invariantViolations(E, st, { ids, lastGood: ids, report: completed.report }));
      violation(n, kind, what, CONFIG_MAPS.flatMap((m) => routesNowhere(st.clustersYaml[m]!)));
    } else if (completed) {
      violation(n, kind, what, [`a run with no fault injected failed (exit ${completed.code}): ${completed.report?.clusters.filter((c) => c.status === 'failed').map((c) => `${c.id} ${c.code}`).join(', ') ?? completed.stderr.slice(-300)}`]);
    }
    process.stderr.write(`chaos: step ${n} ${kind}: ${what}\n`);
  }
  // The faults stop: two clean runs converge, the second is a no-op.
  const first = await run(configs[current]);
  const second = await run(configs[current]);
  const st = await controlState(E);
  const end = figures.steps + 1;
  if (first.code !== 0) violation(end, 'converge', 'first clean run', [`exit ${first.code}`]);
  if (second.code !== 0 || !second.report) violation(end, 'converge', 'second clean run', [`exit ${second.code}`]);
  else {
    violation(end, 'converge', 'second clean run', await invariantViolations(E, st, { ids, lastGood: ids, report: second.report }));
    const cp = second.report.controlPlane;
    if (cp?.applied !== false || (cp?.restarted.length ?? 0) > 0) violation(end, 'converge', 'second clean run', [`not a no-op: applied ${cp?.applied}, restarted ${cp?.restarted.join(', ')}`]);
  }
} finally {
  const mins = ((Date.now() - t0) / 60_000).toFixed(1);
  const faults = Object.entries(figures.faults).map(([k, v]) => `${k} ${v}`).join(', ');
  process.stdout.write(`chaos: seed ${seed}: ${mins} min, ${figures.steps} steps, ${figures.runs} runs, faults injected: ${faults}; ${figures.violations.length} invariant violations\n`);
  for (const v of figures.violations) process.stdout.write(v + '\n');
  if (started) await down({ dir });
}
process.exit(figures.violations.length ? 1 : 0);
