/**
 * The whole sync against the local environment's real kube-apiservers (token controller
 * included) and moto, through the real client libraries.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import { AuthenticationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import { runSync } from '../../lib/sync/sync.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { lineLog } from '../../lib/util/log.ts';
import type { Config } from '../../lib/config/schema.ts';
import {
  applyManifest,
  apps,
  awsClient,
  contentState,
  core,
  deleteTokenSecret,
  envConfig,
  secretsIn,
  exportAwsEnv,
  filledTokenSecret,
  loadTestEnv,
  podsOf,
  resetControlPlane,
  restrictedKubeconfig,
  rolledOut,
  startedOnContent,
  tokenKubeConfig,
  uniquePrefix,
  writableState,
  type EnvInfo,
} from './helpers.ts';

let env: EnvInfo;
const logs: string[] = [];
const log = lineLog({ verbose: true, write: (l) => logs.push(l) });
const sm = () => awsClient(env);

async function sync(cfg: Config, opts: { dryRun?: boolean; clusters?: string[] } = {}) {
  return runSync(buildDeps(cfg, log, { secretsManager: sm() }), opts);
}

async function controlState() {
  const c = core(env, env.controlPlane);
  const secret = await c.readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined);
  const cms = await Promise.all(['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'].map((name) => c.readNamespacedConfigMap({ name, namespace: 'flyte' })));
  const deps = await Promise.all(['flyteadmin', 'syncresources'].map((name) => apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: 'flyte' })));
  return {
    secret,
    secretRv: secret?.metadata?.resourceVersion,
    cmRvs: cms.map((c) => c.metadata?.resourceVersion),
    cms,
    restartedAt: deps.map((d) => d.spec?.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']),
    // Spec changes (a restart) bump the generation; the status of a rollout in progress (real
    // since the environment schedules pods) changes the resourceVersion without any write of ours.
    depGenerations: deps.map((d) => d.metadata?.generation),
  };
}

const FORGED = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImZvcmdlZCJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Zmx5dGU6Zmx5dGVhZG1pbiJ9.Zm9yZ2VkLXNpZ25hdHVyZQ';

/**
 * A token Secret `forged-token` of flyteadmin's ServiceAccount on `cluster` holding a forged token
 * (the token controller keeps a token that is present); returns the forged token.
 */
async function forgedTokenSecret(cluster: string): Promise<string> {
  const c = core(env, cluster);
  await c.deleteNamespacedSecret({ name: 'forged-token', namespace: 'flyte' }).catch(() => undefined);
  await c.createNamespacedSecret({
    namespace: 'flyte',
    body: { metadata: { name: 'forged-token', annotations: { 'kubernetes.io/service-account.name': 'flyteadmin' } }, type: 'kubernetes.io/service-account-token', stringData: { token: FORGED } },
  });
  await filledTokenSecret(env, cluster, 'forged-token');
  return FORGED;
}

async function versionCount(name: string): Promise<number> {
  const v = await sm().send(new ListSecretVersionIdsCommand({ SecretId: name }));
  return v.Versions?.length ?? 0;
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

describe('sync against the local environment', () => {
  it('first sync: creates the missing token Secret, verifies, stores, writes the control plane and restarts; a re-sync is a no-op', async () => {
    // Prepare: the last data plane has no token Secret yet.
    const last = env.dataPlanes.at(-1)!;
    await deleteTokenSecret(env, last);
    const prefix = uniquePrefix('first');
    const cfg = envConfig(env, prefix);
    // Act
    const r = await sync(cfg);
    // Assess: every data plane synced
    expect(r.clusters.map((c) => [c.id, c.status, c.store])).toEqual(env.dataPlanes.map((id) => [id, 'updated', 'created']));
    expect(r.ok).toBe(true);
    expect(r.clusters.find((c) => c.id === last)!.tokenSecretCreated).toBe(true);
    expect(r.clusters[0]!.identity).toBe('system:serviceaccount:flyte:flyteadmin');

    const st = await controlState();
    for (const id of env.dataPlanes) {
      const { token, ca } = await filledTokenSecret(env, id);
      const stored = Buffer.from(st.secret!.data![`${id}_token`]!, 'base64').toString();
      const storedCa = Buffer.from(st.secret!.data![`${id}_cacert`]!, 'base64').toString();
      expect(stored === token).toBe(true); // exact bytes (compared without printing a token on failure)
      expect(stored.endsWith('\n')).toBe(false);
      expect(storedCa === ca).toBe(true);
      // What flyteadmin will mount really authenticates to that data plane.
      const review = await tokenKubeConfig(env.clusters[id]!.server, storedCa, stored)
        .makeApiClient(AuthenticationV1Api)
        .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
      expect(review.status?.userInfo?.username).toBe('system:serviceaccount:flyte:flyteadmin');
      // The store holds it, tagged as ours.
      const d = await sm().send(new DescribeSecretCommand({ SecretId: `${prefix}${id}` }));
      expect(d.Tags).toEqual(expect.arrayContaining([{ Key: 'managed-by', Value: 'flyte-credsync' }]));
      const v = JSON.parse((await sm().send(new GetSecretValueCommand({ SecretId: `${prefix}${id}` }))).SecretString!);
      expect(v.token === token && v.caCert === ca).toBe(true);
      expect(v).toMatchObject({ clusterId: id, endpoint: env.clusters[id]!.server, source: { namespace: 'flyte', serviceAccount: 'flyteadmin', secret: 'flyteadmin-token' } });
    }
    for (const cm of st.cms) {
      const doc = parse(cm.data!['clusters.yaml']!);
      expect(doc.clusters.defaultExecutionLabel).toBe('team1');
      expect(doc.clusters.clusterConfigs).toEqual(
        env.dataPlanes.map((id) => ({
          name: id,
          endpoint: env.clusters[id]!.server,
          enabled: true,
          auth: { tokenPath: `/var/run/credentials/${id}_token`, certPath: `/var/run/credentials/${id}_cacert` },
        })),
      );
      expect(doc.clusters.labelClusterMap.team1).toEqual(env.dataPlanes.map((id, i) => ({ id, weight: i === 0 ? 1 : 0.5 })));
      expect(doc.clusters.labelClusterMap.gpu).toEqual([{ id: env.dataPlanes[0], weight: 0.5 }]);
    }
    // The other keys of the clusterresourcesync ConfigMap are kept.
    expect(Object.keys(st.cms[1]!.data!).sort()).toEqual(expect.arrayContaining(['cluster_resources.yaml', 'clusters.yaml']));
    expect(Object.keys(st.cms[1]!.data!).length).toBeGreaterThan(2);
    expect(st.restartedAt.every((a) => typeof a === 'string')).toBe(true);

    // Act again: nothing changed.
    const versions = await versionCount(`${prefix}${env.dataPlanes[0]}`);
    const again = await sync(cfg);
    const st2 = await controlState();
    // Assess: no write anywhere, no restart.
    expect(again.ok).toBe(true);
    expect(again.clusters.every((c) => c.status === 'unchanged' && c.store === 'unchanged')).toBe(true);
    expect(st2.secretRv).toBe(st.secretRv);
    expect(st2.cmRvs).toEqual(st.cmRvs);
    expect(st2.depGenerations).toEqual(st.depGenerations);
    expect(again.controlPlane!.restarted).toEqual([]);
    expect(await versionCount(`${prefix}${env.dataPlanes[0]}`)).toBe(versions);
  });

  it('restarts sent right after the writes: pods created in the second of the writes carry their ids, and the next sync restarts nothing', async () => {
    // The API server's times are whole seconds; nothing waits between the last write and the
    // restart, so the new pods are often created in the same second as the content they load.
    // Repeated until that happened at least once (each round: a first sync, its rollout, a re-sync).
    const cfg = envConfig(env, uniquePrefix('same-second'));
    const rounds: Array<{ sameSecond: boolean; noop: unknown }> = [];
    for (let i = 0; i < 10 && !rounds.some((r) => r.sameSecond); i++) {
      await resetControlPlane(env);
      const first = await sync(cfg);
      expect(first.controlPlane!.restarted).toEqual(['flyteadmin', 'syncresources']);
      await rolledOut(env);
      const content = await contentState(env);
      const pods = (await Promise.all(['flyteadmin', 'syncresources'].map((d) => podsOf(env, d)))).flat();
      // Every pod started on this content: a later second, or its second with the writes' ids.
      for (const pod of pods) expect({ pod, content, ok: startedOnContent(pod, content) }).toMatchObject({ ok: true });
      const noop = await sync(cfg);
      rounds.push({ sameSecond: pods.some((p) => p.created === content.changedAt), noop: [noop.ok, noop.controlPlane!.applied, noop.controlPlane!.restarted] });
    }
    for (const r of rounds) expect(r.noop).toEqual([true, false, []]);
    expect(rounds.some((r) => r.sameSecond)).toBe(true);
  }, 600_000);

  it('rotation: a new token makes a new store version (AWSPREVIOUS kept), updates the Secret and restarts', async () => {
    const prefix = uniquePrefix('rotate');
    const cfg = envConfig(env, prefix);
    expect((await sync(cfg)).ok).toBe(true);
    const dp = env.dataPlanes[1]!;
    const old = await filledTokenSecret(env, dp);
    const before = await controlState();
    // Rotate. A legacy token is a JWT without iat/exp over (namespace, Secret name, ServiceAccount
    // name and uid): re-creating the Secret alone gives the very same bytes. A new ServiceAccount
    // (new uid) gives a new token; its token Secrets go with the old one.
    const c = core(env, dp);
    await c.deleteNamespacedServiceAccount({ name: 'flyteadmin', namespace: 'flyte' });
    await deleteTokenSecret(env, dp);
    await c.createNamespacedServiceAccount({ namespace: 'flyte', body: { metadata: { name: 'flyteadmin' } } });
    const r = await sync(cfg);
    expect(r.ok).toBe(true);
    expect(r.clusters.find((c) => c.id === dp)).toMatchObject({ status: 'updated', store: 'updated', tokenSecretCreated: true });
    const fresh = await filledTokenSecret(env, dp);
    expect(fresh.token === old.token).toBe(false);
    const prev = await sm().send(new GetSecretValueCommand({ SecretId: `${prefix}${dp}`, VersionStage: 'AWSPREVIOUS' }));
    expect(JSON.parse(prev.SecretString!).token === old.token).toBe(true);
    const cur = await sm().send(new GetSecretValueCommand({ SecretId: `${prefix}${dp}` }));
    expect(JSON.parse(cur.SecretString!).token === fresh.token).toBe(true);
    const after = await controlState();
    expect(Buffer.from(after.secret!.data![`${dp}_token`]!, 'base64').toString() === fresh.token).toBe(true);
    expect(r.controlPlane!.secret.changed).toEqual([`${dp}_token`]);
    expect(after.cmRvs).toEqual(before.cmRvs); // clusters.yaml did not change
    expect(after.restartedAt).not.toEqual(before.restartedAt);
  });

  it('dry run: reads and verifies, reports the exact diff, writes nothing anywhere', async () => {
    const prefix = uniquePrefix('dry');
    const cfg = envConfig(env, prefix);
    const before = await controlState();
    const everything = await writableState(env, prefix);
    const r = await sync(cfg, { dryRun: true });
    expect(r.dryRun).toBe(true);
    expect(r.clusters.every((c) => c.status === 'updated' && c.store === 'created')).toBe(true);
    expect(r.controlPlane!.secret.action).toBe('create');
    expect(r.controlPlane!.configMaps[0]!.diff).toContain(`+    - name: ${env.dataPlanes[0]}`);
    expect(r.controlPlane!.restarted).toEqual(['flyteadmin', 'syncresources']);
    const after = await controlState();
    expect(after.secret).toBeUndefined();
    expect(after.cmRvs).toEqual(before.cmRvs);
    expect(after.depGenerations).toEqual(before.depGenerations);
    await expect(sm().send(new DescribeSecretCommand({ SecretId: `${prefix}${env.dataPlanes[0]}` }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    // Anywhere: no store entry of any data plane, no token Secret made on a data plane, not even the Lease.
    expect(await writableState(env, prefix)).toEqual(everything);
  });

  it('a token that does not authenticate, and one that is not allowed, are never published; healthy clusters still sync', async () => {
    // Prepare: on dp1 a token Secret holding a forged token (the controller keeps a present token);
    // on dp2 the token of a ServiceAccount without flyteadmin's rights.
    const [dp1, dp2, dp3] = env.dataPlanes as [string, string, string];
    const forged = await forgedTokenSecret(dp1);
    const c2 = core(env, dp2);
    await c2.createNamespacedServiceAccount({ namespace: 'flyte', body: { metadata: { name: 'norights' } } }).catch(() => undefined);
    await c2.deleteNamespacedSecret({ name: 'norights-token', namespace: 'flyte' }).catch(() => undefined);
    await c2.createNamespacedSecret({
      namespace: 'flyte',
      body: { metadata: { name: 'norights-token', annotations: { 'kubernetes.io/service-account.name': 'norights' } }, type: 'kubernetes.io/service-account-token' },
    });
    const prefix = uniquePrefix('reject');
    const base = (id: string) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: { team1: 1 } });
    const cfg = envConfig(env, prefix, {}, [
      { ...base(dp1), tokenSecret: 'forged-token' },
      { ...base(dp2), serviceAccount: 'norights', tokenSecret: 'norights-token' },
      base(dp3),
    ]);
    // Act
    const r = await sync(cfg);
    // Assess
    expect(r.ok).toBe(false);
    expect(r.clusters.find((c) => c.id === dp1)).toMatchObject({
      status: 'failed',
      code: 'CREDENTIAL_REJECTED',
      reason: `cluster ${dp1}: credential rejected: the token does not authenticate (HTTP 401)`,
    });
    expect(r.clusters.find((c) => c.id === dp2)).toMatchObject({
      status: 'failed',
      code: 'CREDENTIAL_REJECTED',
      reason: `cluster ${dp2}: credential rejected: system:serviceaccount:flyte:norights may not create flyteworkflows.flyte.lyft.com, get namespaces`,
    });
    expect(r.clusters.find((c) => c.id === dp3)).toMatchObject({ status: 'updated' });
    for (const id of [dp1, dp2])
      await expect(sm().send(new DescribeSecretCommand({ SecretId: `${prefix}${id}` }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const st = await controlState();
    expect(Object.keys(st.secret!.data!).sort()).toEqual([`${dp3}_cacert`, `${dp3}_token`]);
    expect(JSON.stringify(r)).not.toContain(forged);
  });

  it('a rejected token read now does not unpublish the stored credential that still verifies: it stays published and routed', async () => {
    // Prepare: dp1 published from its good token Secret; then its configuration names a token
    // Secret that holds a forged token (the good Secret, and so the published token, stay valid).
    const [dp1, dp2] = env.dataPlanes as [string, string];
    const prefix = uniquePrefix('stillverifies');
    const base = (id: string) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: { team1: 1 } });
    expect((await sync(envConfig(env, prefix, {}, [base(dp1), base(dp2)]))).ok).toBe(true);
    const before = await controlState();
    const versions = await versionCount(`${prefix}${dp1}`);
    const forged = await forgedTokenSecret(dp1);
    // Act
    const r = await sync(envConfig(env, prefix, {}, [{ ...base(dp1), tokenSecret: 'forged-token' }, base(dp2)]));
    // Assess: the run fails and says why, the published credential was re-verified on its own and
    // stays, in the Secret and in routing; the store keeps its version; the forged token is nowhere.
    expect(r.ok).toBe(false);
    expect(r.clusters.find((c) => c.id === dp1)).toMatchObject({
      status: 'failed',
      code: 'CREDENTIAL_REJECTED',
      reason: `cluster ${dp1}: credential rejected: the token does not authenticate (HTTP 401)`,
      publishedStillVerifies: true,
      published: { enabled: true, unrouted: false, labels: ['team1'] },
    });
    const st = await controlState();
    expect(st.secretRv).toBe(before.secretRv);
    expect(st.cmRvs).toEqual(before.cmRvs);
    expect(await versionCount(`${prefix}${dp1}`)).toBe(versions);
    expect(JSON.stringify(r) + JSON.stringify(st.secret?.data) + logs.join('\n')).not.toContain(forged);
    expect(JSON.stringify(st.secret?.data)).not.toContain(Buffer.from(forged).toString('base64'));
  });

  it("refuses, before writing anything, a credentials Secret over Kubernetes' 1 MiB, naming the limit, the size and the data planes", async () => {
    // Prepare: the Secret already holds 1 MiB less 2000 bytes of someone else's data, so the data
    // planes' tokens and CAs cannot fit; the store gets this run's credentials.
    const c = core(env, env.controlPlane);
    const filler = Buffer.alloc(1024 * 1024 - 2000, 'x');
    await c.createNamespacedSecret({ namespace: 'flyte', body: { metadata: { name: 'cluster-credentials' }, data: { other_blob: filler.toString('base64') } } });
    const before = await controlState();
    const prefix = uniquePrefix('toolarge');
    // Act
    const r = await sync(envConfig(env, prefix));
    // Assess: a clear, bounded error; the data planes still stored; nothing written on the control plane.
    expect(r.ok).toBe(false);
    expect(r.controlPlaneError?.code).toBe('CONTROL_PLANE_TOO_LARGE');
    const reason = r.controlPlaneError!.reason;
    expect(reason).toContain('1048576 bytes (1 MiB)');
    expect(reason).toMatch(/the credentials Secret flyte\/cluster-credentials would hold (\d+) bytes of data/);
    expect(Number(/would hold (\d+) bytes/.exec(reason)![1])).toBeGreaterThan(1024 * 1024);
    for (const id of env.dataPlanes) expect(reason).toContain(id);
    expect(reason).toContain('Nothing was written');
    expect(r.clusters.every((x) => x.status === 'updated')).toBe(true);
    const after = await controlState();
    expect(after.secretRv).toBe(before.secretRv);
    expect(after.cmRvs).toEqual(before.cmRvs);
    expect(after.depGenerations).toEqual(before.depGenerations);
    // The limit is the API server's own: the same data written directly is refused (422).
    const fits = { other_blob: filler.toString('base64'), one_more: Buffer.alloc(2001, 'y').toString('base64') };
    await expect(
      c.replaceNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte', body: { ...after.secret!, data: fits } }),
    ).rejects.toMatchObject({ code: 422 });
  }, 120_000);

  it('a cluster that is down fails with a clear error; the others sync and the run fails', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        srv.close(() => resolve(port));
      });
    });
    const dir = mkdtempSync(join(tmpdir(), 'down-'));
    writeFileSync(join(dir, 'token'), 'unused');
    const prefix = uniquePrefix('down');
    const dps = env.dataPlanes.slice(0, 2).map((id) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: { team1: 1 } }));
    const cfg = envConfig(env, prefix, {}, [
      ...dps,
      { id: 'gone', access: { type: 'token', endpoint: `https://127.0.0.1:${closedPort}`, caFile: env.clusters[env.dataPlanes[0]!]!.caFile, tokenFile: join(dir, 'token') }, labels: { team1: 1 } },
    ]);
    const r = await sync(cfg);
    expect(r.ok).toBe(false);
    const gone = r.clusters.find((c) => c.id === 'gone')!;
    expect(gone).toMatchObject({ status: 'failed', code: 'CLUSTER_UNREACHABLE', lastGoodKept: false });
    expect(gone.reason).toMatch(new RegExp(`^cluster gone: API server https://127\\.0\\.0\\.1:${closedPort} unreachable: get Secret flyte/flyteadmin-token: .*ECONNREFUSED`));
    expect(r.clusters.filter((c) => c.status === 'updated').map((c) => c.id)).toEqual(env.dataPlanes.slice(0, 2));
    const doc = parse((await controlState()).cms[0]!.data!['clusters.yaml']!);
    expect(doc.clusters.clusterConfigs.map((e: { name: string }) => e.name)).toEqual(env.dataPlanes.slice(0, 2));
  });

  it('refuses a store secret it does not own and leaves it untouched', async () => {
    const prefix = uniquePrefix('foreign');
    const dp = env.dataPlanes[0]!;
    await sm().send(new CreateSecretCommand({ Name: `${prefix}${dp}`, SecretString: 'owned by someone else' }));
    const r = await sync(envConfig(env, prefix));
    expect(r.ok).toBe(false);
    expect(r.clusters.find((c) => c.id === dp)).toMatchObject({
      status: 'failed',
      code: 'STORE_NOT_OWNED',
      reason: `aws-secrets-manager: secret ${prefix}${dp} exists but is not managed by flyte-credsync (missing tag managed-by=flyte-credsync); refusing to overwrite it`,
    });
    expect((await sm().send(new GetSecretValueCommand({ SecretId: `${prefix}${dp}` }))).SecretString).toBe('owned by someone else');
    expect(await versionCount(`${prefix}${dp}`)).toBe(1);
  });

  it('a data plane removed from the configuration stays in clusters.yaml, disabled, with its credentials', async () => {
    const prefix = uniquePrefix('remove');
    expect((await sync(envConfig(env, prefix))).ok).toBe(true);
    const removed = env.dataPlanes.at(-1)!;
    // The same labels as before (dp1 keeps gpu: emptying a label is refused, see controlplane.test.ts).
    const fewer = envConfig(env, prefix, {}, env.dataPlanes.slice(0, -1).map((id, i) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: i === 0 ? { team1: 1, gpu: 0.5 } : { team1: 1 } })));
    const r = await sync(fewer);
    expect(r.ok).toBe(true);
    const st = await controlState();
    for (const cm of st.cms) {
      const doc = parse(cm.data!['clusters.yaml']!);
      expect(doc.clusters.clusterConfigs.find((e: { name: string }) => e.name === removed)).toMatchObject({ enabled: false });
      expect(doc.clusters.labelClusterMap.team1.map((m: { id: string }) => m.id)).not.toContain(removed);
    }
    expect(st.secret!.data![`${removed}_token`]).toBeDefined();
  });

  it('a concurrent edit between read and write gets a real 409: re-read, re-merged (edit kept) and retried', async () => {
    const prefix = uniquePrefix('conflict');
    const cfg = envConfig(env, prefix);
    const deps = buildDeps(cfg, log, { secretsManager: sm() });
    const realControlPlane = deps.controlPlane;
    let edited = false;
    deps.controlPlane = async () => {
      const api = await realControlPlane();
      const replace = api.replaceConfigMap.bind(api);
      api.replaceConfigMap = async (cm) => {
        if (!edited && cm.name === 'flyte-admin-clusters-config') {
          edited = true; // someone edits the ConfigMap after our read: our resourceVersion is now stale
          const c = core(env, env.controlPlane);
          const cur = await c.readNamespacedConfigMap({ name: cm.name, namespace: 'flyte' });
          await c.replaceNamespacedConfigMap({ name: cm.name, namespace: 'flyte', body: { ...cur, data: { ...cur.data, 'clusters.yaml': cur.data!['clusters.yaml'] + 'editedByHuman: true\n' } } });
        }
        return replace(cm);
      };
      return api;
    };
    const r = await runSync(deps);
    expect(r.ok).toBe(true);
    expect(r.controlPlane!.attempts).toBe(2);
    const doc = parse((await controlState()).cms[0]!.data!['clusters.yaml']!);
    expect(doc.editedByHuman).toBe(true);
    expect(doc.clusters.clusterConfigs).toHaveLength(env.dataPlanes.length);
  });

  it('records audit Events that `kubectl get events -n flyte` shows (core and events.k8s.io), and none after a no-op', async () => {
    // Prepare
    const cfg = envConfig(env, uniquePrefix('audit'));
    const ours = async (runId: string) => {
      // Listed through core/v1, as `kubectl get events` did for years: the same objects.
      const list = await core(env, env.controlPlane).listNamespacedEvent({ namespace: 'flyte' });
      return list.items
        .filter((e) => e.metadata?.annotations?.['flyte-credsync.io/run'] === runId)
        .map((e) => [e.reason, `${e.involvedObject.kind}/${e.involvedObject.name}`, e.reportingComponent, e.type])
        .sort();
    };
    // Act
    const first = await sync(cfg);
    const second = await sync(cfg);
    // Assess
    expect(first.ok).toBe(true);
    expect(await ours(first.runId)).toEqual(
      [
        ['ClusterConfigUpdated', 'ConfigMap/flyte-admin-clusters-config'],
        ['ClusterConfigUpdated', 'ConfigMap/flyte-clusterresourcesync-config'],
        ['CredentialsUpdated', 'Secret/cluster-credentials'],
        ['RolloutRestarted', 'Deployment/flyteadmin'],
        ['RolloutRestarted', 'Deployment/syncresources'],
      ].map(([reason, obj]) => [reason, obj, 'flyte-credsync.io/sync', 'Normal']),
    );
    const notes = (await core(env, env.controlPlane).listNamespacedEvent({ namespace: 'flyte' })).items
      .filter((e) => e.metadata?.annotations?.['flyte-credsync.io/run'] === first.runId)
      .map((e) => e.message ?? '');
    const secretNote = notes.find((n) => n.includes('credentials of'))!;
    expect(secretNote).toBe(
      `run ${first.runId}: created with credentials of ` + first.clusters.map((c) => `${c.id} (fingerprint ${c.fingerprint})`).join(', '),
    );
    expect(second.controlPlane!.restarted).toEqual([]);
    expect(second.audit).toBeUndefined();
    expect(await ours(second.runId)).toEqual([]);
  });

  it('runs as the shipped least-privilege identities (deploy/*.yaml) on every cluster', async () => {
    // Prepare: apply the manifests, make a client certificate in group flyte-credsync per cluster.
    await core(env, env.controlPlane).deleteNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined);
    await applyManifest(env, env.controlPlane, 'deploy/controlplane-rbac.yaml');
    for (const id of env.dataPlanes) await applyManifest(env, id, 'deploy/dataplane-rbac.yaml');
    const last = env.dataPlanes.at(-1)!;
    await deleteTokenSecret(env, last);
    const kubeconfig = restrictedKubeconfig(env, 'credsync-bot', 'flyte-credsync');
    const prefix = uniquePrefix('rbac');
    const cfg = envConfig(env, prefix, {
      controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: kubeconfig }, defaultExecutionLabel: 'team1' },
    }, env.dataPlanes.map((id) => ({ id, access: { type: 'kubeconfig', context: id, path: kubeconfig }, labels: { team1: 1 } })));
    // Act
    const r = await sync(cfg);
    // Assess
    expect(r.controlPlaneError).toBeUndefined();
    expect(r.clusters.map((c) => c.status)).toEqual(env.dataPlanes.map(() => 'updated'));
    expect(r.ok).toBe(true);
    expect(r.controlPlane!.restarted).toEqual(['flyteadmin', 'syncresources']);
    // It may record its audit Events.
    expect(r.audit).toEqual({
      recorded: [
        'CredentialsUpdated Secret/cluster-credentials',
        'ClusterConfigUpdated ConfigMap/flyte-admin-clusters-config',
        'ClusterConfigUpdated ConfigMap/flyte-clusterresourcesync-config',
        'RolloutRestarted Deployment/flyteadmin',
        'RolloutRestarted Deployment/syncresources',
      ],
      failed: [],
    });
    // And the identity really is restricted: it may not read other Secrets.
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    kc.setCurrentContext(env.controlPlane);
    await expect(kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'some-other-secret', namespace: 'flyte' })).rejects.toMatchObject({ code: 403 });
  });
});
