/**
 * Rotation settings: one default for every data plane (`rotation:` at the top of the
 * configuration) that a data plane may override field by field (`dataPlanes[].rotation`).
 * Without either, a data plane is synced as before (its token Secret re-read and re-verified,
 * never a new credential).
 *
 * @example
 * ```yaml
 * rotation: { mode: secret, every: 7d, rolloutTimeoutSeconds: 180, runEvery: 6h }
 * dataPlanes:
 *   - id: dp2
 *     rotation: { mode: tokenRequest, expirationSeconds: 172800 }
 * ```
 */
import * as z from '../util/zod.ts';

/** A duration as `<n>s|m|h|d`. */
export const DURATION = /^([1-9]\d{0,6})(s|m|h|d)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Seconds in a duration such as `90s`, `15m`, `6h`, `7d`.
 * @throws Error when the text is not such a duration
 */
export function durationSeconds(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration such as 30m, 6h or 7d`);
  return Number(m[1]) * UNIT_SECONDS[m[2]!]!;
}

const duration = z.string().check(z.regex(DURATION, 'must be a duration such as 30m, 6h or 7d'));

/** The minimum TokenRequest lifetime the API server accepts. */
export const MIN_TOKEN_SECONDS = 600;

/** Every field optional: what a data plane may override. */
export const RotationOverride = z.strictObject({
  /** `secret`: a new token Secret per generation; `tokenRequest`: a bounded token bound to a per-generation Secret. */
  mode: z.optional(z.enum(['secret', 'tokenRequest'])),
  /** Rotate when the live credential is older than this; `off`: only on demand (`credsync rotate --now`). */
  every: z.optional(z.union([z.literal('off'), duration])),
  /** tokenRequest mode: the token's lifetime (renewed at two thirds of it). */
  expirationSeconds: z.optional(z.number().check(z.int(), z.gte(MIN_TOKEN_SECONDS), z.lte(31_536_000))),
  /** How long a run waits for flyteadmin and syncresources to roll out before it leaves the revoke to the next run. */
  rolloutTimeoutSeconds: z.optional(z.number().check(z.int(), z.gte(10), z.lte(3600))),
  /** How often the scheduled function runs (serverless.yml `rotationSchedule`): what renewal in time is checked against. */
  runEvery: z.optional(duration),
});
export type RotationOverride = z.infer<typeof RotationOverride>;

/** How a generation's credential is made (the store records it in each generation: lib/stores/rotation.ts). */
export type RotationMode = NonNullable<RotationOverride['mode']>;

/** The settings in force for one data plane. */
export interface RotationSettings {
  mode: RotationMode;
  /** Seconds, or undefined for `off`. */
  everySeconds?: number;
  expirationSeconds: number;
  rolloutTimeoutSeconds: number;
  runEverySeconds: number;
}

export const ROTATION_DEFAULTS = {
  mode: 'secret',
  every: '7d',
  expirationSeconds: 172_800,
  rolloutTimeoutSeconds: 180,
  runEvery: '6h',
} as const;

/**
 * The settings for a data plane, or undefined when rotation is configured neither globally nor
 * for it (the data plane keeps the plain sync).
 */
export function rotationSettings(global: RotationOverride | undefined, own: RotationOverride | undefined): RotationSettings | undefined {
  if (!global && !own) return undefined;
  const r = { ...ROTATION_DEFAULTS, ...stripUndefined(global ?? {}), ...stripUndefined(own ?? {}) };
  return {
    mode: r.mode,
    ...(r.every === 'off' ? {} : { everySeconds: durationSeconds(r.every) }),
    expirationSeconds: r.expirationSeconds,
    rolloutTimeoutSeconds: r.rolloutTimeoutSeconds,
    runEverySeconds: durationSeconds(r.runEvery),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Why these settings cannot keep a tokenRequest credential valid (undefined when they can).
 * A token is renewed at two thirds of its lifetime; the run that notices may come up to
 * `runEvery` later and then needs up to `rolloutTimeoutSeconds` before the old pods are gone, so
 * `runEvery + rolloutTimeout` must fit in the last third. A token that is never renewed expires.
 */
export function renewalProblem(s: RotationSettings): string | undefined {
  if (s.mode !== 'tokenRequest') return undefined;
  if (s.everySeconds === undefined)
    return 'tokenRequest tokens expire: rotation.every cannot be off (use mode: secret to rotate only on demand)';
  const third = Math.floor(s.expirationSeconds / 3);
  if (s.runEverySeconds + s.rolloutTimeoutSeconds > third)
    return (
      `a token of ${s.expirationSeconds} s is renewed at two thirds of its lifetime, leaving ${third} s; ` +
      `runEvery (${s.runEverySeconds} s) + rolloutTimeoutSeconds (${s.rolloutTimeoutSeconds} s) do not fit: ` +
      `raise expirationSeconds to at least ${3 * (s.runEverySeconds + s.rolloutTimeoutSeconds)} or run more often`
    );
  return undefined;
}
