/**
 * `npm run gcf -- --target=resync|scheduled|clusterCreated|clusterDeleted [--port=8080]`: runs one Google Cloud
 * Functions entry point locally, in the real Functions Framework, from its deploy source
 * dist/gcf/<target>/ (built first by the npm script), bound to 127.0.0.1 only
 * (scripts/gcf-loopback.cjs).
 *
 * With CREDSYNC_CONFIG unset, it writes a configuration for the running local environment
 * (`npm run testenv -- up`): its control plane and data planes, and the GCP Secret Manager
 * emulator as the store. Other arguments go to the framework as they are.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { readEnv, REPO_ROOT } from '../test/env/testenv.ts';

const FUNCTIONS = ['resync', 'scheduled', 'clusterCreated', 'clusterDeleted'];
const args = process.argv.slice(2);
const targetArg = args.findIndex((a) => a === '--target' || a.startsWith('--target='));
const target = targetArg < 0 ? undefined : args[targetArg]!.includes('=') ? args[targetArg]!.split('=')[1] : args[targetArg + 1];
if (!target || !FUNCTIONS.includes(target)) {
  process.stderr.write('usage: npm run gcf -- --target=resync|scheduled|clusterCreated|clusterDeleted [--port=8080]\n');
  process.exit(2);
}
const env: NodeJS.ProcessEnv = { ...process.env };
if (!env['CREDSYNC_CONFIG']) {
  const testenv = await readEnv();
  if (!testenv) {
    process.stderr.write('the local environment is not running: start it with `npm run testenv -- up`, or set CREDSYNC_CONFIG\n');
    process.exit(2);
  }
  const file = path.join(testenv.dir, 'credsync-gcf.yaml');
  writeFileSync(
    file,
    stringify({
      controlPlane: { access: { type: 'kubeconfig', context: testenv.controlPlane, path: testenv.kubeconfig }, defaultExecutionLabel: 'team1' },
      store: { gcp: { project: testenv.gcp.project, prefix: 'flyte-credsync-gcf-', emulatorHost: testenv.gcp.secretManagerEndpoint } },
      dataPlanes: testenv.dataPlanes.map((id, i) => ({
        id,
        access: { type: 'kubeconfig', context: id, path: testenv.kubeconfig },
        labels: i === 0 ? { team1: 1, gpu: 1 } : { team1: 0.5 },
      })),
    }),
  );
  env['CREDSYNC_CONFIG'] = file;
  process.stderr.write(`CREDSYNC_CONFIG=${file} (the local environment; store: GCP Secret Manager emulator)\n`);
}
const child = spawn(
  process.execPath,
  [
    '--enable-source-maps',
    '--require',
    path.join(REPO_ROOT, 'scripts', 'gcf-loopback.cjs'),
    path.join(REPO_ROOT, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js'),
    `--source=${path.join(REPO_ROOT, 'dist', 'gcf', target)}`,
    ...args,
  ],
  { stdio: 'inherit', env },
);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
