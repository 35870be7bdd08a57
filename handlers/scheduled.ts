/** Scheduled rotation: a schedule event syncs every data plane (written and discovered). */
import type { Context, ScheduledEvent } from 'aws-lambda';
import { finish, syncInvocation } from '../lib/runtime/invocation.ts';
import { lambdaDeadline, log } from '../lib/runtime/lambda/adapter.ts';
import type { SyncReport } from '../lib/sync/sync.ts';

export async function handler(event: ScheduledEvent, context?: Context): Promise<SyncReport> {
  log.info('scheduled rotation', { eventId: event?.id, time: event?.time });
  const deadline = lambdaDeadline(context);
  return finish(log, await syncInvocation(log, deadline !== undefined ? { deadline } : {}));
}
