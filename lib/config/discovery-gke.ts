/** Configuration of GKE discovery (part of the configuration schema, ./schema.ts). */
import * as z from '../util/zod.ts';

/** GKE label keys: lower-case letters, digits, `_` and `-`, starting with a letter, at most 63. */
export const GKE_LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
/** GKE label values: lower-case letters, digits, `_` and `-`, at most 63 (may be empty). */
export const GKE_LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;

export const GkeDiscovery = z.strictObject({
  projects: z.array(z.string().check(z.regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a GCP project id'))).check(z.minLength(1)),
  /** Regions or zones to list; `-` (the default) lists every location of the project. */
  locations: z._default(
    z
      .array(z.string().check(z.regex(/^(-|[a-z]+-[a-z]+\d+(-[a-z])?)$/, 'must be a GCP region or zone such as europe-west1, or - for every location')))
      .check(z.minLength(1), z.refine((l) => !(l.includes('-') && l.length > 1), '"-" already means every location: list it alone')),
    ['-'],
  ),
  /** Every label here must be on the cluster (GKE resourceLabels), with this value. */
  labels: z
    .record(
      z.string().check(z.regex(GKE_LABEL_KEY, 'label keys: lower-case, start with a letter, max 63')),
      z.string().check(z.regex(GKE_LABEL_VALUE, 'label values: lower-case, digits, _ or -, max 63')),
    )
    .check(z.refine((t) => Object.keys(t).length > 0, 'give at least one label to select data planes')),
});
export type GkeDiscovery = z.infer<typeof GkeDiscovery>;
