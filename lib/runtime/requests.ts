/**
 * The manual resync request, the same on every platform (a Lambda invocation payload, the body of
 * the Cloud Functions HTTP POST): `{ clusters?: string[], dryRun?: boolean }`. Malformed input is
 * an {@link EventError} that says what was expected; nothing runs.
 */
import * as z from '../util/zod.ts';
import { EventError } from '../errors.ts';
import { describeIssues, loggedIds } from '../util/bounded.ts';

/** The most data planes one resync may name (far above any configuration; bounds the work and every echo). */
export const MAX_RESYNC_CLUSTERS = 10_000;

/** Manual resync: `{ clusters?: string[], dryRun?: boolean }`. Unknown keys are errors. */
export const ResyncEvent = z.strictObject({
  clusters: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(253))).check(z.minLength(1), z.maxLength(MAX_RESYNC_CLUSTERS))),
  dryRun: z.optional(z.boolean()),
});
export type ResyncEvent = z.infer<typeof ResyncEvent>;

/**
 * Reads a resync request (`null`/`undefined` means everything).
 * @throws EventError naming every problem and the expected shape
 */
export function parseResyncEvent(event: unknown): ResyncEvent {
  const r = ResyncEvent.safeParse(event ?? {});
  if (!r.success)
    throw new EventError(
      'invalid resync event: ' +
        describeIssues(r.error.issues) +
        ' (expected {"clusters"?: ["id", ...], "dryRun"?: boolean})',
    );
  return r.data;
}


/** The log fields of a resync request: the first few of its ids (escaped: lib/util/bounded.ts loggedIds), and how many it named. */
export function resyncLogFields(r: ResyncEvent): Record<string, unknown> {
  return { clusters: r.clusters ? loggedIds(r.clusters) : 'all', ...(r.clusters ? { clusterCount: r.clusters.length } : {}), dryRun: r.dryRun ?? false };
}
