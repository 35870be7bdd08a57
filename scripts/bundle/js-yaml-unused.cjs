// Stands in for js-yaml in the Google Cloud Functions bundles. @kubernetes/client-node's KubeConfig
// parses a kubeconfig with it only in loadFromString (and loadFromFile, loadFromDefault with a
// file); flyte-credsync parses kubeconfigs itself with `yaml` and hands client-node the result
// (lib/clusters/kubeconfig.ts: loadFromOptions), and reaches loadFromDefault only when there is no
// kubeconfig file at all (in-cluster). Leaving it out saves 50 kB of each function's 1 MB. Reaching
// this code is a bug.
'use strict';
function unavailable() {
  throw new Error('js-yaml is not in this bundle: kubeconfigs are parsed by lib/clusters/kubeconfig.ts');
}
module.exports = { load: unavailable, loadAll: unavailable, dump: unavailable };
