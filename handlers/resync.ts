/** Manual resync: invoked with `{ clusters?: [...], dryRun?: boolean }`. */
import { runSync, type SyncReport } from '../lib/sync/sync.ts';
import { parseResyncEvent } from '../lib/sync/events.ts';
import { finish, log, prepare } from '../lib/runtime/lambda.ts';

export async function handler(event: unknown): Promise<SyncReport> {
  const req = parseResyncEvent(event);
  log.info('manual resync', { clusters: req.clusters ?? 'all', dryRun: req.dryRun ?? false });
  const { deps, discovery } = await prepare();
  return finish(
    await runSync(deps, {
      ...(req.clusters ? { clusters: req.clusters } : {}),
      dryRun: req.dryRun ?? false,
      ...(discovery ? { discovery } : {}),
    }),
  );
}
