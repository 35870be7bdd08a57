/**
 * The events the Google Cloud Functions entry points receive, besides the resync request
 * (../requests.ts): the Cloud Audit Log entry of a GKE `CreateCluster` or `DeleteCluster`, delivered by Eventarc or
 * through Pub/Sub. Malformed input is an {@link EventError} that says what was expected.
 */
import * as z from '../../util/zod.ts';
import { EventError } from '../../errors.ts';
import { describeIssues, echo } from '../../util/bounded.ts';

/** Longer than any GCP project, location or cluster name (30, ~25 and 40 characters). */
const MAX_NAME = 100;

/** A GKE cluster named by a Cloud Audit Log entry of `CreateCluster`. */
export interface GkeClusterEvent {
  project: string;
  /** Region or zone, as the audit entry names it. */
  location: string;
  clusterName: string;
  /**
   * Whether the create has finished: `CreateCluster` is a long-running operation, logged once
   * when it starts (`operation.first`) and once when it ends (`operation.last`).
   */
  finished: boolean;
}

export const GKE_CREATE_METHODS = [
  'google.container.v1.ClusterManager.CreateCluster',
  'google.container.v1beta1.ClusterManager.CreateCluster',
] as const;
export const GKE_DELETE_METHODS = [
  'google.container.v1.ClusterManager.DeleteCluster',
  'google.container.v1beta1.ClusterManager.DeleteCluster',
] as const;
export const AUDIT_LOG_WRITTEN = 'google.cloud.audit.log.v1.written';
export const PUBSUB_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';

const AuditLogEntry = z.looseObject({
  protoPayload: z.looseObject({
    methodName: z.string().check(z.minLength(1)),
    serviceName: z.optional(z.string()),
    resourceName: z.optional(z.string()),
    status: z.optional(z.looseObject({ code: z.optional(z.number().check(z.int())), message: z.optional(z.string()) })),
  }),
  resource: z.optional(z.looseObject({ type: z.optional(z.string()), labels: z.optional(z.record(z.string(), z.string())) })),
  operation: z.optional(z.looseObject({ id: z.optional(z.string()), first: z.optional(z.boolean()), last: z.optional(z.boolean()) })),
});

const PubsubMessage = z.looseObject({ data: z.string(), attributes: z.optional(z.record(z.string(), z.string())), messageId: z.optional(z.string()) });

const EXPECTED_GKE_EVENT =
  `expected a Pub/Sub push body or "${PUBSUB_PUBLISHED}" CloudEvent ({"message": {"data": base64 of a Cloud Audit Log entry}}), ` +
  `or a "${AUDIT_LOG_WRITTEN}" CloudEvent whose data is the log entry`;

/** Bytes, a string or already-parsed JSON as CloudEvent data arrives: parsed JSON. */
function jsonData(data: unknown, what: string): unknown {
  if (typeof data === 'string' || Buffer.isBuffer(data) || data instanceof Uint8Array) {
    const text = Buffer.from(data as string | Uint8Array).toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      throw new EventError(`${what} is not JSON (${EXPECTED_GKE_EVENT})`);
    }
  }
  return data;
}

/** The log entry carried base64-encoded in a Pub/Sub message (a log sink routed to a topic). */
function entryFromPubsub(message: unknown): unknown {
  const m = PubsubMessage.safeParse(message);
  if (!m.success) throw new EventError(`Pub/Sub message without a base64 "data" string (${EXPECTED_GKE_EVENT})`);
  const text = Buffer.from(m.data.data, 'base64').toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new EventError(`Pub/Sub message data is not base64 of a JSON log entry (${EXPECTED_GKE_EVENT})`);
  }
}

/** Finds the Cloud Audit Log entry in any of the shapes the entry points receive. */
function auditLogEntry(event: unknown, kind: string): unknown {
  if (!event || typeof event !== 'object' || Array.isArray(event)) throw new EventError(`not a GKE ${kind} event: ${EXPECTED_GKE_EVENT}`);
  const e = event as Record<string, unknown>;
  if (typeof e['specversion'] === 'string' || typeof e['type'] === 'string') {
    // A CloudEvent (binary or structured mode): what Eventarc and Cloud Functions deliver.
    if (e['type'] === AUDIT_LOG_WRITTEN) return jsonData(e['data'], `"${AUDIT_LOG_WRITTEN}" CloudEvent data`);
    if (e['type'] === PUBSUB_PUBLISHED) {
      const data = jsonData(e['data'], `"${PUBSUB_PUBLISHED}" CloudEvent data`) as Record<string, unknown> | undefined;
      return entryFromPubsub(data?.['message']);
    }
    throw new EventError(`unsupported CloudEvent type "${echo(e['type'], 100)}": ${EXPECTED_GKE_EVENT}`);
  }
  if ('message' in e) return entryFromPubsub(e['message']); // a Pub/Sub push body
  if (typeof e['data'] === 'string') return entryFromPubsub(e); // a bare Pub/Sub message
  if ('protoPayload' in e) return e; // the log entry itself
  throw new EventError(`not a GKE ${kind} event: ${EXPECTED_GKE_EVENT}`);
}

const CLUSTER_RESOURCE = /^(?:\/\/container\.googleapis\.com\/)?projects\/([^/]+)\/(?:locations|zones)\/([^/]+)\/clusters\/([^/]+)$/;

/**
 * Reads the Cloud Audit Log entry of a GKE `CreateCluster` call, delivered through Pub/Sub (a log
 * sink routed to a topic: push body or `messagePublished` CloudEvent) or by Eventarc
 * (`google.cloud.audit.log.v1.written`). Returns undefined for a well-formed entry that is not a
 * creation (another method, or a call that failed); `finished` tells the entry that ends the
 * long-running create (`operation.last`) from the one that starts it.
 */
export function parseGkeAuditEvent(event: unknown): GkeClusterEvent | undefined {
  return parseGkeClusterCall(event, GKE_CREATE_METHODS, 'CreateCluster', 'cluster-created');
}

/**
 * Reads the Cloud Audit Log entry of a GKE `DeleteCluster` call, in the same shapes as
 * {@link parseGkeAuditEvent}. Returns undefined for a well-formed entry that is not a deletion
 * (another method, or a call that failed). Both entries of the long-running delete (its start,
 * `operation.first`, and its end, `operation.last`) name the cluster; either drains it.
 */
export function parseGkeDeleteEvent(event: unknown): GkeClusterEvent | undefined {
  return parseGkeClusterCall(event, GKE_DELETE_METHODS, 'DeleteCluster', 'cluster-deleted');
}

function parseGkeClusterCall(event: unknown, methods: readonly string[], call: string, kind: string): GkeClusterEvent | undefined {
  const raw = auditLogEntry(event, kind);
  const r = AuditLogEntry.safeParse(raw);
  if (!r.success)
    throw new EventError(`not a Cloud Audit Log entry: expected an object with protoPayload.methodName; ${describeIssues(r.error.issues)} (${EXPECTED_GKE_EVENT})`);
  const entry = r.data;
  const p = entry.protoPayload;
  if (!methods.includes(p.methodName)) return undefined;
  if ((p.status?.code ?? 0) !== 0) return undefined;
  const m = p.resourceName ? CLUSTER_RESOURCE.exec(p.resourceName) : null;
  const labels = entry.resource?.labels ?? {};
  const [project, location, clusterName] = m
    ? [m[1]!, m[2]!, m[3]!]
    : [labels['project_id'], labels['location'], labels['cluster_name']];
  if (!project || !location || !clusterName)
    throw new EventError(
      `GKE ${call} audit entry does not name the cluster: expected protoPayload.resourceName ` +
        '"projects/P/locations/L/clusters/C" or resource.labels project_id, location and cluster_name',
    );
  const long = Object.entries({ project, location, clusterName }).filter(([, v]) => v.length > MAX_NAME).map(([k]) => k);
  if (long.length)
    throw new EventError(`GKE ${call} audit entry: ${long.join(', ')} longer than ${MAX_NAME} characters (from ${m ? 'protoPayload.resourceName' : 'resource.labels'})`);
  return { project, location, clusterName, finished: entry.operation?.last === true };
}

