/**
 * Verification against the local environment's real kube-apiservers (token controller, RBAC,
 * ServiceAccount token authentication), counting the review requests the sync really sends:
 * a no-op run asks no SelfSubjectReview (the store's record proves the identity of the same token),
 * while every run still asks the access reviews, which also catch a token that stopped
 * authenticating. Each test works in a namespace of its own on one data plane.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import http2 from 'node:http2';
import { loopbackCert } from '../tls.ts';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import { runSync, type SyncReport } from '../../lib/sync/sync.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { lineLog } from '../../lib/util/log.ts';
import { requestsSent } from '../../lib/kube/http2.ts';
import { FLYTEADMIN_CHECKS, verifyWithApiServer } from '../../lib/dataplane/verify.ts';
import type { Config } from '../../lib/config/schema.ts';
import { FLYTEADMIN_CLUSTER_ROLE } from '../env/seed.ts';
import { adminKubeConfig, awsClient, clusterCaPem, core, envConfig, exportAwsEnv, loadTestEnv, resetControlPlane, secretsIn, uniquePrefix, whoAmI, writableState, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
let dp: string;
const logs: string[] = [];
const log = lineLog({ verbose: true, write: (l) => logs.push(l) });
/** Every token these tests handled, to prove none reached a log or report. */
const tokens: string[] = [];
/** What the tests created on the data plane, removed at the end. */
const created: Array<{ namespace: string; binding: string }> = [];

const SSR = 'POST selfsubjectreviews';
const SSAR = 'POST selfsubjectaccessreviews';

beforeAll(() => {
  env = loadTestEnv();
  exportAwsEnv(env);
  dp = env.dataPlanes[0]!;
});
beforeEach(async () => {
  await resetControlPlane(env);
});
afterAll(async () => {
  const text = logs.join('\n');
  expect(secretsIn(text)).toEqual([]);
  expect(tokens.filter((t) => text.includes(t))).toEqual([]);
  for (const { namespace, binding } of created) {
    await rbac().deleteClusterRoleBinding({ name: binding }).catch(() => undefined);
    await core(env, dp).deleteNamespace({ name: namespace }).catch(() => undefined);
  }
});

const rbac = () => adminKubeConfig(env, dp).makeApiClient(RbacAuthorizationV1Api);

/** Until `cond` holds (bounded: 60 s), polling. */
async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (const t0 = Date.now(); Date.now() - t0 < 60_000; ) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** A namespace with a ServiceAccount bound to flyteadmin's ClusterRole, as a data plane's flyteadmin. */
async function flyteadminIn(): Promise<{ namespace: string; binding: string }> {
  const namespace = `calls-${randomBytes(4).toString('hex')}`;
  const binding = `${namespace}-flyteadmin`;
  created.push({ namespace, binding });
  await core(env, dp).createNamespace({ body: { metadata: { name: namespace } } });
  await core(env, dp).createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'flyteadmin' } } });
  await rbac().createClusterRoleBinding({
    body: {
      metadata: { name: binding },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: FLYTEADMIN_CLUSTER_ROLE },
      subjects: [{ kind: 'ServiceAccount', name: 'flyteadmin', namespace }],
    },
  });
  return { namespace, binding };
}

function configFor(namespace: string, prefix: string, over: Record<string, unknown> = {}): Config {
  return envConfig(env, prefix, {}, [{ id: dp, access: { type: 'kubeconfig', context: dp, path: env.kubeconfig }, labels: { team1: 1 }, namespace, ...over }]);
}

/** One sync, and the review requests it sent. */
async function counted(cfg: Config): Promise<{ report: SyncReport; ssr: number; ssar: number }> {
  const before = requestsSent();
  const report = await runSync(buildDeps(cfg, log, { secretsManager: awsClient(env) }));
  const after = requestsSent();
  const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  return { report, ssr: delta(SSR), ssar: delta(SSAR) };
}

async function tokenOf(namespace: string, name = 'flyteadmin-token'): Promise<{ token: string; ca: string }> {
  let out: { token: string; ca: string } | undefined;
  await until(`${namespace}/${name} is filled`, async () => {
    const s = await core(env, dp).readNamespacedSecret({ name, namespace }).catch(() => undefined);
    if (s?.data?.['token'] && s.data['ca.crt']) out = { token: Buffer.from(s.data['token'], 'base64').toString(), ca: Buffer.from(s.data['ca.crt'], 'base64').toString() };
    return out !== undefined;
  });
  tokens.push(out!.token);
  return out!;
}

const versions = async (name: string) => (await awsClient(env).send(new ListSecretVersionIdsCommand({ SecretId: name }))).Versions?.length ?? 0;

describe('verification: review requests per run (real API servers)', () => {
  it('first run reviews the identity; a no-op re-run asks only the two access reviews and writes nothing', async () => {
    const { namespace } = await flyteadminIn();
    const prefix = uniquePrefix('calls-noop');
    const cfg = configFor(namespace, prefix);
    const first = await counted(cfg);
    expect(first.report.ok).toBe(true);
    expect(first.report.clusters[0]).toMatchObject({ status: 'updated', identity: `system:serviceaccount:${namespace}:flyteadmin`, identityReviewed: true });
    expect([first.ssr, first.ssar]).toEqual([1, 2]);
    const v = await versions(`${prefix}${dp}`);
    const before = await writableState(env, prefix);

    const again = await counted(cfg);
    expect(again.report.ok).toBe(true);
    expect(again.report.clusters[0]).toMatchObject({ status: 'unchanged', store: 'unchanged', identity: `system:serviceaccount:${namespace}:flyteadmin`, identityReviewed: false });
    expect([again.ssr, again.ssar]).toEqual([0, 2]);
    expect(again.report.controlPlane?.applied).toBe(false);
    expect(await versions(`${prefix}${dp}`)).toBe(v);
    expect(await writableState(env, prefix)).toEqual(before);
    await tokenOf(namespace);
  });

  it('a changed token (new ServiceAccount, new token Secret) is reviewed in full and stored', async () => {
    const { namespace } = await flyteadminIn();
    const prefix = uniquePrefix('calls-newtoken');
    const cfg = configFor(namespace, prefix);
    expect((await counted(cfg)).report.ok).toBe(true);
    const old = await tokenOf(namespace);
    // A new ServiceAccount (new uid): its old token Secret goes, the sync makes a new one.
    const c = core(env, dp);
    await c.deleteNamespacedServiceAccount({ name: 'flyteadmin', namespace });
    await c.deleteNamespacedSecret({ name: 'flyteadmin-token', namespace }).catch(() => undefined);
    await until('the old token Secret is gone', async () => !(await c.readNamespacedSecret({ name: 'flyteadmin-token', namespace }).catch(() => undefined)));
    await c.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'flyteadmin' } } });
    const r = await counted(cfg);
    expect(r.report.clusters[0]).toMatchObject({ status: 'updated', store: 'updated', tokenSecretCreated: true, identityReviewed: true });
    // The new token: one identity review and two access reviews. The stored (old) token's two access
    // reviews were asked while the Secret was read (lib/dataplane/verify.ts verifyEarly) and were not
    // used: 2 more if both were sent before the new token was read, fewer if cancelled first.
    expect(r.ssr).toBe(1);
    expect(r.ssar).toBeGreaterThanOrEqual(2);
    expect(r.ssar).toBeLessThanOrEqual(4);
    expect((await tokenOf(namespace)).token === old.token).toBe(false);
  });

  it('the same token after its ServiceAccount was deleted and recreated: the identity review is skipped and the access reviews reject it (401)', async () => {
    const { namespace } = await flyteadminIn();
    const prefix = uniquePrefix('calls-recreated');
    const cfg = configFor(namespace, prefix);
    expect((await counted(cfg)).report.ok).toBe(true);
    const { token } = await tokenOf(namespace);
    const v = await versions(`${prefix}${dp}`);
    // The ServiceAccount is recreated (new uid) and the old token put back into the token Secret
    // (the token controller keeps a token that is present): same bytes, same CA, as stored.
    const c = core(env, dp);
    await c.deleteNamespacedServiceAccount({ name: 'flyteadmin', namespace });
    await c.deleteNamespacedSecret({ name: 'flyteadmin-token', namespace }).catch(() => undefined);
    await until('the old token Secret is gone', async () => !(await c.readNamespacedSecret({ name: 'flyteadmin-token', namespace }).catch(() => undefined)));
    await c.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'flyteadmin' } } });
    await c.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'flyteadmin-token', annotations: { 'kubernetes.io/service-account.name': 'flyteadmin' } }, type: 'kubernetes.io/service-account-token', stringData: { token } },
    });
    expect((await tokenOf(namespace)).token === token).toBe(true);
    await until('the old token no longer authenticates', async () => (await whoAmI(env, dp, token)).code === 401);

    const r = await counted(cfg);
    expect(r.report.ok).toBe(false);
    expect(r.report.clusters[0]).toMatchObject({ status: 'failed', code: 'CREDENTIAL_REJECTED', reason: `cluster ${dp}: credential rejected: the token does not authenticate (HTTP 401)` });
    // Rejected on the access reviews: the identity review was skipped (same bytes as stored).
    expect(r.ssr).toBe(0);
    expect(r.ssar).toBeGreaterThanOrEqual(1);
    expect(await versions(`${prefix}${dp}`)).toBe(v);
    expect(JSON.stringify(r.report)).not.toContain(token);
  });

  it('a deleted token Secret is re-created with the same legacy token, which is judged by reviews asked once its Secret exists again: no false rejection, nothing unrouted or restarted (issue #20)', async () => {
    // Prepare: a synced data plane, then its token Secret deleted; its token stops authenticating.
    const { namespace } = await flyteadminIn();
    const prefix = uniquePrefix('calls-deleted');
    const cfg = configFor(namespace, prefix);
    const first = (await counted(cfg)).report;
    expect(first.ok).toBe(true);
    const { token } = await tokenOf(namespace);
    const v = await versions(`${prefix}${dp}`);
    const c = core(env, dp);
    await c.deleteNamespacedSecret({ name: 'flyteadmin-token', namespace });
    await until('the deleted Secret\'s token no longer authenticates', async () => (await whoAmI(env, dp, token)).code === 401);
    // Act: the next sync re-creates the Secret; the token controller fills it with the same bytes.
    const r = await counted(cfg);
    // Assess: the token that authenticates again is accepted (the stored record's early access
    // reviews, answered 401 while the Secret was missing, do not judge it). The same credential:
    // the store records its new Secret's uid (one new version), the control plane is untouched.
    expect(r.report.clusters[0]).toMatchObject({ id: dp, status: 'updated', store: 'updated', tokenSecretCreated: true, fingerprint: first.clusters[0]!.fingerprint });
    expect(r.report.ok).toBe(true);
    expect(r.report.clusters[0]!.published).toMatchObject({ enabled: true, unrouted: false, labels: ['team1'] });
    expect(r.report.controlPlane?.applied).toBe(false);
    expect(r.report.controlPlane?.restarted).toEqual([]);
    expect((await tokenOf(namespace)).token === token).toBe(true);
    expect((await whoAmI(env, dp, token)).user?.username).toBe(`system:serviceaccount:${namespace}:flyteadmin`);
    expect(await versions(`${prefix}${dp}`)).toBe(v + 1);
    // And the run after it is a no-op.
    const again = await counted(cfg);
    expect(again.report.clusters[0]).toMatchObject({ status: 'unchanged', store: 'unchanged', tokenSecretCreated: false });
    expect(again.report.controlPlane?.applied).toBe(false);
  });

  it('RBAC removed: the same token is rejected by the access reviews, without an identity review', async () => {
    const { namespace, binding } = await flyteadminIn();
    const prefix = uniquePrefix('calls-rbac');
    const cfg = configFor(namespace, prefix);
    expect((await counted(cfg)).report.ok).toBe(true);
    const { token, ca } = await tokenOf(namespace);
    await rbac().deleteClusterRoleBinding({ name: binding });
    const expectedUser = `system:serviceaccount:${namespace}:flyteadmin`;
    const server = env.clusters[dp]!.server;
    await until('RBAC denies the token', async () =>
      verifyWithApiServer({ cluster: dp, server, caPem: ca, token, expectedUser, checks: [...FLYTEADMIN_CHECKS], identityProven: true }).then(
        () => false,
        (e: unknown) => (e as { code?: string }).code === 'CREDENTIAL_REJECTED',
      ),
    );
    const r = await counted(cfg);
    expect(r.report.clusters[0]).toMatchObject({
      status: 'failed',
      code: 'CREDENTIAL_REJECTED',
      reason: `cluster ${dp}: credential rejected: ${expectedUser} may not create flyteworkflows.flyte.lyft.com, get namespaces`,
    });
    expect([r.ssr, r.ssar]).toEqual([0, 2]);
  });

  it('a changed expected ServiceAccount in the configuration: the same token is reviewed in full and rejected as the wrong identity', async () => {
    const { namespace } = await flyteadminIn();
    const prefix = uniquePrefix('calls-othersa');
    expect((await counted(configFor(namespace, prefix))).report.ok).toBe(true);
    const { token } = await tokenOf(namespace);
    // Another ServiceAccount, whose token Secret holds flyteadmin's token (same bytes and CA as stored).
    const c = core(env, dp);
    await c.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'other' } } });
    await c.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'other-token', annotations: { 'kubernetes.io/service-account.name': 'other' } }, type: 'kubernetes.io/service-account-token', stringData: { token } },
    });
    expect((await tokenOf(namespace, 'other-token')).token === token).toBe(true);
    const r = await counted(configFor(namespace, prefix, { serviceAccount: 'other', tokenSecret: 'other-token' }));
    expect(r.report.clusters[0]).toMatchObject({
      status: 'failed',
      code: 'CREDENTIAL_REJECTED',
      reason: `cluster ${dp}: credential rejected: the token authenticates as "system:serviceaccount:${namespace}:flyteadmin", expected "system:serviceaccount:${namespace}:other"`,
    });
    expect(r.ssr).toBe(1);
  });
});

describe('verification through an API server that goes away (HTTP/2 GOAWAY)', () => {
  /** A TLS HTTP/2 proxy to the data plane's real API server that refuses chosen streams with a GOAWAY. */
  let proxy: http2.Http2SecureServer;
  let proxyUrl: string;
  let proxyCa: string;
  let refuse: (path: string) => boolean = () => false;
  /** Streams held unanswered (for cancellation), and how each ended. */
  let hold: (path: string) => boolean = () => false;
  const held: Array<{ path: string; closed?: number }> = [];
  const sessions: http2.ServerHttp2Session[] = [];
  let upstream: http2.ClientHttp2Session | undefined;

  beforeAll(async () => {
    const tls = loopbackCert();
    proxyCa = tls.cert;
    proxy = http2.createSecureServer(tls);
    proxy.on('session', (s) => {
      sessions.push(s);
      s.on('error', () => undefined);
    });
    proxy.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      const path = String(headers[':path']);
      // Refused: a GOAWAY whose last stream id is below this stream (the server did not process it).
      if (refuse(path)) return void stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id! - 2);
      if (hold(path)) {
        const h: { path: string; closed?: number } = { path };
        held.push(h);
        return void stream.on('close', () => (h.closed = stream.rstCode));
      }
      upstream ??= http2.connect(env.clusters[dp]!.server, { ca: clusterCaPem(env, dp) });
      const up = upstream.request({ ':method': headers[':method'], ':path': path, authorization: headers['authorization'], 'content-type': headers['content-type'] ?? 'application/json', accept: 'application/json' });
      up.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
      up.on('response', (h) => stream.respond({ ':status': h[':status'], 'content-type': h['content-type'] ?? 'application/json' }));
      up.pipe(stream);
      stream.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    upstream?.destroy();
    for (const s of sessions) s.destroy();
    await new Promise((r) => proxy.close(r));
  });

  it('a review refused by GOAWAY is asked again on a fresh session and answered by the real API server', async () => {
    const { namespace } = await flyteadminIn();
    const prefix = uniquePrefix('calls-goaway');
    expect((await counted(configFor(namespace, prefix))).report.ok).toBe(true);
    const { token } = await tokenOf(namespace);
    // The proxy presents its own certificate (its CA stands in for the cluster's). On its first
    // session, the access review is refused: the identity review went first (stream 1), the
    // access review is stream 3, above the GOAWAY's last stream id 1.
    let refusals = 0;
    refuse = (path) => path.endsWith('/selfsubjectaccessreviews') && sessions.length === 1 && refusals++ < 1;
    const expectedUser = `system:serviceaccount:${namespace}:flyteadmin`;
    const before = requestsSent()[SSAR] ?? 0;
    const v = await verifyWithApiServer({ cluster: dp, server: proxyUrl, caPem: proxyCa, token, expectedUser, checks: [FLYTEADMIN_CHECKS[0]!] });
    expect(v).toEqual({ username: expectedUser, identityReviewed: true });
    expect(refusals).toBe(1);
    expect((requestsSent()[SSAR] ?? 0) - before).toBe(2); // refused once, sent again
    expect(sessions.length).toBe(2); // the retry went out on a fresh session
  });

  it('an early verification that is cancelled mid-flight resets its streams (cancelled, not abandoned) and throws its reason', async () => {
    const { namespace } = await flyteadminIn();
    const prefix = uniquePrefix('calls-cancel');
    expect((await counted(configFor(namespace, prefix))).report.ok).toBe(true);
    const { token } = await tokenOf(namespace);
    const expectedUser = `system:serviceaccount:${namespace}:flyteadmin`;
    held.length = 0;
    hold = (path) => path.endsWith('/selfsubjectaccessreviews');
    const ctl = new AbortController();
    const asked = verifyWithApiServer({ cluster: dp, server: proxyUrl, caPem: proxyCa, token, expectedUser, checks: [...FLYTEADMIN_CHECKS], identityProven: true, signal: ctl.signal });
    await until('both access reviews reached the server', async () => held.length === 2);
    const reason = new Error('early verification not needed');
    ctl.abort(reason);
    await expect(asked).rejects.toBe(reason);
    await until('both streams are closed', async () => held.every((h) => h.closed !== undefined));
    expect(held.map((h) => h.closed)).toEqual([http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL]);
    // The session they shared still serves the next verification.
    hold = () => false;
    await expect(verifyWithApiServer({ cluster: dp, server: proxyUrl, caPem: proxyCa, token, expectedUser, checks: [...FLYTEADMIN_CHECKS], identityProven: true })).resolves.toEqual({
      username: expectedUser,
      identityReviewed: false,
    });
  });
});
