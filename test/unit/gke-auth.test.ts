/**
 * The test environment's GKE authentication stand-in (test/env/gke-auth.ts), offline: its token
 * endpoint must accept what google-auth-library sends and refuse what Google would refuse, and its
 * review must accept only tokens it issued and that have not expired, or the integration test that
 * runs a sync through it would prove nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { JWT } from 'google-auth-library';
import {
  CLOUD_PLATFORM_SCOPE,
  GOOGLE_TOKEN_URL,
  JWT_BEARER_GRANT,
  startGkeAuth,
  TokenAuthority,
  type GkeAuthConfig,
  type GkeAuthServer,
} from '../env/gke-auth.ts';
import { startEksWebhook } from '../env/eks-webhook.ts';

const EMAIL = 'credsync@my-project.iam.gserviceaccount.com';
const OTHER = 'unmapped@my-project.iam.gserviceaccount.com';
const keyPair = () => generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const main = keyPair();
const other = keyPair();
const KID = 'a'.repeat(40);
const LOCAL = 'http://127.0.0.1:1/token';
const cfg: GkeAuthConfig = {
  port: 0,
  audiences: [GOOGLE_TOKEN_URL, LOCAL],
  serviceAccounts: [
    { clientEmail: EMAIL, privateKeyId: KID, publicKeyPem: main.publicKey, tokenLifetimeSeconds: 3600 },
    { clientEmail: OTHER, privateKeyId: 'b'.repeat(40), publicKeyPem: other.publicKey, tokenLifetimeSeconds: 60 },
  ],
  clusters: ['prod-dp1'],
  requiredScope: CLOUD_PLATFORM_SCOPE,
  mappings: [{ email: EMAIL, username: `gke:${EMAIL}`, groups: ['flyte-credsync'] }],
};
const now = new Date('2026-11-23T12:00:00Z');
const t = Math.floor(now.getTime() / 1000);

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
function assertion(claims: Record<string, unknown> = {}, header: Record<string, unknown> = { alg: 'RS256', typ: 'JWT' }, key = main.privateKey): string {
  const body = { iss: EMAIL, scope: CLOUD_PLATFORM_SCOPE, aud: GOOGLE_TOKEN_URL, iat: t, exp: t + 3600, ...claims };
  const input = `${b64(header)}.${b64(body)}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`;
}
const form = (a: string, grant = JWT_BEARER_GRANT) => new URLSearchParams({ grant_type: grant, assertion: a });

describe('GKE auth stand-in: token endpoint', () => {
  const ca = new TokenAuthority(cfg);

  it('issues a ya29. access token for a valid assertion (Google audience or its own token_uri)', () => {
    for (const aud of [GOOGLE_TOKEN_URL, LOCAL]) {
      const g = ca.grant(form(assertion({ aud }, { alg: 'RS256', kid: KID })), now);
      expect(g.status).toBe(200);
      expect(g.body).toMatchObject({ expires_in: 3600, token_type: 'Bearer' });
      expect(g.body['access_token']).toMatch(/^ya29\.[A-Za-z0-9_-]{96}$/);
      expect(JSON.stringify(g.log).includes(String(g.body['access_token']))).toBe(false);
    }
  });

  it.each([
    ['a wrong grant type', form(assertion(), 'client_credentials'), 'unsupported_grant_type', /^Invalid grant_type/],
    ['no assertion', new URLSearchParams({ grant_type: JWT_BEARER_GRANT }), 'invalid_request', /assertion/],
    ['a signature by another key', form(assertion({}, undefined, other.privateKey)), 'invalid_grant', /^Invalid JWT Signature\.$/],
    ['a tampered claim set', form((() => { const [h, , s] = assertion().split('.'); return `${h}.${b64({ iss: EMAIL, scope: CLOUD_PLATFORM_SCOPE, aud: GOOGLE_TOKEN_URL, iat: t, exp: t + 3600, extra: 1 })}.${s}`; })()), 'invalid_grant', /^Invalid JWT Signature\.$/],
    ['alg none', form(`${b64({ alg: 'none' })}.${b64({ iss: EMAIL })}.x`), 'invalid_grant', /RS256/],
    ['a kid that is not the key\'s', form(assertion({}, { alg: 'RS256', kid: 'c'.repeat(40) })), 'invalid_grant', /kid/],
    ['an unknown service account', form(assertion({ iss: 'nobody@x.iam.gserviceaccount.com' })), 'invalid_grant', /account not found/],
    ['another subject (domain-wide delegation)', form(assertion({ sub: 'someone@example.com' })), 'unauthorized_client', /another subject/],
    ['another audience', form(assertion({ aud: 'https://evil.example/token' })), 'invalid_grant', /aud must be one of/],
    ['an expired assertion', form(assertion({ iat: t - 7200, exp: t - 3600 })), 'invalid_grant', /short-lived token \(60 minutes\)/],
    ['an assertion living longer than an hour', form(assertion({ exp: t + 7200 })), 'invalid_grant', /short-lived token/],
    ['an assertion issued in the future', form(assertion({ iat: t + 600, exp: t + 1200 })), 'invalid_grant', /short-lived token/],
    ['no scope', form(assertion({ scope: '' })), 'invalid_scope', /Empty or missing scope/],
    ['a scope that is not a Google scope', form(assertion({ scope: 'openid' })), 'invalid_scope', /Invalid OAuth scope/],
    ['garbage', form('not.a.jwt'), 'invalid_grant', /Invalid JWT/],
  ])('refuses %s', (_what, f, error, description) => {
    const g = ca.grant(f, now);
    expect(g.status).toBe(400);
    expect(g.body['error']).toBe(error);
    expect(g.body['error_description']).toMatch(description);
    expect(g.body['access_token']).toBeUndefined();
  });
});

describe('GKE auth stand-in: token review', () => {
  const ca = new TokenAuthority(cfg);
  const issue = (claims: Record<string, unknown> = {}, key = main.privateKey, at = now) => String(ca.grant(form(assertion(claims, undefined, key)), at).body['access_token']);

  it('accepts a token it issued until it expires, as the mapped user', () => {
    const token = issue();
    expect(ca.review('prod-dp1', token, now).status).toEqual({
      authenticated: true,
      user: { username: `gke:${EMAIL}`, uid: EMAIL, groups: ['flyte-credsync'], extra: { 'credsync.local/client-email': [EMAIL] } },
    });
    expect(ca.review('prod-dp1', token, new Date(now.getTime() + 3599_000)).status.authenticated).toBe(true);
    const late = ca.review('prod-dp1', token, new Date(now.getTime() + 3600_000));
    expect(late.status).toEqual({ authenticated: false, error: 'the access token expired at 2026-11-23T13:00:00.000Z' });
  });

  it('refuses what it did not issue, other clusters, tokens without the scope, and unmapped accounts; never echoes a token', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['prod-dp1', `ya29.${randomBytes(72).toString('base64url')}`, /not one this token server issued/],
      ['prod-dp1', `k8s-aws-v1.${randomBytes(40).toString('base64url')}`, /wrong prefix/],
      ['prod-dp2', issue(), /does not serve a GKE cluster named prod-dp2/],
      ['prod-dp1', issue({ scope: 'https://www.googleapis.com/auth/userinfo.email' }), /lacks the scope/],
      ['prod-dp1', issue({ iss: OTHER }, other.privateKey), /unmapped@my-project.iam.gserviceaccount.com is not mapped/],
    ];
    for (const [cluster, token, reason] of cases) {
      const { status, decision } = ca.review(cluster, token, now);
      expect(status.authenticated).toBe(false);
      expect(status.error).toMatch(reason);
      expect(JSON.stringify({ status, decision }).includes(token.slice(5))).toBe(false);
    }
  });
});

describe('GKE auth stand-in over HTTP, with google-auth-library', () => {
  let srv: GkeAuthServer;
  const logged: Record<string, unknown>[] = [];
  beforeAll(async () => {
    srv = await startGkeAuth(cfg, (r) => logged.push(r));
  });
  afterAll(async () => {
    await srv.close();
  });

  it("verifies the library's own assertion and the library takes the answer; a review over HTTP accepts the token", async () => {
    const jwt = new JWT({ email: EMAIL, key: main.privateKey, keyId: KID, scopes: [CLOUD_PLATFORM_SCOPE] });
    jwt.transporter.interceptors.request.add({ resolved: async (o) => ((o.url = new URL(`${srv.url}/token`)), o) });
    const { token } = await jwt.getAccessToken();
    expect(token).toMatch(/^ya29\./);
    expect(jwt.credentials.expiry_date! - Date.now()).toBeGreaterThan(3500_000);
    const res = await fetch(`${srv.url}/authenticate-gke/prod-dp1`, {
      method: 'POST',
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
    });
    expect(((await res.json()) as { status: { user: { username: string } } }).status.user.username).toBe(`gke:${EMAIL}`);
    expect(JSON.stringify(logged).includes(token!.slice(5))).toBe(false);
    const notForm = await fetch(`${srv.url}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(notForm.status).toBe(400);
  });

  it('the EKS webhook (the API servers\' one webhook URL) passes ya29. tokens to this review, and refuses when it is unreachable', async () => {
    const jwt = new JWT({ email: EMAIL, key: main.privateKey, scopes: [CLOUD_PLATFORM_SCOPE] });
    jwt.transporter.interceptors.request.add({ resolved: async (o) => ((o.url = new URL(`${srv.url}/token`)), o) });
    const { token } = await jwt.getAccessToken();
    const hookLog: Record<string, unknown>[] = [];
    const base = { port: 0, stsEndpoint: 'http://unused', clusters: ['prod-dp1'], keyStore: '/unused', mappings: [] };
    const ask = async (url: string) => {
      const res = await fetch(`${url}/authenticate/prod-dp1`, { method: 'POST', body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }) });
      return ((await res.json()) as { status: { authenticated: boolean; error?: string; user?: { username: string } } }).status;
    };
    const hook = await startEksWebhook({ ...base, gkeReview: srv.url }, (r) => hookLog.push(r));
    // A port where nothing listens: bind one, then close it.
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const down = await startEksWebhook({ ...base, gkeReview: `http://127.0.0.1:${closed}` }, (r) => hookLog.push(r));
    try {
      expect((await ask(hook.url)).user?.username).toBe(`gke:${EMAIL}`);
      expect(await ask(down.url)).toEqual({ authenticated: false, error: 'the GKE token review is unreachable (ECONNREFUSED)' });
      expect(hookLog.map((r) => [r['via'], r['authenticated']])).toEqual([['gke-auth', true], ['gke-auth', false]]);
      expect(JSON.stringify(hookLog).includes(token!.slice(5))).toBe(false);
    } finally {
      await hook.close();
      await down.close();
    }
  });
});
