/** Manual resync: invoked with `{ clusters?: [...], dryRun?: boolean }`. */
import type { Context } from 'aws-lambda';
import { lambdaDeadline, log } from '../lib/runtime/lambda/adapter.ts';
import { lazyRuntime } from '../lib/runtime/lambda/runtime.ts';
import { parseResyncEvent, resyncLogFields } from '../lib/runtime/requests.ts';
import type { SyncReport } from '../lib/sync/sync.ts';

const runtime = lazyRuntime('resync');

export async function handler(event: unknown, context?: Context): Promise<SyncReport> {
  const req = parseResyncEvent(event);
  log.info('manual resync', resyncLogFields(req));
  const deadline = lambdaDeadline(context);
  const { finish, syncInvocation, metrics } = await runtime();
  return finish(
    log,
    await syncInvocation(log, {
      metrics,
      ...(req.clusters ? { clusters: req.clusters } : {}),
      dryRun: req.dryRun ?? false,
      ...(deadline !== undefined ? { deadline } : {}),
    }),
  );
}
