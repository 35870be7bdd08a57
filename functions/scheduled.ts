/**
 * The Cloud Function `scheduled`, scheduled rotation (Cloud Scheduler -> Pub/Sub CloudEvent): syncs every data plane.
 * Bundled on its own into dist/gcf/scheduled/ (its deploy source) by scripts/build.mjs; the function
 * itself is in lib/runtime/gcf/functions.ts.
 */
import * as ff from '@google-cloud/functions-framework';
import { scheduled } from '../lib/runtime/gcf/functions.ts';
import { installFrameworkAnswers } from './framework.ts';

export { scheduled } from '../lib/runtime/gcf/functions.ts';

installFrameworkAnswers();
ff.cloudEvent('scheduled', scheduled);
