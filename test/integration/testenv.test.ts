/**
 * The local test environment itself, checked through the real client libraries against the real
 * servers (kube-apiserver + kube-controller-manager per cluster, moto, the GCP Secret Manager
 * emulator). The shared env may be used by other test files at the same time, so these tests only
 * read the seeded Flyte objects and do their own writes in namespaces/secrets of their own.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  AppsV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1ResourceAttributes,
} from '@kubernetes/client-node';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { credentials } from '@grpc/grpc-js';
import { adminKubeConfig, down, freePorts, loadTestEnv, readEnv, readProcessRecords, up, type EnvInfo } from '../env/testenv.ts';
import { deploymentRolledOut } from '../env/seed.ts';
import { apiCode } from './helpers.ts';

const env: EnvInfo = loadTestEnv();
const suffix = randomUUID().slice(0, 8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a value (not undefined) or the deadline passes. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(250);
  }
}

/** A KubeConfig for one cluster that authenticates with a bearer token only. */
function tokenKubeConfig(cluster: string, token: string): KubeConfig {
  const c = env.clusters[cluster]!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: cluster, server: c.server, caData: c.caData, skipTLSVerify: false }],
    users: [{ name: 'token-user', token }],
    contexts: [{ name: cluster, cluster, user: 'token-user' }],
    currentContext: cluster,
  });
  return kc;
}

async function whoAmI(kc: KubeConfig): Promise<string | undefined> {
  const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  return review.status?.userInfo?.username;
}

async function mayI(kc: KubeConfig, attrs: V1ResourceAttributes): Promise<boolean> {
  const r = await kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } },
  });
  return r.status?.allowed === true;
}

/** Waits until the token controller filled a service-account-token Secret; returns its data. */
async function filledTokenSecret(cluster: string, namespace: string, name: string): Promise<Record<string, string>> {
  const core = adminKubeConfig(env, cluster).makeApiClient(CoreV1Api);
  return eventually(`${cluster}: token controller to fill Secret ${namespace}/${name}`, async () => {
    const s = await core.readNamespacedSecret({ name, namespace });
    return s.data?.token && s.data['ca.crt'] && s.data.namespace ? s.data : undefined;
  });
}

const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
const caPem = (cluster: string) => readFileSync(env.clusters[cluster]!.caFile, 'utf8');
const seededDataPlanes = env.dataPlanes.slice(0, -1);
const lastDataPlane = env.dataPlanes[env.dataPlanes.length - 1]!;

describe('test environment: layout', () => {
  it('has a control plane and at least 3 data planes, each reachable with its admin identity', async () => {
    expect(env.controlPlane).toBe('control');
    expect(env.dataPlanes.length).toBeGreaterThanOrEqual(3);
    expect(env.dataPlanes.slice(0, 3)).toEqual(['dp1', 'dp2', 'dp3']);
    for (const name of [env.controlPlane, ...env.dataPlanes]) {
      const c = env.clusters[name]!;
      expect(c.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(decode(c.caData)).toBe(caPem(name));
      expect(await whoAmI(adminKubeConfig(env, name))).toBe('credsync-admin');
    }
  });

  it('writes one kubeconfig with a context per cluster', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(env.kubeconfig);
    expect(kc.getContexts().map((c) => c.name).sort()).toEqual([env.controlPlane, ...env.dataPlanes].sort());
    for (const ctx of kc.getContexts()) {
      kc.setCurrentContext(ctx.name);
      expect(kc.getCurrentCluster()?.server).toBe(env.clusters[ctx.name]!.server);
      const ns = await kc.makeApiClient(CoreV1Api).readNamespace({ name: 'flyte' });
      expect(ns.metadata?.name).toBe('flyte');
    }
  });

  it('gives every cluster its own CA: one cluster\'s admin certificate is not accepted by another', async () => {
    const kc = new KubeConfig();
    const dp1 = env.clusters.dp1!;
    const dp2 = env.clusters.dp2!;
    kc.loadFromOptions({
      clusters: [{ name: 'dp2', server: dp2.server, caData: dp2.caData, skipTLSVerify: false }],
      users: [{ name: 'dp1-admin', certFile: dp1.adminCertFile, keyFile: dp1.adminKeyFile }],
      contexts: [{ name: 'x', cluster: 'dp2', user: 'dp1-admin' }],
      currentContext: 'x',
    });
    expect(await apiCode(kc.makeApiClient(CoreV1Api).readNamespace({ name: 'flyte' }))).toBe(401);
  });
});

describe('test environment: Flyte objects as the chart leaves them', () => {
  it('control plane: both clusters.yaml ConfigMaps and the flyteadmin/syncresources Deployments', async () => {
    const kc = adminKubeConfig(env, env.controlPlane);
    const core = kc.makeApiClient(CoreV1Api);
    const admin = await core.readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
    expect(Object.keys(admin.data ?? {})).toEqual(['clusters.yaml']);
    const sync = await core.readNamespacedConfigMap({ name: 'flyte-clusterresourcesync-config', namespace: 'flyte' });
    expect(Object.keys(sync.data ?? {})).toEqual(
      expect.arrayContaining(['clusters.yaml', 'cluster_resources.yaml', 'db.yaml', 'domain.yaml']),
    );
    const apps = kc.makeApiClient(AppsV1Api);
    const flyteadmin = await apps.readNamespacedDeployment({ name: 'flyteadmin', namespace: 'flyte' });
    expect(flyteadmin.spec?.replicas).toBe(2);
    expect(flyteadmin.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const syncresources = await apps.readNamespacedDeployment({ name: 'syncresources', namespace: 'flyte' });
    expect(syncresources.spec?.replicas).toBe(1);
  });

  it('data planes: ServiceAccount flyte/flyteadmin bound to the chart\'s ClusterRole; FlyteWorkflow CRD', async () => {
    for (const dp of env.dataPlanes) {
      const core = adminKubeConfig(env, dp).makeApiClient(CoreV1Api);
      const sa = await core.readNamespacedServiceAccount({ name: 'flyteadmin', namespace: 'flyte' });
      expect(sa.metadata?.name).toBe('flyteadmin');
      const kc = adminKubeConfig(env, dp);
      const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
      const binding = await rbac.readClusterRoleBinding({ name: 'flyte-flyteadmin-binding' });
      expect(binding.roleRef.name).toBe('flyte-flyteadmin');
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'flyteadmin', namespace: 'flyte' }]);
      const role = await rbac.readClusterRole({ name: 'flyte-flyteadmin' });
      expect(role.rules?.[0]?.resources).toEqual(expect.arrayContaining(['flyteworkflows', 'secrets', 'namespaces']));
      // The CRD is served.
      const list = await kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
        group: 'flyte.lyft.com', version: 'v1alpha1', namespace: 'flyte', plural: 'flyteworkflows',
      });
      expect(Array.isArray((list as { items?: unknown[] }).items)).toBe(true);
    }
  });
});

describe('test environment: real rollouts on the control plane (kube-scheduler + KWOK nodes)', () => {
  const kc = adminKubeConfig(env, env.controlPlane);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);

  it('KWOK keeps its nodes Ready and renews their Leases, like kubelets', async () => {
    expect(env.rollouts.nodes.length).toBeGreaterThan(0);
    for (const name of env.rollouts.nodes) {
      const node = await core.readNode({ name });
      expect(node.metadata?.annotations?.['kwok.x-k8s.io/node']).toBe('fake');
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      // node-lifecycle-controller lifted the not-ready taint admission put on the new Node.
      expect(node.spec?.taints ?? []).toEqual([]);
      const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name, namespace: 'kube-node-lease' });
      // KWOK holds it under its own identity and renews it well within its 40 s.
      expect(lease.spec?.leaseDurationSeconds).toBe(40);
      expect(Date.now() - new Date(lease.spec!.renewTime!).getTime()).toBeLessThan(60_000);
    }
  });

  it('the seeded flyteadmin and syncresources Deployments are rolled out: pods Running and Ready on KWOK nodes', async () => {
    for (const [name, replicas] of [['flyteadmin', 2], ['syncresources', 1]] as const) {
      // An earlier test may have restarted it: wait (bounded) for the rollout, never assume idle.
      let d = await apps.readNamespacedDeployment({ name, namespace: 'flyte' });
      for (const until = Date.now() + 120_000; !deploymentRolledOut(d) && Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 500));
        d = await apps.readNamespacedDeployment({ name, namespace: 'flyte' });
      }
      expect(deploymentRolledOut(d)).toBe(true);
      const pods = await core.listNamespacedPod({ namespace: 'flyte', labelSelector: `app.kubernetes.io/name=${name}` });
      const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
      // A sync test running beside this one may be restarting them: at least the wanted count.
      expect(live.length).toBeGreaterThanOrEqual(replicas);
      for (const p of live.filter((x) => x.status?.phase === 'Running')) {
        expect(env.rollouts.nodes).toContain(p.spec?.nodeName);
        expect(p.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      }
    }
  });

  it('a rollout restart completes: a new ReplicaSet, no pod of the old one left, never fewer ready pods than wanted (maxUnavailable 0)', async () => {
    // A Deployment of its own, shaped like flyteadmin, in a namespace of its own: the shared
    // flyteadmin belongs to the sync tests.
    const namespace = `testenv-rollout-${suffix}`;
    const labels = { app: 'rollout-probe' };
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    try {
      await eventually('ServiceAccount default', () => core.readNamespacedServiceAccount({ name: 'default', namespace }).catch(() => undefined));
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name: 'probe' },
          spec: {
            replicas: 2,
            selector: { matchLabels: labels },
            strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
            template: { metadata: { labels }, spec: { containers: [{ name: 'probe', image: 'registry.invalid/probe:1' }] } },
          },
        },
      });
      const rolledOut = () => apps.readNamespacedDeployment({ name: 'probe', namespace }).then((d) => (deploymentRolledOut(d) ? d : undefined));
      const first = await eventually('first rollout', rolledOut, 120_000);
      const podsBefore = (await core.listNamespacedPod({ namespace })).items.map((p) => p.metadata!.name!);
      expect(podsBefore).toHaveLength(2);

      // What `kubectl rollout restart` does: a new pod-template annotation.
      await apps.patchNamespacedDeployment(
        { name: 'probe', namespace, body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      let minReady = Infinity;
      const done = await eventually(
        'the restart to complete',
        async () => {
          const d = await apps.readNamespacedDeployment({ name: 'probe', namespace });
          if ((d.metadata?.generation ?? 0) > (first.metadata?.generation ?? 0)) minReady = Math.min(minReady, d.status?.readyReplicas ?? 0);
          return deploymentRolledOut(d) && (d.metadata?.generation ?? 0) > (first.metadata?.generation ?? 0) ? d : undefined;
        },
        120_000,
      );
      expect(done.status?.observedGeneration).toBe(done.metadata?.generation);
      expect(minReady).toBe(2);
      const rs = (await apps.listNamespacedReplicaSet({ namespace })).items;
      expect(rs).toHaveLength(2);
      const current = rs.find((r) => (r.spec?.replicas ?? 0) > 0)!;
      expect(rs.find((r) => r !== current)?.status?.replicas ?? 0).toBe(0);
      // Every old pod gone (KWOK deletes a terminating pod), only pods of the new ReplicaSet left.
      const after = await eventually('old pods to be gone', async () => {
        const pods = (await core.listNamespacedPod({ namespace })).items;
        return pods.length === 2 ? pods : undefined;
      });
      for (const p of after) {
        expect(podsBefore).not.toContain(p.metadata!.name);
        expect(p.metadata?.labels?.['pod-template-hash']).toBe(current.metadata?.labels?.['pod-template-hash']);
        expect(p.status?.phase).toBe('Running');
      }
    } finally {
      await core.deleteNamespace({ name: namespace });
    }
  }, 300_000);
});

describe('test environment: service-account tokens', () => {
  it.each(seededDataPlanes)('%s: the seeded flyteadmin-token Secret is filled by kube-controller-manager', async (dp) => {
    const data = await filledTokenSecret(dp, 'flyte', 'flyteadmin-token');
    expect(decode(data['ca.crt']!)).toBe(caPem(dp));
    expect(decode(data.namespace!)).toBe('flyte');
    expect(decode(data.token!).split('.')).toHaveLength(3); // a JWT
  });

  it.each(seededDataPlanes)('%s: the token authenticates as flyteadmin with the chart\'s rights, no more', async (dp) => {
    const data = await filledTokenSecret(dp, 'flyte', 'flyteadmin-token');
    const kc = tokenKubeConfig(dp, decode(data.token!));
    expect(await whoAmI(kc)).toBe('system:serviceaccount:flyte:flyteadmin');
    expect(await mayI(kc, { group: 'flyte.lyft.com', resource: 'flyteworkflows', verb: 'create', namespace: 'flyte' })).toBe(true);
    expect(await mayI(kc, { resource: 'namespaces', verb: 'get', name: 'flyte' })).toBe(true);
    expect(await mayI(kc, { resource: 'secrets', verb: 'create', namespace: 'flyte' })).toBe(true);
    expect(await mayI(kc, { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', verb: 'create' })).toBe(false);
    expect(await mayI(kc, { resource: 'nodes', verb: 'delete' })).toBe(false);
    // And the server agrees, not only the review.
    const ns = await kc.makeApiClient(CoreV1Api).readNamespace({ name: 'flyte' });
    expect(ns.metadata?.name).toBe('flyte');
    expect(await apiCode(kc.makeApiClient(CoreV1Api).listNode())).toBe(403);
  });

  it(`${lastDataPlane}: a token Secret created later is filled too (the sync's "create and wait" path)`, async () => {
    // In a namespace of our own, so a sync test running at the same time never sees it.
    const kc = adminKubeConfig(env, lastDataPlane);
    const core = kc.makeApiClient(CoreV1Api);
    const namespace = `testenv-${suffix}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    try {
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'flyteadmin' } } });
      await core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: 'flyteadmin-token', annotations: { 'kubernetes.io/service-account.name': 'flyteadmin' } },
          type: 'kubernetes.io/service-account-token',
        },
      });
      const data = await filledTokenSecret(lastDataPlane, namespace, 'flyteadmin-token');
      expect(decode(data.namespace!)).toBe(namespace);
      expect(await whoAmI(tokenKubeConfig(lastDataPlane, decode(data.token!)))).toBe(`system:serviceaccount:${namespace}:flyteadmin`);
    } finally {
      await core.deleteNamespace({ name: namespace });
    }
  });

  it.each(env.dataPlanes)('%s: the TokenRequest API mints a token that authenticates', async (dp) => {
    const core = adminKubeConfig(env, dp).makeApiClient(CoreV1Api);
    const tr = await core.createNamespacedServiceAccountToken({
      name: 'flyteadmin',
      namespace: 'flyte',
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tr.status?.token;
    expect(typeof token).toBe('string');
    expect(new Date(tr.status!.expirationTimestamp!).getTime()).toBeGreaterThan(Date.now());
    expect(await whoAmI(tokenKubeConfig(dp, token!))).toBe('system:serviceaccount:flyte:flyteadmin');
  });

  it('a Secret named cluster_credentials is rejected (422); cluster-credentials is valid', async () => {
    const core = adminKubeConfig(env, env.controlPlane).makeApiClient(CoreV1Api);
    const body = (name: string) => ({ metadata: { name }, type: 'Opaque', stringData: { x: 'y' } });
    expect(await apiCode(core.createNamespacedSecret({ namespace: 'flyte', body: body('cluster_credentials') }))).toBe(422);
    // Dry run, the real one belongs to the sync: accepted, or 409 when a sync test already made it.
    const code = await apiCode(core.createNamespacedSecret({ namespace: 'flyte', body: body('cluster-credentials'), dryRun: 'All' }));
    expect([undefined, 409]).toContain(code);
  });
});

describe('test environment: cloud secret managers', () => {
  it('moto (AWS Secrets Manager): create, put a new version, get it back', async () => {
    const sm = new SecretsManagerClient({
      endpoint: env.aws.endpoint,
      region: env.aws.region,
      credentials: { accessKeyId: env.aws.accessKeyId, secretAccessKey: env.aws.secretAccessKey },
    });
    const name = `credsync-testenv/roundtrip-${suffix}`;
    try {
      const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: '{"v":1}' }));
      expect(created.ARN).toContain(name);
      const put = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: '{"v":2}' }));
      expect(put.VersionId).toBeTruthy();
      const got = await sm.send(new GetSecretValueCommand({ SecretId: name }));
      expect(got.SecretString).toBe('{"v":2}');
      expect(got.VersionId).toBe(put.VersionId);
      expect(got.VersionStages).toContain('AWSCURRENT');
      const first = await sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: created.VersionId }));
      expect(first.SecretString).toBe('{"v":1}');
    } finally {
      await sm.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true })).catch(() => {});
      sm.destroy();
    }
  });

  it('GCP Secret Manager emulator: create, add a version, access it', async () => {
    const [host, port] = env.gcp.secretManagerEndpoint.split(':');
    const client = new SecretManagerServiceClient({
      apiEndpoint: host,
      port: Number(port),
      sslCreds: credentials.createInsecure(),
      projectId: env.gcp.project,
      // Without it google-gax asks google-auth for the universe domain, which probes for GCE metadata.
      universeDomain: 'googleapis.com',
    });
    const parent = `projects/${env.gcp.project}`;
    const secretId = `credsync-testenv-roundtrip-${suffix}`;
    try {
      const [secret] = await client.createSecret({ parent, secretId, secret: { replication: { automatic: {} } } });
      expect(secret.name).toBe(`${parent}/secrets/${secretId}`);
      const [v1] = await client.addSecretVersion({ parent: secret.name!, payload: { data: Buffer.from('one') } });
      const [v2] = await client.addSecretVersion({ parent: secret.name!, payload: { data: Buffer.from('two') } });
      expect(v2.name).not.toBe(v1.name);
      const [latest] = await client.accessSecretVersion({ name: `${secret.name}/versions/latest` });
      expect(latest.name).toBe(v2.name);
      expect(Buffer.from(latest.payload!.data as Uint8Array).toString('utf8')).toBe('two');
      const [first] = await client.accessSecretVersion({ name: v1.name! });
      expect(Buffer.from(first.payload!.data as Uint8Array).toString('utf8')).toBe('one');
    } finally {
      await client.deleteSecret({ name: `${parent}/secrets/${secretId}` }).catch(() => {});
      await client.close();
    }
  });
});

describe('test environment: down', () => {
  let dir: string | undefined;
  afterAll(async () => {
    // Only if the test failed half-way: never leave its servers behind.
    if (dir && existsSync(dir)) await down({ dir, log: () => {} });
  });

  it('starts again on new ports when a port is taken before its server binds it; down stops every process and removes the state (separate 1-data-plane env)', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'credsync-testenv-'));
    await rm(dir, { recursive: true });
    // Prepare: the first choice of ports gives moto (the third) one that another process holds,
    // as when another environment or an outgoing connection takes it between choice and bind.
    const holder = createServer();
    await new Promise<void>((resolve, reject) => holder.once('error', reject).listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as AddressInfo).port;
    let choices = 0;
    const ports = async (n: number) => {
      const p = await freePorts(n);
      if (choices++ === 0) p[2] = taken;
      return p;
    };
    const lines: string[] = [];
    let small: EnvInfo;
    try {
      // Act
      small = await up({ dir, dataPlanes: 1, log: (l) => lines.push(l), ports });
    } finally {
      holder.close();
    }
    // Assess: the second attempt, on other ports, is the environment.
    expect(choices).toBe(2);
    expect(lines.some((l) => /a port was taken before its server bound it; starting again on new ports \(attempt 2 of 3\)$/.test(l))).toBe(true);
    expect(small.aws.endpoint).not.toBe(`http://127.0.0.1:${taken}`);
    expect(small.dataPlanes).toEqual(['dp1']);
    expect((await readEnv({ dir }))?.startedAt).toBe(small.startedAt);
    const procs = await readProcessRecords(dir);
    expect(procs.map((p) => p.name).sort()).toEqual(
      [
        'etcd', 'gcpsm', 'moto', 'eks-webhook', 'gke-auth', 'flyteadmin', 'kube-apiserver-control', 'kube-apiserver-dp1',
        'kube-controller-manager-control', 'kube-controller-manager-dp1', 'kube-scheduler', 'kwok',
      ].sort(),
    );
    // The shared env is untouched by a second one running beside it.
    expect(small.clusters.control!.server).not.toBe(env.clusters.control!.server);

    await down({ dir, log: () => {} });

    const stillThere = procs.filter((p) => {
      try {
        process.kill(p.pid, 0);
        // A pid that exists may be a zombie awaiting reaping, or a recycled pid: check /proc.
        const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return fields[0] !== 'Z' && fields[19] === p.startTime;
      } catch {
        return false;
      }
    });
    expect(stillThere.map((p) => `${p.name} (${p.pid})`)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(await readEnv({ dir })).toBeUndefined();
    // The shared env still runs.
    expect(await readEnv({ dir: env.dir })).toBeDefined();
  }, 300_000);
});
