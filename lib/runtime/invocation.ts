/**
 * The one invocation path of every entry point, whatever the platform (AWS Lambda, Google Cloud
 * Functions, the CLI):
 *
 * 1. **cold start**: the written configuration is loaded and the secret store built once per
 *    process ({@link coldStart}; a failed load is retried on the next invocation);
 * 2. **prepare**: per invocation, the data planes are resolved (discovery included) and the
 *    Kubernetes adapters wired ({@link prepare});
 * 3. **run**: {@link runSync} with the invocation's deadline ({@link deadlineIn});
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
import { connect } from '../clusters/access.ts';
import { loadConfig } from '../config/load.ts';
import { runDoctor, type DoctorReport } from '../doctor/doctor.ts';
import type { Config, DataPlane } from '../config/schema.ts';
import { describeCloudCluster, matchDataPlane, type CloudCluster } from '../discovery/match.ts';
import { resolveDataPlanes, type DiscoveryReport } from '../discovery/resolve.ts';
import { CredsyncError, describeError, RetryLaterError } from '../errors.ts';
import type { SecretStore } from '../stores/types.ts';
import { runSync, type SyncDeps, type SyncOptions, type SyncReport } from '../sync/sync.ts';
import type { Log } from '../util/log.ts';
import { readRuntimeEnv } from './env.ts';
import { buildDeps, buildStore, type WiringOverrides } from './wiring.ts';

interface ColdStart {
  config: Config;
  store: SecretStore;
}

const cold = new Map<string, Promise<ColdStart>>();

/**
 * The written configuration and the secret store, once per process and configuration path (a
 * failed load is forgotten, so the next invocation tries again).
 *
 * @param configPath default: `CREDSYNC_CONFIG`
 * @throws CredsyncError `CONFIG_NOT_FOUND` / ConfigError as {@link loadConfig} does
 */
export function coldStart(configPath?: string): Promise<ColdStart> {
  const path = configPath ?? readRuntimeEnv().configPath;
  const key = path ?? '';
  let c = cold.get(key);
  if (!c) {
    c = loadConfig(path).then((config) => ({ config, store: buildStore(config) }));
    c.catch(() => cold.delete(key));
    cold.set(key, c);
  }
  return c;
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
}

/**
 * Resolves the data planes (discovery included) and wires the adapters for one invocation.
 *
 * @throws ConfigError when the configuration, or what discovery made of it, is invalid
 */
export async function prepare(log: Log, opts: PrepareOptions = {}): Promise<Prepared> {
  const { config: written, store } = await coldStart(opts.configPath);
  const { config, discovery } = await resolveDataPlanes(written, opts.onlyEksCluster ? { onlyEksCluster: opts.onlyEksCluster } : {});
  const wiring: WiringOverrides = { store, ...(opts.metrics ? { metrics: opts.metrics } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) };
  return { config, deps: buildDeps(config, log, wiring), ...(discovery ? { discovery } : {}) };
}

/**
 * One invocation's sync: prepare, then run with discovery carried into the report.
 *
 * @param opts the sync's options (see {@link SyncOptions}) and where the configuration is
 */
export async function syncInvocation(log: Log, opts: Omit<SyncOptions, 'discovery'> & Omit<PrepareOptions, 'onlyEksCluster'> = {}): Promise<SyncReport> {
  const { configPath, metrics, onProgress, ...sync } = opts;
  const { deps, discovery } = await prepare(log, { ...(configPath ? { configPath } : {}), ...(metrics ? { metrics } : {}), ...(onProgress ? { onProgress } : {}) });
  return runSync(deps, { ...sync, ...(discovery ? { discovery } : {}) });
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
  return runDoctor({ config, store, connect: (what, access) => connect(what, access) });
}

/** Thrown by an entry point when the sync ran but did not fully succeed. The report was logged. */
export class SyncFailedError extends CredsyncError {
  readonly report: SyncReport;
  constructor(report: SyncReport) {
    const failed = report.clusters.filter((c) => c.status === 'failed').map((c) => `${c.id} [${c.code}] ${c.reason}`);
    const cp = report.controlPlaneError ? [`control plane [${report.controlPlaneError.code}] ${report.controlPlaneError.reason}`] : [];
    const restarts = (report.controlPlane?.restartFailures ?? []).map((f) => `restart ${f.name}: ${f.reason}`);
    super('KUBERNETES_API', `sync failed: ${[...failed, ...cp, ...restarts].join('; ')}`);
    this.name = 'SyncFailedError';
    this.report = report;
  }
}

/**
 * Logs the report and turns a failed sync into a failed invocation.
 *
 * @throws SyncFailedError when `report.ok` is false
 */
export function finish(log: Log, report: SyncReport): SyncReport {
  log.info('sync report', { report });
  if (!report.ok) throw new SyncFailedError(report);
  return report;
}

/** Whether a failure (an error, or a failed data plane of a report) only says the cluster does not serve yet. */
export function isNotReady(err: { code?: string } | unknown): boolean {
  if (err instanceof CredsyncError) return err.code === 'CLUSTER_NOT_READY';
  return !!err && typeof err === 'object' && (err as { code?: unknown }).code === 'CLUSTER_NOT_READY';
}

/** Margin kept before a function's own timeout: enough to report and return. */
export const DEADLINE_MARGIN_MS = 15_000;

/**
 * The sync deadline of an invocation that has `remainingMs` left: now + remainingMs less
 * {@link DEADLINE_MARGIN_MS} (never before now), or undefined when the time left is unknown.
 */
export function deadlineIn(remainingMs: number | undefined, now = Date.now()): number | undefined {
  return remainingMs === undefined || !Number.isFinite(remainingMs) ? undefined : now + Math.max(0, remainingMs - DEADLINE_MARGIN_MS);
}

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
  /** Epoch ms by which the sync must be done (see SyncOptions.deadline). */
  deadline?: number;
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
  const { config, deps, discovery } = await (o.prepare ?? ((p) => prepare(log, { ...p, ...(o.metrics ? { metrics: o.metrics } : {}) })))(
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
  const report = await runSync(deps, { clusters: [dp.id], ...(discovery ? { discovery } : {}), ...(o.deadline !== undefined ? { deadline: o.deadline } : {}) });
  const mine = report.clusters.find((c) => c.id === dp.id);
  if (!report.ok && mine?.status === 'failed' && isNotReady(mine)) {
    log.info('sync report', { report });
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
