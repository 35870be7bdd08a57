/**
 * EKS access without kubectl or aws-iam-authenticator: the bearer token is a presigned STS
 * GetCallerIdentity request whose signed headers include `x-k8s-aws-id: <cluster name>`,
 * encoded as `k8s-aws-v1.` + unpadded base64url of the URL, the way aws-iam-authenticator
 * makes it. Signed with the AWS SDK's SigV4 signer; a session token is included when the
 * credentials have one. The endpoint and CA come from EKS DescribeCluster.
 */
import type { EKSClient } from '@aws-sdk/client-eks';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { ClusterNotReadyError, CredsyncError } from '../errors.ts';
import { CALL_TIMEOUT_MS, callSignal, deadlineError } from '../util/abort.ts';
import { registerSecret } from '../util/redact.ts';

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** aws-iam-authenticator presigns for 60 s; EKS accepts a token for 15 min after X-Amz-Date. */
export const PRESIGN_EXPIRES_SECONDS = 60;
export const TOKEN_LIFETIME_MS = 15 * 60_000;
/** Renewed this long before the 15 minutes are up. */
export const RENEW_BEFORE_MS = 5 * 60_000;

export interface EksToken {
  token: string;
  /** When EKS stops accepting it. */
  expiresAt: Date;
}

/** The regional STS host EKS tokens are presigned for (`.amazonaws.com.cn` in China regions). */
export function stsHost(region: string): string {
  return region.startsWith('cn-') ? `sts.${region}.amazonaws.com.cn` : `sts.${region}.amazonaws.com`;
}

/** Makes an EKS bearer token for `clusterName` from these credentials, signed for STS in `region`. */
export async function eksToken(
  clusterName: string,
  region: string,
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider,
  now: Date = new Date(),
): Promise<EksToken> {
  // Loaded on first use: only EKS access signs.
  const [{ Hash }, { HttpRequest }, { buildQueryString }, { SignatureV4 }] = await Promise.all([
    import('@smithy/hash-node'),
    import('@smithy/protocol-http'),
    import('@smithy/querystring-builder'),
    import('@smithy/signature-v4'),
  ]);
  const signer = new SignatureV4({ credentials, region, service: 'sts', sha256: Hash.bind(null, 'sha256'), applyChecksum: false });
  const hostname = stsHost(region);
  const presigned = await signer.presign(
    new HttpRequest({
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostname, [CLUSTER_ID_HEADER]: clusterName },
    }),
    { expiresIn: PRESIGN_EXPIRES_SECONDS, signingDate: now },
  );
  // The SDK's own query encoder: the same escaping the signer used for the canonical request.
  const url = `https://${hostname}/?${buildQueryString(presigned.query ?? {})}`;
  const token = EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
  registerSecret(token);
  return { token, expiresAt: new Date(now.getTime() + TOKEN_LIFETIME_MS) };
}

/** Caches tokens per (cluster, region, role) and renews them well before they expire. */
export class EksTokenCache {
  private readonly cache = new Map<string, EksToken>();
  private readonly now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.now = now;
  }

  async get(key: string, make: (now: Date) => Promise<EksToken>): Promise<string> {
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt.getTime() - now.getTime() > RENEW_BEFORE_MS) return hit.token;
    const fresh = await make(now);
    this.cache.set(key, fresh);
    return fresh.token;
  }
}

export interface EksClusterInfo {
  endpoint: string;
  caPem: string;
}

/** EKS statuses whose API server answers: ACTIVE, and UPDATING (a version or config upgrade, often 30+ min). */
const USABLE = new Set(['ACTIVE', 'UPDATING']);

/**
 * Endpoint and CA of an EKS cluster. A cluster still CREATING is {@link ClusterNotReadyError} (retry later);
 * DELETING or FAILED say so; a cluster EKS does not know is a configuration error.
 */
export async function describeEksCluster(eks: EKSClient, clusterName: string, what = `EKS cluster ${clusterName}`): Promise<EksClusterInfo> {
  let out;
  const abortSignal = callSignal();
  try {
    const { DescribeClusterCommand } = await import('../aws/eks.ts');
    out = await eks.send(new DescribeClusterCommand({ name: clusterName }), { abortSignal });
  } catch (err) {
    const e = err as Error;
    if (abortSignal.aborted)
      throw deadlineError(`${what}: EKS DescribeCluster ${clusterName}`) ??
        new CredsyncError('CLUSTER_UNREACHABLE', `${what}: EKS DescribeCluster ${clusterName}: timed out after ${CALL_TIMEOUT_MS} ms`, { cause: err });
    if (e.name === 'ResourceNotFoundException')
      throw new CredsyncError('CONFIG_INVALID', `${what}: EKS has no cluster named ${clusterName} in this region and account`, { cause: err });
    if (e.name === 'AccessDeniedException' || e.name === 'UnrecognizedClientException')
      throw new CredsyncError('CLUSTER_ACCESS_DENIED', `${what}: EKS DescribeCluster ${clusterName} denied: ${e.message}`, { cause: err });
    throw new CredsyncError('CLUSTER_UNREACHABLE', `${what}: EKS DescribeCluster ${clusterName}: ${e.name}: ${e.message}`, { cause: err });
  }
  const c = out.cluster;
  const status = c?.status ?? 'unknown';
  if (status === 'CREATING' || status === 'PENDING')
    throw new ClusterNotReadyError(`${what}: EKS cluster ${clusterName} is not ACTIVE yet (status ${status})`);
  if (!USABLE.has(status)) throw new CredsyncError('CLUSTER_UNREACHABLE', `${what}: EKS cluster ${clusterName} is ${status}`);
  if (!c?.endpoint || !c.certificateAuthority?.data)
    throw new CredsyncError('CLUSTER_UNREACHABLE', `${what}: EKS cluster ${clusterName} (status ${status}) reports no endpoint or CA`);
  return { endpoint: c.endpoint, caPem: Buffer.from(c.certificateAuthority.data, 'base64').toString('utf8') };
}
