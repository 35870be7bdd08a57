/**
 * npm run testenv -- <command>
 *
 *   up [--data-planes N] [--dir DIR]   build what is missing, start (or reuse) the environment
 *   down [--dir DIR]                   stop every server and delete the state dir
 *   status [--dir DIR]                 exit 0 when running, 1 when not running, 3 when broken
 *   build                              only build/install the binaries
 *
 * Exit codes: 0 ok, 1 failure (or not running for status), 2 usage error or missing prerequisite,
 * 3 (status) state dir present but the environment is not healthy.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBinaries, PrerequisiteError } from './build.ts';
import { DEFAULT_STATE_DIR, describeEnv, down, envStatus, up } from './testenv.ts';

const USAGE = `usage: npm run testenv -- <up [--data-planes N] | down | status | build> [--dir DIR]`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'data-planes': { type: 'string' },
        dir: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || !command || positionals.length > 1) {
    (values.help ? console.log : console.error)(USAGE);
    return values.help ? 0 : 2;
  }
  const dir = values.dir ?? DEFAULT_STATE_DIR;
  const dirArg = values.dir ? ` --dir ${values.dir}` : '';

  switch (command) {
    case 'up': {
      const n = values['data-planes'] === undefined ? 3 : Number(values['data-planes']);
      if (!Number.isInteger(n) || n < 1) {
        console.error(`--data-planes must be a whole number >= 1 (got ${values['data-planes']})`);
        return 2;
      }
      const env = await up({ dataPlanes: n, dir });
      // Started (or adopted) from the command line: the jest teardown must leave it running.
      await rm(path.join(env.dir, 'started-by-jest'), { force: true });
      console.log(`\n${describeEnv(env)}\n\nstop it with: npm run testenv -- down${dirArg}`);
      return 0;
    }
    case 'down': {
      const stopped = await down({ dir });
      console.log(stopped.length > 0 ? `stopped ${stopped.length} processes; removed ${dir}` : `nothing was running; removed ${dir} (if present)`);
      return 0;
    }
    case 'status': {
      const s = await envStatus({ dir });
      if (s.state === 'running') {
        console.log(`running\n${describeEnv(s.env!)}`);
        return 0;
      }
      if (s.state === 'absent') {
        console.log(`not running (no ${dir})`);
        return 1;
      }
      console.log(`not healthy:\n${s.problems.map((p) => `  - ${p}`).join('\n')}\nrestart with: npm run testenv -- down${dirArg} && npm run testenv -- up${dirArg}`);
      return 3;
    }
    case 'build': {
      const b = await ensureBinaries();
      console.log(JSON.stringify(b, null, 2));
      return 0;
    }
    default:
      console.error(`unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof PrerequisiteError) {
      console.error(err.message);
      process.exitCode = 2;
    } else {
      console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    }
  },
);
