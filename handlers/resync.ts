/** Manual resync: invoked with `{ clusters?: [...], dryRun?: boolean }`. */
import type { Context } from 'aws-lambda';
import { finish, syncInvocation } from '../lib/runtime/invocation.ts';
import { log, underLambdaDeadline } from '../lib/runtime/lambda/adapter.ts';
import { lambdaMetrics } from '../lib/runtime/lambda/metrics.ts';
import { parseResyncEvent, resyncLogFields } from '../lib/runtime/requests.ts';
import type { SyncReport } from '../lib/sync/sync.ts';

const metrics = lambdaMetrics('resync', log);

export async function handler(event: unknown, context?: Context): Promise<SyncReport> {
  const req = parseResyncEvent(event);
  log.info('manual resync', resyncLogFields(req));
  const report = await underLambdaDeadline(context, () =>
    syncInvocation(log, { metrics, ...(req.clusters ? { clusters: req.clusters } : {}), dryRun: req.dryRun ?? false }),
  );
  return finish(log, report);
}
