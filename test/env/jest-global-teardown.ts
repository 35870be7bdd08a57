/**
 * Jest global teardown of the integration project: stops the test environment only if the global
 * setup started it (set CREDSYNC_TESTENV_KEEP=1 to keep it running anyway).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_STATE_DIR, down } from './testenv.ts';

export default async function globalTeardown(): Promise<void> {
  if (!existsSync(path.join(DEFAULT_STATE_DIR, 'started-by-jest'))) return;
  if (process.env.CREDSYNC_TESTENV_KEEP === '1') {
    console.log(`\nCREDSYNC_TESTENV_KEEP=1: leaving the test environment running (${DEFAULT_STATE_DIR})`);
    return;
  }
  await down({ log: () => {} });
}
