/**
 * The Google Cloud Functions bundle's entry: registers the three functions of
 * lib/runtime/gcf/functions.ts with the Functions Framework. Bundled by scripts/build.mjs into
 * dist/gcf/index.js (CommonJS); the framework itself stays a dependency (dist/gcf/package.json),
 * so registrations land in the registry the server reads.
 *
 * It also gives the framework's Express (resolved from the framework's own location, so it is the
 * instance the server uses) JSON answers for requests the framework cannot parse
 * (lib/runtime/gcf/answers.ts): this module is loaded before the framework builds its server.
 */
import * as ff from '@google-cloud/functions-framework';
import { createRequire } from 'node:module';
import { installJsonAnswers, type ExpressModule } from '../lib/runtime/gcf/answers.ts';
import { clusterCreated, log, resync, scheduled } from '../lib/runtime/gcf/functions.ts';

export { clusterCreated, log, resync, scheduled } from '../lib/runtime/gcf/functions.ts';

const frameworkRequire = createRequire(require.resolve('@google-cloud/functions-framework'));
installJsonAnswers(frameworkRequire('express') as ExpressModule, (a) =>
  log.warn('request rejected before the function ran', { status: a.status, reason: a.body.error }),
);

ff.cloudEvent('scheduled', scheduled);
ff.cloudEvent('clusterCreated', clusterCreated);
ff.http('resync', resync);
