/**
 * What every Cloud Function's entry (functions/<name>.ts) does before it registers its function:
 * gives the Functions Framework's Express (resolved from the framework's own location, so it is the
 * instance the server uses) JSON answers for requests the framework cannot parse
 * (lib/runtime/gcf/answers.ts). An entry is loaded before the framework builds its server.
 *
 * Each entry is bundled on its own by scripts/build.mjs into dist/gcf/<name>/ (an ES module with
 * its chunks); the framework itself stays a dependency (dist/gcf/<name>/package.json), so the
 * registration lands in the registry the server reads.
 */
import { createRequire } from 'node:module';
import { installJsonAnswers, type ExpressModule } from '../lib/runtime/gcf/answers.ts';
import { log } from '../lib/runtime/gcf/functions.ts';

export const FRAMEWORK = '@google-cloud/functions-framework';

export function installFrameworkAnswers(): void {
  const frameworkRequire = createRequire(createRequire(import.meta.url).resolve(FRAMEWORK));
  installJsonAnswers(frameworkRequire('express') as ExpressModule, (a) =>
    log.warn('request rejected before the function ran', { status: a.status, reason: a.body.error }),
  );
}
