/**
 * Jest global setup of the fault suite: an environment of its own (`.testenv-faults/`, 2 data
 * planes), because the suite kills and stops its servers. Reused when already running; stopped
 * by the teardown only if started here (as the integration project's setup does).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readEnv, REPO_ROOT, up } from '../env/testenv.ts';
import { STARTED_BY_JEST } from '../env/jest-global-setup.ts';

export const FAULTS_DIR = path.join(REPO_ROOT, '.testenv-faults');

export default async function globalSetup(): Promise<void> {
  let env = await readEnv({ dir: FAULTS_DIR });
  if (env) console.log(`\nfault suite: using the running environment in ${env.dir}`);
  else {
    console.log(`\nfault suite: starting an environment of its own in ${FAULTS_DIR}`);
    env = await up({ dir: FAULTS_DIR, dataPlanes: 2 });
    await writeFile(path.join(env.dir, STARTED_BY_JEST), `${process.pid}\n`);
  }
  // Not CREDSYNC_TESTENV: the integration project's setup sets that one for its own environment.
  process.env.CREDSYNC_FAULTS_TESTENV = path.join(env.dir, 'env.json');
}
