/**
 * The Cloud Function `clusterCreated`, a GKE cluster was created (the audit-log CloudEvent): syncs it when it is a data plane.
 * Bundled on its own into dist/gcf/clusterCreated/ (its deploy source) by scripts/build.mjs; the function
 * itself is in lib/runtime/gcf/functions.ts.
 */
import * as ff from '@google-cloud/functions-framework';
import { clusterCreated } from '../lib/runtime/gcf/functions.ts';
import { installFrameworkAnswers } from './framework.ts';

export { clusterCreated } from '../lib/runtime/gcf/functions.ts';

installFrameworkAnswers();
ff.cloudEvent('clusterCreated', clusterCreated);
