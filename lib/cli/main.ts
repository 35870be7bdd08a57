/**
 * credsync — the operator's command line for the same core the functions run.
 *
 *   credsync sync --config FILE [--dry-run] [--cluster ID ...] [--timeout SECONDS] [--json] [--verbose]
 *   credsync doctor --config FILE [--json]
 *   credsync labels plan|apply --config FILE [--json] [--verbose]
 *   credsync export-values --config FILE [--out FILE] [--verbose]
 *   credsync rotate [--cluster ID ...] [--now] [--dry-run]   (rotation: lib/rotation)
 *   credsync rollback --cluster ID
 *   credsync status [--cluster ID ...]
 *   credsync drain --cluster ID ... [--cancel] [--dry-run]   (docs/data-plane-lifecycle.md)
 *   credsync retire --cluster ID ... [--force] [--dry-run]
 *
 * Every command takes --timeout SECONDS (default {@link DEFAULT_CLI_TIMEOUT_SECONDS}): it runs under
 * that deadline (lib/util/abort.ts), and a call still waiting then is aborted.
 *
 * Exit codes: 0 every cluster synced (doctor: every check passed); 1 the sync ran with failures
 * (doctor: a check failed); 2 usage or configuration error (rotate or rollback of a data plane
 * without rotation settings included).
 */
import { parseArgs } from 'node:util';
import { CredsyncError, describeError } from '../errors.ts';
import { formatDoctor } from '../doctor/doctor.ts';
import { doctorInvocation, prepare, syncInvocation } from '../runtime/invocation.ts';
import { rotationStatus } from '../rotation/status.ts';
import { rollback } from '../sync/rollback.ts';
import { drainStatus } from '../lifecycle/status.ts';
import { withDeadline } from '../util/abort.ts';
import { echo, escapeControl } from '../util/bounded.ts';
import { cappedLog, lineLog, silentLog } from '../util/log.ts';
import { formatReport, formatStatus } from './format.ts';
import { progressLine, type ProgressStream } from './progress.ts';
import { exportValuesCommand, formatLabelsReport, labelsCommand } from './labels.ts';

const USAGE = `usage: credsync sync     [--config FILE] [--dry-run] [--cluster ID ...] [--timeout SECONDS] [--json] [--verbose]
       credsync rotate   [--config FILE] [--now] [--dry-run] [--cluster ID ...] [--timeout SECONDS] [--json] [--verbose]
       credsync rollback [--config FILE] --cluster ID [--timeout SECONDS] [--json] [--verbose]
       credsync status   [--config FILE] [--cluster ID ...] [--timeout SECONDS] [--json]
       credsync drain    [--config FILE] --cluster ID ... [--cancel] [--dry-run] [--timeout SECONDS] [--json] [--verbose]
       credsync retire   [--config FILE] --cluster ID ... [--force] [--dry-run] [--timeout SECONDS] [--json] [--verbose]
       credsync doctor   [--config FILE] [--timeout SECONDS] [--json]
       credsync labels plan|apply [--config FILE] [--timeout SECONDS] [--json] [--verbose]
       credsync export-values [--config FILE] [--out FILE] [--timeout SECONDS] [--verbose]

  sync            read, verify and store every data plane's credential, update the control plane
                  (rotating data planes rotate when due)
  rotate          the same; with --now every selected rotating data plane gets a new generation
  rollback        make the previous version current again if it still verifies, publish, restart,
                  wait for the rollout and revoke the generation rolled back from
  drain           take data planes out of every label and disable them (no new executions;
                  aborts keep working), keep their credentials published, verified and rotated;
                  recorded on the control plane, no configuration change; --cancel undoes it
  retire          retire draining data planes now (every sync retires one once nothing runs there):
                  removed from the control plane, restarted, credential revoked, store entry
                  scheduled for deletion; --force: whatever still runs there (reported)
  status          per data plane: generation, age, expiry, what is outstanding (from the store);
                  per draining one: since when, unfinished executions and the oldest (counted there)
  doctor          check, without changing anything, that every cluster is reachable, its TLS
                  verifies and the sync's identity is authorized there, and that the store answers

  --config FILE   YAML or JSON configuration (default: $CREDSYNC_CONFIG)
  --dry-run       read and verify everything, print the exact diff, write nothing
  --cluster ID    only this data plane (repeatable)
  --timeout SECONDS  every command: end by then (sync, rotate, rollback, drain, retire: with a
                  report); calls still waiting are aborted (default 600)
  --force         retire: even with executions unfinished (they can no longer be aborted)
  --cancel        drain: stop draining (a data plane draining by configuration stays draining)
  --now           rotate whatever the credential's age (a compromised token)
  --json          print the report as JSON on stdout
  --verbose       debug logging on stderr
  --out FILE      export-values: write the flyte-core values override here (default: stdout)

  labels plan     compare the configured execution-cluster labels with FlyteAdmin; write nothing
  labels apply    set the labels that differ (refused when a label has no enabled cluster)
  export-values   the clusters.yaml and credentials mount as flyte-core Helm values (no secret)
`;

/** Errors of the configuration or the command line: exit code 2, nothing was touched. */
const CONFIG_ERRORS: readonly string[] = ['CONFIG_INVALID', 'CONFIG_NOT_FOUND', 'CONFIG_UNREADABLE', 'UNKNOWN_DATA_PLANE', 'ROTATION_NOT_CONFIGURED', 'DATA_PLANE_NOT_DRAINING'];

/** The CLI's run deadline when --timeout is not given: no run waits longer on an unresponsive server. */
export const DEFAULT_CLI_TIMEOUT_SECONDS = 600;

const COMMANDS = '`sync`, `rotate`, `rollback`, `drain`, `retire`, `status`, `doctor`, `labels plan|apply` and `export-values`';
const COMMAND_NAMES: readonly string[] = ['sync', 'rotate', 'rollback', 'drain', 'retire', 'status', 'doctor', 'labels', 'export-values'];

const OPTIONS = {
  config: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean', default: false },
  cluster: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  now: { type: 'boolean', default: false },
  cancel: { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** What a string option's value is, for "needs a value" messages. */
const VALUE_OF: Record<string, string> = { config: 'a FILE', cluster: 'a data plane ID', timeout: 'SECONDS', out: 'a FILE' };

type Values = { config?: string[]; cluster?: string[]; timeout?: string; out?: string; 'dry-run': boolean; now: boolean; cancel: boolean; force: boolean; json: boolean; verbose: boolean; help: boolean };

/**
 * Parses the command line in our own words: node:util's parser is run leniently and each option
 * token is checked here, so that an unknown option, a missing value or a value given to a flag
 * gets a `credsync:` message that quotes the argument bounded and escaped.
 */
function parseCommandLine(argv: string[]): { values: Values; positionals: string[] } | { error: string } {
  const { values, positionals, tokens } = parseArgs({ args: argv, allowPositionals: true, strict: false, tokens: true, options: OPTIONS });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const spec = (OPTIONS as Record<string, { type: 'string' | 'boolean' }>)[t.name];
    const raw = echo(t.rawName, 60);
    if (!spec) return { error: `unknown option "${raw}" (see credsync --help for the options)` };
    if (spec.type === 'boolean' && t.value !== undefined) return { error: `${raw} takes no value (got "${echo(argv[t.index], 60)}")` };
    if (spec.type === 'string') {
      if (t.value === undefined) return { error: `${raw} needs a value (${VALUE_OF[t.name]})` };
      // `--config --json`: the lenient parser took the next option as the value. A negative
      // --timeout is a value (refused below with the accepted range).
      if (!t.inlineValue && t.value.startsWith('-') && !(t.name === 'timeout' && /^-\d/.test(t.value)))
        return { error: `${raw} needs a value (${VALUE_OF[t.name]}); got the option "${echo(t.value, 60)}" (for a value that starts with a dash, write ${raw}=${echo(t.value, 60)})` };
    }
  }
  return { values: values as Values, positionals };
}

/** What is wrong with a command line that parsed, or undefined. Echoes are bounded. */
function usageError(positionals: string[], values: Values): string | undefined {
  const [command, ...rest] = positionals;
  if (command === undefined) return `no command given (the commands are ${COMMANDS})`;
  if (!COMMAND_NAMES.includes(command)) return `unknown command "${echo(command)}" (the commands are ${COMMANDS})`;
  if (command === 'labels' && rest[0] !== 'plan' && rest[0] !== 'apply')
    return rest[0] === undefined ? 'labels needs plan or apply' : `unknown labels command "${echo(rest[0])}" (plan or apply)`;
  const extra = command === 'labels' ? rest.slice(1) : rest;
  const name = command === 'labels' ? `labels ${rest[0]}` : command;
  if (extra.length) return `unexpected argument${extra.length > 1 ? 's' : ''} after ${name}: ${extra.slice(0, 5).map((a) => `"${echo(a)}"`).join(' ')}${extra.length > 5 ? ' ...' : ''}`;
  if ((values.config?.length ?? 0) > 1) return `--config given ${values.config!.length} times: give one configuration file`;
  if (values.config?.[0] === '') return '--config needs a file path';
  if (values.now && command !== 'rotate') return '--now is for rotate only';
  if (command === 'rollback' && values.cluster?.length !== 1) return 'rollback needs exactly one --cluster ID';
  if (command === 'drain' && !values.cluster?.length) return 'drain needs --cluster ID (repeatable)';
  if (values.cancel && command !== 'drain') return '--cancel is for drain only';
  if (command === 'retire' && !values.cluster?.length) return 'retire needs --cluster ID (repeatable)';
  if (values.force && command !== 'retire') return '--force is for retire only';
  if (command === 'doctor' && (values['dry-run'] || values.cluster))
    return 'doctor takes only --config, --json and --timeout (it changes nothing anyway)';
  if (values.cluster?.some((c) => c.trim() === '')) return '--cluster needs a data plane id (got an empty one)';
  if (values.timeout !== undefined && !/^[1-9]\d{0,5}$/.test(values.timeout)) return `--timeout must be a whole number of seconds from 1 to 999999 (got "${echo(values.timeout, 20)}")`;
  return undefined;
}

/**
 * Runs the CLI.
 *
 * @param out where the report goes (default stdout)
 * @param err where logs and the progress line go (default stderr; progress only when it is a terminal)
 * @returns the exit code (see the header)
 */
export async function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: ProgressStream = process.stderr,
): Promise<number> {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major < 22 || (major === 22 && minor < 19)) {
    err.write(`credsync needs Node.js >= 22.19 (running ${process.versions.node})\n`);
    return 2;
  }
  const parsed = parseCommandLine(argv);
  if ('error' in parsed) {
    err.write(`credsync: ${parsed.error}\n\n${USAGE}`);
    return 2;
  }
  const args = parsed;
  // --help asks for the usage, unless it follows a command that does not exist (`credsync drian --help`).
  const asked = args.positionals[0];
  if (args.values.help && (asked === undefined || COMMAND_NAMES.includes(asked))) {
    out(USAGE);
    return 0;
  }
  const wrong = usageError(args.positionals, args.values);
  if (wrong) {
    err.write(`credsync: ${wrong}\n\n${USAGE}`);
    return 2;
  }
  // Every command runs under one deadline (lib/util/abort.ts): --timeout, or DEFAULT_CLI_TIMEOUT_SECONDS.
  const deadline = Date.now() + Number(args.values.timeout ?? DEFAULT_CLI_TIMEOUT_SECONDS) * 1000;
  return withDeadline(deadline, async () => {
    const [command, sub] = args.positionals;
    const isLabels = command === 'labels';
    const isExport = command === 'export-values';
    const file = args.values.config?.[0];
    if (command === 'doctor') {
      try {
        const r = await doctorInvocation(file ? { configPath: file } : {});
        out(args.values.json ? JSON.stringify(r, null, 2) + '\n' : formatDoctor(r) + '\n');
        return r.ok ? 0 : 1;
      } catch (e) {
        return fail(e);
      }
    }
    const progress = progressLine(err, !args.values.json && (command === 'sync' || command === 'rotate' || command === 'drain' || command === 'retire'));
    const write = (l: string) => {
      progress.end();
      err.write(l + '\n');
    };
    const quiet = (args.values.json || (isExport && !args.values.out)) && !args.values.verbose;
    // A person's terminal gets at most 50 lines of each message (5,000 data planes: not 5,000 lines); --verbose every line.
    const capped = cappedLog(lineLog({ verbose: args.values.verbose, write }));
    const log = quiet ? silentLog : args.values.verbose ? lineLog({ verbose: true, write }) : capped;
    const configPath = file ? { configPath: file } : {};
    try {
      if (isLabels) {
        const r = await labelsCommand(log, { ...configPath, apply: sub === 'apply' });
        out(args.values.json ? JSON.stringify(r, null, 2) + '\n' : formatLabelsReport(r) + '\n');
        return r.ok ? 0 : 1;
      }
      if (isExport) {
        const r = await exportValuesCommand(log, { ...configPath, ...(args.values.out ? { out: args.values.out } : {}) });
        if (!args.values.out) out(r.text);
        return 0;
      }
      if (command === 'status' || command === 'rollback') {
        const { deps } = await prepare(log, configPath);
        if (command === 'status') {
          const only = args.values.cluster ? { clusters: args.values.cluster } : {};
          const [status, drains] = await Promise.all([rotationStatus(deps, only), drainStatus(deps, only)]);
          for (const s of status) {
            const d = drains.get(s.id);
            if (d) s.drain = d;
          }
          out(args.values.json ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status) + '\n');
          return status.some((s) => s.error || s.drain?.error) ? 1 : 0;
        }
        const report = await rollback(deps, args.values.cluster![0]!);
        out(args.values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n');
        return report.ok ? 0 : 1;
      }
      const report = await syncInvocation(log, {
        onProgress: (p) => progress.update(p),
        ...configPath,
        dryRun: args.values['dry-run'],
        ...(args.values.cluster ? { clusters: args.values.cluster } : {}),
        ...(args.values.now ? { rotateNow: true } : {}),
        ...(command === 'rotate' ? { requireRotation: true } : {}),
        // A drain is a sync of those data planes that also records the drain with its routing change.
        ...(command === 'drain' ? { [args.values.cancel ? 'undrain' : 'drain']: args.values.cluster! } : {}),
        ...(command === 'retire' ? { retire: { clusters: args.values.cluster!, force: args.values.force } } : {}),
      });
      progress.end();
      capped.flush();
      out(args.values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n');
      return report.ok ? 0 : 1;
    } catch (e) {
      progress.end();
      capped.flush();
      return fail(e);
    } finally {
      capped.flush();
    }
  });

  function fail(e: unknown): number {
    // Each echo in a message is escaped where it is made (lib/util/bounded.ts echo); whatever was
    // not, no control character but the message's own line breaks reaches the terminal.
    const msg = describeError(e).split('\n').map((l) => escapeControl(l)).join('\n');
    if (args.values.json) out(JSON.stringify({ ok: false, error: { code: e instanceof CredsyncError ? e.code : 'INTERNAL', reason: msg } }, null, 2) + '\n');
    else err.write(`credsync: ${msg}\n`);
    return e instanceof CredsyncError && CONFIG_ERRORS.includes(e.code) ? 2 : 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/credsync.mjs')) {
  // Exit once stdout and stderr have handed everything to the OS: process.exit() with writes still
  // queued on a pipe cuts them off (a 2 MB `doctor --json` over 5,000 data planes ended at 146 KB).
  const flushed = (s: NodeJS.WriteStream) => new Promise<void>((r) => void s.write('', () => r()));
  main(process.argv.slice(2)).then(
    async (code) => {
      await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
      process.exit(code);
    },
    (err) => {
      process.stderr.write(`credsync: ${describeError(err)}\n`);
      process.exit(1);
    },
  );
}
