/**
 * Parsing of the events the entry points receive. Malformed input is an {@link EventError}
 * that says what was expected; nothing runs.
 */
import { z } from 'zod';
import type { Config } from '../config/schema.ts';
import { EventError } from '../errors.ts';

/** Manual resync: `{ clusters?: string[], dryRun?: boolean }`. Unknown keys are errors. */
export const ResyncEvent = z.strictObject({
  clusters: z.array(z.string().min(1)).min(1).optional(),
  dryRun: z.boolean().optional(),
});
export type ResyncEvent = z.infer<typeof ResyncEvent>;

export function parseResyncEvent(event: unknown): ResyncEvent {
  const r = ResyncEvent.safeParse(event ?? {});
  if (!r.success)
    throw new EventError(
      'invalid resync event: ' +
        r.error.issues.map((i) => `${i.path.join('.') || '<root>'}: ${i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message}`).join('; ') +
        ' (expected {"clusters"?: ["id", ...], "dryRun"?: boolean})',
    );
  return r.data;
}

export interface ClusterEvent {
  /** The EKS cluster name the event is about. */
  clusterName: string;
  /** What happened: the CreateCluster API call, or the cluster reaching ACTIVE. */
  kind: 'CreateCluster' | 'ACTIVE';
  region?: string;
}

const CloudTrailCreate = z.object({
  source: z.literal('aws.eks'),
  'detail-type': z.literal('AWS API Call via CloudTrail'),
  region: z.string().optional(),
  detail: z.object({
    eventSource: z.literal('eks.amazonaws.com'),
    eventName: z.literal('CreateCluster'),
    requestParameters: z.object({ name: z.string().min(1) }).loose(),
    errorCode: z.string().optional(),
  }).loose(),
}).loose();

const StateChange = z.object({
  source: z.literal('aws.eks'),
  'detail-type': z.string().regex(/cluster state change/i),
  region: z.string().optional(),
  detail: z.object({
    clusterName: z.string().min(1).optional(),
    name: z.string().min(1).optional(),
    status: z.string(),
  }).loose(),
}).loose();

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
  throw new EventError(
    'not an EKS cluster-created event: expected source "aws.eks" with detail-type "AWS API Call via CloudTrail" ' +
      '(detail.eventName "CreateCluster", detail.requestParameters.name) or an EKS cluster state change (detail.clusterName, detail.status)',
  );
}

/** The configured data plane an EKS cluster is, matched on `eksClusterName`, else on `id`. */
export function dataPlaneForCluster(cfg: Config, clusterName: string): string | undefined {
  return (
    cfg.dataPlanes.find((d) => d.eksClusterName === clusterName)?.id ??
    cfg.dataPlanes.find((d) => d.id === clusterName && d.eksClusterName === undefined)?.id
  );
}
