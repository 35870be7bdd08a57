/**
 * The Google Cloud Functions logger (the functions themselves are in ./functions.ts): a structured
 * logger that writes one JSON object per line, which Cloud Logging reads as a
 * structured entry (`severity`, `message`, the other keys in jsonPayload), behind the redacting
 * log port. DEBUG and INFO go to stdout, WARNING and ERROR to stderr.
 */
import { redactingLog, type Log, type LogFields } from '../../util/log.ts';
import type { LogLevel } from '../env.ts';

export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
const RANK: Record<Severity, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 };

/** Cloud Logging's severity of a log level (`CREDSYNC_LOG_LEVEL`, read in ../env.ts). */
export const SEVERITY: Record<LogLevel, Severity> = { debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR' };

export interface JsonLogOptions {
  /** Lowest severity written. @default INFO */
  level?: Severity;
  /** Where a line goes (default: stdout for DEBUG/INFO, stderr for WARNING/ERROR). */
  write?: (line: string, severity: Severity) => void;
  now?: () => Date;
}

/** A structured JSON line logger for Cloud Logging, redacting like every other logger. */
export function jsonLineLog(opts: JsonLogOptions = {}): Log {
  const min = RANK[opts.level ?? 'INFO'];
  const write =
    opts.write ?? ((line: string, s: Severity) => (RANK[s] >= RANK.WARNING ? process.stderr : process.stdout).write(line + '\n'));
  const now = opts.now ?? (() => new Date());
  const at = (severity: Severity) => (message: string, fields?: LogFields) => {
    if (RANK[severity] < min) return;
    write(JSON.stringify({ ...fields, severity, message, time: now().toISOString(), component: 'flyte-credsync' }), severity);
  };
  return redactingLog({ debug: at('DEBUG'), info: at('INFO'), warn: at('WARNING'), error: at('ERROR') });
}
