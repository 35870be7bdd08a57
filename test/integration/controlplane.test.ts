/**
 * The control plane under concurrency, crashes and rejected credentials, against the local
 * environment's real control-plane API server: syncs run in processes of their own
 * (test/faults/sync-child.ts) and are really paused (SIGSTOP) or killed (SIGKILL) at a write point.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { CoordinationV1Api, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type V1ClusterRoleBinding } from '@kubernetes/client-node';
import { TagResourceCommand, UntagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { formatReport } from '../../lib/cli/format.ts';
import { verifyWithApiServer, FLYTEADMIN_CHECKS } from '../../lib/dataplane/verify.ts';
import { adminKubeConfig, apps, awsClient, clusterCaPem, core, loadTestEnv, resetControlPlane, uniquePrefix, type EnvInfo } from './helpers.ts';
import { clustersOf, CONFIG_MAPS, controlState, heldFingerprint, invariantViolations, runChild, startChild, writeConfig } from '../faults/harness.ts';

// Each case runs several syncs in processes of their own, on a machine that may be busy.
jest.setTimeout(300_000);

let env: EnvInfo;
let dp1: string, dp2: string;

beforeAll(() => {
  env = loadTestEnv();
  [dp1, dp2] = env.dataPlanes as [string, string];
});
beforeEach(async () => {
  await resetControlPlane(env);
});
afterEach(async () => {
  // A Lease a failed test still holds would make every later run wait for it.
  for (const l of [...leasesHeld]) await l.release().catch(() => undefined);
});
beforeAll(async () => {
  // The same, left by an earlier test process that was killed.
  const api = adminKubeConfig(env, env.controlPlane).makeApiClient(CoordinationV1Api);
  const l = await api.readNamespacedLease(LEASE).catch(() => undefined);
  if (l?.spec?.holderIdentity?.startsWith('credsync-test-'))
    await api.patchNamespacedLease({ ...LEASE, body: { spec: { holderIdentity: null, leaseDurationSeconds: 1 } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
});

const labelsOf = (text: string) => clustersOf(text).labelClusterMap;
const LEASE = { name: 'flyte-credsync', namespace: 'flyte' };
/** Leases a test took over (takeOverLease) and has not released yet. */
const leasesHeld: Array<{ release(): Promise<void> }> = [];

/**
 * What a sync writes on the control plane, as the API server versions it: the credentials Secret's
 * and the ConfigMaps' resourceVersions (an update that changes anything changes them) and the
 * Deployments' generations (a restart changes their spec; their status moves on its own).
 */
async function writes(): Promise<{ secret?: string; configMaps: Array<string | undefined>; deployments: Array<number | undefined> }> {
  const c = core(env, env.controlPlane);
  const secret = (await c.readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined))?.metadata?.resourceVersion;
  return {
    ...(secret ? { secret } : {}),
    configMaps: await Promise.all(CONFIG_MAPS.map(async (name) => (await c.readNamespacedConfigMap({ name, namespace: 'flyte' })).metadata?.resourceVersion)),
    deployments: await Promise.all(['flyteadmin', 'syncresources'].map(async (name) => (await apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: 'flyte' })).metadata?.generation)),
  };
}

/** A Kubernetes MicroTime (RFC 3339 with 6 fractional digits). */
const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/**
 * Takes the control-plane Lease as another holder, the way a waiting run does (not through the
 * sync's code): once its record has stood unchanged for the holder's stated duration, or at once
 * when nobody holds it; then holds it for 5 minutes without renewing. With `from`, the Lease must
 * be held by that process's sync (its identity is <host>-<pid>-<random>) when it is taken.
 */
async function takeOverLease(identity: string, from?: number): Promise<{ release(): Promise<void> }> {
  const api = adminKubeConfig(env, env.controlPlane).makeApiClient(CoordinationV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  let seen = { rv: undefined as string | undefined, since: performance.now() };
  for (const t0 = performance.now(); performance.now() - t0 < 120_000; await new Promise((r) => setTimeout(r, 100))) {
    const l = await api.readNamespacedLease(LEASE);
    const rv = l.metadata?.resourceVersion;
    if (seen.rv !== rv) seen = { rv, since: performance.now() };
    const holder = l.spec?.holderIdentity;
    if (from !== undefined) expect(holder).toContain(`-${from}-`);
    if (holder && performance.now() - seen.since < (l.spec?.leaseDurationSeconds ?? 30) * 1000) continue;
    const now = microTime(new Date());
    const spec = { holderIdentity: identity, leaseDurationSeconds: 300, acquireTime: now, renewTime: now, leaseTransitions: (l.spec?.leaseTransitions ?? 0) + 1 };
    // The resourceVersion makes it a compare-and-swap: a 409 if the holder renewed meanwhile.
    const taken = await api.patchNamespacedLease({ ...LEASE, body: { metadata: { resourceVersion: rv }, spec } }, merge);
    const held = {
      release: async () => {
        const i = leasesHeld.indexOf(held);
        if (i < 0) return;
        leasesHeld.splice(i, 1);
        const body = { metadata: { resourceVersion: taken.metadata?.resourceVersion }, spec: { holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(new Date()) } };
        await api.patchNamespacedLease({ ...LEASE, body }, merge);
      },
    };
    leasesHeld.push(held);
    return held;
  }
  throw new Error('the Lease never expired');
}
const entryOf = (text: string, id: string) => clustersOf(text).clusterConfigs?.find((e) => e.name === id);

describe('two syncs at once', () => {
  it('one paused between its two ConfigMap writes: the other waits for the Lease, then both ConfigMaps hold its configuration', async () => {
    // Prepare: two configurations that render different label maps.
    const prefix = uniquePrefix('lease');
    const cfgA = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }, { id: dp2, labels: { team1: 1 } }]);
    const cfgB = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 0.5, gpu: 1 } }, { id: dp2, labels: { team1: 1 } }]);
    // Act: A stops itself right after its first ConfigMap write; B starts while A is stopped.
    const a = startChild(env, cfgA, { fault: 'stop:after:replaceConfigMap:1' });
    await a.waitFor('FAULT stop:after:replaceConfigMap:1');
    const mid = await controlState(env);
    expect(labelsOf(mid.clustersYaml[CONFIG_MAPS[0]!]!)).not.toEqual(labelsOf(mid.clustersYaml[CONFIG_MAPS[1]!]!)); // A is really half-way
    const b = startChild(env, cfgB);
    await b.waitFor('waiting for another sync to finish with the control plane');
    process.kill(a.pid, 'SIGCONT');
    const [ra, rb] = await Promise.all([a.done, b.done]);
    // Assess: both succeeded; the ConfigMaps agree, on B's configuration (B applied after A).
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const st = await controlState(env);
    const [adminCm, syncCm] = CONFIG_MAPS.map((n) => st.clustersYaml[n]!);
    expect(labelsOf(adminCm!)).toEqual({ team1: [{ id: dp1, weight: 0.5 }, { id: dp2, weight: 1 }], gpu: [{ id: dp1, weight: 1 }] });
    expect(clustersOf(syncCm!)).toEqual(clustersOf(adminCm!));
    expect(await invariantViolations(env, st, { ids: [dp1, dp2], lastGood: [dp1, dp2], report: rb.report! })).toEqual([]);
  });

  it('one paused longer than the Lease: the other takes it over; the paused one learns it lost the Lease before writing again, re-plans, and the ConfigMaps agree', async () => {
    const prefix = uniquePrefix('takeover');
    const lease = { controlPlane: { lease: { durationSeconds: 2 } } };
    const cfgA = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }, { id: dp2, labels: { team1: 1 } }], lease);
    // (Different weights only: A re-applies after B, and must not drop a label B added.)
    const cfgB = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 0.5 } }, { id: dp2, labels: { team1: 0.25 } }], lease);
    const a = startChild(env, cfgA, { fault: 'stop:after:replaceConfigMap:1' });
    await a.waitFor('FAULT');
    const rb = await runChild(env, cfgB);
    expect(rb.code).toBe(0);
    expect(rb.stderr).toContain('took over an expired control-plane Lease');
    // A third holder takes the Lease B released and keeps it while A resumes: had A not learned that
    // it lost the Lease before its next write, that write would land while someone else holds it.
    // (Its stale ConfigMap write would be refused with a 409, but the retry after it would not.)
    const third = await takeOverLease('credsync-test-third-holder');
    const held = await writes();
    process.kill(a.pid, 'SIGCONT');
    await a.waitFor('waiting for another sync to finish with the control plane');
    expect(await writes()).toEqual(held);
    await third.release();
    const ra = await a.done;
    expect(ra.code).toBe(0);
    const st = await controlState(env);
    const [adminCm, syncCm] = CONFIG_MAPS.map((n) => st.clustersYaml[n]!);
    expect(labelsOf(adminCm!)).toEqual({ team1: [{ id: dp1, weight: 1 }, { id: dp2, weight: 1 }] }); // A's, applied last and whole
    expect(clustersOf(syncCm!)).toEqual(clustersOf(adminCm!));
    expect(await invariantViolations(env, st, { ids: [dp1, dp2], lastGood: [dp1, dp2], report: ra.report! })).toEqual([]);
  });

  it('a Lease taken over between its two ConfigMap writes: the first run writes nothing while the new holder holds it, then applies whole once it is free', async () => {
    // Prepare: a configuration the control plane does not hold yet, so each of A's writes changes a resourceVersion.
    const prefix = uniquePrefix('fence');
    const cfgA = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }, { id: dp2, labels: { gpu: 1 } }], { controlPlane: { lease: { durationSeconds: 2 } } });
    const a = startChild(env, cfgA, { fault: 'stop:after:replaceConfigMap:1' });
    await a.waitFor('FAULT stop:after:replaceConfigMap:1');
    const mid = await controlState(env);
    expect(labelsOf(mid.clustersYaml[CONFIG_MAPS[0]!]!)).not.toEqual(labelsOf(mid.clustersYaml[CONFIG_MAPS[1]!]!)); // A is really half-way
    // Act: another holder takes the Lease over once A's record has stood still for its duration
    // (nobody touches the second ConfigMap: A's planned write of it would still succeed), and holds it.
    const successor = await takeOverLease('credsync-test-successor', a.pid);
    const taken = await writes();
    process.kill(a.pid, 'SIGCONT');
    await a.waitFor('waiting for another sync to finish with the control plane');
    // Assess: from the takeover until A waits for the Lease, A wrote nothing: no Secret, no
    // ConfigMap, no Deployment restart.
    expect(await writes()).toEqual(taken);
    // Once the Lease is free, A re-plans and applies whole.
    await successor.release();
    const ra = await a.done;
    expect(ra.code).toBe(0);
    const st = await controlState(env);
    expect(st.cmRvs[1]).not.toBe(taken.configMaps[1]);
    for (const n of CONFIG_MAPS) expect(labelsOf(st.clustersYaml[n]!)).toEqual({ team1: [{ id: dp1, weight: 1 }], gpu: [{ id: dp2, weight: 1 }] });
    expect(await invariantViolations(env, st, { ids: [dp1, dp2], lastGood: [dp1, dp2], report: ra.report! })).toEqual([]);
  });
});

describe('a sync killed after its writes, before its restarts', () => {
  it('the next run finds the Deployments behind what was written and restarts them, writing nothing; the run after is quiet', async () => {
    // Prepare: a synced control plane.
    const prefix = uniquePrefix('crash');
    const before = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }]);
    expect((await runChild(env, before)).code).toBe(0);
    const synced = await controlState(env);
    // Act: a change, killed just before its first restart.
    const after = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }, { id: dp2, labels: { team1: 1 } }]);
    const killed = await runChild(env, after, { fault: 'kill:before:restartDeployment:1' });
    expect(killed).toMatchObject({ signal: 'SIGKILL', faulted: true });
    const written = await controlState(env);
    expect(written.secretRv).not.toBe(synced.secretRv);
    expect(written.checksums).toEqual(synced.checksums); // written, never restarted
    const next = await runChild(env, after);
    // Assess
    expect(next.code).toBe(0);
    const st = await controlState(env);
    expect(next.report!.controlPlane).toMatchObject({ applied: false, restarted: ['flyteadmin', 'syncresources'] });
    expect(st.secretRv).toBe(written.secretRv);
    expect(st.cmRvs).toEqual(written.cmRvs);
    expect(Object.values(st.checksums)).toEqual([next.report!.controlPlane!.checksum, next.report!.controlPlane!.checksum]);
    expect(await invariantViolations(env, st, { ids: [dp1, dp2], lastGood: [dp1, dp2], report: next.report! })).toEqual([]);
    const quiet = await runChild(env, after);
    expect(quiet.report!.controlPlane).toMatchObject({ applied: false, restarted: [] });
    expect((await controlState(env)).restartedAt).toEqual(st.restartedAt);
  });
});

describe('a data plane whose stored credential cannot be read', () => {
  it('still gets its configuration (enabled: false applies), keeps its keys, and the report says so', async () => {
    const prefix = uniquePrefix('unreadable');
    const first = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }, { id: dp2, labels: { team1: 1 } }]);
    expect((await runChild(env, first)).code).toBe(0);
    const sm = awsClient(env);
    // The entry is no longer marked as ours: the store refuses to read it for us.
    await sm.send(new UntagResourceCommand({ SecretId: `${prefix}${dp2}`, TagKeys: ['managed-by'] }));
    try {
      const disable = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }, { id: dp2, labels: { team1: 1 }, enabled: false }]);
      const r = await runChild(env, disable);
      expect(r.code).toBe(1);
      const st = await controlState(env);
      for (const n of CONFIG_MAPS) {
        expect(entryOf(st.clustersYaml[n]!, dp2)).toMatchObject({ enabled: false });
        expect(labelsOf(st.clustersYaml[n]!)).toEqual({ team1: [{ id: dp1, weight: 1 }] });
      }
      const c = r.report!.clusters.find((x) => x.id === dp2)!;
      expect(c).toMatchObject({ status: 'failed', code: 'STORE_NOT_OWNED', lastGoodKept: true, published: { listed: true, enabled: false, labels: [], unrouted: false } });
      expect(c.published!.credential).toBe(heldFingerprint(st, dp2));
      expect(formatReport(r.report!)).toContain(`control plane holds its last good credential ${heldFingerprint(st, dp2)}`);
      expect(await invariantViolations(env, st, { ids: [dp1, dp2], lastGood: [dp1, dp2], report: r.report! })).toEqual([]);
    } finally {
      await sm.send(new TagResourceCommand({ SecretId: `${prefix}${dp2}`, Tags: [{ Key: 'managed-by', Value: 'flyte-credsync' }] }));
    }
  });
});

describe('a revoked credential', () => {
  const BINDING = 'flyte-flyteadmin-binding';
  const rbac = (cluster: string) => adminKubeConfig(env, cluster).makeApiClient(RbacAuthorizationV1Api);
  let saved: V1ClusterRoleBinding | undefined;

  /** Waits until the API server's authorizer agrees with the binding change (its informer is asynchronous). */
  async function waitAuthorized(token: string, allowed: boolean): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const ok = await verifyWithApiServer({ cluster: dp2, server: env.clusters[dp2]!.server, caPem: clusterCaPem(env, dp2), token, expectedUser: 'system:serviceaccount:flyte:flyteadmin', checks: [...FLYTEADMIN_CHECKS] }).then(
        () => true,
        () => false,
      );
      if (ok === allowed) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`dp2's token never became ${allowed ? 'allowed' : 'denied'}`);
  }
  async function revoke(token: string) {
    saved = await rbac(dp2).readClusterRoleBinding({ name: BINDING });
    await rbac(dp2).deleteClusterRoleBinding({ name: BINDING });
    await waitAuthorized(token, false);
  }
  async function restore(token: string) {
    if (!saved) return;
    await rbac(dp2).createClusterRoleBinding({ body: { metadata: { name: BINDING }, roleRef: saved.roleRef, subjects: saved.subjects ?? [] } });
    saved = undefined;
    await waitAuthorized(token, true);
  }
  afterAll(async () => {
    if (saved) await rbac(dp2).createClusterRoleBinding({ body: { metadata: { name: BINDING }, roleRef: saved.roleRef, subjects: saved.subjects ?? [] } });
  });

  it('leaves routing until it verifies again (state kept across runs); as the last member of a label it stays there and the run says so', async () => {
    const prefix = uniquePrefix('revoked');
    const cfg = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }, { id: dp2, labels: { team1: 0.5, gpu: 1 } }]);
    expect((await runChild(env, cfg)).code).toBe(0);
    const token = (await controlState(env)).secret[`${dp2}_token`]!.toString('utf8');
    await revoke(token);
    try {
      // Act: the binding is gone.
      const r = await runChild(env, cfg);
      // Assess: out of team1; kept in gpu (its last member), loudly; credential kept for aborts.
      expect(r.code).toBe(1);
      const st = await controlState(env);
      const c = r.report!.clusters.find((x) => x.id === dp2)!;
      expect(c).toMatchObject({ status: 'failed', code: 'CREDENTIAL_REJECTED', lastGoodKept: true, published: { unrouted: true, enabled: true, labels: ['gpu'], keptInLabels: ['gpu'] } });
      expect(r.stderr).toContain('credential rejected, but kept in routing as the last enabled member of its labels');
      expect(formatReport(r.report!)).toContain('out of routing until its credential verifies again; kept in gpu (its last enabled member)');
      for (const n of CONFIG_MAPS) expect(labelsOf(st.clustersYaml[n]!)).toEqual({ team1: [{ id: dp1, weight: 1 }], gpu: [{ id: dp2, weight: 1 }] });
      expect(st.secret[`${dp2}_token`]!.toString('utf8') === token).toBe(true);
      expect(await invariantViolations(env, st, { ids: [dp1, dp2], report: r.report! })).toEqual([]);
      // A run that does not look at dp2 (--cluster dp1) keeps it out: the decision is kept in the
      // cluster, not in memory. (gpu loses its only member: retired on purpose.)
      const only = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }, { id: dp2, labels: { team1: 0.5 } }], { controlPlane: { retiredLabels: ['gpu'] } });
      const narrowed = await runChild(env, only, { clusters: [dp1] });
      expect(narrowed.code).toBe(0);
      const st2 = await controlState(env);
      expect(entryOf(st2.clustersYaml[CONFIG_MAPS[0]!]!, dp2)).toMatchObject({ enabled: false });
      expect(labelsOf(st2.clustersYaml[CONFIG_MAPS[0]!]!)).toEqual({ team1: [{ id: dp1, weight: 1 }] });
      // With onCredentialRejected: keep, routing stays as configured.
      const keep = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }, { id: dp2, labels: { team1: 0.5 } }], { onCredentialRejected: 'keep' });
      const kept = await runChild(env, keep);
      expect(kept.report!.clusters.find((x) => x.id === dp2)).toMatchObject({ status: 'failed', code: 'CREDENTIAL_REJECTED', published: { unrouted: false, enabled: true, labels: ['team1'] } });
      // Restored: the next run verifies it and routes it again.
      await restore(token);
      const back = await runChild(env, only);
      expect(back.code).toBe(0);
      const st3 = await controlState(env);
      expect(labelsOf(st3.clustersYaml[CONFIG_MAPS[1]!]!)).toEqual({ team1: [{ id: dp1, weight: 1 }, { id: dp2, weight: 0.5 }] });
      expect(back.report!.clusters.find((x) => x.id === dp2)!.published).toMatchObject({ unrouted: false, enabled: true });
      expect(await invariantViolations(env, st3, { ids: [dp1, dp2], lastGood: [dp1, dp2], report: back.report! })).toEqual([]);
    } finally {
      await restore(token);
    }
  });
});
