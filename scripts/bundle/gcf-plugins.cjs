// esbuild plugins of the Google Cloud Functions bundles (scripts/build.mjs): the shared ones
// (./plugins.cjs), Node's built-ins through require() (as the Lambda bundles), and nothing of AWS.
'use strict';
const path = require('node:path');
const { builtinsThroughRequire } = require('./lambda-plugins.cjs');

const STAND_IN = path.join(__dirname, 'aws-unavailable.cjs');

/**
 * The AWS SDK and lib/aws/ (the SDK pieces EKS access, discovery and the SSM configuration source
 * load) are replaced by ./aws-unavailable.cjs: a Cloud Function carries no AWS code, and a
 * configuration that needs it fails with a clear error (see there).
 */
const awsLeftOut = {
  name: 'aws-left-out',
  setup(build) {
    build.onResolve({ filter: /^@(aws-sdk|smithy)\// }, () => ({ path: STAND_IN }));
    build.onResolve({ filter: /[\\/]aws[\\/](credentials|eks|ssm)\.ts$/ }, (args) =>
      /[\\/]lib[\\/]/.test(args.importer) ? { path: STAND_IN } : undefined,
    );
  },
};

/**
 * What the functions never run, left out: gRPC's server side (./grpc-server-unused.cjs), gaxios's
 * node-fetch (Node's own fetch instead, ./fetch-native.cjs) with its proxy agent, gcp-metadata's
 * json-bigint (./json-bigint-native.cjs), and client-node's js-yaml (./js-yaml-unused.cjs).
 */
const clientOnly = {
  name: 'client-only',
  setup(build) {
    build.onResolve({ filter: /^\.\/server(-credentials|-interceptors)?$/ }, (args) =>
      /[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src[\\/](index|experimental)\.js$/.test(args.importer) ? { path: path.join(__dirname, 'grpc-server-unused.cjs') } : undefined,
    );
    build.onResolve({ filter: /^node-fetch$/ }, (args) => (/[\\/]gaxios[\\/]/.test(args.importer) ? { path: path.join(__dirname, 'fetch-native.cjs') } : undefined));
    build.onResolve({ filter: /^js-yaml$/ }, (args) => (/[\\/]@kubernetes[\\/]client-node[\\/]/.test(args.importer) ? { path: path.join(__dirname, 'js-yaml-unused.cjs') } : undefined));
    build.onResolve({ filter: /^json-bigint$/ }, (args) => (/[\\/]gcp-metadata[\\/]/.test(args.importer) ? { path: path.join(__dirname, 'json-bigint-native.cjs') } : undefined));
    build.onResolve({ filter: /^https-proxy-agent$/ }, (args) => (/[\\/]gaxios[\\/]/.test(args.importer) ? { path: path.join(__dirname, 'proxy-unused.cjs') } : undefined));
  },
};

module.exports = [...require('./plugins.cjs'), builtinsThroughRequire, awsLeftOut, clientOnly];
