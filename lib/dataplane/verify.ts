/**
 * Whether a data-plane credential may be published: the verification policy and the checks that
 * enforce it, in one place. A credential is published only when, asked with the credential itself
 * against its own cluster:
 * - it authenticates (SelfSubjectReview) as exactly `system:serviceaccount:<namespace>:<sa>`;
 * - it may do what flyteadmin does there (SelfSubjectAccessReview per {@link FLYTEADMIN_CHECKS}).
 * The shape of the token Secret itself (type, ServiceAccount, token, PEM CA) is checked when it is
 * read (./credential.ts). A credential that fails any check throws {@link CredentialRejectedError}.
 *
 * The SelfSubjectReview is skipped when the identity is already proven ({@link identityProvenBy}):
 * these exact token and CA bytes were verified as this identity at this API server before the store
 * made them current, and the token is a ServiceAccount JWT whose signed subject is that identity, so
 * it cannot authenticate as anyone else. The access reviews are still asked on every run and also
 * prove that the token still authenticates (a 401 there is a rejection, as for the identity review):
 * a revoked token, or one whose ServiceAccount was deleted or recreated, fails there.
 */
import { tokenConnection } from '../clusters/access.ts';
import type { DataPlane } from '../config/schema.ts';
import { CredentialRejectedError } from '../errors.ts';
import { statusOf } from '../kube/errors.ts';
import { KubeHttp } from '../kube/http2.ts';
import { mayDo, rbacResource, whoAmI, type ReviewedAction } from '../kube/reviews.ts';
import { fingerprint, type CredentialRecord } from '../stores/types.ts';

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
  /**
   * These token and CA bytes were verified as `expectedUser` at `server` before ({@link identityProvenBy}):
   * the SelfSubjectReview is skipped, the access reviews are asked as always. @default false
   */
  identityProven?: boolean;
  /** Cancels the reviews still asking (their reason is thrown). @default none */
  signal?: AbortSignal;
}

/** What a verification found: the identity, and whether it was reviewed now (false: proven before). */
export interface Verified {
  username: string;
  /** False when the SelfSubjectReview was skipped because the identity was proven before. */
  identityReviewed: boolean;
}

/** Verifies a credential against its cluster; throws CredentialRejectedError when it must not be published. */
export type CredentialVerifier = (req: VerifyRequest) => Promise<Verified>;


/** What flyteadmin needs on a data plane; a credential lacking any of it is never published. */
export const FLYTEADMIN_CHECKS: readonly AccessCheck[] = [
  { verb: 'create', group: 'flyte.lyft.com', resource: 'flyteworkflows' },
  { verb: 'get', group: '', resource: 'namespaces' },
];

/**
 * What flyteadmin, and syncresources with the same credential, do on a data plane (FLYTE-FACTS):
 * create a FlyteWorkflow per execution in its `<project>-<domain>` namespace, read it, delete it to
 * abort; read and create those namespaces (cluster-resource sync). `credsync doctor` asks the
 * stored credential for all of these (cluster-wide); the sync refuses to publish one lacking
 * {@link FLYTEADMIN_CHECKS}. What the chart's cluster_resources templates create besides
 * (resource quotas, service accounts) depends on the templates and is not asked.
 */
export const FLYTEADMIN_RIGHTS: readonly AccessCheck[] = [
  { verb: 'create', group: 'flyte.lyft.com', resource: 'flyteworkflows' },
  { verb: 'get', group: 'flyte.lyft.com', resource: 'flyteworkflows' },
  { verb: 'delete', group: 'flyte.lyft.com', resource: 'flyteworkflows' },
  { verb: 'get', group: '', resource: 'namespaces' },
  { verb: 'create', group: '', resource: 'namespaces' },
];

/** The identity a data plane's flyteadmin credential must authenticate as. */
export function expectedIdentity(dp: Pick<DataPlane, 'namespace' | 'serviceAccount'>): string {
  return `system:serviceaccount:${dp.namespace}:${dp.serviceAccount}`;
}

/**
 * The subject (`sub` claim) of a JWT, read without checking its signature (the API server checks
 * it on every request the token makes); undefined when the token is not a JWT with a string `sub`.
 */
export function jwtSubject(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    const sub = claims && typeof claims === 'object' ? (claims as { sub?: unknown }).sub : undefined;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `stored`, the store's current record for `dp`, proves the identity of the credential
 * read now, so that its SelfSubjectReview may be skipped. True only when all of these hold:
 * - the credential read now has the record's fingerprint (the same token and CA bytes);
 * - the record was read from the same API server (`source.server`) for the same namespace and
 *   ServiceAccount the configuration expects now. Every path that makes a record current (the
 *   sync's put, rotation's first put and promotions, the Secrets Manager rotation's finishSecret,
 *   rollback) does so only after verifying that very record as {@link expectedIdentity} of
 *   `source.namespace`/`source.serviceAccount` at `source.server`;
 * - the token is a ServiceAccount JWT whose subject is that identity: the API server derives the
 *   username from these signed claims, so the same token cannot authenticate as anyone else
 *   (a static or webhook token's identity is a mapping that can change: it is reviewed every run).
 * A token that no longer authenticates (revoked; ServiceAccount deleted or recreated) is still
 * caught: the access reviews, asked every run, are answered 401.
 *
 * @returns false when any of it does not hold, or there is no record (then the identity is reviewed)
 */
export function identityProvenBy(
  stored: CredentialRecord | undefined,
  dp: Pick<DataPlane, 'namespace' | 'serviceAccount'>,
  server: string,
  cred: { token: string; caCert: string },
): boolean {
  if (!stored) return false;
  const { source } = stored;
  return (
    stored.fingerprint === fingerprint(cred.token, cred.caCert) &&
    source.server === server &&
    source.namespace === dp.namespace &&
    source.serviceAccount === dp.serviceAccount &&
    jwtSubject(cred.token) === expectedIdentity(dp)
  );
}

/**
 * Applies the policy to one data plane's credential.
 *
 * @param server the API server URL the credential is checked against (the sync's own view of it)
 * @param stored the store's current record for the data plane, if known: when it proves the
 *   identity ({@link identityProvenBy}), the SelfSubjectReview is skipped (default: none, full review)
 * @param signal cancels the reviews (default: none)
 * @param settle for a credential whose token Secret this run created (`cred.createdSecret`): how
 *   long a 401 is asked again while the API server catches up with the filled Secret
 * @returns the identity the token authenticated as, and whether it was reviewed now
 * @throws CredentialRejectedError when the credential must not be published; ClusterUnreachableError
 *   or KubernetesApiError when the cluster could not answer
 */
export async function verifyCredential(
  verify: CredentialVerifier,
  dp: DataPlane,
  server: string,
  cred: { token: string; caCert: string; createdSecret?: boolean },
  stored?: CredentialRecord,
  signal?: AbortSignal,
  settle: SettleOptions = {},
): Promise<Verified> {
  const ask = () =>
    verify({
      cluster: dp.id,
      server,
      caPem: cred.caCert,
      token: cred.token,
      expectedUser: expectedIdentity(dp),
      checks: [...FLYTEADMIN_CHECKS],
      ...(identityProvenBy(stored, dp, server, cred) ? { identityProven: true } : {}),
      ...(signal ? { signal } : {}),
    });
  if (!cred.createdSecret) return ask();
  // A token Secret this run created and saw filled: the API server checks a legacy token against
  // its own cached copy of the Secret, which may still be the unfilled one for a moment (401,
  // "token does not match server's copy"). A 401 is asked again for a bounded time; any other
  // answer, and a 401 past the bound, stands.
  const sleep = settle.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const pollMs = settle.pollMs ?? 250;
  // Bounded by a count of asks (the wait between them), not a clock that a test may stop.
  const asks = 1 + Math.ceil((settle.ms ?? NEW_SECRET_SETTLE_MS) / pollMs);
  for (let n = 1; ; n++) {
    try {
      return await ask();
    } catch (err) {
      if (!(err instanceof CredentialRejectedError) || !err.unauthenticated || n >= asks || signal?.aborted) throw err;
      await sleep(pollMs);
    }
  }
}

/** How long a 401 for a token Secret the run just created is asked again ({@link verifyCredential}). */
export const NEW_SECRET_SETTLE_MS = 5_000;

/** How {@link verifyCredential} waits for the API server to see a token Secret the run just created. */
export interface SettleOptions {
  /** @default {@link NEW_SECRET_SETTLE_MS} */
  ms?: number;
  /** @default 250 */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** A verification of the store's current record started before the credential it must match was read. */
export interface EarlyVerification {
  /**
   * The early verification's outcome for the credential read, when it may judge it: `cred` holds
   * exactly the record's token and CA bytes (it is then the very verification
   * {@link verifyCredential} would ask for `cred`) and its token Secret was not created by this run.
   * Otherwise undefined, and `cred` must be verified by itself.
   *
   * The promise resolves to undefined, not to a rejection, when the early answer was that the
   * token does not authenticate (HTTP 401): that answer may have been given while the token Secret
   * did not exist (deleted, and re-created by this run or by someone else while it was read: a
   * legacy token comes back with the same bytes, and authenticates again only once its Secret
   * exists), so a credential is never judged by it; `cred` must then be verified by itself. Any
   * other answer stands: the token authenticated (as the wrong identity, or without the rights
   * flyteadmin needs), so its Secret existed when it was answered.
   */
  resultFor(cred: { token: string; caCert: string; createdSecret?: boolean }): Promise<Verified | undefined> | undefined;
  /** Cancels its reviews if they are still asking and resolves once they have settled; idempotent. */
  cancel(): Promise<void>;
}

/**
 * Starts verifying the store's current record for `dp` now, while the data plane's token Secret
 * is still being read, so that a run where nothing changed waits for one round trip per data plane
 * instead of two (the Secret GET, then the reviews). Nothing is skipped: the reviews asked are the
 * ones {@link verifyCredential} asks for the credential read, and their answer is used only when
 * the Secret holds exactly the record's bytes, existed before this run, and the answer accepts
 * ({@link EarlyVerification.resultFor}). Started only when the record proves its own identity
 * ({@link identityProvenBy}), the case where the no-op asks the access reviews alone; otherwise
 * undefined. Callers must {@link EarlyVerification.cancel} it when done (its requests are cancelled,
 * not abandoned).
 */
export function verifyEarly(verify: CredentialVerifier, dp: DataPlane, server: string, stored: CredentialRecord | undefined): EarlyVerification | undefined {
  if (!stored || !identityProvenBy(stored, dp, server, stored)) return undefined;
  const ctl = new AbortController();
  const result = verifyCredential(verify, dp, server, stored, stored, ctl.signal);
  const settled = result.then(
    () => undefined,
    () => undefined,
  );
  return {
    resultFor: (cred) =>
      !cred.createdSecret && cred.token === stored.token && cred.caCert === stored.caCert
        ? result.catch((err: unknown) => {
            if (err instanceof CredentialRejectedError && err.unauthenticated) return undefined;
            throw err;
          })
        : undefined,
    cancel: () => {
      ctl.abort(new Error('early verification not needed'));
      return settled;
    },
  };
}

/**
 * Verifies a data-plane credential with the credential itself: SelfSubjectReview (does it
 * authenticate, and as whom?), unless `req.identityProven`, and one SelfSubjectAccessReview per
 * permission flyteadmin needs, all asked at once (one round trip). The answers are judged in that
 * order, whatever order they came in: a 401 on any of them is a rejection, then the identity, then
 * the permissions; a cluster that could not answer one of them fails the verification with that error.
 */
export const verifyWithApiServer: CredentialVerifier = async (req) => {
  // The credential's own requests share the API server's pooled session (no new TLS handshake).
  const http = new KubeHttp(tokenConnection(req.server, req.caPem, req.token));
  const identityReviewed = req.identityProven !== true;
  const [who, may] = await Promise.allSettled([
    identityReviewed ? whoAmI(http, req.cluster, req.server, undefined, req.signal) : Promise.resolve(undefined),
    mayDo(http, req.cluster, req.server, req.checks, undefined, req.signal),
  ]);
  for (const r of [who, may]) if (r.status === 'rejected' && statusOf(r.reason) === 401) throw new CredentialRejectedError(req.cluster, 'the token does not authenticate (HTTP 401)', { unauthenticated: true });
  if (who.status === 'rejected') throw who.reason;
  const username = identityReviewed ? (who.value?.username ?? '') : req.expectedUser;
  if (username !== req.expectedUser)
    throw new CredentialRejectedError(req.cluster, `the token authenticates as "${username}", expected "${req.expectedUser}"`);
  if (may.status === 'rejected') throw may.reason;
  const denied = req.checks
    .filter((_, i) => !may.value[i])
    .map((c) => `${c.verb} ${rbacResource(c)}${c.group ? '.' + c.group : ''}`);
  if (denied.length) throw new CredentialRejectedError(req.cluster, `${username} may not ${denied.join(', ')}`);
  return { username, identityReviewed };
};
