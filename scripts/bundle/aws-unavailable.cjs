// Stands in for the AWS SDK (@aws-sdk/*, @smithy/*) and lib/aws/ in the Google Cloud Functions
// bundles (scripts/bundle/gcf-plugins.cjs), as the Lambda package leaves the GCP clients out:
// nothing of AWS is in a Cloud Function. The AWS adapters' modules still load (lib/stores/aws.ts is
// imported beside the GCP one), so every name they import from the SDK exists here, as a function
// that fails when called or constructed: a configuration that needs AWS (store.aws, EKS access or
// discovery, an ssm: configuration) fails with a clear CONFIG_INVALID error on first use.
//
// esbuild reads a CommonJS module's names from the module object and its prototype chain, so the
// names come from a Proxy prototype (any name) instead of a fixed list.
'use strict';
const { CredsyncError } = require('../../lib/errors.ts');

const made = new Map();
function unavailable(name) {
  let fn = made.get(name);
  if (!fn) {
    fn = function awsUnavailable() {
      throw new CredsyncError(
        'CONFIG_INVALID',
        `${name} is from the AWS SDK, which the Google Cloud Functions package does not include: ` +
          'run AWS configurations (store.aws, EKS access or discovery, ssm: configuration) as AWS Lambda functions or with the CLI',
      );
    };
    made.set(name, fn);
  }
  return fn;
}
const names = new Proxy(
  {},
  {
    get(_, key) {
      // Not exports: what module loaders and promises probe for.
      if (typeof key !== 'string' || key === 'then' || key === '__esModule' || key === 'default') return undefined;
      return unavailable(key);
    },
  },
);
module.exports = Object.create(names);
