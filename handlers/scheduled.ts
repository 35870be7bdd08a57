/** Scheduled rotation: a schedule event syncs every data plane (written and discovered). */
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { SyncReport } from '../lib/sync/sync.ts';
import { finish, lambdaDeadline, log, syncInvocation } from '../lib/runtime/lambda.ts';

export async function handler(event: ScheduledEvent, context?: Context): Promise<SyncReport> {
  log.info('scheduled rotation', { eventId: event?.id, time: event?.time });
  const deadline = lambdaDeadline(context);
  return finish(await syncInvocation(deadline !== undefined ? { deadline } : {}));
}
