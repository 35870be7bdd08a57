/**
 * The events the AWS Lambda entry points receive, besides the resync request (../requests.ts):
 * EventBridge events about a new or deleted EKS cluster, and the SQS envelope of the
 * cluster-created and cluster-deleted retry queues. Malformed input is an {@link EventError} that says what was expected; nothing runs.
 */
import * as z from '../../util/zod.ts';
import { EventError } from '../../errors.ts';
import { describeIssues } from '../../util/bounded.ts';

/** EKS cluster names have at most 100 characters; a region a few dozen. */
const EksName = z.string().check(z.minLength(1), z.maxLength(100));
const Region = z.string().check(z.maxLength(64));

export interface ClusterEvent {
  /** The EKS cluster name the event is about. */
  clusterName: string;
  /** What happened: the CreateCluster API call, or the cluster reaching ACTIVE. */
  kind: 'CreateCluster' | 'ACTIVE';
  region?: string;
}

/** The CloudTrail record of an EKS API call about one cluster (`detail.requestParameters.name`), through EventBridge. */
const cloudTrailCall = <N extends string>(eventName: N) =>
  z.looseObject({
    source: z.literal('aws.eks'),
    'detail-type': z.literal('AWS API Call via CloudTrail'),
    region: z.optional(Region),
    detail: z.looseObject({
      eventSource: z.literal('eks.amazonaws.com'),
      eventName: z.literal(eventName),
      requestParameters: z.looseObject({ name: EksName }),
      errorCode: z.optional(z.string()),
    }),
  });

const CloudTrailCreate = cloudTrailCall('CreateCluster');

const StateChange = z.looseObject({
  source: z.literal('aws.eks'),
  'detail-type': z.string().check(z.regex(/cluster state change/i)),
  region: z.optional(Region),
  detail: z.looseObject({
    clusterName: z.optional(EksName),
    name: z.optional(EksName),
    status: z.string(),
  }),
});

/**
 * Reads an EventBridge event about a new EKS cluster: the CloudTrail record of CreateCluster,
 * or a cluster state change to ACTIVE. Returns undefined for an event that is well-formed but
 * not a successful creation (a failed API call, a state other than ACTIVE).
 */
export function parseClusterEvent(event: unknown): ClusterEvent | undefined {
  const ct = CloudTrailCreate.safeParse(event);
  if (ct.success) {
    if (ct.data.detail.errorCode) return undefined;
    return { clusterName: ct.data.detail.requestParameters.name, kind: 'CreateCluster', ...(ct.data.region ? { region: ct.data.region } : {}) };
  }
  const sc = StateChange.safeParse(event);
  if (sc.success) {
    const name = sc.data.detail.clusterName ?? sc.data.detail.name;
    if (!name) throw new EventError('EKS state-change event without detail.clusterName');
    if (sc.data.detail.status !== 'ACTIVE') return undefined;
    return { clusterName: name, kind: 'ACTIVE', ...(sc.data.region ? { region: sc.data.region } : {}) };
  }
  // An event that says what it is but is malformed: name the field.
  const e = event as { source?: unknown; 'detail-type'?: unknown } | null;
  if (e && typeof e === 'object' && e.source === 'aws.eks') {
    if (e['detail-type'] === 'AWS API Call via CloudTrail') throw new EventError(`malformed EKS CloudTrail event: ${describeIssues(ct.error.issues)}`);
    if (typeof e['detail-type'] === 'string' && /cluster state change/i.test(e['detail-type']))
      throw new EventError(`malformed EKS state-change event: ${describeIssues(sc.error.issues)}`);
  }
  throw new EventError(
    'not an EKS cluster-created event: expected source "aws.eks" with detail-type "AWS API Call via CloudTrail" ' +
      '(detail.eventName "CreateCluster", detail.requestParameters.name) or an EKS cluster state change (detail.clusterName, detail.status)',
  );
}

/** An EKS cluster named by a deletion event. */
export interface ClusterDeletedEvent {
  clusterName: string;
  region?: string;
}

const CloudTrailDelete = cloudTrailCall('DeleteCluster');

/**
 * Reads an EventBridge event about a deleted EKS cluster: the CloudTrail record of DeleteCluster.
 * Returns undefined for a well-formed record of a call that failed (`detail.errorCode`: nothing
 * was deleted).
 * @throws EventError for anything else, naming the field (nothing runs)
 */
export function parseClusterDeletedEvent(event: unknown): ClusterDeletedEvent | undefined {
  const ct = CloudTrailDelete.safeParse(event);
  if (ct.success) {
    if (ct.data.detail.errorCode) return undefined;
    return { clusterName: ct.data.detail.requestParameters.name, ...(ct.data.region ? { region: ct.data.region } : {}) };
  }
  const e = event as { source?: unknown; 'detail-type'?: unknown; detail?: { eventName?: unknown } } | null;
  if (e && typeof e === 'object' && e.source === 'aws.eks' && e['detail-type'] === 'AWS API Call via CloudTrail' && e.detail?.eventName === 'DeleteCluster')
    throw new EventError(`malformed EKS DeleteCluster CloudTrail event: ${describeIssues(ct.error.issues)}`);
  throw new EventError(
    'not an EKS cluster-deleted event: expected source "aws.eks" with detail-type "AWS API Call via CloudTrail", ' +
      'detail.eventSource "eks.amazonaws.com", detail.eventName "DeleteCluster" and detail.requestParameters.name',
  );
}

const SqsEvent = z.looseObject({
  Records: z.array(z.looseObject({ eventSource: z.literal('aws:sqs'), body: z.string(), messageId: z.optional(z.string()) })).check(z.minLength(1)),
});

/**
 * The retry queue of the AWS cluster-created function (serverless.yml): an SQS event whose one
 * record holds a Lambda "on failure" destination record, whose `requestPayload` is the original
 * EventBridge event. Returns that event (and how often it was tried), or the input unchanged
 * when it is not such an envelope.
 */
export function unwrapRetryEnvelope(event: unknown): { event: unknown; fromRetryQueue: boolean } {
  const sqs = SqsEvent.safeParse(event);
  if (!sqs.success) return { event, fromRetryQueue: false };
  if (sqs.data.Records.length !== 1)
    throw new EventError(`expected one SQS record per invocation (batchSize 1), got ${sqs.data.Records.length}`);
  let body: unknown;
  try {
    body = JSON.parse(sqs.data.Records[0]!.body);
  } catch {
    throw new EventError('SQS record body is not JSON (expected a Lambda destination record or an EventBridge event)');
  }
  const b = body as { requestPayload?: unknown } | null;
  return { event: b && typeof b === 'object' && 'requestPayload' in b ? b.requestPayload : body, fromRetryQueue: true };
}
