/** Scheduled rotation: a schedule event syncs every data plane. */
import type { ScheduledEvent } from 'aws-lambda';
import { runSync, type SyncReport } from '../lib/sync/sync.ts';
import { finish, log, runtime } from '../lib/runtime/lambda.ts';

export async function handler(event: ScheduledEvent): Promise<SyncReport> {
  log.info('scheduled rotation', { eventId: event?.id, time: event?.time });
  const { deps } = await runtime();
  return finish(await runSync(deps));
}
