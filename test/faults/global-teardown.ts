/** Stops the fault suite's environment if its global setup started it (CREDSYNC_TESTENV_KEEP=1 keeps it). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { down } from '../env/testenv.ts';
import { STARTED_BY_JEST } from '../env/jest-global-setup.ts';
import { FAULTS_DIR } from './global-setup.ts';

export default async function globalTeardown(): Promise<void> {
  if (process.env.CREDSYNC_TESTENV_KEEP === '1' || !existsSync(path.join(FAULTS_DIR, STARTED_BY_JEST))) return;
  await down({ dir: FAULTS_DIR });
}
