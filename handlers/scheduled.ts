/** Scheduled rotation: a schedule event syncs every data plane (written and discovered). */
import type { Context, ScheduledEvent } from 'aws-lambda';
import { runSync, type SyncReport } from '../lib/sync/sync.ts';
import { finish, lambdaDeadline, log, prepare } from '../lib/runtime/lambda.ts';

export async function handler(event: ScheduledEvent, context?: Context): Promise<SyncReport> {
  log.info('scheduled rotation', { eventId: event?.id, time: event?.time });
  const deadline = lambdaDeadline(context);
  const { deps, discovery } = await prepare();
  return finish(await runSync(deps, { ...(discovery ? { discovery } : {}), ...(deadline !== undefined ? { deadline } : {}) }));
}
