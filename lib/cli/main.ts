/**
 * credsync — the operator's command line for the same core the functions run.
 *
 *   credsync sync --config FILE [--dry-run] [--cluster ID ...] [--json] [--verbose]
 *
 * Exit codes: 0 every cluster synced; 1 the sync ran with failures; 2 usage or configuration error.
 */
import { parseArgs } from 'node:util';
import { CredsyncError, describeError } from '../errors.ts';
import { syncInvocation } from '../runtime/invocation.ts';
import { lineLog, silentLog } from '../util/log.ts';
import { formatReport } from './format.ts';

const USAGE = `usage: credsync sync --config FILE [--dry-run] [--cluster ID ...] [--json] [--verbose]

  --config FILE   YAML or JSON configuration (default: $CREDSYNC_CONFIG)
  --dry-run       read and verify everything, print the exact diff, write nothing
  --cluster ID    only read, verify and store this data plane (repeatable)
  --json          print the report as JSON on stdout
  --verbose       debug logging on stderr
`;

export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major < 22 || (major === 22 && minor < 19)) {
    process.stderr.write(`credsync needs Node.js >= 22.19 (running ${process.versions.node})\n`);
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
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    out(USAGE);
    return 0;
  }
  if (args.positionals[0] !== 'sync' || args.positionals.length !== 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  const log = args.values.json && !args.values.verbose ? silentLog : lineLog({ verbose: args.values.verbose });
  try {
    const report = await syncInvocation(log, {
      ...(args.values.config ? { configPath: args.values.config } : {}),
      dryRun: args.values['dry-run'],
      ...(args.values.cluster ? { clusters: args.values.cluster } : {}),
    });
    out(args.values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n');
    return report.ok ? 0 : 1;
  } catch (err) {
    const msg = describeError(err);
    if (args.values.json) out(JSON.stringify({ ok: false, error: { code: err instanceof CredsyncError ? err.code : 'INTERNAL', reason: msg } }, null, 2) + '\n');
    else process.stderr.write(`credsync: ${msg}\n`);
    return err instanceof CredsyncError && ['CONFIG_INVALID', 'CONFIG_NOT_FOUND', 'UNKNOWN_DATA_PLANE'].includes(err.code) ? 2 : 1;
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
