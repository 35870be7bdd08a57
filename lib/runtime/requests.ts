/**
 * The manual resync request, the same on every platform (a Lambda invocation payload, the body of
 * the Cloud Functions HTTP POST): `{ clusters?: string[], dryRun?: boolean }`. Malformed input is
 * an {@link EventError} that says what was expected; nothing runs.
 */
import { z } from 'zod';
import { EventError } from '../errors.ts';

/** Manual resync: `{ clusters?: string[], dryRun?: boolean }`. Unknown keys are errors. */
export const ResyncEvent = z.strictObject({
  clusters: z.array(z.string().min(1)).min(1).optional(),
  dryRun: z.boolean().optional(),
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
        r.error.issues.map((i) => `${i.path.join('.') || '<root>'}: ${i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message}`).join('; ') +
        ' (expected {"clusters"?: ["id", ...], "dryRun"?: boolean})',
    );
  return r.data;
}

