/**
 * Jest global setup of the integration project: reuses a running test environment (started with
 * `npm run testenv -- up`) or starts one. Only an environment started here is stopped by the
 * global teardown (a marker file records that), so a developer's env is left running.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readEnv, up } from './testenv.ts';

export const STARTED_BY_JEST = 'started-by-jest';

export default async function globalSetup(): Promise<void> {
  let env = await readEnv();
  if (env) {
    console.log(`\nusing the running test environment in ${env.dir}`);
  } else {
    console.log('\nstarting the test environment (npm run testenv -- up keeps one running between test runs)');
    env = await up({});
    await writeFile(path.join(env.dir, STARTED_BY_JEST), `${process.pid}\n`);
  }
  process.env.CREDSYNC_TESTENV = path.join(env.dir, 'env.json');
}
