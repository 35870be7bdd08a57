/**
 * Every environment variable flyte-credsync reads, read in this one place and validated: a value
 * that is set but malformed is a {@link ConfigError} naming the variable, never a silent fallback
 * to the default.
 *
 * | variable                          | meaning                                                      | default          |
 * |-----------------------------------|--------------------------------------------------------------|------------------|
 * | `CREDSYNC_CONFIG`                 | the configuration: a file path, `ssm:NAME` or `gcpsm:projects/P/secrets/S` (lib/config/source.ts) | none (required by the functions) |
 * | `CREDSYNC_LOG_LEVEL`              | `debug`, `info`, `warn`/`warning` or `error`                 | `info`           |
 * | `CREDSYNC_EVENT_MAX_AGE_SECONDS`  | Cloud Functions: an event older than this is given up on     | `21600` (6 h)    |
 * | `CREDSYNC_TIMEOUT_SECONDS`        | Cloud Functions: the function's timeout (`--timeout`), for the sync's deadline | `300` |
 *
 * Lambda's timeout comes from its context (`getRemainingTimeInMillis`), not from here. A data
 * plane's `access.tokenEnv` names a variable of the user's choosing: that one is read where the
 * access is resolved (lib/clusters/access.ts), from the environment passed to it.
 */
import * as z from '../util/zod.ts';
import { ConfigError } from '../errors.ts';

export const ENV = {
  config: 'CREDSYNC_CONFIG',
  logLevel: 'CREDSYNC_LOG_LEVEL',
  eventMaxAgeSeconds: 'CREDSYNC_EVENT_MAX_AGE_SECONDS',
  timeoutSeconds: 'CREDSYNC_TIMEOUT_SECONDS',
} as const;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const positiveSeconds = z
  .pipe(z.string().check(z.trim(), z.regex(/^\d+$/, 'must be a whole number of seconds')), z.transform(Number))
  .check(z.refine((n) => n > 0 && n <= 31_536_000, 'must be between 1 and 31536000 seconds'));

const RuntimeEnv = z.object({
  [ENV.config]: z.optional(z.string().check(z.minLength(1, 'must be a file path'))),
  [ENV.logLevel]: z.optional(
    z.pipe(
      z.pipe(z.string().check(z.trim(), z.toLowerCase()), z.enum(['debug', 'info', 'warn', 'warning', 'error'], { error: 'must be debug, info, warn or error' })),
      z.transform((v): LogLevel => (v === 'warning' ? 'warn' : v)),
    ),
  ),
  [ENV.eventMaxAgeSeconds]: z.optional(positiveSeconds),
  [ENV.timeoutSeconds]: z.optional(positiveSeconds),
});

export interface RuntimeEnv {
  /** Path of the configuration file, if set. */
  configPath?: string;
  logLevel: LogLevel;
  eventMaxAgeSeconds: number;
  timeoutSeconds: number;
}

/**
 * Reads and validates the runtime's environment variables (see the table above).
 *
 * @throws ConfigError naming every variable that is set but malformed
 */
export function readRuntimeEnv(env: NodeJS.ProcessEnv = process.env): RuntimeEnv {
  const picked = Object.fromEntries(Object.values(ENV).filter((k) => env[k] !== undefined).map((k) => [k, env[k]]));
  const r = RuntimeEnv.safeParse(picked);
  if (!r.success)
    throw new ConfigError(
      r.error.issues.map((i) => ({ path: `environment ${String(i.path[0])}`, message: i.message })),
      'environment variables',
    );
  const v = r.data;
  return {
    ...(v[ENV.config] ? { configPath: v[ENV.config] } : {}),
    logLevel: v[ENV.logLevel] ?? 'info',
    eventMaxAgeSeconds: v[ENV.eventMaxAgeSeconds] ?? 21_600,
    timeoutSeconds: v[ENV.timeoutSeconds] ?? 300,
  };
}
