// Stands in for json-bigint in the Google Cloud Functions bundles: gcp-metadata (google-auth-library's
// client of the metadata server) parses the server's JSON answers with it, so that integers beyond
// 2^53 keep every digit. What the functions read there (access tokens, the project id and number,
// the service account) has no such integer, and json-bigint brings bignumber.js (24 KB of a bundle).
'use strict';
module.exports = () => ({ parse: JSON.parse, stringify: JSON.stringify });
module.exports.parse = JSON.parse;
module.exports.stringify = JSON.stringify;
