/**
 * credsync — the operator's command line for the same core the functions run.
 *
 *   credsync sync --config FILE [--dry-run] [--cluster ID ...] [--json] [--verbose]
 *   credsync doctor --config FILE [--json]
 *
 * Exit codes: 0 every cluster synced (doctor: every check passed); 1 the sync ran with failures
 * (doctor: a check failed); 2 usage or configuration error.
 */
import { parseArgs } from 'node:util';
import { CredsyncError, describeError } from '../errors.ts';
import { formatDoctor } from '../doctor/doctor.ts';
import { doctorInvocation, syncInvocation } from '../runtime/invocation.ts';
import { lineLog, silentLog } from '../util/log.ts';
import { formatReport } from './format.ts';
import { progressLine, type ProgressStream } from './progress.ts';

const USAGE = `usage: credsync sync --config FILE [--dry-run] [--cluster ID ...] [--json] [--verbose]
       credsync doctor --config FILE [--json]

  sync            read, verify and store every data plane's credential, update the control plane
  doctor          check, without changing anything, that every cluster is reachable, its TLS
                  verifies and the sync's identity is authorized there, and that the store answers

  --config FILE   YAML or JSON configuration (default: $CREDSYNC_CONFIG)
  --dry-run       read and verify everything, print the exact diff, write nothing
  --cluster ID    only read, verify and store this data plane (repeatable)
  --json          print the report as JSON on stdout
  --verbose       debug logging on stderr
`;

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
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        cluster: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    err.write(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    out(USAGE);
    return 0;
  }
  const command = args.positionals[0];
  if ((command !== 'sync' && command !== 'doctor') || args.positionals.length !== 1) {
    err.write(USAGE);
    return 2;
  }
  if (command === 'doctor') {
    if (args.values['dry-run'] || args.values.cluster) {
      err.write(`credsync doctor takes only --config and --json (it changes nothing anyway)\n\n${USAGE}`);
      return 2;
    }
    try {
      const r = await doctorInvocation(args.values.config ? { configPath: args.values.config } : {});
      out(args.values.json ? JSON.stringify(r, null, 2) + '\n' : formatDoctor(r) + '\n');
      return r.ok ? 0 : 1;
    } catch (e) {
      return fail(e);
    }
  }
  const progress = progressLine(err, !args.values.json);
  const write = (l: string) => {
    progress.end();
    err.write(l + '\n');
  };
  const log = args.values.json && !args.values.verbose ? silentLog : lineLog({ verbose: args.values.verbose, write });
  try {
    const report = await syncInvocation(log, {
      onProgress: (p) => progress.update(p),
      ...(args.values.config ? { configPath: args.values.config } : {}),
      dryRun: args.values['dry-run'],
      ...(args.values.cluster ? { clusters: args.values.cluster } : {}),
    });
    progress.end();
    out(args.values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n');
    return report.ok ? 0 : 1;
  } catch (e) {
    progress.end();
    return fail(e);
  }

  function fail(e: unknown): number {
    const msg = describeError(e);
    if (args!.values.json) out(JSON.stringify({ ok: false, error: { code: e instanceof CredsyncError ? e.code : 'INTERNAL', reason: msg } }, null, 2) + '\n');
    else err.write(`credsync: ${msg}\n`);
    return e instanceof CredsyncError && ['CONFIG_INVALID', 'CONFIG_NOT_FOUND', 'UNKNOWN_DATA_PLANE'].includes(e.code) ? 2 : 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/credsync.mjs')) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`credsync: ${describeError(err)}\n`);
      process.exit(1);
    },
  );
}
