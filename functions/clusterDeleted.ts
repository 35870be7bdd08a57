/**
 * The Cloud Function `clusterDeleted`, a GKE cluster was deleted (the audit-log CloudEvent): drains its data plane.
 * Bundled on its own into dist/gcf/clusterDeleted/ (its deploy source) by scripts/build.mjs; the function
 * itself is in lib/runtime/gcf/functions.ts.
 */
import * as ff from '@google-cloud/functions-framework';
import { clusterDeleted } from '../lib/runtime/gcf/functions.ts';
import { installFrameworkAnswers } from './framework.ts';

export { clusterDeleted } from '../lib/runtime/gcf/functions.ts';

installFrameworkAnswers();
ff.cloudEvent('clusterDeleted', clusterDeleted);
