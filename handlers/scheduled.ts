/** Scheduled rotation: a schedule event syncs every data plane (written and discovered). */
import type { Context, ScheduledEvent } from 'aws-lambda';
import { finish, syncInvocation } from '../lib/runtime/invocation.ts';
import { log, underLambdaDeadline } from '../lib/runtime/lambda/adapter.ts';
import { lambdaMetrics } from '../lib/runtime/lambda/metrics.ts';
import type { SyncReport } from '../lib/sync/sync.ts';
import { echo } from '../lib/util/bounded.ts';

const metrics = lambdaMetrics('scheduled', log);

export async function handler(event: ScheduledEvent, context?: Context): Promise<SyncReport> {
  log.info('scheduled rotation', { eventId: echo(event?.id, 100), time: echo(event?.time, 100) });
  return finish(log, await underLambdaDeadline(context, () => syncInvocation(log, { metrics })));
}
