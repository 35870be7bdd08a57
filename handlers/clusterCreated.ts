/**
 * A new EKS cluster (EventBridge: CloudTrail CreateCluster, or the cluster becoming ACTIVE):
 * syncs that data plane and the control plane. The cluster is a data plane when the written
 * configuration names it (`eksClusterName` or `id`) or when EKS discovery finds it by its tags.
 * An event about any other cluster is ignored and says so.
 *
 * A cluster that is not ACTIVE yet (CloudTrail's CreateCluster arrives while it is CREATING)
 * fails the invocation with RetryLaterError: Lambda retries it, then hands it to the retry queue,
 * which invokes this function again (SQS event, the original event inside) until the cluster
 * serves or the queue moves it to the dead-letter queue (serverless.yml).
 */
import type { Context } from 'aws-lambda';
import { syncCreatedCluster, type ClusterCreatedResult } from '../lib/runtime/invocation.ts';
import { log, underLambdaDeadline } from '../lib/runtime/lambda/adapter.ts';
import { lambdaMetrics } from '../lib/runtime/lambda/metrics.ts';
import { parseClusterEvent, unwrapRetryEnvelope } from '../lib/runtime/lambda/events.ts';

export type { ClusterCreatedResult };

const metrics = lambdaMetrics('clusterCreated', log);

export async function handler(event: unknown, context?: Context): Promise<ClusterCreatedResult> {
  const { event: inner, fromRetryQueue } = unwrapRetryEnvelope(event);
  if (fromRetryQueue) log.info('event redelivered from the retry queue');
  const ev = parseClusterEvent(inner);
  if (!ev) {
    const reason = 'event is not a successful cluster creation (failed API call or a state other than ACTIVE)';
    log.info('event ignored', { reason });
    return { ignored: true, reason };
  }
  return underLambdaDeadline(context, () => syncCreatedCluster({ cloud: 'eks', ...ev }, { log, metrics }));
}
