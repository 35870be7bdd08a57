// Stands in for gRPC's server side (@grpc/grpc-js's server.js, server-credentials.js and
// server-interceptors.js) in the Google Cloud Functions bundles: the functions are gRPC clients
// only (lib/gcp/grpc.ts, lib/labels/admin.ts). grpc-js's index and experimental modules name these
// exports through getters, so nothing reads them unless a server is made. Reaching this code is a bug.
'use strict';
function unavailable() {
  throw new Error("gRPC's server side is not in this bundle");
}
class Unavailable {
  constructor() {
    unavailable();
  }
}
module.exports = {
  Server: Unavailable,
  ServerCredentials: Unavailable,
  ServerListenerBuilder: Unavailable,
  ResponderBuilder: Unavailable,
  ServerInterceptingCall: Unavailable,
  createServerCredentialsWithInterceptors: unavailable,
  createCertificateProviderServerCredentials: unavailable,
};
