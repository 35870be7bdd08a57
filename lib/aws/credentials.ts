/**
 * The AWS SDK credential providers EKS access and discovery use (lib/clusters/access.ts),
 * imported lazily through this module only, so a bundle keeps only these (see ./ssm.ts for why).
 */
export { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
export { doesIdentityRequireRefresh, isIdentityExpired, memoizeIdentityProvider } from '@smithy/core';
