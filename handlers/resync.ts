/** Manual resync: invoked with `{ clusters?: [...], dryRun?: boolean }`. */
import type { Context } from 'aws-lambda';
import type { SyncReport } from '../lib/sync/sync.ts';
import { parseResyncEvent } from '../lib/sync/events.ts';
import { finish, lambdaDeadline, log, syncInvocation } from '../lib/runtime/lambda.ts';

export async function handler(event: unknown, context?: Context): Promise<SyncReport> {
  const req = parseResyncEvent(event);
  log.info('manual resync', { clusters: req.clusters ?? 'all', dryRun: req.dryRun ?? false });
  const deadline = lambdaDeadline(context);
  return finish(
    await syncInvocation({
      ...(req.clusters ? { clusters: req.clusters } : {}),
      dryRun: req.dryRun ?? false,
      ...(deadline !== undefined ? { deadline } : {}),
    }),
  );
}
