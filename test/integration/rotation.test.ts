/**
 * Real rotation against the local environment: real kube-apiservers (token controller,
 * TokenRequest, bound-token revocation), real rollouts of flyteadmin/syncresources (scheduler +
 * KWOK), moto and the GCP Secret Manager emulator, through the same wiring the CLI and the
 * functions use.
 *
 * Each test rotates data plane dp1 for a ServiceAccount of its own (`rot-<id>`, bound to the
 * chart's ClusterRole) with token objects of its own (`rot-<id>-token-<generation>`), so no test
 * sees another's objects; the control plane's Secret and Deployments are shared (tests run in band).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { stringify } from 'yaml';
import { AppsV1Api, CoreV1Api, KubeConfig, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { CancelRotateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { runSync, type SyncDeps, type SyncReport } from '../../lib/sync/sync.ts';
import { buildDeps, gcpSecretManagerClient } from '../../lib/runtime/wiring.ts';
import { rotationStatus } from '../../lib/rotation/status.ts';
import { rollback } from '../../lib/sync/rollback.ts';
import { AwsSecretsManagerStore } from '../../lib/stores/aws.ts';
import { GcpSecretManagerStore } from '../../lib/stores/gcp.ts';
import { settingsFor } from '../../lib/rotation/config.ts';
import { mintNext } from '../../lib/rotation/rotate.ts';
import type { RotatingStore } from '../../lib/stores/types.ts';
import { makeRecord } from '../../lib/stores/types.ts';
import { parseConfig } from '../../lib/config/load.ts';
import { ConfigError, CredsyncError } from '../../lib/errors.ts';
import { lineLog } from '../../lib/util/log.ts';
import type { Config } from '../../lib/config/schema.ts';
import {
  adminKubeConfig,
  applyManifest,
  apps,
  awsClient,
  core,
  secretsIn,
  exportAwsEnv,
  filledTokenSecret,
  loadTestEnv,
  resetControlPlane,
  restrictedKubeconfig,
  whoAmI,
  type EnvInfo,
} from './helpers.ts';

let env: EnvInfo;
const logs: string[] = [];
const log = lineLog({ verbose: true, write: (l) => logs.push(l) });
const DP = 'dp1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A ServiceAccount of the test's own on dp1, with flyteadmin's rights. */
interface Identity {
  sa: string;
  tokenSecret: string;
  prefix: string;
}

async function newIdentity(tag: string): Promise<Identity> {
  const id = randomBytes(3).toString('hex');
  const sa = `rot-${tag}-${id}`;
  const c = core(env, DP);
  await c.createNamespacedServiceAccount({ namespace: 'flyte', body: { metadata: { name: sa } } });
  await adminKubeConfig(env, DP).makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: sa },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flyte-flyteadmin' },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: 'flyte' }],
    },
  });
  return { sa, tokenSecret: `${sa}-token`, prefix: `it-rot-${tag}-${id}/` };
}

function rotConfig(who: Identity, rotation: Record<string, unknown>, store?: Record<string, unknown>): Config {
  return parseConfig({ ...rawConfig(who, { rolloutTimeoutSeconds: 120, ...rotation }), ...(store ? { store } : {}) });
}

function deps(cfg: Config, over: Partial<SyncDeps> = {}): SyncDeps {
  return { ...buildDeps(cfg, log, { secretsManager: awsClient(env) }), ...over };
}

/** dp1's token in the control plane's cluster-credentials Secret. */
async function publishedToken(): Promise<string | undefined> {
  const s = await core(env, env.controlPlane).readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined);
  const b = s?.data?.[`${DP}_token`];
  return b ? Buffer.from(b, 'base64').toString() : undefined;
}

async function secretExists(name: string): Promise<boolean> {
  return core(env, DP).readNamespacedSecret({ name, namespace: 'flyte' }).then(() => true, () => false);
}

/** Polls until the token is refused (the API server notices a deleted object within seconds). */
async function refused(token: string, timeoutMs = 30_000): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await whoAmI(env, DP, token);
    if (r.code === 401 || Date.now() > deadline) return r.code;
    await sleep(250);
  }
}

async function awsState(prefix: string): Promise<string | undefined> {
  const d = await awsClient(env).send(new DescribeSecretCommand({ SecretId: `${prefix}${DP}` }));
  return d.Tags?.find((t) => t.Key === 'flyte-credsync-rotation')?.Value;
}

async function awsStages(prefix: string): Promise<Record<string, string[]>> {
  const d = await awsClient(env).send(new DescribeSecretCommand({ SecretId: `${prefix}${DP}` }));
  return d.VersionIdsToStages ?? {};
}

async function awsRecord(prefix: string, stage: 'AWSCURRENT' | 'AWSPREVIOUS' | 'AWSPENDING') {
  const v = await awsClient(env).send(new GetSecretValueCommand({ SecretId: `${prefix}${DP}`, VersionStage: stage }));
  return JSON.parse(v.SecretString!) as { token: string; generation?: { generation: number; object: string; expiresAt?: string } };
}

const rot = (r: SyncReport) => r.clusters.find((c) => c.id === DP)!.rotation!;

/** The pods of flyteadmin and syncresources (names). */
async function controlPods(): Promise<string[]> {
  const pods = await core(env, env.controlPlane).listNamespacedPod({ namespace: 'flyte' });
  return pods.items.filter((p) => ['flyteadmin', 'syncresources'].includes(p.metadata?.labels?.['app.kubernetes.io/name'] ?? '')).map((p) => p.metadata!.name!);
}

beforeAll(() => {
  env = loadTestEnv();
  exportAwsEnv(env);
});

beforeEach(async () => {
  await resetControlPlane(env);
});

// Secrets stay secret: nothing any test logged holds a token or CA of the environment.
afterAll(() => expect(secretsIn(logs.join('\n'))).toEqual([]));

describe('rotation, secret mode, AWS Secrets Manager (moto)', () => {
  it('first run mints generation 1; a re-run is a no-op; --now rotates with zero unexpected 401s, then revokes generation 1', async () => {
    const who = await newIdentity('aws');
    const cfg = rotConfig(who, { mode: 'secret', every: 'off' });

    const r1 = await runSync(deps(cfg));
    expect(r1.ok).toBe(true);
    expect(rot(r1)).toMatchObject({ generation: 1, rotated: true, reason: 'first', phase: 'idle', rollout: { complete: true } });
    const t1 = await publishedToken();
    const { token: secretToken1 } = await filledTokenSecret(env, DP, `${who.tokenSecret}-1`);
    expect(t1 === secretToken1).toBe(true);
    expect((await whoAmI(env, DP, t1!)).user?.username).toBe(`system:serviceaccount:flyte:${who.sa}`);
    expect((await awsRecord(who.prefix, 'AWSCURRENT')).generation).toMatchObject({ generation: 1, object: `${who.tokenSecret}-1` });
    expect(await awsState(who.prefix)).toBe('phase=idle gen=1 max=1');

    // Nothing due: no write anywhere, no restart.
    const before = await apps(env, env.controlPlane).readNamespacedDeployment({ name: 'flyteadmin', namespace: 'flyte' });
    const stagesBefore = await awsStages(who.prefix);
    const r2 = await runSync(deps(cfg));
    expect(r2.ok).toBe(true);
    expect(rot(r2)).toMatchObject({ generation: 1, rotated: false, phase: 'idle' });
    expect(r2.controlPlane?.restarted).toEqual([]);
    expect(await awsStages(who.prefix)).toEqual(stagesBefore);
    const after = await apps(env, env.controlPlane).readNamespacedDeployment({ name: 'flyteadmin', namespace: 'flyte' });
    expect(after.metadata?.generation).toBe(before.metadata?.generation);

    // Rotate now, probing both tokens throughout.
    const oldPods = new Set(await controlPods());
    let stop = false;
    const samples: Array<{ oldPods: number; oldCode?: number; newPublished: boolean; newCode?: number }> = [];
    const probe = (async () => {
      while (!stop) {
        const live = (await controlPods()).filter((p) => oldPods.has(p)).length;
        const published = await publishedToken();
        const o = await whoAmI(env, DP, t1!);
        const n = published && published !== t1 ? await whoAmI(env, DP, published) : undefined;
        samples.push({ oldPods: live, ...(o.code ? { oldCode: o.code } : {}), newPublished: !!n, ...(n?.code ? { newCode: n.code } : {}) });
        await sleep(100);
      }
    })();
    const r3 = await runSync(deps(cfg), { rotateNow: true });
    stop = true;
    await probe;
    expect(r3.ok).toBe(true);
    expect(rot(r3)).toMatchObject({ generation: 2, rotated: true, reason: 'forced', revoked: 1, phase: 'idle', rollout: { complete: true } });
    // Zero unexpected 401s: the old token while any old pod lived, the new one once published.
    expect(samples.filter((s) => s.oldPods > 0 && s.oldCode !== undefined)).toEqual([]);
    expect(samples.filter((s) => s.newPublished && s.newCode !== undefined)).toEqual([]);
    // The probe saw the overlap (old pods still running while the new token was published).
    expect(samples.some((s) => s.oldPods > 0 && s.newPublished)).toBe(true);
    expect((await controlPods()).filter((p) => oldPods.has(p))).toEqual([]);

    const t2 = await publishedToken();
    expect(t2 !== t1).toBe(true);
    expect((await whoAmI(env, DP, t2!)).user?.username).toBe(`system:serviceaccount:flyte:${who.sa}`);
    expect(await refused(t1!)).toBe(401);
    expect(await secretExists(`${who.tokenSecret}-1`)).toBe(false);
    expect((await awsRecord(who.prefix, 'AWSCURRENT')).generation?.generation).toBe(2);
    expect((await awsRecord(who.prefix, 'AWSPREVIOUS')).generation?.generation).toBe(1);
    expect(await awsState(who.prefix)).toMatch(/^phase=idle gen=2 max=2 revoked=1@\d{4}-/);
    expect(Object.values(await awsStages(who.prefix)).flat()).not.toContain('AWSPENDING');

    // status says the same.
    const [st] = await rotationStatus(deps(cfg));
    expect(st).toMatchObject({ id: DP, mode: 'secret', generation: 2, phase: 'idle', pending: [], lastRevoked: { generation: 1 } });
    // A rollback to a revoked generation is refused, and changes nothing.
    await expect(rollback(deps(cfg), DP)).rejects.toThrow(/previous generation 1 no longer verifies.*nothing changed/);
    expect(await publishedToken()).toBe(t2);
  }, 240_000);

  it('restarts go through the config-checksum path: a restart the apply could not make is made by the next run; after the rotation the next sync restarts nothing', async () => {
    // Prepare: generation 1; the control plane's PATCH of syncresources fails once.
    const who = await newIdentity('cksum');
    const cfg = rotConfig(who, { mode: 'secret', every: 'off' });
    expect((await runSync(deps(cfg))).ok).toBe(true);
    const t1 = (await publishedToken())!;
    let failOnce = true;
    const base = deps(cfg);
    const flaky: SyncDeps = {
      ...base,
      controlPlane: async () => {
        const api = await base.controlPlane();
        return new Proxy(api, {
          get(t, p) {
            if (p === 'restartDeployment')
              return async (ns: string, name: string, at: string, annotations?: Record<string, string>) => {
                if (name === 'syncresources' && failOnce) {
                  failOnce = false;
                  throw new CredsyncError('KUBERNETES_API', 'simulated: PATCH of syncresources refused');
                }
                return t.restartDeployment(ns, name, at, annotations);
              };
            const v = Reflect.get(t, p, t);
            return typeof v === 'function' ? v.bind(t) : v;
          },
        });
      },
    };
    // Act: rotate now with the flaky control plane.
    const r = await runSync(flaky, { rotateNow: true });
    // Assess: reported, not waited for in vain, nothing revoked.
    expect(r.ok).toBe(false);
    expect(r.controlPlane?.restartFailures).toEqual([{ name: 'syncresources', code: 'KUBERNETES_API', reason: 'simulated: PATCH of syncresources refused' }]);
    expect(r.rotationError?.reason).toMatch(/syncresources: a restart after the new credential was published.*nothing revoked/);
    expect(rot(r)).toMatchObject({ generation: 2, phase: 'published', rollout: { complete: false } });
    expect((await whoAmI(env, DP, t1)).user).toBeDefined();
    // The next run restarts syncresources only (flyteadmin is at the checksum and restarted since), waits, revokes.
    const done = await runSync(deps(cfg));
    expect(done.ok).toBe(true);
    expect(done.controlPlane?.restarted).toEqual(['syncresources']);
    expect(rot(done)).toMatchObject({ generation: 2, revoked: 1, phase: 'idle' });
    expect(await refused(t1)).toBe(401);
    // The sync after the rotation: nothing written, nothing restarted; both Deployments carry the checksum.
    const generations = async () => Promise.all(['flyteadmin', 'syncresources'].map(async (name) => (await apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: 'flyte' })).metadata?.generation));
    const before = await generations();
    const quiet = await runSync(deps(cfg));
    expect([quiet.ok, quiet.controlPlane?.restarted, quiet.controlPlane?.applied]).toEqual([true, [], false]);
    expect(await generations()).toEqual(before);
    for (const name of ['flyteadmin', 'syncresources']) {
      const d = await apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: 'flyte' });
      expect([name, d.spec?.template?.metadata?.annotations?.['flyte-credsync.io/config-checksum']]).toEqual([name, quiet.controlPlane?.checksum]);
    }
  }, 240_000);

  it('migrates a credential from before rotation: generation 1 replaces it, then the hand-made token Secret (generation 0) is revoked', async () => {
    const who = await newIdentity('legacy');
    const c = core(env, DP);
    await c.createNamespacedSecret({
      namespace: 'flyte',
      body: { metadata: { name: who.tokenSecret, annotations: { 'kubernetes.io/service-account.name': who.sa } }, type: 'kubernetes.io/service-account-token' },
    });
    const plain = parseConfig({ ...rotConfig(who, {}), rotation: undefined });
    expect((await runSync(deps(plain))).ok).toBe(true);
    const legacy = await publishedToken();
    expect((await awsRecord(who.prefix, 'AWSCURRENT')).generation).toBeUndefined();

    const r = await runSync(deps(rotConfig(who, { mode: 'secret', every: '30d' })));
    expect(r.ok).toBe(true);
    expect(rot(r)).toMatchObject({ generation: 1, rotated: true, reason: 'due', revoked: 0, phase: 'idle' });
    expect(await secretExists(who.tokenSecret)).toBe(false);
    expect(await refused(legacy!)).toBe(401);
    expect((await whoAmI(env, DP, (await publishedToken())!)).user?.username).toBe(`system:serviceaccount:flyte:${who.sa}`);
  }, 240_000);

  it('resumes after a run killed after staging (pending version) and after promoting (before publishing)', async () => {
    const who = await newIdentity('resume');
    const cfg = rotConfig(who, { mode: 'secret', every: 'off' });
    expect((await runSync(deps(cfg))).ok).toBe(true);
    const t1 = await publishedToken();

    // Killed between stage and promote: the store throws where promote would have written.
    const d = deps(cfg);
    const store = d.store as AwsSecretsManagerStore;
    const crashing = Object.assign(Object.create(Object.getPrototypeOf(store)), store, {
      promote: async () => {
        throw new CredsyncError('STORE_ERROR', 'simulated crash before promote');
      },
    }) as AwsSecretsManagerStore;
    const killed = await runSync({ ...d, store: crashing }, { rotateNow: true });
    expect(killed.ok).toBe(false);
    expect((await awsRecord(who.prefix, 'AWSPENDING')).generation?.generation).toBe(2);
    expect((await awsRecord(who.prefix, 'AWSCURRENT')).generation?.generation).toBe(1);
    expect(await publishedToken()).toBe(t1);

    const resumed = await runSync(deps(cfg));
    expect(resumed.ok).toBe(true);
    expect(rot(resumed)).toMatchObject({ generation: 2, rotated: true, revoked: 1, phase: 'idle' });
    expect(Object.values(await awsStages(who.prefix)).flat()).not.toContain('AWSPENDING');
    expect(await refused(t1!)).toBe(401);

    // Killed after promoting, before the control plane was written.
    const t2 = await publishedToken();
    let failOnce = true;
    const d2 = deps(cfg);
    const cpDown = await runSync(
      {
        ...d2,
        controlPlane: async () => {
          if (failOnce) {
            failOnce = false;
            throw new CredsyncError('CLUSTER_UNREACHABLE', 'simulated: control plane unreachable');
          }
          return d2.controlPlane();
        },
      },
      { rotateNow: true },
    );
    expect(cpDown.ok).toBe(false);
    expect(cpDown.controlPlaneError?.code).toBe('CLUSTER_UNREACHABLE');
    expect(await awsState(who.prefix)).toMatch(/^phase=published gen=3 max=3 at=\S+ revoke=2/);
    expect((await whoAmI(env, DP, t2!)).user).toBeDefined(); // nothing revoked
    const done = await runSync(deps(cfg));
    expect(done.ok).toBe(true);
    expect(rot(done)).toMatchObject({ generation: 3, rotated: false, revoked: 2, phase: 'idle', rollout: { complete: true } });
    expect(await refused(t2!)).toBe(401);
  }, 240_000);

  it('resumes after the CLI is killed (SIGKILL) during the rollout wait: nothing revoked until the next run finishes it', async () => {
    const who = await newIdentity('kill');
    const cfg = rotConfig(who, { mode: 'secret', every: 'off' });
    expect((await runSync(deps(cfg))).ok).toBe(true);
    const t1 = await publishedToken();
    const dir = mkdtempSync(join(tmpdir(), 'credsync-rot-'));
    const file = join(dir, 'credsync.yaml');
    writeFileSync(file, stringify({ ...rawConfig(who, { mode: 'secret', every: 'off', rolloutTimeoutSeconds: 120 }) }));
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'lib/cli/main.ts', 'rotate', '--now', '--config', file, '--json'], {
      env: { ...process.env },
      stdio: 'ignore',
    });
    try {
      // Kill it as soon as the store says "published" (promoted; the rollout wait follows).
      const deadline = Date.now() + 120_000;
      while (!(await awsState(who.prefix))?.startsWith('phase=published') && Date.now() < deadline) await sleep(20);
      child.kill('SIGKILL');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    expect(await awsState(who.prefix)).toMatch(/^phase=published gen=2/);
    expect((await whoAmI(env, DP, t1!)).user).toBeDefined(); // the old token still works
    const done = await runSync(deps(cfg));
    expect(done.ok).toBe(true);
    expect(rot(done)).toMatchObject({ generation: 2, revoked: 1, phase: 'idle' });
    expect(await refused(t1!)).toBe(401);
  }, 240_000);

  it('a stuck pending version that no longer verifies is revoked and discarded; its generation is never reused', async () => {
    const who = await newIdentity('stuck');
    const cfg = rotConfig(who, { mode: 'secret', every: 'off' });
    expect((await runSync(deps(cfg))).ok).toBe(true);
    const t1 = await publishedToken();
    // A failed attempt left generation 2 staged, and its token Secret is gone since.
    const c = core(env, DP);
    const name = `${who.tokenSecret}-2`;
    await c.createNamespacedSecret({ namespace: 'flyte', body: { metadata: { name, annotations: { 'kubernetes.io/service-account.name': who.sa } }, type: 'kubernetes.io/service-account-token' } });
    const { token, ca } = await filledTokenSecret(env, DP, name);
    const store = deps(cfg).store as AwsSecretsManagerStore;
    await store.stage(
      makeRecord({
        clusterId: DP, endpoint: env.clusters[DP]!.server, token, caCert: ca,
        source: { server: env.clusters[DP]!.server, namespace: 'flyte', serviceAccount: who.sa, secret: name },
        generation: { generation: 2, mode: 'secret', object: name, issuedAt: new Date().toISOString() },
      }),
    );
    await c.deleteNamespacedSecret({ name, namespace: 'flyte' });
    expect(await refused(token)).toBe(401);

    const r = await runSync(deps(cfg));
    expect(r.ok).toBe(true);
    expect(rot(r)).toMatchObject({ generation: 1, rotated: false, discardedPending: 2, phase: 'idle' });
    expect(Object.values(await awsStages(who.prefix)).flat()).not.toContain('AWSPENDING');
    expect(await publishedToken()).toBe(t1);
    const next = await runSync(deps(cfg), { rotateNow: true });
    expect(rot(next)).toMatchObject({ generation: 3, rotated: true, revoked: 1 });
    expect(await secretExists(`${who.tokenSecret}-3`)).toBe(true);
  }, 240_000);

  it('a new credential that fails verification is never made current, and is revoked; the control plane keeps the last good one', async () => {
    const who = await newIdentity('reject');
    const cfg = rotConfig(who, { mode: 'secret', every: 'off' });
    expect((await runSync(deps(cfg))).ok).toBe(true);
    const t1 = await publishedToken();
    const stages = await awsStages(who.prefix);
    // The ServiceAccount loses flyteadmin's rights: every token of it now fails verification.
    await adminKubeConfig(env, DP).makeApiClient(RbacAuthorizationV1Api).deleteClusterRoleBinding({ name: who.sa });
    const r = await runSync(deps(cfg), { rotateNow: true });
    expect(r.ok).toBe(false);
    const c = r.clusters.find((x) => x.id === DP)!;
    expect(c).toMatchObject({ status: 'failed', code: 'CREDENTIAL_REJECTED', lastGoodKept: true });
    expect(c.reason).toMatch(/may not create flyteworkflows/);
    expect(await publishedToken()).toBe(t1);
    expect(await secretExists(`${who.tokenSecret}-2`)).toBe(false); // revoked
    const after = await awsStages(who.prefix);
    expect(Object.values(after).flat()).not.toContain('AWSPENDING');
    expect(Object.entries(after).find(([, s]) => s.includes('AWSCURRENT'))?.[0]).toBe(Object.entries(stages).find(([, s]) => s.includes('AWSCURRENT'))?.[0]);
    expect(await awsState(who.prefix)).toMatch(/max=2/);
  }, 240_000);

  it('a rollout that never completes revokes nothing and is reported; rollback re-publishes the previous generation; the next run finishes and revokes the one rolled back from', async () => {
    const who = await newIdentity('stall');
    const cfg = rotConfig(who, { mode: 'secret', every: 'off', rolloutTimeoutSeconds: 10 });
    expect((await runSync(deps(cfg))).ok).toBe(true);
    const t1 = await publishedToken();
    const a = apps(env, env.controlPlane);
    const patch = (nodeSelector: Record<string, string> | null) =>
      a.patchNamespacedDeployment({ name: 'flyteadmin', namespace: 'flyte', body: { spec: { template: { spec: { nodeSelector } } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    // New flyteadmin pods cannot be scheduled; maxUnavailable 0 keeps the old ones serving.
    await patch({ 'credsync-test/no-such-node': 'true' });
    try {
      const r = await runSync(deps(cfg), { rotateNow: true });
      expect(r.ok).toBe(false);
      expect(r.rotationError?.code).toBe('ROLLOUT_INCOMPLETE');
      expect(r.rotationError?.reason).toMatch(/flyteadmin: .*nothing revoked/);
      expect(rot(r)).toMatchObject({ generation: 2, rotated: true, phase: 'published', rollout: { complete: false } });
      expect(rot(r).revoked).toBeUndefined();
      expect((await whoAmI(env, DP, t1!)).user).toBeDefined();
      const t2 = await publishedToken();
      expect(t2 !== t1).toBe(true);

      const back = await rollback(deps(cfg), DP);
      expect(back.rotationError?.code).toBe('ROLLOUT_INCOMPLETE');
      expect(await publishedToken()).toBe(t1);
      expect(await awsState(who.prefix)).toMatch(/^phase=published gen=1 max=2 at=\S+ revoke=2/);

      await patch(null);
      const done = await runSync(deps(cfg));
      expect(done.ok).toBe(true);
      expect(rot(done)).toMatchObject({ generation: 1, revoked: 2, phase: 'idle', rollout: { complete: true } });
      expect(await refused(t2!)).toBe(401);
      expect((await whoAmI(env, DP, t1!)).user?.username).toBe(`system:serviceaccount:flyte:${who.sa}`);
    } finally {
      await patch(null);
    }
  }, 300_000);
});

describe('rotation as the shipped least-privilege identities (deploy/*.yaml)', () => {
  it('rotates, waits for the rollout and revokes with exactly those rights, in both modes', async () => {
    await applyManifest(env, env.controlPlane, 'deploy/controlplane-rbac.yaml');
    for (const id of env.dataPlanes) await applyManifest(env, id, 'deploy/dataplane-rbac.yaml');
    for (const id of env.dataPlanes) await applyManifest(env, id, 'deploy/dataplane-rotation-rbac.yaml');
    try {
      await rotateAsRestricted();
    } finally {
      // The shared environment keeps only the plain sync's rights (other files test exactly those).
      for (const id of env.dataPlanes) {
        const rbac = adminKubeConfig(env, id).makeApiClient(RbacAuthorizationV1Api);
        await rbac.deleteNamespacedRoleBinding({ name: 'flyte-credsync-rotation', namespace: 'flyte' }).catch(() => undefined);
        await rbac.deleteNamespacedRole({ name: 'flyte-credsync-rotation', namespace: 'flyte' }).catch(() => undefined);
      }
    }
  }, 300_000);
});

/** A rotation in both modes, as the restricted identity (its manifests applied by the caller). */
async function rotateAsRestricted(): Promise<void> {
  const kubeconfig = restrictedKubeconfig(env, 'credsync-bot', 'flyte-credsync');
  const tag = randomBytes(3).toString('hex');
  const raw = (mode: string, tokenSecret: string) => ({
    ...rawConfig({ sa: 'flyteadmin', tokenSecret, prefix: `it-rot-rbac-${mode}-${tag}/` }, { mode, every: 'off', rolloutTimeoutSeconds: 120, ...(mode === 'tokenRequest' ? { every: '1d', expirationSeconds: 3600, runEvery: '10m' } : {}) }),
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: kubeconfig }, defaultExecutionLabel: 'team1' },
    dataPlanes: [{ id: 'dp2', access: { type: 'kubeconfig', context: 'dp2', path: kubeconfig }, tokenSecret, labels: { team1: 1 } }],
  });
  for (const mode of ['secret', 'tokenRequest']) {
    const tokenSecret = `rot-rbac-${mode.toLowerCase()}-${tag}`;
    const cfg = parseConfig(raw(mode, tokenSecret));
    const first = await runSync(deps(cfg));
    expect(first.controlPlaneError).toBeUndefined();
    expect(first.rotationError).toBeUndefined();
    expect(first.ok).toBe(true);
    const r = await runSync(deps(cfg), { rotateNow: true });
    expect(r.ok).toBe(true);
    expect(r.clusters[0]!.rotation).toMatchObject({ mode, generation: 2, revoked: 1, phase: 'idle', rollout: { complete: true } });
    expect(await core(env, 'dp2').readNamespacedSecret({ name: `${tokenSecret}-1`, namespace: 'flyte' }).then(() => true, () => false)).toBe(false);
  }
  // The identity is still restricted: no other Deployment, no Secret outside its namespace.
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  kc.setCurrentContext(env.controlPlane);
  await expect(kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'other', namespace: 'flyte' })).rejects.toMatchObject({ code: 403 });
  kc.setCurrentContext('dp2');
  await expect(kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'x', namespace: 'kube-system' })).rejects.toMatchObject({ code: 403 });
}

describe('AWS Secrets Manager rotation protocol (the fourth Lambda, handlers/secretsManagerRotation.ts)', () => {
  /**
   * What RotateSecret does before it invokes the rotation function: enable rotation and label the
   * ClientRequestToken AWSPENDING, without a value. moto cannot invoke a Lambda here, so it does
   * exactly that and then answers ResourceNotFoundException for the function: the state in which
   * Secrets Manager would call createSecret.
   */
  async function rotateSecret(arn: string, token: string): Promise<void> {
    await expect(
      awsClient(env).send(new RotateSecretCommand({ SecretId: arn, ClientRequestToken: token, RotationLambdaARN: NO_SUCH_FUNCTION, RotationRules: { AutomaticallyAfterDays: 30 } })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException', message: expect.stringContaining(NO_SUCH_FUNCTION) });
    const d = await awsClient(env).send(new DescribeSecretCommand({ SecretId: arn }));
    expect([d.RotationEnabled, d.VersionIdsToStages?.[token]]).toEqual([true, ['AWSPENDING']]);
  }
  const NO_SUCH_FUNCTION = 'arn:aws:lambda:us-east-1:123456789012:function:credsync-rotation-not-in-moto';

  it('createSecret/setSecret/testSecret/finishSecret after RotateSecret rotate, publish and revoke; each step is idempotent; a failed attempt\'s generation is revoked by the next attempt', async () => {
    const who = await newIdentity('sm');
    const dir = mkdtempSync(join(tmpdir(), 'credsync-rot-sm-'));
    const file = join(dir, 'credsync.yaml');
    writeFileSync(file, stringify(rawConfig(who, { mode: 'secret', every: 'off', rolloutTimeoutSeconds: 120 })));
    const cfg = parseConfig(rawConfig(who, { mode: 'secret', every: 'off', rolloutTimeoutSeconds: 120 }));
    expect((await runSync(deps(cfg))).ok).toBe(true);
    const t1 = (await publishedToken())!;
    process.env['CREDSYNC_CONFIG'] = file;
    process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
    const { handler } = await import('../../handlers/secretsManagerRotation.ts');
    const arn = (await awsClient(env).send(new DescribeSecretCommand({ SecretId: `${who.prefix}${DP}` }))).ARN!;
    const step = (Step: string, token: string) => handler({ Step, SecretId: arn, ClientRequestToken: token });

    await expect(handler({ Step: 'rotate', SecretId: arn, ClientRequestToken: 'x' })).rejects.toThrow(/invalid Secrets Manager rotation event: Step must be one of createSecret, setSecret, testSecret, finishSecret; ClientRequestToken must be 32-64 characters/);

    // Refused, changing nothing: rotation not enabled on the secret; a token that is not a version in rotation.
    const unchanged = async () => {
      const d = await awsClient(env).send(new DescribeSecretCommand({ SecretId: arn }));
      const objects = (await core(env, DP).listNamespacedSecret({ namespace: 'flyte' })).items.map((x) => x.metadata!.name!).filter((n) => n.startsWith(who.tokenSecret));
      return { stages: d.VersionIdsToStages, tags: d.Tags, objects, published: await publishedToken() };
    };
    const before = await unchanged();
    const notEnabled = randomUUID();
    await expect(step('createSecret', notEnabled)).rejects.toMatchObject({
      code: 'ROTATION_NOT_ENABLED',
      message: `secret ${arn}: rotation is not enabled on it (DescribeSecret: RotationEnabled is false); createSecret refused, nothing changed`,
    });
    await expect(step('finishSecret', notEnabled)).rejects.toMatchObject({ code: 'ROTATION_NOT_ENABLED' });
    expect(await unchanged()).toEqual(before);

    // A first attempt that fails its test: the ServiceAccount lost flyteadmin's rights.
    const failed = randomUUID();
    await rotateSecret(arn, failed);
    const stray = randomUUID();
    const beforeStray = await unchanged();
    await expect(step('createSecret', stray)).rejects.toMatchObject({
      code: 'EVENT_INVALID',
      message: `secret ${arn}: version ${stray} has no stage for rotation (it is not a version Secrets Manager is rotating); createSecret refused, nothing changed`,
    });
    expect(await unchanged()).toEqual(beforeStray);
    expect((await step('createSecret', failed)).outcome).toBe('minted generation 2');
    expect((await step('createSecret', failed)).outcome).toBe('already staged');
    expect((await awsStages(who.prefix))[failed]).toEqual(['AWSPENDING']);
    const rbac = adminKubeConfig(env, DP).makeApiClient(RbacAuthorizationV1Api);
    const binding = await rbac.readClusterRoleBinding({ name: who.sa });
    await rbac.deleteClusterRoleBinding({ name: who.sa });
    await expect(step('testSecret', failed)).rejects.toMatchObject({ code: 'CREDENTIAL_REJECTED' });
    await rbac.createClusterRoleBinding({ body: { metadata: { name: who.sa }, roleRef: binding.roleRef, subjects: binding.subjects ?? [] } });
    const failedToken = (await awsRecord(who.prefix, 'AWSPENDING')).token;
    expect(await secretExists(`${who.tokenSecret}-2`)).toBe(true);

    // The next attempt: RotateSecret moves AWSPENDING to its token, so generation 2 is no longer
    // staged anywhere; createSecret still finds its object and revokes it, then the whole protocol runs.
    const token = randomUUID();
    await rotateSecret(arn, token);
    expect((await step('createSecret', token)).outcome).toBe('minted generation 3 (revoked stuck generation 2)');
    expect(await secretExists(`${who.tokenSecret}-2`)).toBe(false);
    expect(await refused(failedToken)).toBe(401);
    const stages = await awsStages(who.prefix);
    expect(stages[token]).toEqual(['AWSPENDING']);
    expect(stages[failed] ?? []).not.toContain('AWSPENDING');
    expect((await step('setSecret', token)).outcome).toBe('nothing to set');
    expect((await step('testSecret', token)).outcome).toBe('verified');
    expect(await publishedToken()).toBe(t1);
    const fin = await step('finishSecret', token);
    expect(fin.outcome).toBe('promoted');
    expect(fin.report?.ok).toBe(true);
    expect(fin.report?.clusters[0]?.rotation).toMatchObject({ generation: 3, revoked: 1, phase: 'idle' });
    expect((await awsStages(who.prefix))[token]).toEqual(expect.arrayContaining(['AWSCURRENT']));
    expect(await refused(t1)).toBe(401);
    const t3 = await publishedToken();
    expect((await whoAmI(env, DP, t3!)).user?.username).toBe(`system:serviceaccount:flyte:${who.sa}`);
    // Retried by Secrets Manager: nothing more happens.
    expect((await step('finishSecret', token)).report?.clusters[0]?.rotation).toMatchObject({ generation: 3, rotated: false, phase: 'idle' });
    expect(await publishedToken()).toBe(t3);
    // A version that is in the secret but not in rotation (AWSPREVIOUS now) is refused.
    const previous = Object.entries(await awsStages(who.prefix)).find(([, st]) => st.includes('AWSPREVIOUS'))![0];
    const beforePrevious = await unchanged();
    await expect(step('testSecret', previous)).rejects.toMatchObject({ code: 'EVENT_INVALID', message: `secret ${arn}: version ${previous} is not AWSPENDING (its stages: AWSPREVIOUS); testSecret refused, nothing changed` });
    // Rotation turned off again (CancelRotateSecret): refused.
    await awsClient(env).send(new CancelRotateSecretCommand({ SecretId: arn }));
    await expect(step('createSecret', randomUUID())).rejects.toMatchObject({ code: 'ROTATION_NOT_ENABLED' });
    expect(await unchanged()).toEqual(beforePrevious);
  }, 240_000);
});

describe.each([
  ['GCP Secret Manager (emulator)', 'gcp', 'secret'],
  ['AWS Secrets Manager (moto)', 'aws', 'tokenRequest'],
])('rotation cases with %s, %s store, %s mode', (_label, storeKind, mode) => {
  let gcp: SecretManagerServiceClient | undefined;
  afterAll(async () => {
    await gcp?.close();
  });

  it('resume after a crash before promoting, stuck pending, failed verification, a stalled rollout and rollback, refused rollback', async () => {
    const who = await newIdentity(`m${mode === 'secret' ? 's' : 't'}${storeKind}`);
    const rotation = { mode, every: '1d', rolloutTimeoutSeconds: 10, ...(mode === 'tokenRequest' ? { expirationSeconds: 3600, runEvery: '10m' } : {}) };
    let cfg: Config;
    let d: () => SyncDeps;
    if (storeKind === 'gcp') {
      gcp = (await gcpSecretManagerClient(env.gcp.secretManagerEndpoint)) as SecretManagerServiceClient;
      cfg = rotConfig(who, rotation, { gcp: { project: env.gcp.project, prefix: `it-rot-${randomBytes(3).toString('hex')}-`, emulatorHost: env.gcp.secretManagerEndpoint } });
      d = () => buildDeps(cfg, log, { gcpSecretManager: gcp! });
    } else {
      cfg = rotConfig(who, rotation);
      d = () => deps(cfg);
    }
    const view = () => (d().store as unknown as RotatingStore).view(DP);
    const gen = (s: { record: { generation?: { generation: number } } } | undefined) => s?.record.generation?.generation;

    // 1. Generation 1.
    expect(rot(await runSync(d()))).toMatchObject({ mode, generation: 1, rotated: true, phase: 'idle' });
    const t1 = (await publishedToken())!;

    // 2. A run that crashes after staging, before promoting: the next run resumes it.
    const base = d();
    const crashing = new Proxy(base.store, {
      get(t, p) {
        if (p === 'promote') return async () => { throw new CredsyncError('STORE_ERROR', 'simulated crash before promote'); };
        const v = Reflect.get(t, p, t);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    expect((await runSync({ ...base, store: crashing }, { rotateNow: true })).ok).toBe(false);
    let v = await view();
    expect([gen(v?.current), gen(v?.pending)]).toEqual([1, 2]);
    expect(await publishedToken()).toBe(t1);
    const resumed = await runSync(d());
    expect(rot(resumed)).toMatchObject({ generation: 2, rotated: true, revoked: 1, phase: 'idle' });
    expect(await refused(t1)).toBe(401);
    const t2 = (await publishedToken())!;

    // 3. A stuck pending version (generation 3) whose object was deleted since: revoked and discarded.
    const dep = d();
    const api = await dep.rotation!.dataPlane(cfg.dataPlanes[0]!);
    const stuck = await mintNext(dep, cfg.dataPlanes[0]!, api, settingsFor(cfg, cfg.dataPlanes[0]!)!, 3);
    await (dep.store as unknown as RotatingStore).stage(stuck);
    await api.deleteSecret('flyte', `${who.tokenSecret}-3`);
    expect(await refused(stuck.token)).toBe(401);
    expect(rot(await runSync(d()))).toMatchObject({ generation: 2, rotated: false, discardedPending: 3 });
    v = await view();
    expect(v?.pending).toBeUndefined();
    expect(v?.state?.highest).toBe(3);

    // 4. A new credential that fails verification: never current, revoked; the control plane keeps generation 2.
    const rbac = adminKubeConfig(env, DP).makeApiClient(RbacAuthorizationV1Api);
    const binding = await rbac.readClusterRoleBinding({ name: who.sa });
    await rbac.deleteClusterRoleBinding({ name: who.sa });
    const rejected = await runSync(d(), { rotateNow: true });
    expect(rejected.clusters[0]).toMatchObject({ status: 'failed', code: 'CREDENTIAL_REJECTED', lastGoodKept: true });
    expect(await secretExists(`${who.tokenSecret}-4`)).toBe(false);
    expect(gen((await view())?.current)).toBe(2);
    expect(await publishedToken()).toBe(t2);
    await rbac.createClusterRoleBinding({ body: { metadata: { name: who.sa }, roleRef: binding.roleRef, subjects: binding.subjects ?? [] } });

    // 5. A rollout that stalls: nothing revoked; rollback to generation 2; the next run revokes 5.
    const a = apps(env, env.controlPlane);
    const patch = (nodeSelector: Record<string, string> | null) =>
      a.patchNamespacedDeployment({ name: 'flyteadmin', namespace: 'flyte', body: { spec: { template: { spec: { nodeSelector } } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await patch({ 'credsync-test/no-such-node': 'true' });
    try {
      const stalled = await runSync(d(), { rotateNow: true });
      expect(stalled.rotationError?.code).toBe('ROLLOUT_INCOMPLETE');
      expect(rot(stalled)).toMatchObject({ generation: 5, phase: 'published' });
      expect((await whoAmI(env, DP, t2)).user).toBeDefined();
      const t5 = (await publishedToken())!;
      const back = await rollback(d(), DP);
      expect(back.clusters[0]?.rotation).toMatchObject({ generation: 2, phase: 'published' });
      expect(await publishedToken()).toBe(t2);
      await patch(null);
      expect(rot(await runSync(d()))).toMatchObject({ generation: 2, revoked: 5, phase: 'idle' });
      expect(await refused(t5)).toBe(401);
      expect((await whoAmI(env, DP, t2)).user?.username).toBe(`system:serviceaccount:flyte:${who.sa}`);
    } finally {
      await patch(null);
    }

    // 6. Rollback after a completed rotation: the previous generation is revoked, so it is refused.
    expect(rot(await runSync(d(), { rotateNow: true }))).toMatchObject({ generation: 6, revoked: 2 });
    await expect(rollback(d(), DP)).rejects.toMatchObject({ code: 'ROLLBACK_IMPOSSIBLE' });
  }, 300_000);
});

/** The raw (file) form of rotConfig. */
function rawConfig(who: Identity, rotation: Record<string, unknown>) {
  return {
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, defaultExecutionLabel: 'team1' },
    store: { aws: { region: env.aws.region, prefix: who.prefix, endpoint: env.aws.endpoint } },
    dataPlanes: [{ id: DP, access: { type: 'kubeconfig', context: DP, path: env.kubeconfig }, serviceAccount: who.sa, tokenSecret: who.tokenSecret, labels: { team1: 1 } }],
    tokenWaitSeconds: 30,
    rotation: { runEvery: '1h', ...rotation },
  };
}

describe('rotation, tokenRequest mode', () => {
  it('refuses a schedule that cannot renew a bounded token in time', () => {
    let err: unknown;
    try {
      parseConfig({ ...rawConfig({ sa: 'x', tokenSecret: 'x-token', prefix: 'p/' }, { mode: 'tokenRequest', expirationSeconds: 3600, runEvery: '6h' }) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toEqual([{ path: 'rotation', message: expect.stringMatching(/raise expirationSeconds to at least 65340/) }]);
  });

  it('mints a bounded token bound to a per-generation Secret, renews it at two thirds of its lifetime, and revokes by deleting that Secret', async () => {
    const who = await newIdentity('tr');
    const cfg = rotConfig(who, { mode: 'tokenRequest', expirationSeconds: 600, runEvery: '1m', rolloutTimeoutSeconds: 60 });
    const r1 = await runSync(deps(cfg));
    expect(r1.ok).toBe(true);
    expect(rot(r1)).toMatchObject({ mode: 'tokenRequest', generation: 1, rotated: true, phase: 'idle' });
    const t1 = (await publishedToken())!;
    const claims = JSON.parse(Buffer.from(t1.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number; 'kubernetes.io': { secret?: { name: string } } };
    expect(claims.exp - claims.iat).toBe(600);
    expect(claims['kubernetes.io'].secret?.name).toBe(`${who.tokenSecret}-1`);
    const rec = await awsRecord(who.prefix, 'AWSCURRENT');
    expect(Date.parse(rec.generation!.expiresAt!)).toBe(claims.exp * 1000);
    expect((await core(env, DP).readNamespacedSecret({ name: `${who.tokenSecret}-1`, namespace: 'flyte' })).type).toBe('Opaque');

    // Not yet due at 399 s; due at 401 s (two thirds of 600).
    const issued = Date.now();
    const at = (s: number) => () => new Date(issued + s * 1000);
    const early = await runSync(deps(cfg, { now: at(390) }));
    expect(rot(early)).toMatchObject({ generation: 1, rotated: false });
    const renew = await runSync(deps(cfg, { now: at(410) }));
    expect(renew.ok).toBe(true);
    expect(rot(renew)).toMatchObject({ generation: 2, rotated: true, reason: 'due', revoked: 1 });
    expect(await secretExists(`${who.tokenSecret}-1`)).toBe(false);
    expect(await refused(t1)).toBe(401);
    expect((await whoAmI(env, DP, (await publishedToken())!)).user?.username).toBe(`system:serviceaccount:flyte:${who.sa}`);
  }, 240_000);
});

describe('rotation, GCP Secret Manager (emulator): version aliases and annotations', () => {
  let client: SecretManagerServiceClient;
  beforeAll(async () => {
    client = (await gcpSecretManagerClient(env.gcp.secretManagerEndpoint)) as SecretManagerServiceClient;
  });
  afterAll(async () => {
    await client.close();
  });

  it('rotates with aliases current/pending/previous; a plain read never sees a staged version', async () => {
    const who = await newIdentity('gcp');
    const prefix = `it-rot-${randomBytes(3).toString('hex')}-`;
    const cfg = rotConfig(who, { mode: 'secret', every: 'off' }, { gcp: { project: env.gcp.project, prefix, emulatorHost: env.gcp.secretManagerEndpoint } });
    const d = () => ({ ...buildDeps(cfg, log, { gcpSecretManager: client }) });
    const r1 = await runSync(d());
    expect(r1.ok).toBe(true);
    const t1 = await publishedToken();
    const name = `projects/${env.gcp.project}/secrets/${prefix}${DP}`;
    const [s1] = await client.getSecret({ name });
    expect(s1.versionAliases).toEqual({ current: expect.anything() });
    expect(s1.annotations?.['flyte-credsync-rotation']).toBe('phase=idle gen=1 max=1');

    // A staged version is the newest, yet the plain read (what renders the control plane) keeps `current`.
    const store = d().store as GcpSecretManagerStore;
    const cur = (await store.get(DP))!;
    await store.stage({ ...cur.record, generation: { ...cur.record.generation!, generation: 9 } });
    expect((await store.get(DP))!.versionId).toBe(cur.versionId);
    const view = await store.view(DP);
    expect(view?.pending?.record.generation?.generation).toBe(9);
    await store.discard(DP, view!.pending!.versionId);

    const r2 = await runSync(d(), { rotateNow: true });
    expect(r2.ok).toBe(true);
    expect(rot(r2)).toMatchObject({ generation: 2, rotated: true, revoked: 1, phase: 'idle' });
    const [s2] = await client.getSecret({ name });
    expect(Object.keys(s2.versionAliases ?? {}).sort()).toEqual(['current', 'previous']);
    expect(s2.annotations?.['flyte-credsync-rotation']).toMatch(/^phase=idle gen=2 max=2 revoked=1@/);
    expect(await refused(t1!)).toBe(401);
    const t2 = await publishedToken();
    expect((await whoAmI(env, DP, t2!)).user?.username).toBe(`system:serviceaccount:flyte:${who.sa}`);
  }, 240_000);
});
