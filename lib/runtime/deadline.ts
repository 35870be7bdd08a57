/** The sync deadline of an invocation, from the time its platform leaves it. */

/** Margin kept before a function's own timeout: enough to report and return. */
export const DEADLINE_MARGIN_MS = 15_000;

/**
 * The sync deadline of an invocation that has `remainingMs` left: now + remainingMs less
 * {@link DEADLINE_MARGIN_MS} (never before now), or undefined when the time left is unknown.
 */
export function deadlineIn(remainingMs: number | undefined, now = Date.now()): number | undefined {
  return remainingMs === undefined || !Number.isFinite(remainingMs) ? undefined : now + Math.max(0, remainingMs - DEADLINE_MARGIN_MS);
}
