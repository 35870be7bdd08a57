/**
 * The AWS Lambda side of the runtime (./common.ts holds what every platform shares): a
 * Powertools logger behind the redacting log port, and the shared cold-start configuration,
 * wiring and failure rule bound to it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { SyncReport } from '../sync/sync.ts';
import { redactingLog, type Log } from '../util/log.ts';
import * as common from './common.ts';

export { loadRuntimeConfig, SyncFailedError, type ClusterCreatedResult, type InvocationOptions } from './common.ts';

export const logger = new Logger({ serviceName: 'flyte-credsync' });
export const log: Log = redactingLog({
  debug: (m, f) => (f ? logger.debug(m, f) : logger.debug(m)),
  info: (m, f) => (f ? logger.info(m, f) : logger.info(m)),
  warn: (m, f) => (f ? logger.warn(m, f) : logger.warn(m)),
  error: (m, f) => (f ? logger.error(m, f) : logger.error(m)),
});

/** Resolves the data planes (discovery included) and wires the adapters for one invocation. */
export function prepare(opts: Pick<common.InvocationOptions, 'onlyEksCluster'> = {}): Promise<common.Prepared> {
  return common.prepare(log, opts);
}

/** The sync deadline from the Lambda context: its remaining time less a margin to report and return. */
export function lambdaDeadline(context?: { getRemainingTimeInMillis?: () => number }): number | undefined {
  return common.deadlineIn(context?.getRemainingTimeInMillis?.());
}

/** Logs the report and turns a failed sync into a failed invocation. */
export function finish(report: SyncReport): SyncReport {
  return common.finish(log, report);
}
