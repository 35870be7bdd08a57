/**
 * The AWS SDK pieces EKS access and discovery use (lib/clusters/, lib/discovery/), imported
 * lazily through this module only, so a bundle keeps only these exports of the EKS client
 * (see ./ssm.ts for why).
 */
export { DescribeClusterCommand, EKSClient, paginateListClusters } from '@aws-sdk/client-eks';
