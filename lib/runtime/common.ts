/**
 * What every function entry point shares, whatever the platform (AWS Lambda, Google Cloud
 * Functions): the configuration loaded once per cold start (it ships with the function;
 * CREDSYNC_CONFIG names it), the data planes resolved and the adapters wired per invocation,
 * the failure rule (a sync that is not ok is a failed invocation, so the platform and alarms see
 * it) and the cluster-created path (match the cluster to a data plane, sync it, or ignore the
 * event and say why; a cluster still being created is "retry later").
 *
 * Each platform adapter (./lambda.ts, ./gcf.ts) passes its own logger behind the redacting
 * {@link Log} port.
 */
import { loadConfig } from '../config/load.ts';
import type { Config, DataPlane } from '../config/schema.ts';
import { CredsyncError, describeError, errorCode, RetryLaterError } from '../errors.ts';
import { dataPlaneForCluster, dataPlaneForGkeCluster, type GkeClusterEvent } from '../sync/events.ts';
import { gkeSource, isEksSource } from '../discovery/merge.ts';
import { resolveDataPlanes, type DiscoveryReport } from '../sync/resolve.ts';
import { runSync, type SyncDeps, type SyncOptions, type SyncReport } from '../sync/sync.ts';
import { buildDeps } from '../sync/wiring.ts';
import type { Log } from '../util/log.ts';

let cold: Promise<Config> | undefined;

/** The written configuration, once per cold start (a failed load is retried on the next invocation). */
export function loadRuntimeConfig(): Promise<Config> {
  cold ??= loadConfig();
  cold.catch(() => {
    cold = undefined;
  });
  return cold;
}

export interface InvocationOptions extends Omit<SyncOptions, 'discovery'> {
  /** A cluster-created event: discover only this EKS cluster. */
  onlyEksCluster?: { name: string; region?: string };
}

export interface Prepared {
  config: Config;
  deps: SyncDeps;
  discovery?: DiscoveryReport;
}

/** Resolves the data planes (discovery included) and wires the adapters for one invocation. */
export async function prepare(log: Log, opts: Pick<InvocationOptions, 'onlyEksCluster'> = {}): Promise<Prepared> {
  const written = await loadRuntimeConfig();
  const { config, discovery } = await resolveDataPlanes(written, opts.onlyEksCluster ? { onlyEksCluster: opts.onlyEksCluster } : {});
  return { config, deps: buildDeps(config, log), ...(discovery ? { discovery } : {}) };
}

/** One invocation's sync: resolve the data planes, wire the adapters, run (discovery carried into the report). */
export async function syncInvocation(log: Log, opts: Omit<SyncOptions, 'discovery'> = {}): Promise<SyncReport> {
  const { deps, discovery } = await prepare(log);
  return runSync(deps, { ...opts, ...(discovery ? { discovery } : {}) });
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

/** Logs the report and turns a failed sync into a failed invocation. */
export function finish(log: Log, report: SyncReport): SyncReport {
  log.info('sync report', { report });
  if (!report.ok) throw new SyncFailedError(report);
  return report;
}

/** How the cloud describes a cluster that exists but is not serving yet (lib/clusters/eks.ts, gke.ts). */
const NOT_READY = /not (ACTIVE|RUNNING) yet/;

/** A failure that only says the cluster is still being created: worth retrying later. */
export function isNotReady(err: { code?: string; reason?: string } | unknown): boolean {
  if (err && typeof err === 'object' && 'reason' in err) {
    const r = err as { code?: string; reason?: string };
    return r.code === 'CLUSTER_UNREACHABLE' && NOT_READY.test(r.reason ?? '');
  }
  return errorCode(err) === 'CLUSTER_UNREACHABLE' && NOT_READY.test(describeError(err));
}

export type ClusterCreatedResult = SyncReport | { ignored: true; reason: string };

/** The cluster a creation event names, on either cloud. */
export type CreatedCluster =
  | { cloud: 'eks'; clusterName: string; region?: string; kind: string }
  | ({ cloud: 'gke' } & GkeClusterEvent);

export interface ClusterCreatedDeps {
  log: Log;
  /** Default: {@link prepare} with this log. */
  prepare?: (opts: Pick<InvocationOptions, 'onlyEksCluster'>) => Promise<Prepared>;
  /** Epoch ms by which the sync must be done (see SyncOptions.deadline). */
  deadline?: number;
}

/** Margin kept before a function's own timeout: enough to report and return. */
export const DEADLINE_MARGIN_MS = 15_000;

/** The sync deadline of an invocation that has `remainingMs` left, or undefined if unknown. */
export function deadlineIn(remainingMs: number | undefined, now = Date.now()): number | undefined {
  return remainingMs === undefined || !Number.isFinite(remainingMs) ? undefined : now + Math.max(0, remainingMs - DEADLINE_MARGIN_MS);
}

function describeCluster(c: CreatedCluster): string {
  return c.cloud === 'eks' ? `EKS cluster ${c.clusterName}` : `GKE cluster projects/${c.project}/locations/${c.location}/clusters/${c.clusterName}`;
}

/**
 * The cluster-created path: the named cluster is synced (with the control plane) when it is a
 * data plane, else the event is ignored and says why. A cluster that is not serving yet (its
 * create has not finished, or the cloud still reports it CREATING/PROVISIONING) is a
 * {@link RetryLaterError}, so the platform redelivers the event; any other failure is a
 * {@link SyncFailedError}.
 */
export async function syncCreatedCluster(cluster: CreatedCluster, d: ClusterCreatedDeps): Promise<ClusterCreatedResult> {
  const { log } = d;
  const ignored = (reason: string): ClusterCreatedResult => {
    log.info('event ignored', { reason });
    return { ignored: true, reason };
  };
  const what = describeCluster(cluster);
  // EKS discovery (when configured) looks at this cluster only.
  const { config, deps, discovery } = await (d.prepare ?? ((o) => prepare(log, o)))(
    cluster.cloud === 'eks' ? { onlyEksCluster: { name: cluster.clusterName, ...(cluster.region ? { region: cluster.region } : {}) } } : {},
  );
  const id = cluster.cloud === 'eks' ? dataPlaneForCluster(config, cluster.clusterName) : dataPlaneForGkeCluster(config, cluster);
  if (!id) {
    const skipped = discovery?.skipped.find((s) =>
      cluster.cloud === 'eks'
        ? isEksSource(s.source, cluster.clusterName, cluster.region)
        : s.source === gkeSource(cluster.project, cluster.location, cluster.clusterName),
    );
    return ignored(skipped ? `${what} matches discovery but was skipped: ${skipped.reason}` : `${what} is not a configured or discovered data plane`);
  }
  const dp = config.dataPlanes.find((x) => x.id === id)!;
  log.info('cluster created', { cluster: what, dataPlane: id, ...(cluster.cloud === 'eks' ? { kind: cluster.kind } : { finished: cluster.finished }) });
  if (cluster.cloud === 'gke' && !cluster.finished) await ensureReachable(deps, dp, what);
  const report = await runSync(deps, { clusters: [id], ...(discovery ? { discovery } : {}), ...(d.deadline !== undefined ? { deadline: d.deadline } : {}) });
  const mine = report.clusters.find((c) => c.id === id);
  if (!report.ok && mine?.status === 'failed' && isNotReady(mine)) {
    log.info('sync report', { report });
    log.warn('cluster not serving yet; the event will be redelivered', { dataPlane: id, reason: mine.reason });
    throw new RetryLaterError(`data plane ${id}: ${mine.reason}`, { report });
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
