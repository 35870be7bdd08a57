/**
 * An EKS cluster was deleted (EventBridge: the CloudTrail record of DeleteCluster): its data plane
 * drains at once and retires on a later run (lib/runtime/clusterDeleted.ts). The cluster is a data
 * plane when the written configuration or EKS discovery names it (a cluster being deleted is still
 * listed), or, once it is gone, when the store has the entry named after it. An event about any
 * other cluster is ignored and says so; a malformed one is refused and nothing is touched.
 *
 * A failed invocation (the store or the control plane did not answer, a drain the routing guard
 * refuses) is retried as the cluster-created function's: Lambda twice, then the retry queue, then
 * the dead-letter queue (serverless.yml). Every step is idempotent.
 */
import type { Context } from 'aws-lambda';
import { drainDeletedCluster, type ClusterDeletedResult } from '../lib/runtime/clusterDeleted.ts';
import { log, underLambdaDeadline } from '../lib/runtime/lambda/adapter.ts';
import { lambdaMetrics } from '../lib/runtime/lambda/metrics.ts';
import { parseClusterDeletedEvent, unwrapRetryEnvelope } from '../lib/runtime/lambda/events.ts';

export type { ClusterDeletedResult };

const metrics = lambdaMetrics('clusterDeleted', log);

export async function handler(event: unknown, context?: Context): Promise<ClusterDeletedResult> {
  const { event: inner, fromRetryQueue } = unwrapRetryEnvelope(event);
  if (fromRetryQueue) log.info('event redelivered from the retry queue');
  const ev = parseClusterDeletedEvent(inner);
  if (!ev) {
    const reason = 'event is not a successful cluster deletion (the DeleteCluster call failed)';
    log.info('event ignored', { reason });
    return { ignored: true, reason };
  }
  return underLambdaDeadline(context, () => drainDeletedCluster({ cloud: 'eks', ...ev }, { log, metrics }));
}
