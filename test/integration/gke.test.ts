/**
 * GKE access for real, against the local environment: the bearer token is an access token that
 * google-auth-library (GoogleAuth with a service-account key file, as application default
 * credentials would load it) gets from the env's Google token-endpoint stand-in with a signed
 * JWT-bearer assertion; each data-plane kube-apiserver authenticates it through its TokenReview
 * webhook, which passes `ya29.` tokens to the GKE stand-in's review (test/env/gke-auth.ts): only
 * tokens it issued, unexpired, with the cloud-platform scope, mapped to `gke:<email>` in the group
 * that deploy/dataplane-rbac.yaml binds.
 *
 * TEST-ONLY ADJUSTMENTS (there is no GKE emulator, and Google's token URL is not this machine):
 *   - The GKE cluster API handed to connect() (AccessEnv.gkeClusters) is a stand-in getCluster that
 *     answers what GKE answers for a RUNNING cluster: `endpoint` without a scheme (here
 *     `127.0.0.1:PORT` of the local API server, where GKE gives an IP on 443) and
 *     `masterAuth.clusterCaCertificate` as base64 PEM. describeGkeCluster and everything after it
 *     in lib/ is untouched.
 *   - google-auth-library 10 ignores the key file's `token_uri`: it always signs the assertion for,
 *     and posts it to, https://oauth2.googleapis.com/token (asserted below). One request
 *     interceptor on the auth client's own gaxios transporter (the library's extension point)
 *     sends exactly that URL to the key's token_uri (the local stand-in) instead; the request, the
 *     assertion, the token and its caching and renewal are the library's own.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { GoogleAuth } from 'google-auth-library';
import { parse } from 'yaml';
import { connect, toPem, type AccessEnv } from '../../lib/clusters/access.ts';
import { CLOUD_PLATFORM_SCOPE, gkeClusterPath, type GkeClusterApi } from '../../lib/clusters/gke.ts';
import type { GkeClusterLister } from '../../lib/discovery/gke.ts';
import { resolveDataPlanes } from '../../lib/discovery/resolve.ts';
import { KubeDataPlane } from '../../lib/kube/client.ts';
import { runSync } from '../../lib/sync/sync.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { lineLog } from '../../lib/util/log.ts';
import type { Config } from '../../lib/config/schema.ts';
import type { TokenReviewStatus } from '../env/gke-auth.ts';
import {
  applyManifest,
  awsClient,
  core,
  deleteTokenSecret,
  envConfig,
  filledTokenSecret,
  loadTestEnv,
  resetControlPlane,
  uniquePrefix,
  type EnvInfo,
  apiCode,
  whoAmI,
  tokenKubeConfig,
} from './helpers.ts';

let env: EnvInfo;
const logs: string[] = [];
const log = lineLog({ verbose: true, write: (l) => logs.push(l) });
/** Every access token this file saw: none may show up in any log. */
const seenTokens: string[] = [];
const PREFIX = 'ya29.';

const gkeName = (dp: string) => env.gke.clusterNames[dp]!;
const caPem = (dp: string) => toPem(env.clusters[dp]!.caData);

interface LocalAuth {
  auth: GoogleAuth;
  /** The URLs google-auth-library sent token requests to (before the redirect). */
  tokenRequests: string[];
}

/** google-auth-library from a key file, plus the test-only redirect described at the top. */
async function googleAuth(keyFile: string): Promise<LocalAuth> {
  const key = JSON.parse(readFileSync(keyFile, 'utf8')) as { token_uri: string };
  const auth = new GoogleAuth({ keyFile, scopes: [CLOUD_PLATFORM_SCOPE] });
  const client = await auth.getClient();
  const tokenRequests: string[] = [];
  client.transporter.interceptors.request.add({
    resolved: async (opts) => {
      const url = String(opts.url);
      tokenRequests.push(url);
      if (url === env.gke.googleTokenUrl) opts.url = new URL(key.token_uri);
      return opts;
    },
  });
  return { auth, tokenRequests };
}

async function accessToken(a: LocalAuth): Promise<string> {
  const t = await a.auth.getAccessToken();
  if (!t) throw new Error('google-auth-library returned no access token');
  seenTokens.push(t);
  return t;
}

/**
 * The test-only GKE cluster API (see the top): a RUNNING cluster per data plane, at its local API
 * server; any other name is NOT_FOUND as GKE's gRPC API answers it.
 */
function localGkeClusters(calls: string[]): GkeClusterApi {
  const byPath = new Map(env.dataPlanes.map((dp) => [gkeClusterPath(env.gke.project, env.gke.location, gkeName(dp)), dp]));
  return {
    getCluster: (async (req: { name: string }) => {
      calls.push(req.name);
      const dp = byPath.get(req.name);
      if (!dp) throw Object.assign(new Error(`5 NOT_FOUND: Not found: ${req.name}.`), { code: 5 });
      const c = env.clusters[dp]!;
      return [{ name: gkeName(dp), status: 'RUNNING', endpoint: new URL(c.server).host, masterAuth: { clusterCaCertificate: c.caData } }, undefined, undefined];
    }) as unknown as GkeClusterApi['getCluster'],
  };
}

/** The wiring the sync uses, with data planes reached through connect()'s GKE path. */
function gkeDeps(cfg: Config, a: LocalAuth, calls: string[]) {
  const deps = buildDeps(cfg, log, { secretsManager: awsClient(env) });
  const io: AccessEnv = {
    env: process.env,
    readFile: (p) => readFile(p, 'utf8'),
    gkeClusters: async () => localGkeClusters(calls),
    googleAuth: async () => a.auth,
  };
  deps.dataPlane = async (dp) => new KubeDataPlane(dp.id, await connect(`data plane ${dp.id}`, dp.access, io));
  return deps;
}

const gkeDataPlanes = (ids: string[]) =>
  ids.map((id, i) => ({
    id,
    access: { type: 'gke', project: env.gke.project, location: env.gke.location, clusterName: gkeName(id) },
    labels: i === 0 ? { team1: 1 } : { team1: 0.5 },
  }));

/** A TokenReview asked directly: of the API servers' webhook (`via: 'webhook'`) or of the GKE stand-in itself. */
async function review(dp: string, token: string, via: 'webhook' | 'gke-auth'): Promise<TokenReviewStatus> {
  const url = via === 'webhook' ? `${env.eks.webhook}/authenticate/${env.eks.clusterNames[dp]}` : `${env.gke.server}/authenticate-gke/${gkeName(dp)}`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { apiVersion: string; kind: string; status: TokenReviewStatus };
  expect([body.apiVersion, body.kind]).toEqual(['authentication.k8s.io/v1', 'TokenReview']);
  return body.status;
}

/** Waits for a condition (polling every 100 ms), never a fixed time; fails after `boundMs`. */
async function waitFor(what: string, ok: () => boolean, boundMs = 60_000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** When the token the library holds expires (epoch ms, as the library computed it on receipt). */
async function expiryOf(a: LocalAuth): Promise<number> {
  const expiry = (await a.auth.getClient()).credentials.expiry_date;
  if (typeof expiry !== 'number') throw new Error('google-auth-library holds no token expiry');
  return expiry;
}

/**
 * A short-lived token reviewed while it was still valid: a busy machine may take longer than the
 * token's 3 s life between getting and reviewing it, so a review that ended within a second of the
 * expiry does not count and is done again with a new token (at most 5 times).
 */
async function reviewedWhileValid(a: LocalAuth, dp: string): Promise<{ token: string; status: TokenReviewStatus; expiry: number }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const token = await accessToken(a);
    const expiry = await expiryOf(a);
    const status = await review(dp, token, 'gke-auth');
    if (Date.now() < expiry - 1_000) return { token, status, expiry };
  }
  throw new Error('no short-lived token could be reviewed within its lifetime in 5 attempts');
}

beforeAll(async () => {
  env = loadTestEnv();
  // The sync's rights on each data plane, bound to the group the GKE review maps the identity into.
  for (const dp of env.dataPlanes) await applyManifest(env, dp, 'deploy/dataplane-rbac.yaml');
});

beforeEach(async () => {
  await resetControlPlane(env);
});

afterAll(() => {
  // No access token, assertion or key in anything the sync logged, nor in the stand-ins' logs.
  expect(seenTokens.length).toBeGreaterThan(0);
  for (const [name, text] of [
    ['sync log', logs.join('\n')],
    ['gke-auth log', readFileSync(env.gke.logFile, 'utf8')],
    ['eks-webhook log', readFileSync(env.eks.logFile, 'utf8')],
  ] as const) {
    expect([name, text.includes(PREFIX)]).toEqual([name, false]);
    expect([name, seenTokens.some((t) => text.includes(t.slice(PREFIX.length)))]).toEqual([name, false]);
    expect([name, /PRIVATE KEY|eyJhbGciOi/.test(text)]).toEqual([name, false]);
  }
  expect(logs.join('\n')).not.toContain('BEGIN CERTIFICATE');
});

describe('GKE access: google-auth-library tokens, reviewed as GKE would', () => {
  it('the env writes a standard service-account key; google-auth-library loads it but posts to Google\'s URL, not token_uri', async () => {
    const key = JSON.parse(readFileSync(env.gke.keyFile, 'utf8')) as Record<string, string>;
    expect(Object.keys(key).sort()).toEqual(
      ['auth_provider_x509_cert_url', 'auth_uri', 'client_email', 'client_id', 'client_x509_cert_url', 'private_key', 'private_key_id', 'project_id', 'token_uri', 'type', 'universe_domain'].sort(),
    );
    expect([key['type'], key['project_id'], key['client_email'], key['token_uri']]).toEqual(['service_account', env.gke.project, env.gke.clientEmail, env.gke.tokenEndpoint]);
    expect(key['private_key']!.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    expect(key['private_key_id']).toMatch(/^[0-9a-f]{40}$/);

    const a = await googleAuth(env.gke.keyFile);
    expect((await a.auth.getCredentials()).client_email).toBe(env.gke.clientEmail);
    expect(await a.auth.getProjectId()).toBe(env.gke.project);
    const token = await accessToken(a);
    expect(token.startsWith(PREFIX)).toBe(true);
    // The library's own request went to Google's token URL: token_uri is not used (hence the redirect).
    expect(a.tokenRequests).toEqual([env.gke.googleTokenUrl]);
  });

  it('a whole sync reaches every data plane as the mapped GKE identity, with exactly deploy/dataplane-rbac.yaml rights', async () => {
    // Prepare: the last data plane has no token Secret, so the sync's create right is used too.
    const last = env.dataPlanes.at(-1)!;
    await deleteTokenSecret(env, last);
    const cfg = envConfig(env, uniquePrefix('gke'), {}, gkeDataPlanes(env.dataPlanes));
    const a = await googleAuth(env.gke.keyFile);
    const calls: string[] = [];
    const deps = gkeDeps(cfg, a, calls);
    // Act
    const r = await runSync(deps);
    // Assess: every data plane synced through getCluster + the access token.
    expect(r.clusters.map((c) => [c.id, c.status, c.reason])).toEqual(env.dataPlanes.map((id) => [id, 'updated', undefined]));
    expect(r.ok).toBe(true);
    expect(r.clusters.find((c) => c.id === last)!.tokenSecretCreated).toBe(true);
    expect([...calls].sort()).toEqual(env.dataPlanes.map((dp) => gkeClusterPath(env.gke.project, env.gke.location, gkeName(dp))).sort());
    // One token for all three clusters: google-auth-library cached it.
    expect(a.tokenRequests).toEqual([env.gke.googleTokenUrl]);
    const secret = await core(env, env.controlPlane).readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' });
    for (const id of env.dataPlanes) {
      const { token, ca } = await filledTokenSecret(env, id);
      const stored = Buffer.from(secret.data![`${id}_token`]!, 'base64').toString();
      expect(stored === token).toBe(true); // the data plane's flyteadmin token, compared without printing it
      expect(Buffer.from(secret.data![`${id}_cacert`]!, 'base64').toString() === ca).toBe(true);
    }
    const doc = parse((await core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' })).data!['clusters.yaml']!);
    expect(doc.clusters.clusterConfigs.map((e: { name: string; endpoint: string }) => [e.name, e.endpoint])).toEqual(
      env.dataPlanes.map((id) => [id, env.clusters[id]!.server]),
    );

    // Whom the API servers saw: the mapped identity, in the group the manifest binds.
    const token = await accessToken(a);
    for (const id of env.dataPlanes) {
      const { user, code } = await whoAmI(env, id, token);
      expect(code).toBeUndefined();
      expect(user!.username).toBe(env.gke.username);
      expect(user!.username).toBe(`gke:${env.gke.clientEmail}`);
      expect(user!.groups).toEqual(expect.arrayContaining([env.gke.group, 'system:authenticated']));
      // ... and RBAC governs it: nothing beyond the manifest's rights.
      const api = tokenKubeConfig(env.clusters[id]!.server, caPem(id), token).makeApiClient(CoreV1Api);
      expect(await apiCode(api.readNamespacedSecret({ name: 'flyteadmin-token', namespace: 'flyte' }))).toBeUndefined();
      expect(await apiCode(api.readNamespacedSecret({ name: 'some-other-secret', namespace: 'flyte' }))).toBe(403);
      expect(await apiCode(api.listNamespacedSecret({ namespace: 'flyte' }))).toBe(403);
      expect(await apiCode(api.readNamespace({ name: 'flyte' }))).toBe(403);
    }
    const decisions = readFileSync(env.gke.logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event?: string; cluster?: string; authenticated?: boolean; email?: string });
    for (const id of env.dataPlanes)
      expect(decisions.some((d) => d.event === 'review' && d.cluster === gkeName(id) && d.authenticated === true && d.email === env.gke.clientEmail)).toBe(true);

    // Act again: the same credentials, nothing to write.
    const again = await runSync(deps);
    expect(again.ok).toBe(true);
    expect(again.clusters.every((c) => c.status === 'unchanged' && c.store === 'unchanged')).toBe(true);
    expect(again.controlPlane!.restarted).toEqual([]);
    expect(JSON.stringify([r, again]).includes(PREFIX)).toBe(false);
  });

  describe('tokens the API server refuses (401), and the review says why', () => {
    const dp = 'dp1';
    const refused = async (token: string, reason: RegExp) => {
      expect((await whoAmI(env, dp, token)).code).toBe(401);
      for (const via of ['webhook', 'gke-auth'] as const) {
        const status = await review(dp, token, via);
        expect(status.authenticated).toBe(false);
        expect(status.user).toBeUndefined();
        expect(status.error).toMatch(reason);
        expect(status.error!.includes(token.slice(PREFIX.length))).toBe(false);
      }
    };

    it('control: a token google-auth-library got is accepted', async () => {
      const t = await accessToken(await googleAuth(env.gke.keyFile));
      expect((await whoAmI(env, dp, t)).user?.username).toBe(env.gke.username);
    });

    it('a random ya29. token (never issued)', async () => {
      const forged = PREFIX + randomBytes(72).toString('base64url');
      seenTokens.push(forged);
      await refused(forged, /^the access token is not one this token server issued/);
    });

    it('an issued token after it expired', async () => {
      // The short-lived service account's tokens live GKE_SHORT_TOKEN_SECONDS (3 s). Asked of the
      // stand-in directly first, so the API server's 10 s authentication cache never holds it.
      const a = await googleAuth(env.gke.shortLived.keyFile);
      const { token, status: fresh, expiry } = await reviewedWhileValid(a, dp);
      expect(fresh.authenticated).toBe(true);
      expect(fresh.user?.username).toBe(env.gke.shortLived.username);
      // Wait for the token's own expiry (a condition on the clock, with a second of slack).
      await waitFor('the short-lived token to expire', () => Date.now() > expiry + 1_000);
      await refused(token, /^the access token expired at \d{4}-\d\d-\d\dT/);
    });

    it('an assertion the token endpoint refuses never yields a token (wrong signature key)', async () => {
      // The short-lived account's key, claiming to be the main account: Google's "Invalid JWT Signature."
      const shortKey = JSON.parse(readFileSync(env.gke.shortLived.keyFile, 'utf8')) as { private_key: string };
      const { JWT } = await import('google-auth-library');
      const jwt = new JWT({ email: env.gke.clientEmail, key: shortKey.private_key, scopes: [CLOUD_PLATFORM_SCOPE] });
      jwt.transporter.interceptors.request.add({ resolved: async (o) => ((o.url = new URL(env.gke.tokenEndpoint)), o) });
      await expect(jwt.getAccessToken()).rejects.toThrow('invalid_grant: Invalid JWT Signature.');
    });
  });

  it('google-auth-library renews a token that is within its refresh window; a fresh one is reused', async () => {
    // Main account: 3600 s tokens, outside the library's 5-minute eager-refresh window: one request.
    const main = await googleAuth(env.gke.keyFile);
    const m1 = await accessToken(main);
    const m2 = await accessToken(main);
    expect(m1 === m2).toBe(true);
    expect(main.tokenRequests).toHaveLength(1);

    // Short-lived account: its tokens expire within the window, so every use renews it, while the
    // previous token is still valid (the renewal is early, not after expiry).
    const short = await googleAuth(env.gke.shortLived.keyFile);
    const s1 = await accessToken(short);
    const s2 = await accessToken(short);
    expect(s1 === s2).toBe(false);
    expect(short.tokenRequests).toEqual([env.gke.googleTokenUrl, env.gke.googleTokenUrl]);
    // A renewed token authenticates (reviewed within its 3 s life, however busy the machine).
    const renewed = await reviewedWhileValid(short, 'dp1');
    expect(renewed.status.authenticated).toBe(true);
    const requestsBefore = short.tokenRequests.length;

    // Through connect(): each connection gets the library's current token, and the API server takes it.
    const calls: string[] = [];
    const io: AccessEnv = { env: {}, readFile: async () => '', gkeClusters: async () => localGkeClusters(calls), googleAuth: async () => short.auth };
    const access = { type: 'gke' as const, project: env.gke.project, location: env.gke.location, clusterName: gkeName('dp2') };
    const c1 = await connect('data plane dp2', access, io);
    const c2 = await connect('data plane dp2', access, io);
    const t1 = ('token' in c1 ? c1.token : '');
    const t2 = ('token' in c2 ? c2.token : '');
    seenTokens.push(t1, t2);
    expect(t1 === t2).toBe(false);
    expect(c2.server).toBe(env.clusters['dp2']!.server);
    expect((await whoAmI(env, 'dp2', t2)).user?.username).toBe(env.gke.shortLived.username);
    expect(short.tokenRequests.length - requestsBefore).toBe(2); // one renewal per connection
  });

  it('GKE discovery end to end: labelled clusters become data planes with gke access and sync; a malformed one is skipped', async () => {
    // TEST-ONLY: listClusters answers GKE's ListClustersResponse for the local data planes (no emulator).
    const selector = { 'flyte-credsync-data-plane': randomBytes(3).toString('hex') };
    const [dp1, dp2, dp3] = env.dataPlanes as [string, string, string];
    const listed = [
      { name: gkeName(dp1), resourceLabels: { ...selector, 'flyte-credsync-id': dp1, 'flyte-credsync-label-team1': '100', 'flyte-credsync-label-gpu': '50' } },
      { name: gkeName(dp2), resourceLabels: { ...selector, 'flyte-credsync-id': dp2, 'flyte-credsync-label-team1': '25' } },
      { name: gkeName(dp3), resourceLabels: { ...selector, 'flyte-credsync-id': dp3, 'flyte-credsync-enabled': 'false' } },
      { name: 'credsync-broken', resourceLabels: { ...selector, 'flyte-credsync-label-team1': 'all' } },
      { name: 'someone-elses', resourceLabels: { 'flyte-credsync-data-plane': 'other' } },
    ].map((c) => ({ ...c, location: env.gke.location, status: 'RUNNING' }));
    const parents: string[] = [];
    const lister: GkeClusterLister = {
      listClusters: (async (req: { parent: string }) => {
        parents.push(req.parent);
        return [{ clusters: listed, missingZones: [] }, undefined, undefined];
      }) as unknown as GkeClusterLister['listClusters'],
    };
    const written = envConfig(env, uniquePrefix('gke-discovery'), { dataPlanes: [], discovery: { gke: { projects: [env.gke.project], labels: selector } } }, []);
    const { config, discovery } = await resolveDataPlanes(written, { gkeClusters: async () => lister });
    expect(parents).toEqual([`projects/${env.gke.project}/locations/-`]);
    expect(config.dataPlanes.map((d) => [d.id, d.access, d.labels, d.enabled])).toEqual([
      [dp1, { type: 'gke', project: env.gke.project, location: env.gke.location, clusterName: gkeName(dp1) }, { team1: 1, gpu: 0.5 }, true],
      [dp2, { type: 'gke', project: env.gke.project, location: env.gke.location, clusterName: gkeName(dp2) }, { team1: 0.25 }, true],
      [dp3, { type: 'gke', project: env.gke.project, location: env.gke.location, clusterName: gkeName(dp3) }, {}, false],
    ]);
    expect(discovery).toEqual({
      added: [dp1, dp2, dp3],
      skipped: [{ source: `gke:${env.gke.project}/${env.gke.location}/credsync-broken`, reason: 'label flyte-credsync-label-team1: "all" is not a weight in percent (an integer 0 to 100)' }],
    });

    const r = await runSync(gkeDeps(config, await googleAuth(env.gke.keyFile), []), { discovery: discovery! });
    expect(r.ok).toBe(true);
    expect(r.clusters.map((c) => [c.id, c.status])).toEqual([[dp1, 'updated'], [dp2, 'updated'], [dp3, 'updated']]);
    expect(r.discovery!.skipped).toHaveLength(1);
    const doc = parse((await core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' })).data!['clusters.yaml']!);
    expect(doc.clusters.labelClusterMap).toEqual({ team1: [{ id: dp1, weight: 1 }, { id: dp2, weight: 0.25 }], gpu: [{ id: dp1, weight: 0.5 }] });
    expect(doc.clusters.clusterConfigs.map((e: { name: string; enabled: boolean }) => [e.name, e.enabled])).toEqual([[dp1, true], [dp2, true], [dp3, false]]);
  });

  it('a cluster that is not RUNNING, and one GKE does not know, fail with a clear reason; the others sync', async () => {
    const [dp1, dp2, dp3] = env.dataPlanes as [string, string, string];
    const cfg = envConfig(env, uniquePrefix('gke-notrunning'), {}, [
      ...gkeDataPlanes([dp1, dp2, dp3]),
      { id: 'missing', access: { type: 'gke', project: env.gke.project, location: env.gke.location, clusterName: 'credsync-missing' }, labels: { team1: 1 } },
    ]);
    const a = await googleAuth(env.gke.keyFile);
    const deps = gkeDeps(cfg, a, []);
    const base = localGkeClusters([]);
    const io: AccessEnv = {
      env: {},
      readFile: async () => '',
      googleAuth: async () => a.auth,
      gkeClusters: async () => ({
        getCluster: (async (req: { name: string }) => {
          const [c] = await (base.getCluster as unknown as (r: { name: string }) => Promise<[Record<string, unknown>]>)(req);
          return [req.name.endsWith(`/${gkeName(dp2)}`) ? { ...c, status: 'PROVISIONING' } : c, undefined, undefined];
        }) as unknown as GkeClusterApi['getCluster'],
      }),
    };
    deps.dataPlane = async (dp) => new KubeDataPlane(dp.id, await connect(`data plane ${dp.id}`, dp.access, io));
    const r = await runSync(deps);
    expect(r.ok).toBe(false);
    const path = (name: string) => gkeClusterPath(env.gke.project, env.gke.location, name);
    expect(r.clusters.find((c) => c.id === dp2)).toMatchObject({
      status: 'failed',
      code: 'CLUSTER_NOT_READY',
      reason: `data plane ${dp2}: GKE cluster ${path(gkeName(dp2))} is not RUNNING yet (status PROVISIONING)`,
      lastGoodKept: false,
    });
    expect(r.clusters.find((c) => c.id === 'missing')).toMatchObject({
      status: 'failed',
      code: 'CONFIG_INVALID',
      reason: `data plane missing: GKE has no cluster ${path('credsync-missing')}: 5 NOT_FOUND: Not found: ${path('credsync-missing')}.`,
    });
    expect(r.clusters.filter((c) => c.status === 'updated').map((c) => c.id)).toEqual([dp1, dp3]);
  });
});
