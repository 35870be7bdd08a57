/**
 * The AWS Lambda side of the runtime: a Powertools logger behind the redacting log port, and the
 * invocation's deadline from the Lambda context. Everything else is the shared invocation path
 * (../invocation.ts); the handlers in handlers/ only parse their events (./events.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { withDeadline } from '../../util/abort.ts';
import { redactingLog, type Log } from '../../util/log.ts';
import { deadlineIn } from '../deadline.ts';

export const logger = new Logger({ serviceName: 'flyte-credsync' });
export const log: Log = redactingLog({
  debug: (m, f) => (f ? logger.debug(m, f) : logger.debug(m)),
  info: (m, f) => (f ? logger.info(m, f) : logger.info(m)),
  warn: (m, f) => (f ? logger.warn(m, f) : logger.warn(m)),
  error: (m, f) => (f ? logger.error(m, f) : logger.error(m)),
});

/**
 * The sync deadline from the Lambda context: its remaining time less a margin to report and
 * return ({@link deadlineIn}); undefined without a context (a local call).
 */
export function lambdaDeadline(context?: { getRemainingTimeInMillis?: () => number }): number | undefined {
  return deadlineIn(context?.getRemainingTimeInMillis?.());
}

/** Runs a handler's work under the invocation's deadline ({@link lambdaDeadline}; lib/util/abort.ts carries it). */
export function underLambdaDeadline<T>(context: { getRemainingTimeInMillis?: () => number } | undefined, fn: () => Promise<T>): Promise<T> {
  return withDeadline(lambdaDeadline(context), fn);
}
