/** Configuration of EKS discovery (part of the configuration schema, ./schema.ts). */
import * as z from 'zod';

export const EksDiscovery = z.strictObject({
  regions: z.array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1')).min(1),
  /** Every tag here must be on the cluster, with this value. */
  tags: z.record(z.string().min(1), z.string()).refine((t) => Object.keys(t).length > 0, 'give at least one tag to select data planes'),
  /** Role to assume for DescribeCluster/ListClusters and for the clusters' tokens (cross-account). */
  roleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'must be an IAM role ARN').optional(),
  /** EKS API endpoint override (local emulators only). */
  eksEndpoint: z.url().optional(),
});
export type EksDiscovery = z.infer<typeof EksDiscovery>;
