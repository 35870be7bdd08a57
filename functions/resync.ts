/**
 * The Cloud Function `resync`, manual resync over HTTP (POST {"clusters"?: [...], "dryRun"?: bool}).
 * Bundled on its own into dist/gcf/resync/ (its deploy source) by scripts/build.mjs; the function
 * itself is in lib/runtime/gcf/functions.ts.
 */
import * as ff from '@google-cloud/functions-framework';
import { resync } from '../lib/runtime/gcf/functions.ts';
import { installFrameworkAnswers } from './framework.ts';

export { resync } from '../lib/runtime/gcf/functions.ts';

installFrameworkAnswers();
ff.http('resync', resync);
