/**
 * When the SelfSubjectReview may be skipped (lib/dataplane/verify.ts identityProvenBy): only when
 * the store's current record was verified for these exact token and CA bytes, at this API server,
 * for the identity the configuration expects now, and the token's signed subject is that identity.
 * Then, through the sync (in-memory fakes): a no-op run asks no identity review, anything that
 * changed the identity question gets the full review.
 */
import { describe, expect, it } from '@jest/globals';
import { runSync } from '../../lib/sync/sync.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { makeRecord, type CredentialRecord } from '../../lib/stores/types.ts';
import { identityProvenBy, jwtSubject, verifyCredential, verifyEarly, type CredentialVerifier, type VerifyRequest } from '../../lib/dataplane/verify.ts';
import { CredentialRejectedError } from '../../lib/errors.ts';
import { silentLog } from '../../lib/util/log.ts';
import { FakeControlPlane, FakeDataPlane, fakeToken, fakeVerifier, testCa, testConfig } from './fakes.ts';

const SERVER = 'https://dp1.example:6443';
const dp = { namespace: 'flyte', serviceAccount: 'flyteadmin' };
const jwt = (claims: object) => ['{"alg":"RS256"}', JSON.stringify(claims), 'sig'].map((p) => Buffer.from(p).toString('base64url')).join('.');

function record(token: string, over: Partial<CredentialRecord['source']> = {}): CredentialRecord {
  return makeRecord({
    clusterId: 'dp1',
    endpoint: SERVER,
    token,
    caCert: testCa(),
    source: { server: SERVER, namespace: 'flyte', serviceAccount: 'flyteadmin', secret: 'flyteadmin-token', ...over },
  });
}

describe('identityProvenBy', () => {
  const token = fakeToken('dp1');
  const cred = { token, caCert: testCa() };

  it('holds for the same token and CA, read from the same server for the same ServiceAccount', () => {
    expect(identityProvenBy(record(token), dp, SERVER, cred)).toBe(true);
  });

  it.each<[string, () => boolean]>([
    ['no stored record', () => identityProvenBy(undefined, dp, SERVER, cred)],
    ['another token', () => identityProvenBy(record(fakeToken('dp1', 2)), dp, SERVER, cred)],
    ['another CA', () => identityProvenBy(record(token), dp, SERVER, { token, caCert: testCa() + '\n' })],
    ['another API server', () => identityProvenBy(record(token), dp, 'https://elsewhere.example:6443', cred)],
    ['the record was verified for another namespace', () => identityProvenBy(record(token, { namespace: 'other' }), dp, SERVER, cred)],
    ['the configuration now expects another ServiceAccount', () => identityProvenBy(record(token), { ...dp, serviceAccount: 'flyteadmin2' }, SERVER, cred)],
  ])('does not hold with %s', (_, decide) => {
    expect(decide()).toBe(false);
  });

  it('does not hold for a token whose identity is not in its own signed claims (not a ServiceAccount JWT of that identity)', () => {
    for (const t of ['static-token-abcdef', jwt({ sub: 'system:serviceaccount:flyte:other' }), jwt({ iss: 'x' })])
      expect(identityProvenBy(record(t), dp, SERVER, { token: t, caCert: testCa() })).toBe(false);
  });

  it('reads the subject of a JWT, and nothing from what is not one', () => {
    expect(jwtSubject(jwt({ sub: 'system:serviceaccount:flyte:flyteadmin' }))).toBe('system:serviceaccount:flyte:flyteadmin');
    expect(jwtSubject('a.b')).toBeUndefined();
    expect(jwtSubject('a.!!!.c')).toBeUndefined();
    expect(jwtSubject(jwt({ sub: 7 }))).toBeUndefined();
  });
});

describe('the sync asks the identity review only when the identity is not proven', () => {
  function world(serviceAccount = 'flyteadmin') {
    const cfg = testConfig(['dp1', 'dp2'], {}, () => ({ serviceAccount }));
    const dps = new Map(['dp1', 'dp2'].map((id) => [id, new FakeDataPlane(id)]));
    for (const f of dps.values()) f.serviceAccounts.add(`flyte/${serviceAccount}`);
    const seen: VerifyRequest[] = [];
    const valid = new Set(['dp1', 'dp2'].flatMap((id) => [fakeToken(id), fakeToken(id, 2)]));
    const deps = {
      config: cfg,
      log: silentLog,
      store: new MemoryStore(),
      verify: fakeVerifier(valid, seen),
      dataPlane: async (d: { id: string }) => dps.get(d.id)!,
      controlPlane: async () => cp,
      sleep: async () => {},
    };
    const cp = new FakeControlPlane();
    const proven = () => seen.splice(0).map((r) => [r.cluster, r.identityProven === true]);
    return { deps, dps, proven };
  }

  it('first run: reviewed; no-op re-run: proven by the store, nothing written, reported so', async () => {
    const w = world();
    await runSync(w.deps);
    expect(w.proven()).toEqual([['dp1', false], ['dp2', false]]);
    const writes = w.deps.store.writes;
    const r = await runSync(w.deps);
    expect(w.proven()).toEqual([['dp1', true], ['dp2', true]]);
    expect(r.clusters.map((c) => [c.id, c.status, c.identityReviewed])).toEqual([['dp1', 'unchanged', false], ['dp2', 'unchanged', false]]);
    expect(w.deps.store.writes).toBe(writes);
  });

  it('a changed token is reviewed in full (only on the data plane where it changed); the early check of the old one is cancelled', async () => {
    const w = world();
    await runSync(w.deps);
    w.proven();
    w.dps.get('dp2')!.seed(fakeToken('dp2', 2));
    const seen: VerifyRequest[] = [];
    const valid = new Set(['dp1', 'dp2'].flatMap((id) => [fakeToken(id), fakeToken(id, 2)]));
    const r = await runSync({ ...w.deps, verify: fakeVerifier(valid, seen) });
    // Asked while the Secrets were read: both stored records. Used: dp1's. dp2's Secret holds a new
    // token: its early check was cancelled and the new token reviewed in full.
    const asked = seen.map((q) => [q.cluster, q.token === fakeToken(q.cluster) ? 'stored' : 'new', q.identityProven === true, q.signal?.aborted]);
    expect(asked.sort()).toEqual([
      ['dp1', 'stored', true, false],
      ['dp2', 'new', false, undefined],
      ['dp2', 'stored', true, true],
    ]);
    expect(r.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'updated', identityReviewed: true });
  });

  it('the early check of a revoked stored token does not count when the Secret holds a new, valid one', async () => {
    const w = world();
    await runSync(w.deps);
    w.dps.get('dp1')!.seed(fakeToken('dp1', 2));
    const valid = new Set(['dp1', 'dp2'].flatMap((id) => (id === 'dp1' ? [fakeToken(id, 2)] : [fakeToken(id)])));
    const r = await runSync({ ...w.deps, verify: fakeVerifier(valid) });
    expect(r.ok).toBe(true);
    expect(r.clusters.map((c) => [c.id, c.status])).toEqual([['dp1', 'updated'], ['dp2', 'unchanged']]);
  });

  it('a data plane that cannot be read fails with its own error; its early check is cancelled, not left running', async () => {
    const w = world();
    await runSync(w.deps);
    const pending: VerifyRequest[] = [];
    // Answers only when cancelled: a check left running would keep this test waiting forever.
    const hanging: CredentialVerifier = (req) => {
      pending.push(req);
      return new Promise((_, reject) => req.signal?.addEventListener('abort', () => reject(req.signal!.reason as Error), { once: true }));
    };
    w.dps.get('dp1')!.down = true;
    w.dps.get('dp2')!.down = true;
    const r = await runSync({ ...w.deps, verify: hanging });
    expect(r.ok).toBe(false);
    // The fake data plane's own failure (a plain ECONNREFUSED error), not the cancelled check's.
    expect(r.clusters.map((c) => [c.id, c.status, /ECONNREFUSED/.test(c.reason ?? '')])).toEqual([['dp1', 'failed', true], ['dp2', 'failed', true]]);
    expect(pending.map((q) => [q.cluster, q.signal?.aborted])).toEqual([['dp1', true], ['dp2', true]]);
  });

  it('a changed expected ServiceAccount in the configuration is reviewed in full', async () => {
    const w = world();
    await runSync(w.deps);
    w.proven();
    const other = world('flyteadmin2');
    // Same data planes and store, configuration now expecting another ServiceAccount.
    const deps = { ...w.deps, config: other.deps.config, verify: other.deps.verify };
    for (const f of w.dps.values()) {
      f.serviceAccounts.add('flyte/flyteadmin2');
      const s = f.secrets.get('flyte/flyteadmin-token')!;
      s.annotations['kubernetes.io/service-account.name'] = 'flyteadmin2';
    }
    await runSync(deps);
    expect(other.proven()).toEqual([['dp1', false], ['dp2', false]]);
  });
});

describe('verifyEarly', () => {
  const token = fakeToken('dp1');
  const dp1 = testConfig(['dp1']).dataPlanes[0]!;

  it('starts only for a record that proves its own identity, and answers only for its exact bytes', async () => {
    const seen: VerifyRequest[] = [];
    const verify = fakeVerifier(new Set([token]), seen);
    expect(verifyEarly(verify, dp1, SERVER, undefined)).toBeUndefined();
    expect(verifyEarly(verify, dp1, 'https://elsewhere.example:6443', record(token))).toBeUndefined();
    expect(verifyEarly(verify, dp1, SERVER, record('static-token-abcdef'))).toBeUndefined();
    expect(seen).toEqual([]);

    const early = verifyEarly(verify, dp1, SERVER, record(token))!;
    expect(seen.map((q) => [q.token === token, q.identityProven])).toEqual([[true, true]]);
    expect(early.resultFor({ token: fakeToken('dp1', 2), caCert: testCa() })).toBeUndefined();
    expect(early.resultFor({ token, caCert: testCa() + '\n' })).toBeUndefined();
    await expect(early.resultFor({ token, caCert: testCa() })).resolves.toEqual({ username: 'system:serviceaccount:flyte:flyteadmin', identityReviewed: false });
    await early.cancel();
    expect(seen[0]!.signal?.aborted).toBe(true); // cancelling after it answered changes nothing
  });

  it('a 401 judges nothing (it may have been answered while the Secret did not exist): no answer, and cancel() settles without an unhandled rejection', async () => {
    const early = verifyEarly(fakeVerifier(new Set()), dp1, SERVER, record(token))!;
    await expect(early.resultFor({ token, caCert: testCa() })).resolves.toBeUndefined();
    await expect(early.cancel()).resolves.toBeUndefined();
    const unused = verifyEarly(fakeVerifier(new Set()), dp1, SERVER, record(token))!;
    await expect(unused.cancel()).resolves.toBeUndefined();
    // A token that authenticated (missing rights, the wrong identity): its Secret existed, the answer stands.
    const denied = verifyEarly(async (req) => Promise.reject(new CredentialRejectedError(req.cluster, 'x may not get namespaces')), dp1, SERVER, record(token))!;
    await expect(denied.resultFor({ token, caCert: testCa() })).rejects.toThrow('may not get namespaces');
    // A cluster that could not answer is still that error.
    const down = verifyEarly(async () => Promise.reject(new Error('ECONNREFUSED')), dp1, SERVER, record(token))!;
    await expect(down.resultFor({ token, caCert: testCa() })).rejects.toThrow('ECONNREFUSED');
  });

  it('no answer for a token Secret this run created (it did not exist when the early check was asked), even an acceptance', async () => {
    const early = verifyEarly(fakeVerifier(new Set([token])), dp1, SERVER, record(token))!;
    expect(early.resultFor({ token, caCert: testCa(), createdSecret: true })).toBeUndefined();
    await early.cancel();
  });
});

describe('a deleted token Secret (issue #20): the credential is never judged by an answer given while its Secret did not exist', () => {
  /** A verifier that, like the API server with a legacy token, authenticates a token only while its Secret exists. */
  function secretBackedVerifier(dps: Map<string, FakeDataPlane>, seen: VerifyRequest[]): CredentialVerifier {
    return async (req) => {
      seen.push(req);
      const s = dps.get(req.cluster)!.secrets.get('flyte/flyteadmin-token');
      if (!s || s.data['token']?.toString() !== req.token) throw new CredentialRejectedError(req.cluster, 'the token does not authenticate (HTTP 401)', { unauthenticated: true });
      return { username: req.expectedUser, identityReviewed: req.identityProven !== true };
    };
  }

  it('re-created with the same bytes: the early check (401, Secret missing) is not used; the token is verified again once the Secret is filled, and accepted', async () => {
    // Prepare: a synced data plane whose token Secret is then deleted.
    // The fake token controller fills a new Secret with fakeToken(id, 99): like a legacy token
    // Secret re-created under its name, the same bytes as before.
    const cfg = testConfig(['dp1']);
    const dps = new Map([['dp1', new FakeDataPlane('dp1', { token: fakeToken('dp1', 99) })]]);
    const seen: VerifyRequest[] = [];
    const deps = { config: cfg, log: silentLog, store: new MemoryStore(), verify: secretBackedVerifier(dps, seen), dataPlane: async () => dps.get('dp1')!, controlPlane: async () => cp, sleep: async () => {} };
    const cp = new FakeControlPlane();
    const first = await runSync(deps);
    expect(first.ok).toBe(true);
    const fake = dps.get('dp1')!;
    fake.secrets.delete('flyte/flyteadmin-token');
    seen.splice(0);
    // Act
    const r = await runSync(deps);
    // Assess: recreated, filled with the same token (the fake's token controller reissues it),
    // accepted: the same fingerprint (the store records the new Secret's uid).
    expect(r.clusters[0]).toMatchObject({ status: 'updated', tokenSecretCreated: true, fingerprint: first.clusters[0]!.fingerprint });
    expect(r.ok).toBe(true);
    expect(r.controlPlane?.published['dp1']).toMatchObject({ enabled: true, unrouted: false });
    // Two asks: the early one (rejected: no Secret) and the one after the Secret was filled.
    expect(seen.map((q) => q.signal?.aborted ?? 'fresh')).toHaveLength(2);
  });
});

describe('verifyCredential for a token Secret the run just created: a 401 is asked again, bounded', () => {
  const token = fakeToken('dp1');
  const dp1 = testConfig(['dp1']).dataPlanes[0]!;
  /** 401 for the first `n` asks, then accepted. */
  const rejecting = (n: number, seen: VerifyRequest[]): CredentialVerifier => async (req) => {
    seen.push(req);
    if (seen.length <= n) throw new CredentialRejectedError(req.cluster, 'the token does not authenticate (HTTP 401)', { unauthenticated: true });
    return { username: req.expectedUser, identityReviewed: true };
  };
  const sleep = async () => {};

  it('created this run: accepted once the API server sees the filled Secret', async () => {
    const seen: VerifyRequest[] = [];
    await expect(verifyCredential(rejecting(2, seen), dp1, SERVER, { token, caCert: testCa(), createdSecret: true }, undefined, undefined, { sleep })).resolves.toMatchObject({ username: 'system:serviceaccount:flyte:flyteadmin' });
    expect(seen).toHaveLength(3);
  });

  it('a Secret that was there before: a 401 stands at once; created this run: a 401 that lasts stands after the bound', async () => {
    const once: VerifyRequest[] = [];
    await expect(verifyCredential(rejecting(1, once), dp1, SERVER, { token, caCert: testCa() }, undefined, undefined, { sleep })).rejects.toBeInstanceOf(CredentialRejectedError);
    expect(once).toHaveLength(1);
    const always: VerifyRequest[] = [];
    await expect(verifyCredential(rejecting(1000, always), dp1, SERVER, { token, caCert: testCa(), createdSecret: true }, undefined, undefined, { sleep, ms: 1000, pollMs: 250 })).rejects.toBeInstanceOf(CredentialRejectedError);
    expect(always).toHaveLength(5);
  });

  it('only a 401 is asked again: missing rights or the wrong identity stand at once', async () => {
    const seen: VerifyRequest[] = [];
    const denied: CredentialVerifier = async (req) => {
      seen.push(req);
      throw new CredentialRejectedError(req.cluster, 'x may not get namespaces');
    };
    await expect(verifyCredential(denied, dp1, SERVER, { token, caCert: testCa(), createdSecret: true }, undefined, undefined, { sleep })).rejects.toThrow('may not');
    expect(seen).toHaveLength(1);
  });
});
