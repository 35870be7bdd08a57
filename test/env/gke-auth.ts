/**
 * A stand-in for Google's side of GKE access, for the local data-plane kube-apiservers:
 *
 *   - **Google's OAuth 2.0 token endpoint**, JWT-bearer grant only (what a service-account key
 *     uses): `POST /token` with the form `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`
 *     `&assertion=<JWT>`. The assertion is checked as Google checks it:
 *       1. three base64url parts (at most 16 KiB); header `alg` RS256 (a `kid`, if given, must be
 *          the key's private_key_id);
 *       2. `iss` a service account this server knows (its key file was made by the test env);
 *          `sub`, if present, equal to `iss` (no domain-wide delegation);
 *       3. `aud` one of the configured audiences: Google's token URL
 *          (https://oauth2.googleapis.com/token, what google-auth-library signs for whatever the
 *          key's token_uri says) or this server's own /token (the key's token_uri, what other
 *          libraries use);
 *       4. `iat` and `exp` integers, `iat` at most 60 s in the future, `exp` in the future,
 *          `exp - iat` at most 3600 s (Google: "a short-lived token (60 minutes)");
 *       5. `scope` a non-empty, space-separated list of https://www.googleapis.com/auth/... scopes;
 *       6. the RS256 signature over `header.payload`, with the public key of that service
 *          account's key.
 *     It answers like Google: `{access_token: "ya29." + 96 random base64url characters,
 *     expires_in, token_type: "Bearer"}`, or HTTP 400 `{error, error_description}`
 *     (`unsupported_grant_type`, `invalid_request`, `invalid_scope`, `invalid_grant`,
 *     `unauthorized_client`). `expires_in` is the service account's `tokenLifetimeSeconds`
 *     (3600 as at Google; the test env also has a service account with very short-lived tokens,
 *     for expiry and renewal tests).
 *   - **GKE's authentication of those access tokens**, as a TokenReview webhook
 *     (authentication.k8s.io/v1): `POST /authenticate-gke/<cluster>`. A token is accepted only if
 *     this server issued it, it has not expired, its scopes include the required one
 *     (cloud-platform) and its service account is mapped (like an IAM binding plus GKE's user
 *     mapping): user `gke:<email>` in the mapped groups. Anything else is `authenticated: false`
 *     with a reason that never contains the token.
 *
 * Issued tokens are kept only as SHA-256 digests, in memory (a restart forgets them, as an
 * emulator does). Every decision is logged as one JSON line on stdout (the test env sends that to
 * logs/gke-auth.log), never with a token, an assertion or a key.
 *
 * Run: node test/env/gke-auth.ts CONFIG.json   (see GkeAuthConfig); GET /healthz answers ok.
 */
import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export const GKE_TOKEN_PREFIX = 'ya29.';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Where google-auth-library posts the assertion and what it signs it for (hard-coded in the library). */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const MAX_ASSERTION_BYTES = 16 * 1024;
const MAX_ASSERTION_LIFETIME_S = 3600;
const MAX_IAT_SKEW_S = 60;

export interface GkeServiceAccount {
  clientEmail: string;
  /** The key's private_key_id (a JWT `kid`, if present, must match). */
  privateKeyId: string;
  /** The key's public half (SPKI PEM). */
  publicKeyPem: string;
  /** `expires_in` of the access tokens issued to it. */
  tokenLifetimeSeconds: number;
}

export interface GkeMapping {
  /** Service account email. */
  email: string;
  username: string;
  groups: string[];
}

export interface GkeAuthConfig {
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Accepted `aud` values of an assertion. */
  audiences: string[];
  serviceAccounts: GkeServiceAccount[];
  /** GKE clusters served, each at POST /authenticate-gke/<name>. */
  clusters: string[];
  /** A token must carry this scope to authenticate to a cluster. */
  requiredScope: string;
  mappings: GkeMapping[];
}

/** A refusal of the token endpoint, in Google's error format; the description is safe to return and log. */
export class GrantRejected extends Error {
  readonly error: string;
  constructor(error: string, description: string) {
    super(description);
    this.error = error;
  }
}
const refuse = (error: string, description: string): never => {
  throw new GrantRejected(error, description);
};

export interface AssertionClaims {
  email: string;
  scopes: string[];
  keyId?: string;
}

function decodePart(part: string, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* below */
  }
  return refuse('invalid_grant', `Invalid JWT: the ${what} is not a base64url JSON object.`);
}

/** Steps 1-6 of the header comment. Throws GrantRejected. */
export function verifyAssertion(assertion: string, cfg: Pick<GkeAuthConfig, 'audiences' | 'serviceAccounts'>, now: Date, keys?: Map<string, KeyObject>): AssertionClaims & { account: GkeServiceAccount } {
  if (Buffer.byteLength(assertion) > MAX_ASSERTION_BYTES) refuse('invalid_grant', `Invalid JWT: longer than ${MAX_ASSERTION_BYTES} bytes.`);
  const parts = assertion.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) refuse('invalid_grant', 'Invalid JWT: not three base64url parts.');
  const [h, p, s] = parts as [string, string, string];
  const header = decodePart(h, 'header');
  const claims = decodePart(p, 'claim set');
  if (header['alg'] !== 'RS256') refuse('invalid_grant', 'Invalid JWT: the algorithm must be RS256.');
  const iss = claims['iss'];
  if (typeof iss !== 'string' || !iss) return refuse('invalid_grant', 'Invalid JWT: no iss (the service account email).');
  const account = cfg.serviceAccounts.find((a) => a.clientEmail === iss);
  if (!account) return refuse('invalid_grant', `Invalid grant: account not found (${iss}).`);
  if (header['kid'] !== undefined && header['kid'] !== account.privateKeyId)
    refuse('invalid_grant', 'Invalid JWT Signature: no key of this service account has that kid.');
  if (claims['sub'] !== undefined && claims['sub'] !== iss)
    refuse('unauthorized_client', 'Client is unauthorized to retrieve access tokens for another subject (no domain-wide delegation here).');
  const aud = claims['aud'];
  if (typeof aud !== 'string' || !cfg.audiences.includes(aud)) refuse('invalid_grant', `Invalid JWT: aud must be one of ${cfg.audiences.join(', ')}.`);
  const iat = claims['iat'];
  const exp = claims['exp'];
  const t = Math.floor(now.getTime() / 1000);
  if (!Number.isInteger(iat) || !Number.isInteger(exp) || (exp as number) <= t || (iat as number) > t + MAX_IAT_SKEW_S || (exp as number) - (iat as number) > MAX_ASSERTION_LIFETIME_S)
    refuse(
      'invalid_grant',
      'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
    );
  const scope = claims['scope'];
  if (typeof scope !== 'string' || !scope.trim()) refuse('invalid_scope', 'Empty or missing scope not allowed.');
  const scopes = (scope as string).trim().split(/\s+/);
  if (scopes.some((x) => !/^https:\/\/www\.googleapis\.com\/auth\/[A-Za-z0-9._/-]+$/.test(x))) refuse('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
  const key = keys?.get(account.clientEmail) ?? createPublicKey(account.publicKeyPem);
  let ok = false;
  try {
    ok = verify('RSA-SHA256', Buffer.from(`${h}.${p}`, 'ascii'), key, Buffer.from(s, 'base64url'));
  } catch {
    /* a malformed signature: not valid */
  }
  if (!ok) refuse('invalid_grant', 'Invalid JWT Signature.');
  return { email: account.clientEmail, scopes, account, ...(typeof header['kid'] === 'string' ? { keyId: header['kid'] } : {}) };
}

export interface TokenReviewStatus {
  authenticated: boolean;
  user?: { username: string; uid: string; groups: string[]; extra: Record<string, string[]> };
  error?: string;
}

interface Issued {
  email: string;
  scopes: string[];
  expiresAt: number;
}

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/** The issued tokens (digests only) and the review of a presented one. */
export class TokenAuthority {
  private readonly issued = new Map<string, Issued>();
  private readonly cfg: GkeAuthConfig;
  private readonly keys: Map<string, KeyObject>;

  constructor(cfg: GkeAuthConfig) {
    this.cfg = cfg;
    this.keys = new Map(cfg.serviceAccounts.map((a) => [a.clientEmail, createPublicKey(a.publicKeyPem)]));
  }

  /** The token endpoint: a form body in, Google's JSON answer out (status 200 or 400). */
  grant(form: URLSearchParams, now: Date): { status: number; body: Record<string, unknown>; log: Record<string, unknown> } {
    try {
      const grantType = form.get('grant_type');
      if (grantType !== JWT_BEARER_GRANT) refuse('unsupported_grant_type', `Invalid grant_type: only ${JWT_BEARER_GRANT} is supported here.`);
      const assertion = form.get('assertion');
      if (!assertion) refuse('invalid_request', 'Missing required parameter: assertion.');
      const c = verifyAssertion(assertion!, this.cfg, now, this.keys);
      const token = GKE_TOKEN_PREFIX + randomBytes(72).toString('base64url');
      const lifetime = c.account.tokenLifetimeSeconds;
      this.prune(now);
      this.issued.set(digest(token), { email: c.email, scopes: c.scopes, expiresAt: now.getTime() + lifetime * 1000 });
      return {
        status: 200,
        body: { access_token: token, expires_in: lifetime, token_type: 'Bearer' },
        log: { event: 'token', issued: true, email: c.email, scopes: c.scopes, expiresIn: lifetime },
      };
    } catch (err) {
      const e = err instanceof GrantRejected ? err : new GrantRejected('server_error', `internal error (${err instanceof Error ? err.name : typeof err})`);
      return { status: e.error === 'server_error' ? 500 : 400, body: { error: e.error, error_description: e.message }, log: { event: 'token', issued: false, error: e.error, reason: e.message } };
    }
  }

  /** GKE's side: whether a bearer token authenticates to `cluster`, and as whom. Never throws. */
  review(cluster: string, token: string, now: Date): { status: TokenReviewStatus; decision: Record<string, unknown> } {
    const decision: Record<string, unknown> = { event: 'review', cluster, authenticated: false };
    const no = (reason: string) => {
      decision['reason'] = reason;
      return { status: { authenticated: false, error: reason }, decision };
    };
    if (!this.cfg.clusters.includes(cluster)) return no(`this token review does not serve a GKE cluster named ${cluster}`);
    if (!token.startsWith(GKE_TOKEN_PREFIX)) return no('not a Google access token (wrong prefix)');
    const t = this.issued.get(digest(token));
    if (!t) return no('the access token is not one this token server issued (unknown, forged or from before a restart)');
    decision['email'] = t.email;
    if (t.expiresAt <= now.getTime()) return no(`the access token expired at ${new Date(t.expiresAt).toISOString()}`);
    if (!t.scopes.includes(this.cfg.requiredScope)) return no(`the access token lacks the scope ${this.cfg.requiredScope}`);
    const m = this.cfg.mappings.find((x) => x.email === t.email);
    if (!m) return no(`service account ${t.email} is not mapped to a Kubernetes identity for cluster ${cluster}`);
    decision['authenticated'] = true;
    decision['username'] = m.username;
    return {
      status: { authenticated: true, user: { username: m.username, uid: t.email, groups: [...m.groups], extra: { 'credsync.local/client-email': [t.email] } } },
      decision,
    };
  }

  private prune(now: Date): void {
    // Keep expired tokens for an hour, so a late use is refused as expired rather than unknown.
    for (const [k, v] of this.issued) if (v.expiresAt < now.getTime() - 3600_000) this.issued.delete(k);
  }
}

export interface GkeAuthServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

type Log = (record: Record<string, unknown>) => void;
const stdoutLog: Log = (r) => process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...r }) + '\n');
const MAX_BODY = 65_536;

function send(res: http.ServerResponse, code: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts the token endpoint and the token review on 127.0.0.1. */
export async function startGkeAuth(cfg: GkeAuthConfig, log: Log = stdoutLog, now: () => Date = () => new Date()): Promise<GkeAuthServer> {
  const authority = new TokenAuthority(cfg);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const review = /^\/authenticate-gke\/([^/]+)$/.exec(path);
    if (req.method !== 'POST' || (path !== '/token' && !review)) {
      send(res, 404, { error: 'POST /token, POST /authenticate-gke/<cluster> or GET /healthz' });
      return;
    }
    void (async () => {
      const body = await readBody(req);
      if (path === '/token') {
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (body === undefined || type !== 'application/x-www-form-urlencoded') {
          log({ event: 'token', issued: false, error: 'invalid_request', reason: 'not a form body (or too large)' });
          send(res, 400, { error: 'invalid_request', error_description: 'expected an application/x-www-form-urlencoded body of at most 64 KiB' });
          return;
        }
        const g = authority.grant(new URLSearchParams(body), now());
        log(g.log);
        send(res, g.status, g.body, { 'cache-control': 'no-store' });
        return;
      }
      const cluster = decodeURIComponent(review![1]!);
      let tr: { apiVersion?: string; kind?: string; spec?: { token?: unknown } };
      try {
        if (body === undefined) throw new Error('too large');
        tr = JSON.parse(body);
      } catch {
        log({ event: 'review', cluster, authenticated: false, reason: 'request is not a TokenReview (bad JSON or too large)' });
        send(res, 400, { error: 'expected a TokenReview (JSON, at most 64 KiB)' });
        return;
      }
      if (tr.kind !== 'TokenReview' || typeof tr.spec?.token !== 'string') {
        log({ event: 'review', cluster, authenticated: false, reason: 'request is not a TokenReview with spec.token' });
        send(res, 400, { error: 'expected a TokenReview with spec.token' });
        return;
      }
      const apiVersion = tr.apiVersion === 'authentication.k8s.io/v1beta1' ? tr.apiVersion : 'authentication.k8s.io/v1';
      const { status, decision } = authority.review(cluster, tr.spec.token, now());
      log(decision);
      send(res, 200, { apiVersion, kind: 'TokenReview', status });
    })().catch((err: unknown) => {
      log({ event: 'error', reason: `internal error (${err instanceof Error ? err.name : typeof err})` });
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
    });
  });
  await new Promise<void>((resolve, rejectP) => server.once('error', rejectP).listen(cfg.port, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node test/env/gke-auth.ts CONFIG.json');
    process.exit(2);
  }
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as GkeAuthConfig;
  const srv = await startGkeAuth(cfg);
  stdoutLog({
    event: 'listening',
    url: srv.url,
    clusters: cfg.clusters,
    audiences: cfg.audiences,
    serviceAccounts: cfg.serviceAccounts.map((a) => ({ email: a.clientEmail, tokenLifetimeSeconds: a.tokenLifetimeSeconds })),
    mappings: cfg.mappings.map((m) => m.email),
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.once(sig, () => {
      stdoutLog({ event: 'stopping', signal: sig });
      void srv.close().then(() => process.exit(0));
    });
}
