/**
 * The Google Cloud Functions bundle's entry: registers the three functions of
 * lib/runtime/gcf/functions.ts with the Functions Framework. Bundled by scripts/build.mjs into
 * dist/gcf/index.js (CommonJS); the framework itself stays a dependency (dist/gcf/package.json),
 * so registrations land in the registry the server reads.
 */
import * as ff from '@google-cloud/functions-framework';
import { clusterCreated, resync, scheduled } from '../lib/runtime/gcf/functions.ts';

export { clusterCreated, log, resync, scheduled } from '../lib/runtime/gcf/functions.ts';

ff.cloudEvent('scheduled', scheduled);
ff.cloudEvent('clusterCreated', clusterCreated);
ff.http('resync', resync);
