/** Manual resync: invoked with `{ clusters?: [...], dryRun?: boolean }`. */
import { runSync, type SyncReport } from '../lib/sync/sync.ts';
import { parseResyncEvent } from '../lib/sync/events.ts';
import type { Context } from 'aws-lambda';
import { finish, lambdaDeadline, log, prepare } from '../lib/runtime/lambda.ts';

export async function handler(event: unknown, context?: Context): Promise<SyncReport> {
  const req = parseResyncEvent(event);
  log.info('manual resync', { clusters: req.clusters ?? 'all', dryRun: req.dryRun ?? false });
  const deadline = lambdaDeadline(context);
  const { deps, discovery } = await prepare();
  return finish(
    await runSync(deps, {
      ...(req.clusters ? { clusters: req.clusters } : {}),
      dryRun: req.dryRun ?? false,
      ...(discovery ? { discovery } : {}),
      ...(deadline !== undefined ? { deadline } : {}),
    }),
  );
}
