/**
 * What the fault suite and the control-plane integration tests share: a sync in its own process
 * with an injected crash or pause (./sync-child.ts), the control plane as the real API server
 * holds it, and the invariants that must hold after any fault.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { CONFIG_CHECKSUM_ANNOTATION, configChecksum } from '../../lib/controlplane/restart.ts';
import { fingerprint, shortFingerprint } from '../../lib/stores/types.ts';
import type { SyncReport } from '../../lib/sync/sync.ts';
import { apps, core, whoAmI, type EnvInfo } from '../integration/helpers.ts';
import { procStat } from '../env/processes.ts';

export const CHILD = join(import.meta.dirname, 'sync-child.ts');
export const DEPLOYMENTS = ['flyteadmin', 'syncresources'];
export const CONFIG_MAPS = ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'];

/** A configuration file for the local environment (kubeconfig contexts, moto), as a user writes one. */
export function writeConfig(env: EnvInfo, prefix: string, dataPlanes: Array<Record<string, unknown>>, over: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'credsync-faults-'));
  const file = join(dir, 'credsync.json');
  const { controlPlane, ...rest } = over as { controlPlane?: Record<string, unknown> };
  writeFileSync(
    file,
    JSON.stringify({
      controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, ...controlPlane },
      store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
      dataPlanes: dataPlanes.map((d) => ({ access: { type: 'kubeconfig', context: d['id'], path: env.kubeconfig }, ...d })),
      tokenWaitSeconds: 30,
      ...rest,
    }),
  );
  return file;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  report?: SyncReport;
  stderr: string;
  /** The fault point was reached. */
  faulted: boolean;
}

export interface RunningChild {
  pid: number;
  /** Resolves once stderr contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  done: Promise<ChildResult>;
  stderr(): string;
}

export interface ChildOptions {
  /** CREDSYNC_FAULT (see ./sync-child.ts); none for a clean run. */
  fault?: string;
  /** Only these data planes (--cluster). */
  clusters?: string[];
  /** SIGKILLed after this long (default 180 s). */
  timeoutMs?: number;
  /** Run the cluster-deleted use case for this (GKE) cluster name instead of a sync (CREDSYNC_CHILD_DELETED). */
  deleted?: string;
}

/** Starts a sync in its own process (bounded, see ChildOptions.timeoutMs). */
export function startChild(env: EnvInfo, configFile: string, o: ChildOptions = {}): RunningChild {
  const { fault, timeoutMs = 180_000 } = o;
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CHILD, configFile, ...(o.clusters ? [o.clusters.join(',')] : [])], {
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: env.aws.accessKeyId,
      AWS_SECRET_ACCESS_KEY: env.aws.secretAccessKey,
      AWS_REGION: env.aws.region,
      CREDSYNC_FAULT: fault ?? '',
      ...(o.deleted ? { CREDSYNC_CHILD_DELETED: o.deleted } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of [...waiters]) if (err.includes(w.text)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const timer = setTimeout(() => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }, timeoutMs);
  const done = new Promise<ChildResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let report: SyncReport | undefined;
      try {
        report = out.trim() ? (JSON.parse(out.trim().split('\n').at(-1)!) as SyncReport) : undefined;
      } catch {
        report = undefined;
      }
      resolve({ code, signal, ...(report ? { report } : {}), stderr: err, faulted: err.includes('FAULT ') });
    });
  });
  return {
    pid: child.pid!,
    stderr: () => err,
    done,
    async waitFor(text, ms = 120_000) {
      if (!err.includes(text))
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`child never wrote "${text}"; stderr:\n${err.slice(-3000)}`)), ms);
          t.unref();
          waiters.push({ text, resolve: () => (clearTimeout(t), resolve()) });
          void done.then(() => reject(new Error(`child exited before writing "${text}"; stderr:\n${err.slice(-3000)}`)));
        });
      // A child that stops itself writes FAULT first: a SIGCONT sent before it has stopped would be
      // lost, and it would stay stopped. Resolve once it really is stopped.
      if (text.startsWith('FAULT') && fault?.startsWith('stop:'))
        for (let exited = false; !exited && !/^[Tt]$/.test(procStat(child.pid!)?.state ?? ''); ) {
          exited = await Promise.race([done.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10))]);
        }
    },
  };
}

/** Runs a sync to its end (or its fault) in its own process. */
export function runChild(env: EnvInfo, configFile: string, o: ChildOptions = {}): Promise<ChildResult> {
  return startChild(env, configFile, o).done;
}

/** The control plane as the API server holds it. */
export interface ControlState {
  secret: Record<string, Buffer>;
  secretRv?: string;
  /** ConfigMap name -> clusters.yaml text. */
  clustersYaml: Record<string, string>;
  cmRvs: Array<string | undefined>;
  /** Deployment name -> its pod template's config checksum annotation. */
  checksums: Record<string, string | undefined>;
  restartedAt: Record<string, string | undefined>;
}

export async function controlState(env: EnvInfo): Promise<ControlState> {
  const c = core(env, env.controlPlane);
  const s = await c.readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined);
  const cms = await Promise.all(CONFIG_MAPS.map((name) => c.readNamespacedConfigMap({ name, namespace: 'flyte' })));
  const deps = await Promise.all(DEPLOYMENTS.map((name) => apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: 'flyte' })));
  const ann = (i: number) => deps[i]!.spec?.template?.metadata?.annotations ?? {};
  return {
    secret: Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    ...(s?.metadata?.resourceVersion ? { secretRv: s.metadata.resourceVersion } : {}),
    clustersYaml: Object.fromEntries(cms.map((cm, i) => [CONFIG_MAPS[i]!, cm.data?.['clusters.yaml'] ?? ''])),
    cmRvs: cms.map((cm) => cm.metadata?.resourceVersion),
    checksums: Object.fromEntries(DEPLOYMENTS.map((d, i) => [d, ann(i)[CONFIG_CHECKSUM_ANNOTATION]])),
    restartedAt: Object.fromEntries(DEPLOYMENTS.map((d, i) => [d, ann(i)['kubectl.kubernetes.io/restartedAt']])),
  };
}

interface Entry {
  name: string;
  enabled?: boolean;
  auth?: { tokenPath?: string; certPath?: string };
}
export const clustersOf = (text: string) =>
  ((parse(text) ?? {}).clusters ?? {}) as { clusterConfigs?: Entry[]; labelClusterMap?: Record<string, Array<{ id: string; weight?: number }>>; defaultExecutionLabel?: string };

/** The short fingerprint of the credential the Secret holds for a data plane, if it holds one. */
export function heldFingerprint(st: ControlState, id: string): string | undefined {
  const t = st.secret[`${id}_token`], c = st.secret[`${id}_cacert`];
  return t && c ? shortFingerprint(fingerprint(t.toString('utf8'), c.toString('utf8'))) : undefined;
}

/**
 * What must hold at any moment, even right after a crash (flyteadmin can always start): every
 * clusterConfigs entry's token and CA files are keys of the Secret. Returns the violations.
 */
export function safetyViolations(st: ControlState): string[] {
  const out: string[] = [];
  for (const [cm, text] of Object.entries(st.clustersYaml))
    for (const e of clustersOf(text).clusterConfigs ?? []) {
      for (const p of [e.auth?.tokenPath, e.auth?.certPath])
        if (p && !(p.split('/').at(-1)! in st.secret)) out.push(`${cm}: ${e.name} reads ${p}, which the Secret does not hold`);
    }
  return out;
}

/**
 * The invariants after a fault and the run that follows it. Returns the violations (empty when all hold):
 * - the Secret's keys match clusters.yaml (every entry's files are there; every configured id with keys is listed);
 * - both ConfigMaps agree on the cluster set, the labels and the default label;
 * - every data plane in `lastGood` still has a credential that authenticates as its flyteadmin ServiceAccount;
 * - the Deployments are not behind what was written (their checksum is the control plane's);
 * - the report tells the truth: for each data plane it reports, the credential, enabled state and
 *   labels it says the control plane holds are what the control plane holds.
 */
export async function invariantViolations(env: EnvInfo, st: ControlState, opts: { ids: string[]; lastGood?: string[]; report?: SyncReport }): Promise<string[]> {
  const out = safetyViolations(st);
  const [a, b] = CONFIG_MAPS.map((n) => clustersOf(st.clustersYaml[n]!));
  if (!isDeepStrictEqual(a, b)) out.push('the two ConfigMaps disagree');
  const listed = new Set((a!.clusterConfigs ?? []).map((e) => e.name));
  for (const id of opts.ids) if (`${id}_token` in st.secret && !listed.has(id)) out.push(`the Secret holds ${id}'s keys but clusters.yaml does not list it`);
  for (const id of opts.lastGood ?? []) {
    const token = st.secret[`${id}_token`];
    if (!token) {
      out.push(`${id} lost its credential`);
      continue;
    }
    const who = await whoAmI(env, id, token.toString('utf8'));
    if (who.user?.username !== 'system:serviceaccount:flyte:flyteadmin') out.push(`${id}'s published credential no longer authenticates (${who.code ?? who.user?.username})`);
  }
  const sum = configChecksum({ secretData: st.secret, clustersYaml: st.clustersYaml });
  for (const [d, c] of Object.entries(st.checksums)) if (c !== sum) out.push(`Deployment ${d} is behind what was written`);
  for (const c of opts.report?.clusters ?? []) {
    const p = c.published;
    if (!p) {
      if (!opts.report?.controlPlaneError) out.push(`report: ${c.id} has no published state although the control plane was written`);
      continue;
    }
    if (p.credential !== heldFingerprint(st, c.id)) out.push(`report: ${c.id} credential ${p.credential} but the Secret holds ${heldFingerprint(st, c.id)}`);
    const entry = (a!.clusterConfigs ?? []).find((e) => e.name === c.id);
    if (p.listed !== !!entry || p.enabled !== (entry?.enabled === true)) out.push(`report: ${c.id} listed/enabled ${p.listed}/${p.enabled} but clusters.yaml says ${!!entry}/${entry?.enabled}`);
    const labels = Object.entries(a!.labelClusterMap ?? {}).filter(([, ms]) => ms.some((m) => m.id === c.id)).map(([l]) => l).sort();
    if (!isDeepStrictEqual(p.labels, labels)) out.push(`report: ${c.id} labels ${p.labels} but clusters.yaml says ${labels}`);
    if (c.status === 'failed' && c.lastGoodKept !== (heldFingerprint(st, c.id) !== undefined)) out.push(`report: ${c.id} lastGoodKept=${c.lastGoodKept} is not what the Secret holds`);
  }
  return out;
}

export { rolledOut } from '../integration/helpers.ts';
