// Stands in for `@grpc/proto-loader` in the Lambda bundles. gRPC (@grpc/grpc-js) requires it only
// to build the channelz and ORCA service definitions from .proto files in its own package folder,
// which a bundle does not carry (so that path could not work there anyway); FlyteAdmin's client
// uses neither (lib/labels/admin.ts: unary calls over one channel, default load balancing).
// Leaving it out also leaves out the full protobufjs with its .proto parser. Reaching this code is
// a bug.
'use strict';
function unavailable() {
  throw new Error('@grpc/proto-loader is not in this bundle: gRPC channelz and ORCA services are not used');
}
module.exports = { loadSync: unavailable, load: unavailable, fromJSON: unavailable };
