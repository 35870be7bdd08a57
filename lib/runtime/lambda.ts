/**
 * What the Lambda handlers share: configuration and clients built once per cold start
 * (the configuration ships with the function; CREDSYNC_CONFIG names it), a Powertools
 * logger behind the redacting log port, and the failure rule: a sync that is not ok is a
 * failed invocation, so schedules and EventBridge retry it and alarms see it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { CredsyncError } from '../errors.ts';
import type { SyncOptions, SyncReport } from '../sync/sync.ts';
import { resolveDataPlanes, type DiscoveryReport } from '../sync/resolve.ts';
import { buildDeps } from '../sync/wiring.ts';
import type { SyncDeps } from '../sync/sync.ts';
import { redactingLog, type Log } from '../util/log.ts';

export const logger = new Logger({ serviceName: 'flyte-credsync' });
export const log: Log = redactingLog({
  debug: (m, f) => (f ? logger.debug(m, f) : logger.debug(m)),
  info: (m, f) => (f ? logger.info(m, f) : logger.info(m)),
  warn: (m, f) => (f ? logger.warn(m, f) : logger.warn(m)),
  error: (m, f) => (f ? logger.error(m, f) : logger.error(m)),
});

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

/** Resolves the data planes (discovery included) and wires the adapters for one invocation. */
export async function prepare(opts: Pick<InvocationOptions, 'onlyEksCluster'> = {}): Promise<{ config: Config; deps: SyncDeps; discovery?: DiscoveryReport }> {
  const written = await loadRuntimeConfig();
  const { config, discovery } = await resolveDataPlanes(written, opts.onlyEksCluster ? { onlyEksCluster: opts.onlyEksCluster } : {});
  return { config, deps: buildDeps(config, log), ...(discovery ? { discovery } : {}) };
}

/** Thrown by a handler when the sync ran but did not fully succeed. The report was logged. */
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
export function finish(report: SyncReport): SyncReport {
  log.info('sync report', { report });
  if (!report.ok) throw new SyncFailedError(report);
  return report;
}
