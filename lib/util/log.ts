/**
 * The logging port of the core: Powertools' Logger satisfies it on Lambda, a line logger
 * on the CLI. {@link redactingLog} scrubs every message and field before it is written.
 */
import { escapeControl } from './bounded.ts';
import { redact } from './redact.ts';

export type LogFields = Record<string, unknown>;

export interface Log {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

function scrubFields(fields: LogFields | undefined): LogFields | undefined {
  if (!fields) return undefined;
  return JSON.parse(redact(JSON.stringify(fields))) as LogFields;
}

/** Wraps any logger so nothing secret-shaped reaches it. */
export function redactingLog(inner: Log): Log {
  const wrap =
    (level: keyof Log) =>
    (message: string, fields?: LogFields): void => {
      const f = scrubFields(fields);
      if (f) inner[level](redact(message), f);
      else inner[level](redact(message));
    };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}

/**
 * A logger writing one line per event to a stream (stderr by default); debug only when verbose.
 * A line is one line whatever it quotes: control characters in the message and the fields are
 * escaped (lib/util/bounded.ts escapeControl), so an echoed value cannot forge a line or drive the
 * terminal.
 */
export function lineLog(opts: { verbose?: boolean; write?: (line: string) => void } = {}): Log {
  const write = opts.write ?? ((l: string) => process.stderr.write(l + '\n'));
  const line = (level: string) => (message: string, fields?: LogFields) => {
    const extra = fields && Object.keys(fields).length ? ' ' + escapeControl(JSON.stringify(fields), { json: true }) : '';
    write(`${level.padEnd(5)} ${escapeControl(message)}${extra}`);
  };
  return redactingLog({
    debug: opts.verbose ? line('debug') : () => {},
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
  });
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** Lines of one message (`data plane synced`, `data plane failed`) a person's terminal gets; the rest are counted. */
export const MAX_LINES_PER_MESSAGE = 50;

/**
 * A logger for a person's terminal (the CLI without --verbose): at most `max` lines of each
 * message at each level, so that a run over 5,000 data planes does not print 5,000 lines of
 * `data plane synced`; `flush()` then writes one line per message cut short, with how many lines
 * were left out. Functions log every line (their logs are queried, not read).
 *
 * @param max default {@link MAX_LINES_PER_MESSAGE}
 */
export function cappedLog(inner: Log, max = MAX_LINES_PER_MESSAGE): Log & { flush(): void } {
  const seen = new Map<string, number>();
  const wrap =
    (level: keyof Log) =>
    (message: string, fields?: LogFields): void => {
      const key = `${level}\u0000${message}`;
      const n = (seen.get(key) ?? 0) + 1;
      seen.set(key, n);
      if (n <= max) inner[level](message, fields);
    };
  return {
    debug: wrap('debug'),
    info: wrap('info'),
    warn: wrap('warn'),
    error: wrap('error'),
    flush() {
      for (const [key, n] of seen) {
        if (n <= max) continue;
        const [level, message] = key.split('\u0000') as [keyof Log, string];
        inner[level](`… and ${n - max} more "${message}" lines not shown (the report counts them; --verbose shows every one)`);
        seen.set(key, max);
      }
    },
  };
}

/** Runs `fn` over `items` with at most `limit` running at once; results keep input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
