// Stands in for `undici` in the function bundles. @kubernetes/client-node imports undici for its
// own HTTP path (a fetch with a new Agent per request), which flyte-credsync does not use: every
// Kubernetes request goes through lib/kube/http2.ts (node:http2, one session per API server).
// Leaving undici's 700 KB out keeps each function zip under 0.5 MB. Reaching this code is a bug.
'use strict';
function unavailable(what) {
  throw new Error(`undici ${what} is not in this bundle: Kubernetes requests go through lib/kube/http2.ts`);
}
class Agent {
  constructor() {
    unavailable('Agent');
  }
}
module.exports = { Agent, ProxyAgent: Agent, fetch: () => unavailable('fetch') };
