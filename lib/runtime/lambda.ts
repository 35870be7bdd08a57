/**
 * The AWS Lambda side of the runtime (./common.ts holds what every platform shares): a
 * Powertools logger behind the redacting log port, and the shared cold-start configuration,
 * wiring and failure rule bound to it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { SyncOptions, SyncReport } from '../sync/sync.ts';
import { redactingLog, type Log } from '../util/log.ts';
import * as common from './common.ts';

export { SyncFailedError } from './common.ts';

export const logger = new Logger({ serviceName: 'flyte-credsync' });
export const log: Log = redactingLog({
  debug: (m, f) => (f ? logger.debug(m, f) : logger.debug(m)),
  info: (m, f) => (f ? logger.info(m, f) : logger.info(m)),
  warn: (m, f) => (f ? logger.warn(m, f) : logger.warn(m)),
  error: (m, f) => (f ? logger.error(m, f) : logger.error(m)),
});

/** The sync deadline from the Lambda context: its remaining time less a margin to report and return. */
export function lambdaDeadline(context?: { getRemainingTimeInMillis?: () => number }): number | undefined {
  return common.deadlineIn(context?.getRemainingTimeInMillis?.());
}

/** Resolves, wires and runs one invocation's sync. */
export function syncInvocation(opts: Omit<SyncOptions, 'discovery'> = {}): Promise<SyncReport> {
  return common.syncInvocation(log, opts);
}

/** Logs the report and turns a failed sync into a failed invocation. */
export function finish(report: SyncReport): SyncReport {
  return common.finish(log, report);
}
