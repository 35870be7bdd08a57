/**
 * A randomized fault run, beside the fault suite: `npm run chaos -- --minutes N --seed S`.
 *
 * On an environment of its own (`.testenv-chaos/`, 2 data planes; started here when not running
 * and stopped at the end if started here), it runs syncs in their own processes
 * (./sync-child.ts) with one of four configurations (two routings, labels and weights, times two
 * stores, AWS Secrets Manager on moto and GCP Secret Manager on its emulator) and, at each step,
 * injects a fault chosen from the seed at a point chosen from the seed:
 *   kill-run           a run (of either routing) SIGKILLed before or after one of the apply's writes
 *   stop-run           a run (of either routing) SIGSTOPped with a write in flight, 3 to 23 s (past its 3 s Lease), then resumed
 *   lease-takeover     a run of the other routing SIGSTOPped with a ConfigMap write in flight while a
 *                      run of the current one takes its lapsed Lease over, resumed 0 to 25 s later
 *   second-writer      a run paused between its ConfigMap writes while another configuration applies
 *   stop-store         the store's server (moto or the GCP emulator) SIGSTOPped 2 to 10 s mid-run
 *   kill-store         the store's server SIGKILLed mid-run and restarted (its content is lost)
 *   kill-apiserver     a data plane's API server SIGKILLed before a run, restarted after it
 *   throttle           a 429 storm (1 to 40 s, Retry-After 1, 2, 5 s or none) on the control plane's
 *                      or a data plane's API server (./throttle.ts), from a point of the run
 *   delete-secret      a data plane's token Secret deleted before a run
 *   delete-sa          a data plane's flyteadmin ServiceAccount deleted (its token Secret goes with
 *                      it), a run, the ServiceAccount re-created, a run
 *   revoke-binding     a data plane's flyteadmin ClusterRoleBinding deleted, a run (with
 *                      onCredentialRejected unroute or keep), the binding restored, a run
 *   switch-config      the next runs apply another configuration (the other routing, or the other store)
 *   clean              a clean run
 * After every run, the invariants are checked from the live state (./harness.ts): always, that
 * flyteadmin can start (every file clusters.yaml names is in the Secret); after a run that
 * completed, all of them (keys match clusters.yaml, both ConfigMaps agree, every published
 * credential authenticates, the Deployments are not behind, the report tells the truth, no label
 * routes nowhere, routing is the configuration's, the store holds what the control plane
 * publishes); after a run expected to fail, that it failed only where and as expected (a coded
 * error), with routing kept or taken out as `onCredentialRejected` says, and every other invariant.
 * When the time is up, two clean runs: the second must be a no-op.
 * Every violation is printed with the seed and the step; the same seed gives the same sequence of
 * faults and points (every random choice of a step is drawn before it acts). Exit 0 with no
 * violation, 1 otherwise. Not part of `npm test`.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { spawn } from 'node:child_process';
import { CoreV1Api, RbacAuthorizationV1Api, AuthorizationV1Api, type V1ClusterRoleBinding } from '@kubernetes/client-node';
import { adminKubeConfig, down, readEnv, REPO_ROOT, restartApiServer, restartServer, signalServer, up, type EnvInfo } from '../env/testenv.ts';
import { tcpOpen } from '../env/probes.ts';
import { resetControlPlane } from '../integration/helpers.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { buildStore } from '../../lib/runtime/wiring.ts';
import { shortFingerprint, type SecretStore } from '../../lib/stores/types.ts';
import { CONFIG_MAPS, clustersOf, controlState, heldFingerprint, invariantViolations, runChild, safetyViolations, startChild, writeConfig, type ChildResult, type ControlState } from './harness.ts';
import { kubeconfigThrough, throttleProxy, type Storm } from './throttle.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, seed: { type: 'string' }, kinds: { type: 'string' }, 'env-dir': { type: 'string' } } });
const minutes = Number(values.minutes);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isFinite(minutes) || minutes <= 0 || !Number.isInteger(seed)) {
  process.stderr.write('usage: npm run chaos -- [--minutes N] [--seed S] [--kinds KIND,KIND...] [--env-dir DIR]\n');
  process.exit(2);
}

// A run stopped at its fault point is a stopped job of this process group. Should the shell that
// started the group exit meanwhile (`nohup npm run chaos ... &`), the group is orphaned with a
// stopped job, and the kernel hangs it up (SIGHUP then SIGCONT, POSIX): this process and the runs
// die. So the work happens in a session of its own, in a child that this process waits for.
if (!process.env['CREDSYNC_CHAOS_SESSION']) {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { detached: true, stdio: 'inherit', env: { ...process.env, CREDSYNC_CHAOS_SESSION: '1' } });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  process.on('SIGHUP', () => undefined);
  const code = await new Promise<number>((resolve) => child.on('exit', (c, sig) => resolve(c ?? 128 + (sig ? constants.signals[sig] : 0))));
  process.exit(code);
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
const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo));

const WRITE_POINTS = ['replaceSecret:1', 'replaceConfigMap:1', 'replaceConfigMap:2', 'restartDeployment:1', 'restartDeployment:2'];
const KINDS = [
  'kill-run', 'stop-run', 'lease-takeover', 'second-writer', 'stop-store', 'kill-store', 'kill-apiserver', 'throttle',
  'delete-secret', 'delete-sa', 'revoke-binding', 'switch-config', 'clean',
] as const;
type Kind = (typeof KINDS)[number];
/** --kinds: only these (a targeted run; the same seed and kinds give the same sequence). */
const chosen = (values.kinds?.split(',') ?? [...KINDS]) as Kind[];
const unknown = chosen.filter((k) => !KINDS.includes(k));
if (unknown.length || !chosen.length) {
  process.stderr.write(`chaos: unknown fault kinds ${unknown.join(', ')}; known: ${KINDS.join(', ')}\n`);
  process.exit(2);
}

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
// The store adapters read here (store and control plane agree) use the children's AWS credentials.
Object.assign(process.env, { AWS_ACCESS_KEY_ID: E.aws.accessKeyId, AWS_SECRET_ACCESS_KEY: E.aws.secretAccessKey, AWS_REGION: E.aws.region });

// ---------------------------------------------------------------------------------------------
// Configurations

type Routing = 'a' | 'b';
type StoreKind = 'aws' | 'gcp';
interface Setting {
  routing: Routing;
  store: StoreKind;
  onCredentialRejected?: 'unroute' | 'keep';
  /** A cluster reached through its throttling proxy. */
  via?: string;
}
const ROUTINGS: Record<Routing, Array<{ id: string; labels: Record<string, number> }>> = {
  a: [{ id: dp1, labels: { team1: 1, gpu: 1 } }, { id: dp2, labels: { team1: 0.5 } }],
  b: [{ id: dp1, labels: { team1: 0.5 } }, { id: dp2, labels: { team1: 1, gpu: 1 } }],
};
// A short Lease so that a killed holder delays the next run little.
const LEASE = { controlPlane: { lease: { durationSeconds: 3 } } };
const stamp = `chaos-s${seed}-${Date.now().toString(36)}`;
const STORES: Record<StoreKind, { server: string; config?: Record<string, unknown> }> = {
  aws: { server: 'moto' },
  gcp: { server: 'gcpsm', config: { store: { gcp: { project: E.gcp.project, prefix: `${stamp}-`, emulatorHost: E.gcp.secretManagerEndpoint } } } },
};
const storms: Record<string, Storm> = {};
for (const c of [E.controlPlane, dp1, dp2]) storms[c] = await throttleProxy(E.clusters[c]!);

const files = new Map<string, string>();
function configFor(s: Setting): string {
  const key = `${s.routing}-${s.store}-${s.onCredentialRejected ?? ''}-${s.via ?? ''}`;
  let file = files.get(key);
  if (!file) {
    const e = s.via ? { ...E, kubeconfig: kubeconfigThrough(E.kubeconfig, s.via, storms[s.via]!.server) } : E;
    file = writeConfig(e, `${stamp}/`, ROUTINGS[s.routing], { ...LEASE, ...STORES[s.store].config, ...(s.onCredentialRejected ? { onCredentialRejected: s.onCredentialRejected } : {}) });
    files.set(key, file);
  }
  return file;
}
const stores = new Map<StoreKind, SecretStore>();
async function storeOf(kind: StoreKind): Promise<SecretStore> {
  if (!stores.has(kind)) stores.set(kind, buildStore(await loadConfig(configFor({ routing: 'a', store: kind }))));
  return stores.get(kind)!;
}

let current: Setting = { routing: 'a', store: 'aws' };

// ---------------------------------------------------------------------------------------------
// Figures and checks

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

function run(s: Setting, opts: Parameters<typeof runChild>[2] = {}): Promise<ChildResult> {
  figures.runs++;
  return runChild(E, configFor(s), opts);
}
function start(s: Setting, opts: Parameters<typeof startChild>[2] = {}): ReturnType<typeof startChild> {
  figures.runs++;
  return startChild(E, configFor(s), opts);
}

/**
 * What a run must have done, checked once the step is over:
 * - `ok`: succeeded, and every invariant holds;
 * - `coded`: failed (or, with `mayPass`, succeeded) only as `failures` allows (data plane id, or
 *   `control-plane`, to its allowed codes); the data planes that failed are routed as `routing`
 *   says (default: as configured); every invariant holds, except that the credentials of `dead`
 *   may not authenticate;
 * - `outcome`: only whether it succeeded or failed as allowed (the state is another run's).
 */
interface Expect {
  run: ChildResult;
  setting: Setting;
  kind: 'ok' | 'coded' | 'outcome';
  failures?: Record<string, string[]>;
  mayPass?: boolean;
  routing?: Record<string, 'configured' | 'unrouted'>;
  dead?: string[];
  /** The store lost its content after the run read it: not compared with the control plane. */
  storeLost?: boolean;
  /** Which of the step's runs, in the violation's text. */
  label?: string;
}

/** Labels that route nowhere: a label whose members are all absent or disabled. */
function routesNowhere(text: string): string[] {
  const c = clustersOf(text);
  const enabled = new Set((c.clusterConfigs ?? []).filter((e) => e.enabled).map((e) => e.name));
  return Object.entries(c.labelClusterMap ?? {}).filter(([, ms]) => !ms.some((m) => enabled.has(m.id))).map(([l]) => `label ${l} routes nowhere`);
}

/** Whether data plane `id` is routed as the configuration says (`configured`) or taken out (`unrouted`, unless kept as a label's last member). */
function routingViolations(st: ControlState, s: Setting, id: string, want: 'configured' | 'unrouted', keptInLabels: string[] = []): string[] {
  const c = clustersOf(st.clustersYaml[CONFIG_MAPS[0]!]!);
  const entry = (c.clusterConfigs ?? []).find((e) => e.name === id);
  const member = Object.entries(c.labelClusterMap ?? {}).flatMap(([l, ms]) => ms.filter((m) => m.id === id).map((m) => [l, m.weight] as const));
  const got = JSON.stringify(Object.fromEntries(member.sort(([a], [b]) => a.localeCompare(b))));
  if (want === 'configured') {
    const labels = ROUTINGS[s.routing].find((d) => d.id === id)!.labels;
    const wanted = JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))));
    if (!entry?.enabled || got !== wanted) return [`${id} is not routed as configured (${s.routing}): enabled ${entry?.enabled}, labels ${got}, configured ${wanted}`];
    return [];
  }
  const kept = member.map(([l]) => l).sort();
  if (!entry) return [`${id} left clusterConfigs although only its routing may change`];
  if (keptInLabels.length ? !entry.enabled || JSON.stringify(kept) !== JSON.stringify([...keptInLabels].sort()) : entry.enabled || kept.length)
    return [`${id} was not taken out of routing: enabled ${entry.enabled}, labels ${kept}, kept as the last member of ${keptInLabels}`];
  return [];
}

/** The store holds, for every data plane, the credential the control plane publishes. */
async function storeViolations(st: ControlState, s: Setting): Promise<string[]> {
  const store = await storeOf(s.store);
  const out: string[] = [];
  for (const id of ids) {
    const got = await store.get(id).catch((e: Error) => e);
    if (got instanceof Error) out.push(`store (${s.store}): ${id} unreadable: ${got.message.slice(0, 200)}`);
    else if (shortFingerprint(got?.record.fingerprint ?? '') !== heldFingerprint(st, id)) out.push(`store (${s.store}) holds ${got ? shortFingerprint(got.record.fingerprint) : 'nothing'} for ${id}, the control plane publishes ${heldFingerprint(st, id)}`);
  }
  return out;
}

const failedOf = (r: ChildResult) => r.report?.clusters.filter((c) => c.status === 'failed') ?? [];
const describe = (r: ChildResult) =>
  `exit ${r.code ?? r.signal}: ${[...failedOf(r).map((c) => `${c.id} ${c.code} ${String(c.reason ?? '').slice(0, 200)}`), ...(r.report?.controlPlaneError ? [`control plane ${r.report.controlPlaneError.code} ${String(r.report.controlPlaneError.reason ?? '').slice(0, 200)}`] : []), ...(r.report?.controlPlane?.restartFailures ?? []).map((f) => `restart of ${f.name} ${f.code}`), ...(r.report ? [] : [r.stderr.slice(-1500)])].join('; ')}`;

async function check(x: Expect, st: ControlState): Promise<string[]> {
  const r = x.run;
  const out: string[] = [];
  const ok = r.code === 0 && !!r.report;
  const allowed = (id: string, code?: string) => !!code && (x.failures?.[id] ?? []).includes(code);
  const outcomeOk = () => {
    if (!r.report) return [`no report (${describe(r)})`];
    const bad = [
      ...failedOf(r).filter((c) => !allowed(c.id, c.code)).map((c) => `${c.id} failed with ${c.code}`),
      ...(r.report.controlPlaneError && !allowed('control-plane', r.report.controlPlaneError.code) ? [`the control plane failed with ${r.report.controlPlaneError.code}`] : []),
      ...(r.report.controlPlane?.restartFailures ?? []).filter((f) => !allowed('control-plane', f.code)).map((f) => `the restart of ${f.name} failed with ${f.code}`),
      ...(r.code !== 0 && !failedOf(r).length && !r.report.controlPlaneError && !r.report.controlPlane?.restartFailures.length ? ['it failed with no coded error'] : []),
    ];
    return bad.length ? [`${bad.join(', ')}, not as expected (${describe(r)})`] : [];
  };
  if (x.kind === 'outcome') return ok ? [] : outcomeOk();
  if (x.kind === 'ok' && !ok) return [`a run expected to succeed failed (${describe(r)})`];
  if (x.kind === 'coded' && ok && !x.mayPass) out.push('a run expected to fail succeeded');
  if (!ok) out.push(...outcomeOk());
  if (!r.report) return out;
  const dead = new Set(x.dead ?? []);
  // A run whose control-plane apply failed (e.g. its Lease renewal before a restart throttled) may
  // have written content and not restarted for it: the Deployments are behind until the next run
  // restarts them, which the next run that must succeed checks.
  const cpFailed = !!r.report.controlPlaneError || (r.report.controlPlane?.restartFailures.length ?? 0) > 0;
  const inv = await invariantViolations(E, st, { ids, lastGood: ids.filter((i) => !dead.has(i)), report: r.report });
  out.push(...(cpFailed ? inv.filter((v) => !/^Deployment \S+ is behind what was written$/.test(v)) : inv));
  out.push(...CONFIG_MAPS.flatMap((m) => routesNowhere(st.clustersYaml[m]!)));
  if (r.report.controlPlaneError) return out;
  for (const id of ids) {
    const c = r.report.clusters.find((y) => y.id === id);
    const want = c?.status === 'failed' ? (x.routing?.[id] ?? 'configured') : 'configured';
    out.push(...routingViolations(st, x.setting, id, want, c?.published?.keptInLabels));
  }
  if (ok && !x.storeLost) out.push(...(await storeViolations(st, x.setting)));
  return out;
}

let stepNo = 0;
let stepKind = 'setup';
/** Checks runs against the state now and records the violations under the current step. */
async function verify(what: string, ...xs: Expect[]): Promise<void> {
  const st = await controlState(E);
  for (const x of xs) violation(stepNo, stepKind, `${what}${x.label ? `; ${x.label}` : ''}`, await check(x, st));
}

// ---------------------------------------------------------------------------------------------
// Steps

const BINDING = 'flyte-flyteadmin-binding';
const SA = { name: 'flyteadmin', namespace: 'flyte' };
const SA_USER = `system:serviceaccount:${SA.namespace}:${SA.name}`;

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 180_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !(await probe().catch(() => false)); await sleep(250))
    if (Date.now() > end) throw new Error(`harness: ${what} within ${timeoutMs / 1000} s`);
}

/** Whether flyteadmin's ServiceAccount may create FlyteWorkflows on `cluster`, as its authorizer answers now. */
async function flyteadminMay(cluster: string): Promise<boolean> {
  const r = await adminKubeConfig(E, cluster).makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      spec: {
        user: SA_USER,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${SA.namespace}`, 'system:authenticated'],
        resourceAttributes: { verb: 'create', group: 'flyte.lyft.com', resource: 'flyteworkflows', namespace: SA.namespace },
      },
    },
  });
  return r.status?.allowed === true;
}

/** Resumes a stopped child; one that has ended already (it never got to its point) is left alone. */
function resume(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Waits (generously: a loaded machine) until a child stopped itself at its fault point; the step
 * resumes it. Should it get there only after the wait, it is resumed then (a slow run must never
 * stay stopped). False when it did not get there in time, or ended without getting there.
 */
async function reached(child: ReturnType<typeof startChild>): Promise<boolean> {
  const at = child.waitFor('FAULT', 280_000);
  const inTime = await at.then(() => true, () => false);
  if (!inTime) void child.waitFor('FAULT', 600_000).then(() => resume(child.pid), () => undefined);
  return inTime;
}

async function storeServing(kind: StoreKind): Promise<boolean> {
  const [host, port] = (kind === 'aws' ? new URL(E.aws.endpoint).host : E.gcp.secretManagerEndpoint).split(':');
  return tcpOpen(host!, Number(port));
}

/** One step: its fault, its runs, each checked when its state is there to see. Every random choice is drawn first. Returns what it did. */
async function step(kind: Kind): Promise<string> {
  const s = current;
  switch (kind) {
    case 'kill-run': {
      // Of either routing: half of them have something to write; the next runs converge back.
      const routing = pick(['a', 'b'] as const);
      const fault = `kill:${pick(['before', 'after'])}:${pick(WRITE_POINTS)}`;
      await run({ ...s, routing }, { fault });
      return `${fault} (routing ${routing})`;
    }
    case 'stop-run': {
      const routing = pick(['a', 'b'] as const);
      const point = pick(['replaceConfigMap:1', 'replaceConfigMap:2', 'replaceSecret:1']);
      const pauseMs = between(3_000, 23_000);
      const child = start({ ...s, routing }, { fault: `stop:during:${point}`, timeoutMs: 300_000 });
      // It stops itself at its point: resumed after the pause.
      const faulted = await child.waitFor('FAULT', 280_000).then(() => true, () => false);
      if (faulted) {
        await sleep(pauseMs);
        resume(child.pid);
      }
      const r = await child.done;
      const what = `stop:during:${point} for ${pauseMs} ms (routing ${routing})${faulted ? '' : ' (point not reached: nothing to write)'}`;
      // Nobody took its Lease over: it finishes, or finds its Lease lost.
      await verify(what, { run: r, setting: { ...s, routing }, kind: 'outcome', failures: { 'control-plane': ['LEASE_LOST'] } });
      return what;
    }
    case 'lease-takeover': {
      const other: Setting = { ...s, routing: s.routing === 'a' ? 'b' : 'a' };
      const extraMs = between(0, 25_000);
      const a = start(other, { fault: 'stop:during:replaceConfigMap:1', timeoutMs: 300_000 });
      const faulted = await a.waitFor('FAULT', 280_000).then(() => true, () => false);
      let rb: ChildResult | undefined;
      try {
        if (faulted) {
          rb = await run(s);
          await sleep(extraMs);
        }
      } finally {
        resume(a.pid);
      }
      const ra = await a.done;
      const what = `a run of routing ${other.routing} paused with a ConfigMap write in flight while a run of ${s.routing} took its Lease over, resumed ${extraMs} ms later${faulted ? '' : ' (not reached)'}; the paused run: ${describe(ra)}`;
      // The paused run either finds its call cut off past its Lease (LEASE_LOST: it writes nothing
      // more, the other run's state stands), or finds at its next write that its Lease was taken
      // (the fence): it waits for the Lease again, plans anew and applies its configuration whole.
      if (ra.code === 0) {
        await verify(what, { run: ra, setting: other, kind: 'ok', label: 'the paused run, which applied again once the Lease was free' });
        if (rb) await verify(what, { run: rb, setting: s, kind: 'outcome', label: 'the run that took over' });
      } else {
        await verify(what, { run: ra, setting: other, kind: 'outcome', failures: { 'control-plane': ['LEASE_LOST'] }, label: 'the paused run' });
        if (rb) await verify(what, { run: rb, setting: s, kind: 'ok', label: 'the run that took over, once the other woke' });
      }
      return what;
    }
    case 'second-writer': {
      const other: Setting = { ...s, routing: s.routing === 'a' ? 'b' : 'a' };
      const a = start(other, { fault: 'stop:after:replaceConfigMap:1', timeoutMs: 300_000 });
      const faulted = await a.waitFor('FAULT', 280_000).then(() => true, () => false);
      const b = start(s);
      if (faulted) {
        await b.waitFor('waiting for another sync to finish with the control plane', 280_000).catch(() => undefined);
        resume(a.pid);
      }
      const [ra, rb] = await Promise.all([a.done, b.done]);
      const what = `a run of routing ${other.routing} paused between its ConfigMap writes${faulted ? '' : ' (not reached)'}`;
      await verify(what, { run: ra, setting: other, kind: 'outcome', failures: { 'control-plane': ['LEASE_LOST'] }, label: 'the paused run' }, { run: rb, setting: s, kind: 'ok', label: 'the other' });
      return what;
    }
    case 'stop-store': {
      const pauseMs = between(2_000, 10_000);
      const dp = pick(ids);
      const server = STORES[s.store].server;
      const child = start(s, { fault: `stop:after:dataPlane.${dp}.getSecret:1`, timeoutMs: 300_000 });
      const faulted = await reached(child);
      await signalServer(server, 'SIGSTOP', { dir: E.dir });
      try {
        if (faulted) resume(child.pid);
        await sleep(pauseMs);
      } finally {
        await signalServer(server, 'SIGCONT', { dir: E.dir });
      }
      const r = await child.done;
      const what = `${server} stopped for ${pauseMs} ms mid-run${faulted ? '' : ' (after the run)'}`;
      await verify(what, { run: r, setting: s, kind: 'coded', mayPass: true, failures: Object.fromEntries(ids.map((i) => [i, ['STORE_ERROR']])) });
      return what;
    }
    case 'kill-store': {
      const dp = pick(ids);
      const server = STORES[s.store].server;
      const child = start(s, { fault: `stop:after:dataPlane.${dp}.getSecret:1`, timeoutMs: 300_000 });
      const faulted = await reached(child);
      let r: ChildResult;
      try {
        await signalServer(server, 'SIGKILL', { dir: E.dir });
        if (faulted) resume(child.pid);
        r = await child.done;
      } finally {
        await restartServer(server, { dir: E.dir });
        await until(`${server} did not serve again`, () => storeServing(s.store));
      }
      const what = `${server} killed mid-run, restarted empty${faulted ? '' : ' (after the run)'}`;
      // The store lost its content (moto and the emulator keep it in memory; a cloud store does not
      // lose it): the run that read it before cannot hold what it no longer has. The next runs must.
      await verify(what, { run: r, setting: s, kind: 'coded', mayPass: true, failures: Object.fromEntries(ids.map((i) => [i, ['STORE_ERROR']])), storeLost: true });
      return what;
    }
    case 'kill-apiserver': {
      const dp = pick(ids);
      await signalServer(`kube-apiserver-${dp}`, 'SIGKILL', { dir: E.dir });
      let r: ChildResult;
      try {
        r = await run(s);
      } finally {
        await restartApiServer(dp, { dir: E.dir });
      }
      const what = `kube-apiserver-${dp} killed during a run, restarted after it`;
      await verify(what, { run: r, setting: s, kind: 'coded', failures: { [dp]: ['CLUSTER_UNREACHABLE'] } });
      return what;
    }
    case 'throttle': {
      const target = pick([E.controlPlane, dp1, dp2]);
      const stormMs = between(1_000, 40_000);
      const retryAfter = pick([1, 2, 5, undefined]);
      const delayMs = between(0, 3_000);
      const storm = storms[target]!;
      const before = storm.throttled;
      const via: Setting = { ...s, via: target };
      const child = start(via, { timeoutMs: 300_000 });
      await sleep(delayMs);
      storm.start(stormMs, retryAfter);
      const r = await child.done;
      storm.start(0);
      const what = `429 storm on ${target} for ${stormMs} ms (Retry-After ${retryAfter ?? 'none'}) from ${delayMs} ms into the run: ${storm.throttled - before} requests throttled`;
      // Throttled, a call is retried after its Retry-After; past that, a coded failure; never a rejection.
      const codes = ['KUBERNETES_API', 'DEADLINE'];
      await verify(what, { run: r, setting: via, kind: 'coded', mayPass: true, failures: target === E.controlPlane ? { 'control-plane': [...codes, 'CONTROL_PLANE_BUSY'] } : { [target]: codes } });
      return what;
    }
    case 'delete-secret': {
      const dp = pick(ids);
      await adminKubeConfig(E, dp).makeApiClient(CoreV1Api).deleteNamespacedSecret({ name: 'flyteadmin-token', namespace: 'flyte' }).catch(() => undefined);
      const r = await run(s);
      const what = `${dp}'s token Secret deleted`;
      await verify(what, { run: r, setting: s, kind: 'ok' });
      return what;
    }
    case 'delete-sa': {
      const dp = pick(ids);
      const what = `${dp}'s ServiceAccount ${SA.namespace}/${SA.name} deleted, a run, re-created, a run`;
      const core = adminKubeConfig(E, dp).makeApiClient(CoreV1Api);
      const saved = await core.readNamespacedServiceAccount(SA);
      await core.deleteNamespacedServiceAccount(SA);
      try {
        // The token controller deletes the token Secrets of a deleted ServiceAccount.
        await until(`${dp}'s token Secret was not deleted with its ServiceAccount`, () => core.readNamespacedSecret({ name: 'flyteadmin-token', namespace: 'flyte' }).then(() => false, (e: { code?: number }) => e.code === 404));
        const r1 = await run(s);
        // Its published token died with the ServiceAccount and nothing can replace it yet: a coded
        // failure; the credential is kept (aborts) and routing stays (no answer judged it).
        await verify(what, { run: r1, setting: s, kind: 'coded', failures: { [dp]: ['SERVICE_ACCOUNT_MISSING'] }, routing: { [dp]: 'configured' }, dead: [dp], label: 'while it was gone' });
      } finally {
        await core.createNamespacedServiceAccount({ namespace: SA.namespace, body: { metadata: { name: SA.name, namespace: SA.namespace, labels: saved.metadata?.labels ?? {} } } });
      }
      const r2 = await run(s);
      await verify(what, { run: r2, setting: s, kind: 'ok', label: 'after it was re-created' });
      return what;
    }
    case 'revoke-binding': {
      const dp = pick(ids);
      const mode = pick(['unroute', 'keep'] as const);
      const what = `${dp}'s ClusterRoleBinding ${BINDING} deleted (onCredentialRejected ${mode}), a run, restored, a run`;
      const setting: Setting = { ...s, onCredentialRejected: mode };
      const rbac = adminKubeConfig(E, dp).makeApiClient(RbacAuthorizationV1Api);
      const saved: V1ClusterRoleBinding = await rbac.readClusterRoleBinding({ name: BINDING });
      await rbac.deleteClusterRoleBinding({ name: BINDING });
      try {
        // RBAC reaches the authorizer asynchronously: the fault is in place once it says no.
        await until(`${dp}'s authorizer still allows flyteadmin`, async () => !(await flyteadminMay(dp)));
        const r1 = await run(setting);
        await verify(what, { run: r1, setting, kind: 'coded', failures: { [dp]: ['CREDENTIAL_REJECTED'] }, routing: { [dp]: mode === 'unroute' ? 'unrouted' : 'configured' }, label: 'while it was gone' });
      } finally {
        await rbac.createClusterRoleBinding({ body: { metadata: { name: BINDING, labels: saved.metadata?.labels ?? {} }, roleRef: saved.roleRef, subjects: saved.subjects ?? [] } });
      }
      await until(`${dp}'s authorizer does not allow flyteadmin again`, () => flyteadminMay(dp));
      const r2 = await run(setting);
      await verify(what, { run: r2, setting, kind: 'ok', label: 'after it was restored' });
      return what;
    }
    case 'switch-config': {
      const next: Setting = pick(['routing', 'store']) === 'routing' ? { ...s, routing: s.routing === 'a' ? 'b' : 'a' } : { ...s, store: s.store === 'aws' ? 'gcp' : 'aws' };
      current = next;
      const r = await run(next);
      const what = `configuration: routing ${next.routing}, store ${next.store}`;
      await verify(what, { run: r, setting: next, kind: 'ok' });
      return what;
    }
    case 'clean': {
      const r = await run(s);
      await verify('clean run', { run: r, setting: s, kind: 'ok' });
      return 'clean run';
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The run

await resetControlPlane(E);
process.stderr.write(`chaos: seed ${seed}, ${minutes} min, environment ${E.dir}, store prefix ${stamp}\n`);
{
  const r = await run(current);
  if (r.code !== 0) violation(0, 'setup', 'first sync', [`the first sync failed (${describe(r)})`]);
}
try {
  while (Date.now() - t0 < minutes * 60_000) {
    const n = (stepNo = ++figures.steps);
    const kind = (stepKind = pick(chosen));
    if (kind !== 'clean') figures.faults[kind]!++;
    let what: string;
    try {
      what = await step(kind);
    } catch (err) {
      // The harness or the environment failed: a violation too (none is acceptable), then the next step.
      violation(n, kind, 'the step itself', [`the harness failed: ${(err as Error).message.slice(0, 500)}`]);
      continue;
    }
    // Right after any fault: flyteadmin can start.
    violation(n, kind, what, safetyViolations(await controlState(E)));
    process.stderr.write(`chaos: step ${n} ${kind}: ${what}\n`);
  }
  // The faults stop: two clean runs converge, the second is a no-op.
  const first = await run(current);
  const second = await run(current);
  const end = (stepNo = figures.steps + 1);
  stepKind = 'converge';
  if (first.code !== 0) violation(end, 'converge', 'first clean run', [describe(first)]);
  if (second.code !== 0 || !second.report) violation(end, 'converge', 'second clean run', [describe(second)]);
  else {
    await verify('second clean run', { run: second, setting: current, kind: 'ok' });
    const cp = second.report.controlPlane;
    if (cp?.applied !== false || (cp?.restarted.length ?? 0) > 0) violation(end, 'converge', 'second clean run', [`not a no-op: applied ${cp?.applied}, restarted ${cp?.restarted.join(', ')}`]);
  }
} finally {
  const mins = ((Date.now() - t0) / 60_000).toFixed(1);
  const faults = Object.entries(figures.faults).map(([k, v]) => `${k} ${v}`).join(', ');
  process.stdout.write(`chaos: seed ${seed}: ${mins} min, ${figures.steps} steps, ${figures.runs} runs, faults injected: ${faults}; ${figures.violations.length} invariant violations\n`);
  for (const v of figures.violations) process.stdout.write(v + '\n');
  for (const s of Object.values(storms)) await s.close().catch(() => undefined);
  if (started) await down({ dir });
}
process.exit(figures.violations.length ? 1 : 0);
