/** Scheduled rotation: a schedule event syncs every data plane (written and discovered). */
import type { Context, ScheduledEvent } from 'aws-lambda';
import { lambdaDeadline, log } from '../lib/runtime/lambda/adapter.ts';
import { lazyRuntime } from '../lib/runtime/lambda/runtime.ts';
import type { SyncReport } from '../lib/sync/sync.ts';

const runtime = lazyRuntime('scheduled');

export async function handler(event: ScheduledEvent, context?: Context): Promise<SyncReport> {
  log.info('scheduled rotation', { eventId: event?.id, time: event?.time });
  const deadline = lambdaDeadline(context);
  const { finish, syncInvocation, metrics } = await runtime();
  return finish(log, await syncInvocation(log, { metrics, ...(deadline !== undefined ? { deadline } : {}) }));
}
