// Stands in for the proxy agents @kubernetes/client-node imports (socks, socks-proxy-agent,
// hpagent), and gaxios its https-proxy-agent in the Cloud Functions bundles: flyte-credsync refuses a kubeconfig proxy-url (lib/kube/http2.ts talks
// to the API server directly), so they are never constructed, and leaving them out saves their
// load time at every cold start. Reaching this code is a bug.
'use strict';
function unavailable() {
  throw new Error('proxy agents are not in this bundle: neither a kubeconfig proxy-url nor (in the Cloud Functions bundles) HTTPS_PROXY for Google token requests is supported');
}
class Unavailable {
  constructor() {
    unavailable();
  }
}
module.exports = { SocksProxyAgent: Unavailable, SocksClient: Unavailable, HttpProxyAgent: Unavailable, HttpsProxyAgent: Unavailable };
