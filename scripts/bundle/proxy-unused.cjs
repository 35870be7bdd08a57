// Stands in for the proxy agents @kubernetes/client-node imports (socks, socks-proxy-agent,
// hpagent) in the bundles: flyte-credsync refuses a kubeconfig proxy-url (lib/kube/http2.ts talks
// to the API server directly), so they are never constructed, and leaving them out saves their
// load time at every cold start. Reaching this code is a bug.
'use strict';
function unavailable() {
  throw new Error('proxy agents are not in this bundle: a kubeconfig proxy-url is not supported');
}
class Unavailable {
  constructor() {
    unavailable();
  }
}
module.exports = { SocksProxyAgent: Unavailable, SocksClient: Unavailable, HttpProxyAgent: Unavailable, HttpsProxyAgent: Unavailable };
