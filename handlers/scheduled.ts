/** Scheduled rotation: a schedule event syncs every data plane (written and discovered). */
import type { ScheduledEvent } from 'aws-lambda';
import { runSync, type SyncReport } from '../lib/sync/sync.ts';
import { finish, log, prepare } from '../lib/runtime/lambda.ts';

export async function handler(event: ScheduledEvent): Promise<SyncReport> {
  log.info('scheduled rotation', { eventId: event?.id, time: event?.time });
  const { deps, discovery } = await prepare();
  return finish(await runSync(deps, discovery ? { discovery } : {}));
}
