/**
 * Whether a data-plane credential may be published: the verification policy and the checks that
 * enforce it, in one place. A credential is published only when, asked with the credential itself
 * against its own cluster:
 * - it authenticates (SelfSubjectReview) as exactly `system:serviceaccount:<namespace>:<sa>`;
 * - it may do what flyteadmin does there (SelfSubjectAccessReview per {@link FLYTEADMIN_CHECKS}).
 * The shape of the token Secret itself (type, ServiceAccount, token, PEM CA) is checked when it is
 * read (./credential.ts). A credential that fails any check throws {@link CredentialRejectedError}.
 */
import { tokenConnection } from '../clusters/access.ts';
import type { DataPlane } from '../config/schema.ts';
import { CredentialRejectedError } from '../errors.ts';
import { statusOf } from '../kube/errors.ts';
import { KubeHttp } from '../kube/http2.ts';
import { mayDo, whoAmI, type ReviewedAction } from '../kube/reviews.ts';

/** A permission flyteadmin needs, checked with a SelfSubjectAccessReview. */
export type AccessCheck = ReviewedAction;

export interface VerifyRequest {
  cluster: string;
  server: string;
  caPem: string;
  token: string;
  /** The identity the token must authenticate as, e.g. system:serviceaccount:flyte:flyteadmin. */
  expectedUser: string;
  checks: AccessCheck[];
}

/** Verifies a credential against its cluster; throws CredentialRejectedError when it must not be published. */
export type CredentialVerifier = (req: VerifyRequest) => Promise<{ username: string }>;


/** What flyteadmin needs on a data plane; a credential lacking any of it is never published. */
export const FLYTEADMIN_CHECKS: readonly AccessCheck[] = [
  { verb: 'create', group: 'flyte.lyft.com', resource: 'flyteworkflows' },
  { verb: 'get', group: '', resource: 'namespaces' },
];

/** The identity a data plane's flyteadmin credential must authenticate as. */
export function expectedIdentity(dp: Pick<DataPlane, 'namespace' | 'serviceAccount'>): string {
  return `system:serviceaccount:${dp.namespace}:${dp.serviceAccount}`;
}

/**
 * Applies the policy to one data plane's credential.
 *
 * @param server the API server URL the credential is checked against (the sync's own view of it)
 * @returns the identity the token authenticated as
 * @throws CredentialRejectedError when the credential must not be published; ClusterUnreachableError
 *   or KubernetesApiError when the cluster could not answer
 */
export function verifyCredential(
  verify: CredentialVerifier,
  dp: DataPlane,
  server: string,
  cred: { token: string; caCert: string },
): Promise<{ username: string }> {
  return verify({
    cluster: dp.id,
    server,
    caPem: cred.caCert,
    token: cred.token,
    expectedUser: expectedIdentity(dp),
    checks: [...FLYTEADMIN_CHECKS],
  });
}

/**
 * Verifies a data-plane credential with the credential itself: SelfSubjectReview (does it
 * authenticate, and as whom?) then one SelfSubjectAccessReview per permission flyteadmin needs.
 */
export const verifyWithApiServer: CredentialVerifier = async (req) => {
  // The credential's own requests share the API server's pooled session (no new TLS handshake).
  const http = new KubeHttp(tokenConnection(req.server, req.caPem, req.token));
  let username: string;
  try {
    username = (await whoAmI(http, req.cluster, req.server)).username ?? '';
  } catch (err) {
    if (statusOf(err) === 401) throw new CredentialRejectedError(req.cluster, 'the token does not authenticate (HTTP 401)');
    throw err;
  }
  if (username !== req.expectedUser)
    throw new CredentialRejectedError(req.cluster, `the token authenticates as "${username}", expected "${req.expectedUser}"`);
  // The permission checks are independent: asked at once.
  const results = await mayDo(http, req.cluster, req.server, req.checks);
  const denied = req.checks
    .filter((_, i) => !results[i])
    .map((c) => `${c.verb} ${c.resource}${c.group ? '.' + c.group : ''}`);
  if (denied.length) throw new CredentialRejectedError(req.cluster, `${username} may not ${denied.join(', ')}`);
  return { username };
};
