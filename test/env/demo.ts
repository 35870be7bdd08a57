/**
 * The main job on the local environment: starts the environment (or reuses a running one),
 * writes a configuration for it, and runs `credsync sync` twice through the real CLI: a first
 * sync that creates, verifies, stores and applies everything, then a re-sync that has nothing
 * to do. The environment is left running; `npm run testenv -- down` stops it.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { readEnv, up, REPO_ROOT } from './testenv.ts';

const env = (await readEnv()) ?? (await up());
const configFile = path.join(env.dir, 'credsync.yaml');
writeFileSync(
  configFile,
  stringify({
    controlPlane: {
      access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig },
      defaultExecutionLabel: 'team1',
    },
    store: { aws: { region: env.aws.region, prefix: 'flyte-credsync-demo/', endpoint: env.aws.endpoint } },
    dataPlanes: env.dataPlanes.map((id, i) => ({
      id,
      access: { type: 'kubeconfig', context: id, path: env.kubeconfig },
      labels: i === 0 ? { team1: 1, gpu: 1 } : { team1: 0.5 },
    })),
  }),
);

const childEnv = {
  ...process.env,
  AWS_ACCESS_KEY_ID: env.aws.accessKeyId,
  AWS_SECRET_ACCESS_KEY: env.aws.secretAccessKey,
  AWS_REGION: env.aws.region,
};
const cli = path.join(REPO_ROOT, 'lib', 'cli', 'main.ts');
let failed = false;
for (const [title, args] of [
  ['first sync', ['sync', '--config', configFile]],
  ['re-sync (nothing to change: no write, no restart)', ['sync', '--config', configFile]],
] as const) {
  console.log(`\n=== credsync ${args.join(' ')}   # ${title}\n`);
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', cli, ...args], { stdio: 'inherit', env: childEnv });
  console.log(`(exit code ${r.status})`);
  failed ||= r.status !== 0;
}
console.log(`\nconfiguration: ${configFile}\nkubeconfig:    ${env.kubeconfig} (contexts ${[env.controlPlane, ...env.dataPlanes].join(', ')})`);
console.log('the environment is still running: `npm run testenv -- down` stops it');
process.exit(failed ? 1 : 0);
