/**
 * Builds (once) and locates the server binaries of the local test environment.
 *
 * Nothing is downloaded prebuilt: kube-apiserver, kube-controller-manager, kube-scheduler, KWOK, etcd
 * and the GCP Secret Manager emulator are compiled from the Go modules under test/env/go/ (versions pinned by their
 * go.mod files), and moto is installed from PyPI into a virtualenv. Everything lands in a cache
 * directory keyed by version, so it is built on the first run only:
 *
 *   ${FLYTE_CREDSYNC_CACHE:-${XDG_CACHE_HOME:-~/.cache}/flyte-credsync}/
 *     kube-v1.36.3/{kube-apiserver,kube-controller-manager}
 *     kube-v1.36.3/kube-scheduler        (own build-info file: built after, from the same module)
 *     kube-v1.36.3/kubectl               (only on request: ensureKubectl(), for the benchmark)
 *     kwok-v0.8.0/kwok + stages.yaml     (simulated nodes; the stages are copied from the module)
 *     etcd-v3.6.16/etcd
 *     gcpsm-v1.7.1/gcpsm
 *     moto-5.2.5/bin/moto_server        (a Python venv)
 *     cfn-lint-1.58.0/bin/cfn-lint      (a Python venv, only on request: ensureCfnLint(), for the template test)
 *     helm-v3.21.4/helm                  (the Helm CLI, only on request: ensureHelm(), for the Helm scenarios)
 *     logs/build-<name>.log             (full output of the last build of each)
 *
 * There is deliberately no fallback to fakes: a missing tool is reported with the way to get it.
 */
import { spawn, execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const MOTO_VERSION = '5.2.5';
const ENV_DIR = path.dirname(fileURLToPath(import.meta.url));
export const GO_DIR = path.join(ENV_DIR, 'go');

export interface ToolVersions {
  kubernetes: string;
  kwok: string;
  etcd: string;
  gcpsm: string;
  moto: string;
}

export interface Binaries {
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  /** KWOK's controller (sigs.k8s.io/kwok/cmd/kwok): keeps simulated nodes and their pods Ready. */
  kwok: string;
  /** KWOK Stage objects (node initialise/heartbeat, pod ready/complete/delete) for kwok --config. */
  kwokStages: string;
  etcd: string;
  gcpsm: string;
  motoServer: string;
  versions: ToolVersions;
}

/** A tool the test environment needs (go, python3 with venv, openssl) is missing. */
export class PrerequisiteError extends Error {
  override name = 'PrerequisiteError';
}

export type Log = (line: string) => void;
const defaultLog: Log = (line) => console.log(line);

export function cacheRoot(): string {
  if (process.env.FLYTE_CREDSYNC_CACHE) return path.resolve(process.env.FLYTE_CREDSYNC_CACHE);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'flyte-credsync');
}

interface GoTarget {
  key: 'kube' | 'kube-scheduler' | 'kwok' | 'etcd' | 'gcpsm' | 'kubectl' | 'helm';
  label: string;
  modDir: string;
  version: string;
  outDir: string;
  /** Binary file names produced into outDir. */
  outputs: string[];
  packages: string[];
  ldflags: string;
  estimate: string;
  /** Build-info file name in outDir (default STAMP); distinct when targets share an outDir. */
  stamp?: string;
  /** Files copied from the module into outDir after the build (part of the recipe). */
  extra?: { module: string; files: string[]; into: string };
}

/** Reads the version a go.mod requires for modulePath (e.g. "v1.36.3"). */
async function goModVersion(modDir: string, modulePath: string): Promise<string> {
  const file = path.join(modDir, 'go.mod');
  const text = await fs.readFile(file, 'utf8');
  const escaped = modulePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v[^\\s]+)`, 'm').exec(text);
  if (!m?.[1]) throw new Error(`${file} does not require ${modulePath}`);
  return m[1];
}

async function goTargets(root: string): Promise<GoTarget[]> {
  const kubeDir = path.join(GO_DIR, 'kube');
  const kwokDir = path.join(GO_DIR, 'kwok');
  const etcdDir = path.join(GO_DIR, 'etcd');
  const gcpsmDir = path.join(GO_DIR, 'gcpsm');
  const [kube, kwok, etcd, gcpsm] = await Promise.all([
    goModVersion(kubeDir, 'k8s.io/kubernetes'),
    goModVersion(kwokDir, 'sigs.k8s.io/kwok'),
    goModVersion(etcdDir, 'go.etcd.io/etcd/server/v3'),
    goModVersion(gcpsmDir, 'github.com/blackwell-systems/gcp-secret-manager-emulator'),
  ]);
  // Without these the servers report gitVersion "v0.0.0-master" from /version (as Kubernetes'
  // own hack/lib/version.sh does, both version packages are stamped).
  const [major, minor] = kube.replace(/^v/, '').split('.');
  const kubeX = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=${kube}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ]);
  const kubeTarget: GoTarget = {
    key: 'kube',
    label: `kube-apiserver + kube-controller-manager ${kube}`,
    modDir: kubeDir,
    version: kube,
    outDir: path.join(root, `kube-${kube}`),
    outputs: ['kube-apiserver', 'kube-controller-manager'],
    packages: ['k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kube-controller-manager'],
    ldflags: ['-s', '-w', ...kubeX].join(' '),
    estimate: '~7 min on 2 cores',
  };
  return [
    kubeTarget,
    // Same module and flags as the servers, its own build-info file: adding it did not invalidate
    // kube-apiserver/kube-controller-manager builds already in the cache.
    {
      ...kubeTarget,
      key: 'kube-scheduler',
      label: `kube-scheduler ${kube}`,
      outputs: ['kube-scheduler'],
      packages: ['k8s.io/kubernetes/cmd/kube-scheduler'],
      estimate: '~1–2 min on 2 cores after the servers',
      stamp: '.build-info-kube-scheduler.json',
    },
    {
      key: 'kwok',
      label: `KWOK ${kwok}`,
      modDir: kwokDir,
      version: kwok,
      outDir: path.join(root, `kwok-${kwok}`),
      outputs: ['kwok'],
      packages: ['sigs.k8s.io/kwok/cmd/kwok'],
      ldflags: '-s -w',
      estimate: '~4 min on 2 cores',
      // KWOK's own "fast" stages (what `kwokctl create cluster` uses by default) and the lease heartbeat.
      extra: {
        module: 'sigs.k8s.io/kwok',
        files: [
          'kustomize/stage/node/fast/node-initialize.yaml',
          'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
          'kustomize/stage/pod/fast/pod-ready.yaml',
          'kustomize/stage/pod/fast/pod-complete.yaml',
          'kustomize/stage/pod/fast/pod-delete.yaml',
        ],
        into: 'stages.yaml',
      },
    },
    {
      key: 'etcd',
      label: `etcd ${etcd}`,
      modDir: etcdDir,
      version: etcd,
      outDir: path.join(root, `etcd-${etcd}`),
      outputs: ['etcd'],
      packages: ['.'],
      ldflags: '-s -w',
      estimate: '~1.5 min on 2 cores',
    },
    {
      key: 'gcpsm',
      label: `GCP Secret Manager emulator ${gcpsm}`,
      modDir: gcpsmDir,
      version: gcpsm,
      outDir: path.join(root, `gcpsm-${gcpsm}`),
      outputs: ['gcpsm'],
      packages: ['.'],
      ldflags: '-s -w',
      estimate: '~1 min on 2 cores',
    },
  ];
}

const STAMP = '.build-info.json';

/** The part of a build that must match for a cached binary to be reused. */
function recipe(t: GoTarget): string {
  return JSON.stringify({ version: t.version, packages: t.packages, ldflags: t.ldflags, ...(t.extra ? { extra: t.extra } : {}) });
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fs.constants.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function goTargetReady(t: GoTarget): Promise<boolean> {
  for (const out of t.outputs) if (!(await isExecutable(path.join(t.outDir, out)))) return false;
  if (t.extra && !(await fs.stat(path.join(t.outDir, t.extra.into)).then((s) => s.isFile(), () => false))) return false;
  try {
    const stamp = JSON.parse(await fs.readFile(path.join(t.outDir, t.stamp ?? STAMP), 'utf8')) as { recipe?: string };
    return stamp.recipe === recipe(t);
  } catch {
    return false;
  }
}

/** A Python tool installed from PyPI into its own cached virtualenv. */
interface PythonTool {
  name: string;
  version: string;
  /** The pip requirement, e.g. `moto[server]==5.2.5`. */
  requirement: string;
  /** The executable in the venv's bin/ that proves the install (`--help` must work). */
  bin: string;
  estimate: string;
}

export const CFN_LINT_VERSION = '1.58.0';
const MOTO: PythonTool = { name: 'moto', version: MOTO_VERSION, requirement: `moto[server]==${MOTO_VERSION}`, bin: 'moto_server', estimate: '~1 min' };
const CFN_LINT: PythonTool = { name: 'cfn-lint', version: CFN_LINT_VERSION, requirement: `cfn-lint==${CFN_LINT_VERSION}`, bin: 'cfn-lint', estimate: '~1 min' };

function venvOf(root: string, t: PythonTool): string {
  return path.join(root, `${t.name}-${t.version}`);
}
const VENV_MARKER = '.credsync-complete';

async function pythonToolReady(root: string, t: PythonTool): Promise<boolean> {
  const venv = venvOf(root, t);
  return (await isExecutable(path.join(venv, 'bin', t.bin))) &&
    (await fs.stat(path.join(venv, VENV_MARKER)).then(() => true, () => false));
}

/** Paths of all binaries, whether or not they exist yet. */
export async function binaryPaths(root = cacheRoot()): Promise<Binaries> {
  const [kube, , kwok, etcd, gcpsm] = await goTargets(root);
  return {
    kubeApiserver: path.join(kube!.outDir, 'kube-apiserver'),
    kubeControllerManager: path.join(kube!.outDir, 'kube-controller-manager'),
    kubeScheduler: path.join(kube!.outDir, 'kube-scheduler'),
    kwok: path.join(kwok!.outDir, 'kwok'),
    kwokStages: path.join(kwok!.outDir, kwok!.extra!.into),
    etcd: path.join(etcd!.outDir, 'etcd'),
    gcpsm: path.join(gcpsm!.outDir, 'gcpsm'),
    motoServer: path.join(venvOf(root, MOTO), 'bin', MOTO.bin),
    versions: { kubernetes: kube!.version, kwok: kwok!.version, etcd: etcd!.version, gcpsm: gcpsm!.version, moto: MOTO_VERSION },
  };
}

async function commandWorks(cmd: string, args: string[]): Promise<boolean> {
  try {
    await execFileP(cmd, args, { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks the tools needed: openssl always (certificates are made at each `up`), go only when a
 * binary must be built, python3 with venv/ensurepip only when moto must be installed.
 */
export async function checkPrerequisites(need: { go: boolean; python: boolean }): Promise<void> {
  const problems: string[] = [];
  if (!(await commandWorks('openssl', ['version']))) {
    problems.push('openssl is missing (it makes the clusters\' certificates): apt-get install openssl');
  }
  if (need.go && !(await commandWorks('go', ['version']))) {
    problems.push(
      'go is missing (kube-apiserver, kube-controller-manager, kube-scheduler, KWOK, etcd and the GCP emulator are built from source): ' +
        'install Go >= 1.26 from https://go.dev/dl/ (apt-get install golang is often too old) and put it on PATH',
    );
  }
  if (need.python) {
    if (!(await commandWorks('python3', ['--version']))) {
      problems.push('python3 is missing (moto, the AWS Secrets Manager server, is a Python package): apt-get install python3 python3-venv');
    } else if (!(await commandWorks('python3', ['-c', 'import venv, ensurepip']))) {
      problems.push('python3 cannot create virtualenvs (module venv/ensurepip missing): apt-get install python3-venv');
    }
  }
  if (problems.length > 0) {
    throw new PrerequisiteError(
      `the local test environment cannot be built:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

async function tail(file: string, lines = 40): Promise<string> {
  try {
    const text = await fs.readFile(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Runs a long command with its output in logFile, printing a progress line every `every` ms:
 * the count of output lines (with `go build -v`: packages compiled) and the latest one.
 */
async function runWithProgress(
  label: string,
  cmd: string,
  args: string[],
  opts: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv; unit: string; log: Log; every?: number },
): Promise<void> {
  await fs.mkdir(path.dirname(opts.logFile), { recursive: true });
  const out = createWriteStream(opts.logFile);
  await new Promise<void>((resolve, reject) => out.once('open', () => resolve()).once('error', reject));
  out.write(`$ (cd ${opts.cwd} && ${cmd} ${args.join(' ')})\n`);
  const started = Date.now();
  let count = 0;
  let latest = '';
  let partial = '';
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const onData = (buf: Buffer) => {
    out.write(buf);
    const lines = (partial + buf.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (l.trim()) {
        count++;
        latest = l.trim();
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setInterval(() => {
    const last = latest.length > 80 ? `…${latest.slice(-79)}` : latest;
    opts.log(`  … ${label}: ${count} ${opts.unit}, ${formatDuration(Date.now() - started)} elapsed${last ? ` (${last})` : ''}`);
  }, opts.every ?? 20_000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
    if (code !== 0) {
      await new Promise<void>((r) => out.end(r));
      throw new Error(
        `${label} failed (exit ${code}); last lines of ${opts.logFile}:\n${await tail(opts.logFile)}`,
      );
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PrerequisiteError(`${cmd} not found on PATH (needed to build ${label})`);
    }
    throw err;
  } finally {
    clearInterval(timer);
    out.end();
  }
}

/** Concatenates t.extra's files, read from the module as the build resolved it, into tmp/<into>. */
async function copyModuleFiles(t: GoTarget, tmp: string): Promise<void> {
  const { module, files, into } = t.extra!;
  const { stdout } = await execFileP('go', ['list', '-mod=readonly', '-m', '-f', '{{.Dir}}', module], { cwd: t.modDir, timeout: 60_000 });
  const dir = stdout.trim();
  if (!dir) throw new Error(`go list -m ${module} in ${t.modDir} gave no module directory`);
  const parts = await Promise.all(files.map(async (f) => `# ${module}@${t.version}/${f}\n${(await fs.readFile(path.join(dir, f), 'utf8')).trim()}\n`));
  await fs.writeFile(path.join(tmp, into), parts.join('---\n'));
}

async function buildGoTarget(t: GoTarget, root: string, log: Log): Promise<void> {
  const name = t.outputs.join(' + ');
  log(`building ${name} ${t.version} (first run only; ${t.estimate})…`);
  const started = Date.now();
  const tmp = `${t.outDir}.tmp-${process.pid}`;
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  try {
    await runWithProgress(
      name,
      'go',
      ['build', '-v', '-trimpath', '-ldflags', t.ldflags, '-o', `${tmp}/`, ...t.packages],
      // -mod=readonly: go.sum is committed; never rewrite it from a build.
      {
        cwd: t.modDir,
        logFile: path.join(root, 'logs', `build-${t.key}.log`),
        env: { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly -buildvcs=false`.trim() },
        unit: 'packages compiled',
        log,
      },
    );
    if (t.extra) await copyModuleFiles(t, tmp);
    await fs.mkdir(t.outDir, { recursive: true });
    for (const out of t.outputs) await fs.rename(path.join(tmp, out), path.join(t.outDir, out));
    if (t.extra) await fs.rename(path.join(tmp, t.extra.into), path.join(t.outDir, t.extra.into));
    const seconds = Math.round((Date.now() - started) / 1000);
    await fs.writeFile(
      path.join(t.outDir, t.stamp ?? STAMP),
      JSON.stringify({ recipe: recipe(t), builtAt: new Date().toISOString(), seconds }, null, 2) + '\n',
    );
    log(`built ${name} ${t.version} in ${formatDuration(Date.now() - started)} -> ${t.outDir}`);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

async function installPythonTool(root: string, t: PythonTool, log: Log): Promise<void> {
  const venv = venvOf(root, t);
  log(`installing ${t.requirement} into ${venv} (first run only; ${t.estimate})…`);
  const started = Date.now();
  await fs.rm(venv, { recursive: true, force: true });
  const logFile = path.join(root, 'logs', `build-${t.name}.log`);
  await runWithProgress('python3 -m venv', 'python3', ['-m', 'venv', venv], {
    cwd: root, logFile: path.join(root, 'logs', `build-${t.name}-venv.log`), unit: 'lines', log,
  });
  await runWithProgress(
    `pip install ${t.name}`,
    path.join(venv, 'bin', 'pip'),
    ['install', '--disable-pip-version-check', t.requirement],
    { cwd: root, logFile, unit: 'lines of pip output', log },
  );
  const exe = path.join(venv, 'bin', t.bin);
  if (!(await commandWorks(exe, ['--help']))) {
    throw new Error(`${t.name} was installed but ${exe} --help fails; see ${logFile}`);
  }
  await fs.writeFile(path.join(venv, VENV_MARKER), `${new Date().toISOString()}\n`);
  log(`installed ${t.name} ${t.version} in ${formatDuration(Date.now() - started)}`);
}

/** A cross-process lock (a directory) so two `up`s never build at once. */
async function withBuildLock<T>(root: string, log: Log, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(root, '.build.lock');
  await fs.mkdir(root, { recursive: true });
  let announced = false;
  for (;;) {
    try {
      await fs.mkdir(lock);
      await fs.writeFile(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await fs.readFile(path.join(lock, 'pid'), 'utf8').catch(() => 'NaN'));
      let alive = false;
      if (Number.isInteger(holder) && holder > 0) {
        try {
          process.kill(holder, 0);
          alive = true;
        } catch {
          alive = false;
        }
      }
      if (!alive) {
        // Stale lock of a build that died (or one being created right now: retry shortly).
        const age = Date.now() - (await fs.stat(lock).then((s) => s.mtimeMs, () => Date.now()));
        if (age > 5_000 || Number.isInteger(holder)) await fs.rm(lock, { recursive: true, force: true });
      } else if (!announced) {
        log(`waiting for another test-environment build (pid ${holder}) to finish…`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { recursive: true, force: true });
  }
}

/** What would have to be built (empty when everything is cached). */
export async function missingBinaries(root = cacheRoot()): Promise<string[]> {
  const missing: string[] = [];
  for (const t of await goTargets(root)) if (!(await goTargetReady(t))) missing.push(t.outputs.join(' + '));
  if (!(await pythonToolReady(root, MOTO))) missing.push(`moto ${MOTO_VERSION}`);
  return missing;
}

/** Makes sure every binary is in the cache, building what is missing; returns their paths. */
export async function ensureBinaries(opts: { log?: Log } = {}): Promise<Binaries> {
  const log = opts.log ?? defaultLog;
  const root = cacheRoot();
  const targets = await goTargets(root);
  const todo: GoTarget[] = [];
  for (const t of targets) if (!(await goTargetReady(t))) todo.push(t);
  const needMoto = !(await pythonToolReady(root, MOTO));
  await checkPrerequisites({ go: todo.length > 0, python: needMoto });
  if (todo.length > 0 || needMoto) {
    await withBuildLock(root, log, async () => {
      // Re-check under the lock: another process may just have built them.
      for (const t of todo) if (!(await goTargetReady(t))) await buildGoTarget(t, root, log);
      if (!(await pythonToolReady(root, MOTO))) await installPythonTool(root, MOTO, log);
    });
  }
  return binaryPaths(root);
}

/**
 * kubectl, built from the same pinned k8s.io/kubernetes module as the servers, into the same cache
 * dir (kube-<version>/kubectl, with its own build-info file). Built only when asked for (the
 * benchmark's manual baseline calls it): `up`, `build` and the tests never need kubectl.
 * Returns its path.
 */
export async function ensureKubectl(opts: { log?: Log } = {}): Promise<string> {
  const log = opts.log ?? defaultLog;
  const root = cacheRoot();
  const kube = (await goTargets(root)).find((t) => t.key === 'kube')!;
  const t: GoTarget = {
    ...kube,
    key: 'kubectl',
    label: `kubectl ${kube.version}`,
    outputs: ['kubectl'],
    packages: ['k8s.io/kubernetes/cmd/kubectl'],
    estimate: '~3 min on 2 cores',
    stamp: '.build-info-kubectl.json',
  };
  if (!(await goTargetReady(t))) {
    await checkPrerequisites({ go: true, python: false });
    await withBuildLock(root, log, async () => {
      if (!(await goTargetReady(t))) await buildGoTarget(t, root, log);
    });
  }
  return path.join(t.outDir, 'kubectl');
}

/**
 * cfn-lint (PyPI), the CloudFormation linter, in its own cached virtualenv like moto: installed on
 * first use (the template test calls it), so `npm test` does all the set-up.
 */
export async function ensureCfnLint(opts: { log?: Log } = {}): Promise<string> {
  const log = opts.log ?? defaultLog;
  const root = cacheRoot();
  if (!(await pythonToolReady(root, CFN_LINT))) {
    await checkPrerequisites({ go: false, python: true });
    await withBuildLock(root, log, async () => {
      if (!(await pythonToolReady(root, CFN_LINT))) await installPythonTool(root, CFN_LINT, log);
    });
  }
  return path.join(venvOf(root, CFN_LINT), 'bin', CFN_LINT.bin);
}

/**
 * The Helm CLI (helm.sh/helm/v3/cmd/helm), built from the Go module pinned by go/helm/go.mod into
 * helm-<version>/helm, with its version stamped as Helm's own Makefile does. Built only when asked
 * for (the Helm scenarios call it): `up`, `build` and the other tests never need Helm. About 2 min
 * on 2 cores (measured 2m15s at a load average of 27, with the Kubernetes build running beside it).
 * Returns its path.
 */
export async function ensureHelm(opts: { log?: Log } = {}): Promise<string> {
  const log = opts.log ?? defaultLog;
  const root = cacheRoot();
  const modDir = path.join(GO_DIR, 'helm');
  const version = await goModVersion(modDir, 'helm.sh/helm/v3');
  const t: GoTarget = {
    key: 'helm',
    label: `Helm ${version}`,
    modDir,
    version,
    outDir: path.join(root, `helm-${version}`),
    outputs: ['helm'],
    packages: ['helm.sh/helm/v3/cmd/helm'],
    ldflags: `-s -w -X helm.sh/helm/v3/internal/version.version=${version} -X helm.sh/helm/v3/internal/version.gitTreeState=clean`,
    estimate: '~2 min on 2 cores',
  };
  if (!(await goTargetReady(t))) {
    await checkPrerequisites({ go: true, python: false });
    await withBuildLock(root, log, async () => {
      if (!(await goTargetReady(t))) await buildGoTarget(t, root, log);
    });
  }
  return path.join(t.outDir, 'helm');
}
