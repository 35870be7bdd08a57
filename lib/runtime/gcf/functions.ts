/**
 * The Google Cloud Functions (2nd gen) entry points; functions/<name>.ts registers each with the
 * Functions Framework. Thin, like handlers/ on Lambda: parse the event (./events.ts), run the
 * shared invocation path (../invocation.ts), shape the result.
 *
 *   scheduled       CloudEvent (Cloud Scheduler -> Pub/Sub): syncs every data plane.
 *   clusterCreated  CloudEvent (the GKE CreateCluster audit-log entry, by Eventarc or a log sink
 *                   routed to Pub/Sub): syncs that data plane; any other cluster is ignored.
 *   clusterDeleted  CloudEvent (the GKE DeleteCluster audit-log entry, the same ways): drains that
 *                   data plane, which a later run retires (../clusterDeleted.ts).
 *   resync          HTTP POST {"clusters"?: [...], "dryRun"?: bool}: 200 + report, 500 + report
 *                   with `code` and `error` (SyncFailedError's) when the sync failed, 400 for bad
 *                   input. Deployed --no-allow-unauthenticated.
 *
 * A CloudEvent function that throws answers 500, and a trigger deployed with --retry then
 * redelivers the event with backoff: that is how a cluster still being created is retried later
 * (RetryLaterError). Events that can never succeed (malformed ones, or older than
 * CREDSYNC_EVENT_MAX_AGE_SECONDS) are acknowledged with an ERROR log line instead.
 *
 * Cloud Functions tells a function nothing of its remaining time: the deadline is the start of the
 * invocation plus CREDSYNC_TIMEOUT_SECONDS (set it to the function's --timeout), less the margin.
 */
import type * as ff from '@google-cloud/functions-framework';
import { CredsyncError, describeError, errorCode, EventError } from '../../errors.ts';
import type { SyncReport } from '../../sync/sync.ts';
import { echo, truncate } from '../../util/bounded.ts';
import { readRuntimeEnv, type RuntimeEnv } from '../env.ts';
import { withDeadline } from '../../util/abort.ts';
import { deadlineIn } from '../deadline.ts';
import type { ClusterCreatedResult } from '../invocation.ts';
import type { ClusterDeletedResult } from '../clusterDeleted.ts';
import { parseResyncEvent, resyncLogFields } from '../requests.ts';
import { MAX_REASON_CHARS, recordFailureCode } from './answers.ts';
import { parseGkeAuditEvent, parseGkeDeleteEvent } from './events.ts';
import { jsonLineLog, SEVERITY } from './log.ts';
import { gcfMetrics } from './metrics.ts';

/** The environment, read once; a malformed variable fails every invocation with a clear error. */
let env: RuntimeEnv | CredsyncError;
try {
  env = readRuntimeEnv();
} catch (err) {
  env = err as CredsyncError;
}
function runtimeEnv(): RuntimeEnv {
  if (env instanceof CredsyncError) throw env;
  return env;
}

/**
 * The sync and everything it uses, loaded on the first invocation: a cold start loads only what
 * parses events and logs (bench/cold-start.ts measures both).
 */
const invocation = () => import('../invocation.ts');

export const log = jsonLineLog(env instanceof CredsyncError ? {} : { level: SEVERITY[env.logLevel] });

/** Runs an invocation's work under its deadline (see the header; lib/util/abort.ts carries it). */
function underDeadline<T>(fn: () => Promise<T>): Promise<T> {
  return withDeadline(deadlineIn(runtimeEnv().timeoutSeconds * 1000), fn);
}

type EventOutcome<T> = T | { rejected: true; reason: string } | { gaveUp: true; reason: string };

/**
 * Runs a CloudEvent function: logs a failure as one structured line and re-throws it (so the
 * platform sees a failed invocation and, with --retry, redelivers), except for what retrying
 * cannot fix: a malformed event, or an event past its maximum age.
 */
async function cloudEventFunction<T>(
  name: string,
  ev: ff.CloudEvent<unknown>,
  fn: () => Promise<T>,
  /** What happens to an event given up on (past its maximum age). */
  afterGivingUp = 'the scheduled rotation syncs every data plane',
): Promise<EventOutcome<T>> {
  try {
    return await fn();
  } catch (err) {
    const fields = { function: name, eventId: echo(ev?.id, 100), eventType: echo(ev?.type, 100), code: errorCode(err), reason: describeError(err) };
    if (err instanceof EventError) {
      log.error('event rejected (not retried: a malformed event never becomes valid)', fields);
      return { rejected: true, reason: err.message };
    }
    const ageS = ev?.time ? (Date.now() - Date.parse(ev.time)) / 1000 : NaN;
    const maxAge = env instanceof CredsyncError ? Infinity : env.eventMaxAgeSeconds;
    if (ageS > maxAge) {
      log.error(`giving up on this event: older than CREDSYNC_EVENT_MAX_AGE_SECONDS; ${afterGivingUp}`, { ...fields, ageSeconds: Math.round(ageS) });
      return { gaveUp: true, reason: describeError(err) };
    }
    log.error(`${name} failed`, fields);
    recordFailureCode(fields.code);
    throw cleanError(err);
  }
}

/** What the framework prints and answers for a failure: one secret-free line, no stack frames. */
function cleanError(err: unknown): Error {
  const e = err instanceof CredsyncError ? err : new Error(describeError(err));
  e.stack = `${e.name}: ${e.message}`;
  return e;
}

/** Scheduled rotation (Pub/Sub CloudEvent): syncs every data plane. */
export async function scheduled(ev: ff.CloudEvent<unknown>): Promise<EventOutcome<SyncReport>> {
  return cloudEventFunction('scheduled', ev, () =>
    underDeadline(async () => {
      log.info('scheduled rotation', { eventId: echo(ev?.id, 100), time: echo(ev?.time, 100) });
      const { finish, syncInvocation } = await invocation();
      return finish(log, await syncInvocation(log, { metrics: gcfMetrics('scheduled', log) }));
    }),
  );
}

/** A GKE cluster was created (Cloud Audit Log entry): syncs it when it is a data plane. */
export async function clusterCreated(ev: ff.CloudEvent<unknown>): Promise<EventOutcome<ClusterCreatedResult>> {
  return cloudEventFunction('clusterCreated', ev, () =>
    underDeadline(async (): Promise<ClusterCreatedResult> => {
      const c = parseGkeAuditEvent(ev);
      if (!c) {
        const reason = 'event is not a successful GKE cluster creation (another method, or a failed call)';
        log.info('event ignored', { reason, eventId: echo(ev?.id, 100) });
        return { ignored: true, reason };
      }
      const { syncCreatedCluster } = await invocation();
      return syncCreatedCluster({ cloud: 'gke', ...c }, { log, metrics: gcfMetrics('clusterCreated', log) });
    }),
  );
}

/** A GKE cluster was deleted (Cloud Audit Log entry): drains its data plane (a later run retires it). */
export async function clusterDeleted(ev: ff.CloudEvent<unknown>): Promise<EventOutcome<ClusterDeletedResult>> {
  return cloudEventFunction('clusterDeleted', ev, () =>
    underDeadline(async (): Promise<ClusterDeletedResult> => {
      const c = parseGkeDeleteEvent(ev);
      if (!c) {
        const reason = 'event is not a successful GKE cluster deletion (another method, or a failed call)';
        log.info('event ignored', { reason, eventId: echo(ev?.id, 100) });
        return { ignored: true, reason };
      }
      const { drainDeletedCluster } = await import('../clusterDeleted.ts');
      return drainDeletedCluster({ cloud: 'gke', project: c.project, location: c.location, clusterName: c.clusterName }, { log, metrics: gcfMetrics('clusterDeleted', log) });
    }),
    'its data plane does NOT drain: fix the cause, then deliver the event again (docs/data-plane-lifecycle.md "Cluster deleted")',
  );
}

const RESYNC_USAGE = 'POST a JSON body {"clusters"?: ["id", ...], "dryRun"?: boolean}';

/** Manual resync over HTTP: see the header for the statuses. */
export async function resync(req: ff.Request, res: ff.Response): Promise<void> {
  const reply = (status: number, body: unknown) => void res.status(status).json(body);
  if (req.method !== 'POST') {
    res.set('Allow', 'POST');
    return reply(405, { error: `method ${echo(req.method, 20)} not allowed: ${RESYNC_USAGE}` });
  }
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && !req.is('application/json')) return reply(415, { error: `Content-Type must be application/json: ${RESYNC_USAGE}` });
  try {
    const { report, SyncFailedError, loggedReport } = await underDeadline(async () => {
      const r = parseResyncEvent(req.body);
      log.info('manual resync', resyncLogFields(r));
      const { syncInvocation, SyncFailedError, loggedReport } = await invocation();
      const report = await syncInvocation(log, { metrics: gcfMetrics('resync', log), ...(r.clusters ? { clusters: r.clusters } : {}), dryRun: r.dryRun ?? false });
      return { report, SyncFailedError, loggedReport };
    });
    log.info('sync report', loggedReport(report));
    if (report.ok) return reply(200, report);
    // The report, with the failure's stable code and a short reason on top, like every other error answer.
    const failed = new SyncFailedError(report);
    log.error('resync failed', { code: failed.code, reason: failed.message });
    return reply(500, { ...report, error: truncate(failed.message, MAX_REASON_CHARS), code: failed.code });
  } catch (err) {
    // Bad input: a malformed body, or data planes that are not configured (runSync checks before any work).
    const bad = err instanceof EventError || errorCode(err) === 'UNKNOWN_DATA_PLANE';
    log[bad ? 'warn' : 'error'](bad ? 'resync rejected' : 'resync failed', { code: errorCode(err), reason: describeError(err) });
    return reply(bad ? 400 : 500, { error: describeError(err), code: errorCode(err) });
  }
}
