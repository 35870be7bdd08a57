// Stands in for node-fetch in the Google Cloud Functions bundles: gaxios (google-auth-library's
// HTTP client) imports node-fetch when there is no `window`, though Node 22 has fetch built in.
// node-fetch and the polyfills it brings (web streams, Blob, FormData) are about 100 KB of a
// bundle. gaxios builds standard fetch requests; what only node-fetch reads (an `agent`) is not
// used by google-auth-library's token requests, and a proxy from HTTPS_PROXY is refused instead
// (./proxy-unused.cjs stands in for https-proxy-agent).
'use strict';
const fetch = (...args) => globalThis.fetch(...args);
module.exports = fetch;
module.exports.default = fetch;
