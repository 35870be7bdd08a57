/**
 * The one invocation path of every entry point, whatever the platform (AWS Lambda, Google Cloud
 * Functions, the CLI):
 *
 * 1. **cold start**: the written configuration is loaded and the secret store built once per
 *    process ({@link coldStart}; a failed load is retried on the next invocation);
 * 2. **prepare**: per invocation, the data planes are resolved (discovery included) and the
 *    Kubernetes adapters wired ({@link prepare});
 * 3. **run**: {@link runSync}, under the invocation's deadline that the entry point set
 *    (lib/util/abort.ts withDeadline; {@link deadlineIn} for the functions, --timeout for the CLI);
 * 4. **finish**: the report is logged, and a sync that is not ok is a failed invocation
 *    ({@link finish}, {@link SyncFailedError}) so the platform retries and alarms see it.
 *
 * The cluster-created use case ({@link syncCreatedCluster}) adds: match the event's cluster to a
 * data plane (lib/discovery/match.ts), sync it, or ignore the event and say why; a cluster still
 * being created is {@link RetryLaterError}.
 *
 * Each platform adapter (./lambda/, ./gcf/, lib/cli/) only parses its events and passes its own
 * logger behind the redacting {@link Log} port.
 */
import { checkLocalAccess, connect, forRun } from '../clusters/access.ts';
import { ConfigWatcher, parseConfigSource } from '../config/source.ts';
import { runDoctor, type DoctorReport } from '../doctor/doctor.ts';
import type { Config, DataPlane } from '../config/schema.ts';
import { describeCloudCluster, matchDataPlane, type CloudCluster } from '../discovery/match.ts';
import { resolveDataPlanes, type DiscoveryReport } from '../discovery/resolve.ts';
import { CredsyncError, describeError, isErrorCode, RetryLaterError } from '../errors.ts';
import type { SecretStore } from '../stores/types.ts';
import { contestedLine } from '../controlplane/content.ts';
import { runSync, type ConfigInfo, type ClusterReport, type SyncDeps, type SyncOptions, type SyncReport } from '../sync/sync.ts';
import { MAX_ECHO_ITEMS, truncate } from '../util/bounded.ts';
import type { Log } from '../util/log.ts';
import { readRuntimeEnv } from './env.ts';
import { buildDeps, buildStore, configReader, type ConfigReaderOverrides, type WiringOverrides } from './wiring.ts';

interface ColdStart {
  config: Config;
  store: SecretStore;
  /** Which configuration ran: its source and version, and a newer version that was refused. */
  configInfo: ConfigInfo;
}

const watchers = new Map<string, ConfigWatcher>();
const stores = new WeakMap<Config, SecretStore>();
let readerOverrides: ConfigReaderOverrides = {};

/** Tests: the SSM / GCP clients the configuration readers use (the real ones by default). */
export function setConfigReaders(o: ConfigReaderOverrides): void {
  readerOverrides = o;
  watchers.clear();
}

/**
 * The configuration to run with and its secret store. The source (`configPath`, else
 * `CREDSYNC_CONFIG`: a file, `ssm:NAME` or `gcpsm:projects/P/secrets/S`, lib/config/source.ts) is
 * read once per cold start and asked for its version on every invocation: a new valid version is
 * used (with a new store when it changed the store's settings); a new invalid one is refused and
 * the last good one keeps running.
 *
 * @throws CredsyncError `CONFIG_NOT_FOUND` / ConfigError when no good version has been read yet
 */
export async function coldStart(configPath?: string): Promise<ColdStart> {
  const value = configPath ?? readRuntimeEnv().configPath;
  if (!value) throw new CredsyncError('CONFIG_NOT_FOUND', 'no configuration: pass --config FILE or set CREDSYNC_CONFIG');
  let w = watchers.get(value);
  if (!w) {
    const source = parseConfigSource(value);
    w = new ConfigWatcher(source, configReader(source, readerOverrides));
    watchers.set(value, w);
  }
  const state = await w.current();
  let store = stores.get(state.config);
  if (!store) {
    store = buildStore(state.config);
    stores.set(state.config, store);
  }
  return { config: state.config, store, configInfo: { source: state.source, version: state.version, ...(state.refused ? { refused: state.refused } : {}) } };
}

export interface PrepareOptions extends Pick<WiringOverrides, 'metrics' | 'onProgress'> {
  /** Configuration file (default: `CREDSYNC_CONFIG`). */
  configPath?: string;
  /** A cluster-created event: EKS discovery also looks this cluster up by name. */
  onlyEksCluster?: { name: string; region?: string };
}

export interface Prepared {
  config: Config;
  deps: SyncDeps;
  discovery?: DiscoveryReport;
  configInfo?: ConfigInfo;
}

/**
 * Resolves the data planes (discovery included), checks every cluster's access that needs no
 * network call (checkLocalAccess), and wires the adapters for one invocation. Nothing is read
 * from a cluster or the store before this has passed.
 *
 * @throws ConfigError when the configuration, what discovery made of it, or a cluster's access
 *   (a kubeconfig, context, token or CA that cannot be used) is invalid
 */
export async function prepare(log: Log, opts: PrepareOptions = {}): Promise<Prepared> {
  const { config: written, store, configInfo } = await coldStart(opts.configPath);
  if (configInfo.refused)
    log.error('configuration refused; the last good version keeps running', { source: configInfo.source, running: configInfo.version, refused: configInfo.refused });
  const { config, discovery } = await resolveDataPlanes(written, opts.onlyEksCluster ? { onlyEksCluster: opts.onlyEksCluster } : {});
  const connections = await checkLocalAccess(config);
  const wiring: WiringOverrides = { store, connections, ...(opts.metrics ? { metrics: opts.metrics } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) };
  return { config, deps: buildDeps(config, log, wiring), configInfo, ...(discovery ? { discovery } : {}) };
}

/**
 * One invocation's sync: prepare, then run with discovery carried into the report.
 *
 * @param opts the sync's options (see {@link SyncOptions}) and where the configuration is
 */
export async function syncInvocation(log: Log, opts: Omit<SyncOptions, 'discovery'> & Omit<PrepareOptions, 'onlyEksCluster'> = {}): Promise<SyncReport> {
  const { configPath, metrics, onProgress, ...sync } = opts;
  const { deps, discovery, configInfo } = await prepare(log, { ...(configPath ? { configPath } : {}), ...(metrics ? { metrics } : {}), ...(onProgress ? { onProgress } : {}) });
  return runSync(deps, { ...sync, ...(discovery ? { discovery } : {}), ...(configInfo ? { configInfo } : {}) });
}

/**
 * `credsync doctor` on the same path: the same configuration, discovery and store as a sync, then
 * read-only checks of every cluster and the store (lib/doctor/doctor.ts).
 *
 * @throws ConfigError / CONFIG_NOT_FOUND as {@link prepare}
 */
export async function doctorInvocation(opts: Pick<PrepareOptions, 'configPath'> = {}): Promise<DoctorReport> {
  const { config: written, store } = await coldStart(opts.configPath);
  const { config } = await resolveDataPlanes(written);
  const run = forRun();
  return runDoctor({ config, store, connect: (what, access) => connect(what, access, run) });
}

/** One failure of a sync report: its stable code and a short line naming what failed. */
export interface SyncFailure {
  code: string;
  line: string;
}

/**
 * Every failure of a report, in the order the sync meets them: a refused configuration, the
 * failed data planes (in report order), the control plane, its restarts, the execution-cluster
 * labels, the rotation.
 */
export function syncFailures(report: SyncReport): SyncFailure[] {
  const cfg = report.config;
  return [
    ...(cfg?.refused ? [{ code: cfg.refused.code, line: `configuration ${cfg.source} version ${cfg.refused.version} refused (ran version ${cfg.version}): ${cfg.refused.reason}` }] : []),
    ...report.clusters.filter((c) => c.status === 'failed').map((c) => ({ code: c.code ?? 'INTERNAL', line: `${c.id} [${c.code}] ${c.reason}` })),
    ...(report.controlPlaneError ? [{ code: report.controlPlaneError.code, line: `control plane [${report.controlPlaneError.code}] ${report.controlPlaneError.reason}` }] : []),
    ...(report.controlPlane?.drift ? [{ code: report.controlPlane.drift.code, line: `control plane [${report.controlPlane.drift.code}] clusters.yaml differs from the configuration in ${report.controlPlane.drift.count} way(s): ${report.controlPlane.drift.items.slice(0, 3).join('; ')}${report.controlPlane.drift.count > 3 ? '; ...' : ''}` }] : []),
    ...(report.controlPlane?.restartFailures ?? []).map((f) => ({ code: f.code, line: `restart ${f.name} [${f.code}] ${f.reason}` })),
    ...(report.controlPlane?.contested ? [{ code: 'CONTROL_PLANE_CONTESTED', line: `control plane [CONTROL_PLANE_CONTESTED] ${contestedLine(report.controlPlane.contested)}` }] : []),
    ...(report.labelsError ? [{ code: report.labelsError.code, line: `labels [${report.labelsError.code}] ${report.labelsError.reason}` }] : []),
    ...(report.labels?.failures ?? []).map((f) => ({ code: f.code, line: `label ${f.scope} [${f.code}] ${f.reason}` })),
    ...(report.rotationError ? [{ code: report.rotationError.code, line: `rotation [${report.rotationError.code}] ${report.rotationError.reason}` }] : []),
  ];
}

/**
 * Thrown by an entry point when the sync ran but did not fully succeed. The report was logged.
 * Its `code` is the code of the first failure ({@link syncFailures}: e.g. the first failed data
 * plane's `CREDENTIAL_REJECTED`, or the control plane's `CONTROL_PLANE_BUSY`). The message lists
 * the first 20 failures (then how many more; bounded like every message), the report all of them.
 */
export class SyncFailedError extends CredsyncError {
  readonly report: SyncReport;
  constructor(report: SyncReport) {
    const failures = syncFailures(report);
    const first = failures[0]?.code;
    const shown = failures.slice(0, MAX_ECHO_ITEMS).map((f) => f.line);
    if (failures.length > MAX_ECHO_ITEMS) shown.push(`and ${failures.length - MAX_ECHO_ITEMS} more failures (see the report)`);
    super(isErrorCode(first) ? first : 'INTERNAL', `sync failed: ${shown.join('; ') || 'the report is not ok'}`);
    this.name = 'SyncFailedError';
    this.report = report;
  }
}

/**
 * The report as a function logs it, bounded whatever the number of data planes (a CloudWatch or
 * Cloud Logging entry has a size limit, and 5,000 data planes made a 3 MB report): the counts by
 * status, the first failures ({@link syncFailures}, with their codes) and what the control plane
 * did. Each data plane has its own line anyway (`data plane synced` / `data plane failed`, with
 * its code), and the function's answer is the whole report.
 */
export function loggedReport(report: SyncReport): Record<string, unknown> {
  const failures = syncFailures(report);
  const count = (s: ClusterReport['status']) => report.clusters.filter((c) => c.status === s).length;
  const cp = report.controlPlane;
  return {
    runId: report.runId,
    ok: report.ok,
    dryRun: report.dryRun,
    durationMs: report.durationMs,
    counts: { clusters: report.clusters.length, updated: count('updated'), unchanged: count('unchanged'), failed: count('failed') },
    ...(failures.length ? { failureCount: failures.length, failures: failures.slice(0, MAX_ECHO_ITEMS).map((f) => truncate(f.line, 300)) } : {}),
    ...(cp ? { controlPlane: { applied: cp.applied, secret: cp.secret.action, configMaps: cp.configMaps.map((c) => `${c.name}: ${c.action}`), restarted: cp.restarted } } : {}),
  };
}

/**
 * Logs the report (bounded: {@link loggedReport}) and turns a failed sync into a failed invocation.
 *
 * @throws SyncFailedError when `report.ok` is false
 */
export function finish(log: Log, report: SyncReport): SyncReport {
  log.info('sync report', loggedReport(report));
  if (!report.ok) throw new SyncFailedError(report);
  return report;
}

/** Whether a failure (an error, or a failed data plane of a report) only says the cluster does not serve yet. */
export function isNotReady(err: { code?: string } | unknown): boolean {
  if (err instanceof CredsyncError) return err.code === 'CLUSTER_NOT_READY';
  return !!err && typeof err === 'object' && (err as { code?: unknown }).code === 'CLUSTER_NOT_READY';
}

// The deadline of an invocation (its own module: the Lambda adapter needs it before this one loads).
export { DEADLINE_MARGIN_MS, deadlineIn } from './deadline.ts';

export type ClusterCreatedResult = SyncReport | { ignored: true; reason: string };

/** The cluster a creation event names, with what the platform said about it. */
export type CreatedCluster =
  | (Extract<CloudCluster, { cloud: 'eks' }> & { kind: string })
  | (Extract<CloudCluster, { cloud: 'gke' }> & {
      /** Whether the long-running create has finished (`operation.last`). */
      finished: boolean;
    });

export interface ClusterCreatedOptions extends Pick<PrepareOptions, 'metrics'> {
  log: Log;
  /** Default: {@link prepare} with this log. */
  prepare?: (opts: Pick<PrepareOptions, 'onlyEksCluster'>) => Promise<Prepared>;
}

/**
 * The cluster-created use case: the named cluster is synced (with the control plane) when it is a
 * data plane, else the event is ignored and says why.
 *
 * @throws RetryLaterError when the cluster does not serve yet (its create has not finished, or the
 *   cloud still reports it CREATING/PROVISIONING), so the platform redelivers the event
 * @throws SyncFailedError when the sync ran and failed otherwise
 */
export async function syncCreatedCluster(cluster: CreatedCluster, o: ClusterCreatedOptions): Promise<ClusterCreatedResult> {
  const { log } = o;
  const what = describeCloudCluster(cluster);
  // EKS discovery (when configured) also looks this cluster up by name.
  const { config, deps, discovery, configInfo } = await (o.prepare ?? ((p) => prepare(log, { ...p, ...(o.metrics ? { metrics: o.metrics } : {}) })))(
    cluster.cloud === 'eks' ? { onlyEksCluster: { name: cluster.clusterName, ...(cluster.region ? { region: cluster.region } : {}) } } : {},
  );
  const match = matchDataPlane(config, cluster, discovery?.skipped);
  if ('ignored' in match) {
    log.info('event ignored', { reason: match.ignored });
    return { ignored: true, reason: match.ignored };
  }
  const dp = match.dataPlane;
  log.info('cluster created', { cluster: what, dataPlane: dp.id, ...(cluster.cloud === 'eks' ? { kind: cluster.kind } : { finished: cluster.finished }) });
  if (cluster.cloud === 'gke' && !cluster.finished) await ensureReachable(deps, dp, what);
  const report = await runSync(deps, {
    clusters: [dp.id],
    ...(discovery ? { discovery } : {}),
    ...(configInfo ? { configInfo } : {}),
  });
  const mine = report.clusters.find((c) => c.id === dp.id);
  if (!report.ok && mine?.status === 'failed' && isNotReady(mine)) {
    log.info('sync report', loggedReport(report));
    log.warn('cluster not serving yet; the event will be redelivered', { dataPlane: dp.id, reason: mine.reason });
    throw new RetryLaterError(`data plane ${dp.id}: ${mine.reason}`, { report });
  }
  return finish(log, report);
}

/**
 * The create has only started (the audit entry of `operation.first`): the cluster is surely not
 * serving on the first delivery, but may be on a redelivery. Reaching it costs one cloud call; a
 * cluster still being created is "retry later" without touching the store or the control plane.
 */
async function ensureReachable(deps: SyncDeps, dp: DataPlane, what: string): Promise<void> {
  try {
    await deps.dataPlane(dp);
  } catch (err) {
    if (isNotReady(err)) {
      deps.log.warn('the create has not finished; the event will be redelivered', { dataPlane: dp.id, reason: describeError(err) });
      throw new RetryLaterError(`${what} (data plane ${dp.id}): create not finished: ${describeError(err)}`, { cause: err });
    }
    // Any other problem is the sync's to report, with the control plane rendered as usual.
  }
}
