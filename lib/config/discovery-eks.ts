/** Configuration of EKS discovery (part of the configuration schema, ./schema.ts). */
import * as z from '../util/zod.ts';

export const EksDiscovery = z.strictObject({
  regions: z.array(z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1'))).check(z.minLength(1)),
  /** Every tag here must be on the cluster, with this value. */
  tags: z.record(z.string().check(z.minLength(1)), z.string()).check(z.refine((t) => Object.keys(t).length > 0, 'give at least one tag to select data planes')),
  /** Role to assume for DescribeCluster/ListClusters and for the clusters' tokens (cross-account). */
  roleArn: z.optional(z.string().check(z.regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'must be an IAM role ARN'))),
  /** EKS API endpoint override (local emulators only). */
  eksEndpoint: z.optional(z.url()),
});
export type EksDiscovery = z.infer<typeof EksDiscovery>;
