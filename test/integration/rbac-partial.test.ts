/**
 * Partial RBAC against the real API servers: an identity that has some of what it needs and not
 * the rest. The refusal must name exactly what is missing, and nothing may be published or written.
 * - the data-plane credential (flyteadmin's token), judged by the sync's access reviews
 *   (lib/dataplane/verify.ts): it may get namespaces but not create flyteworkflows, or the reverse,
 *   or near misses (another verb, another API group, one namespace only);
 * - the sync's own identity, judged by `credsync doctor` (lib/doctor): deploy/*.yaml's Roles with
 *   one verb or one object name left out.
 * Each case works under names of its own (namespaces, roles, groups), removed at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadAllYaml, RbacAuthorizationV1Api, type V1PolicyRule, type V1Role } from '@kubernetes/client-node';
import { DescribeSecretCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import { connect, tokenConnection } from '../../lib/clusters/access.ts';
import { parseConfig } from '../../lib/config/load.ts';
import { FLYTEADMIN_CHECKS, verifyWithApiServer } from '../../lib/dataplane/verify.ts';
import { controlPlanePermissions, dataPlanePermissions, runDoctor } from '../../lib/doctor/doctor.ts';
import { KubeHttp } from '../../lib/kube/http2.ts';
import { mayDo } from '../../lib/kube/reviews.ts';
import { registerSecret } from '../../lib/util/redact.ts';
import { buildDeps, buildStore } from '../../lib/runtime/wiring.ts';
import { runSync } from '../../lib/sync/sync.ts';
import { lineLog } from '../../lib/util/log.ts';
import { adminKubeConfig, applyManifest, awsClient, core, envConfig, exportAwsEnv, loadTestEnv, resetControlPlane, restrictedKubeconfig, uniquePrefix, writableState, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
let dp: string;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(() => {
  env = loadTestEnv();
  exportAwsEnv(env);
  dp = env.dataPlanes[0]!;
});
afterAll(async () => {
  for (const undo of cleanup.reverse()) await undo().catch(() => undefined);
});

const rbac = (cluster: string) => adminKubeConfig(env, cluster).makeApiClient(RbacAuthorizationV1Api);
const suffix = () => randomBytes(4).toString('hex');

/** Until `cond` holds (bounded: 60 s), polling: RBAC changes reach the authorizer asynchronously. */
async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (const t0 = Date.now(); Date.now() - t0 < 60_000; ) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/**
 * A namespace with a flyteadmin ServiceAccount and its filled token Secret (flyteadmin-token),
 * bound (ClusterRoleBinding) to a ClusterRole of `clusterRules` and, when given, in one other
 * namespace only (RoleBinding) to `namespaceRules`. Returns once the API server's authorizer
 * grants the token the first rule (RBAC reaches it asynchronously).
 */
async function flyteadminWith(clusterRules: V1PolicyRule[], namespaceRules?: V1PolicyRule[]): Promise<{ namespace: string; token: string; ca: string }> {
  const namespace = `partial-${suffix()}`;
  const c = core(env, dp), r = rbac(dp);
  await c.createNamespace({ body: { metadata: { name: namespace } } });
  cleanup.push(() => c.deleteNamespace({ name: namespace }));
  await c.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'flyteadmin' } } });
  await c.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'flyteadmin-token', annotations: { 'kubernetes.io/service-account.name': 'flyteadmin' } }, type: 'kubernetes.io/service-account-token' },
  });
  const subjects = [{ kind: 'ServiceAccount', name: 'flyteadmin', namespace }];
  const name = `${namespace}-flyteadmin`;
  await r.createClusterRole({ body: { metadata: { name }, rules: clusterRules } });
  cleanup.push(() => r.deleteClusterRole({ name }));
  await r.createClusterRoleBinding({ body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects } });
  cleanup.push(() => r.deleteClusterRoleBinding({ name }));
  let other: string | undefined;
  if (namespaceRules) {
    other = `${namespace}-project`;
    await c.createNamespace({ body: { metadata: { name: other } } });
    cleanup.push(() => c.deleteNamespace({ name: other! }));
    await r.createNamespacedRole({ namespace: other, body: { metadata: { name }, rules: namespaceRules } });
    await r.createNamespacedRoleBinding({ namespace: other, body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects } });
  }
  const { token, ca } = await tokenIn(namespace);
  const granted = (rule: V1PolicyRule, ns?: string) => ({ verb: rule.verbs[0]!, group: rule.apiGroups![0]!, resource: rule.resources![0]!, ...(ns ? { namespace: ns } : {}) });
  const probes = [granted(clusterRules[0]!), ...(namespaceRules ? [granted(namespaceRules[0]!, other)] : [])];
  await until('the new bindings are in force', async () => (await mayDo(new KubeHttp(tokenConnection(env.clusters[dp]!.server, ca, token)), dp, env.clusters[dp]!.server, probes)).every(Boolean));
  return { namespace, token, ca };
}

/** The token the token controller put into the namespace's flyteadmin-token Secret. */
async function tokenIn(namespace: string): Promise<{ token: string; ca: string }> {
  let out: { token: string; ca: string } | undefined;
  await until(`${namespace}/flyteadmin-token is filled`, async () => {
    const s = await core(env, dp).readNamespacedSecret({ name: 'flyteadmin-token', namespace }).catch(() => undefined);
    if (s?.data?.['token'] && s.data['ca.crt']) out = { token: Buffer.from(s.data['token'], 'base64').toString(), ca: Buffer.from(s.data['ca.crt'], 'base64').toString() };
    return out !== undefined;
  });
  registerSecret(out!.token);
  return out!;
}

const flyteworkflows = (verbs: string[], apiGroup = 'flyte.lyft.com'): V1PolicyRule => ({ apiGroups: [apiGroup], resources: ['flyteworkflows'], verbs });
const namespaces = (verbs: string[]): V1PolicyRule => ({ apiGroups: [''], resources: ['namespaces'], verbs });

describe("the sync's access reviews: a flyteadmin credential with part of what flyteadmin needs", () => {

  const CASES: Array<{ title: string; cluster: V1PolicyRule[]; inOneNamespace?: V1PolicyRule[]; missing: string }> = [
    { title: 'may get namespaces, may not create flyteworkflows', cluster: [namespaces(['get'])], missing: 'create flyteworkflows.flyte.lyft.com' },
    { title: 'may create flyteworkflows, may not get namespaces', cluster: [flyteworkflows(['create'])], missing: 'get namespaces' },
    { title: 'may get, list and watch flyteworkflows but not create them', cluster: [flyteworkflows(['get', 'list', 'watch']), namespaces(['get'])], missing: 'create flyteworkflows.flyte.lyft.com' },
    { title: 'may create flyteworkflows of another API group', cluster: [flyteworkflows(['create'], 'flyte.example.com'), namespaces(['get'])], missing: 'create flyteworkflows.flyte.lyft.com' },
    { title: 'may list namespaces but not get them', cluster: [flyteworkflows(['create']), namespaces(['list', 'watch'])], missing: 'get namespaces' },
    {
      title: "may create flyteworkflows in one project's namespace only (flyteadmin creates them in every project's)",
      cluster: [namespaces(['get'])],
      inOneNamespace: [flyteworkflows(['create'])],
      missing: 'create flyteworkflows.flyte.lyft.com',
    },
  ];

  it.each(CASES)('$title: rejected, the reason names "$missing" alone, nothing is stored or published', async ({ cluster, inOneNamespace, missing }) => {
    // Prepare
    const { namespace, token, ca } = await flyteadminWith(cluster, inOneNamespace);
    const prefix = uniquePrefix('partial');
    const cfg = envConfig(env, prefix, {}, [{ id: dp, access: { type: 'kubeconfig', context: dp, path: env.kubeconfig }, labels: { team1: 1 }, namespace }]);
    await resetControlPlane(env);
    // Act
    const report = await runSync(buildDeps(cfg, lineLog({ write: () => undefined }), { secretsManager: awsClient(env) }));
    // Assess: rejected by name, never stored, never in the control plane's Secret.
    const expectedUser = `system:serviceaccount:${namespace}:flyteadmin`;
    expect(report.ok).toBe(false);
    expect(report.clusters[0]).toMatchObject({ status: 'failed', code: 'CREDENTIAL_REJECTED', reason: `cluster ${dp}: credential rejected: ${expectedUser} may not ${missing}` });
    await expect(awsClient(env).send(new DescribeSecretCommand({ SecretId: `${prefix}${dp}` }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    const secret = await core(env, env.controlPlane).readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined);
    expect(Object.keys(secret?.data ?? {}).filter((k) => k.startsWith(`${dp}_`))).toEqual([]);
    expect(JSON.stringify(report)).not.toContain(token);
    // The same token, once granted the missing permission, verifies: the refusal was about that permission alone.
    await rbac(dp).createClusterRoleBinding({
      body: {
        metadata: { name: `${namespace}-complete` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flyte-flyteadmin' },
        subjects: [{ kind: 'ServiceAccount', name: 'flyteadmin', namespace }],
      },
    });
    cleanup.push(() => rbac(dp).deleteClusterRoleBinding({ name: `${namespace}-complete` }));
    await until('the completed RBAC allows the token', () =>
      verifyWithApiServer({ cluster: dp, server: env.clusters[dp]!.server, caPem: ca, token, expectedUser, checks: [...FLYTEADMIN_CHECKS] }).then(
        () => true,
        () => false,
      ),
    );
  });
});

describe("doctor: the sync's identity with deploy/*.yaml's Role less one permission", () => {
  /** The Role a manifest of deploy/ ships. */
  const shippedRole = (file: string): V1Role => (loadAllYaml(readFileSync(file, 'utf8')) as Array<{ kind?: string }>).find((d) => d.kind === 'Role') as V1Role;

  /** Binds `user` to `rules` in the Flyte namespace of `cluster`, through a Role of its own. */
  async function grant(cluster: string, user: string, rules: V1PolicyRule[]): Promise<void> {
    const name = `partial-${suffix()}`;
    const r = rbac(cluster);
    await r.createNamespacedRole({ namespace: 'flyte', body: { metadata: { name }, rules } });
    cleanup.push(() => r.deleteNamespacedRole({ name, namespace: 'flyte' }));
    await r.createNamespacedRoleBinding({
      namespace: 'flyte',
      body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
    });
    cleanup.push(() => r.deleteNamespacedRoleBinding({ name, namespace: 'flyte' }));
  }

  /** The shipped rules with `edit` applied to the rule for `resource` (undefined: dropped). */
  function less(file: string, resource: string, edit: (rule: V1PolicyRule) => V1PolicyRule | undefined, which = 0): V1PolicyRule[] {
    let seen = 0;
    return shippedRole(file).rules!.flatMap((rule) => {
      if (!rule.resources?.includes(resource) || seen++ !== which) return [rule];
      const e = edit(rule);
      return e ? [e] : [];
    });
  }

  const DP = 'deploy/dataplane-rbac.yaml', CP = 'deploy/controlplane-rbac.yaml';
  const CASES: Array<{ title: string; cluster: 'control' | 'data'; rules: () => V1PolicyRule[]; denied: string }> = [
    { title: 'a data plane: no create on secrets', cluster: 'data', rules: () => less(DP, 'secrets', () => undefined, 1), denied: 'create secrets flyte/*' },
    {
      title: 'a data plane: get on another Secret than the token Secret',
      cluster: 'data',
      rules: () => less(DP, 'secrets', (r) => ({ ...r, resourceNames: ['other-token'] })),
      denied: 'get secrets flyte/flyteadmin-token',
    },
    { title: 'a data plane: no get on the ServiceAccount', cluster: 'data', rules: () => less(DP, 'serviceaccounts', () => undefined), denied: 'get serviceaccounts flyte/flyteadmin' },
    {
      title: "the control plane: only one of the two ConfigMaps",
      cluster: 'control',
      rules: () => less(CP, 'configmaps', (r) => ({ ...r, resourceNames: ['flyte-admin-clusters-config'] })),
      denied: 'get configmaps flyte/flyte-clusterresourcesync-config; update configmaps flyte/flyte-clusterresourcesync-config',
    },
    {
      title: 'the control plane: the Lease may be read, not updated',
      cluster: 'control',
      rules: () => less(CP, 'leases', (r) => ({ ...r, verbs: ['get'] })),
      denied: 'update leases.coordination.k8s.io flyte/flyte-credsync',
    },
    {
      title: 'the control plane: the Deployments may be read, not patched (no restart)',
      cluster: 'control',
      rules: () => less(CP, 'deployments', (r) => ({ ...r, verbs: ['get', 'update'] })),
      denied: 'patch deployments.apps flyte/flyteadmin; patch deployments.apps flyte/syncresources',
    },
    {
      title: 'the control plane: the credentials Secret may be updated, not read',
      cluster: 'control',
      rules: () => less(CP, 'secrets', (r) => ({ ...r, verbs: ['update'] })),
      denied: 'get secrets flyte/cluster-credentials',
    },
    { title: 'the control plane: no audit Event', cluster: 'control', rules: () => less(CP, 'events', () => undefined), denied: 'create events.events.k8s.io flyte/*' },
  ];

  it.each(CASES)('$title: "authorized" fails naming exactly "$denied"; every other check passes', async ({ cluster, rules, denied }) => {
    // Prepare: an identity of its own (a client certificate), with the partial Role here and the
    // whole shipped Role on the other cluster.
    const user = `partial-${suffix()}`;
    const [target, rest] = cluster === 'control' ? [env.controlPlane, dp] : [dp, env.controlPlane];
    await grant(target, user, rules());
    await grant(rest, user, shippedRole(cluster === 'control' ? DP : CP).rules!);
    const kubeconfig = restrictedKubeconfig(env, user, 'not-bound-anywhere');
    const cfg = parseConfig({
      controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: kubeconfig } },
      store: { aws: { region: env.aws.region, prefix: uniquePrefix('partial-doctor'), endpoint: env.aws.endpoint } },
      dataPlanes: [{ id: dp, access: { type: 'kubeconfig', context: dp, path: kubeconfig }, labels: { team1: 1 } }],
    });
    const doctor = () => runDoctor({ config: cfg, store: buildStore(cfg, { secretsManager: awsClient(env) }), connect: (w, a) => connect(w, a), timeoutMs: 20_000 });
    const authorized = (r: Awaited<ReturnType<typeof doctor>>, name: string) => r.clusters.find((c) => c.cluster === name)!.checks.find((k) => k.check === 'authorized')!;
    const [name, other] = cluster === 'control' ? ['control plane', `data plane ${dp}`] : [`data plane ${dp}`, 'control plane'];
    // Act: RBAC reaches the authorizers asynchronously: wait until both bindings are in force (the
    // complete side allowed, the partial side allowed at least one action).
    const asked = cluster === 'control' ? controlPlanePermissions(cfg.controlPlane).length : dataPlanePermissions(cfg.dataPlanes[0]!).length;
    let r = await doctor();
    await until('the bindings are in force', async () => {
      r = await doctor();
      const detail = authorized(r, name).detail;
      return authorized(r, other).ok && (authorized(r, name).ok || detail.split('; ').length < asked);
    });
    // Assess
    expect(r.ok).toBe(false);
    expect(authorized(r, name)).toEqual({ check: 'authorized', ok: false, detail: `may not ${denied} (apply deploy/*.yaml and bind this identity)` });
    expect(r.clusters.flatMap((c) => c.checks.filter((k) => !k.ok).map((k) => `${c.cluster} ${k.check}`))).toEqual([`${name} authorized`]);
  });
});

describe("the sync as an identity with deploy/controlplane-rbac.yaml's Role less one permission", () => {
  const CP = 'deploy/controlplane-rbac.yaml';
  const shippedRules = (): V1PolicyRule[] => ((loadAllYaml(readFileSync(CP, 'utf8')) as Array<{ kind?: string }>).find((d) => d.kind === 'Role') as V1Role).rules!;
  const without = (resource: string, edit: (r: V1PolicyRule) => V1PolicyRule) => shippedRules().map((r) => (r.resources?.includes(resource) ? edit(r) : r));

  /** A control-plane identity of its own (a client certificate) bound to `rules` in the Flyte namespace. */
  async function controlIdentity(rules: V1PolicyRule[]): Promise<string> {
    const user = `partial-sync-${suffix()}`;
    const r = rbac(env.controlPlane);
    await r.createNamespacedRole({ namespace: 'flyte', body: { metadata: { name: user }, rules } });
    cleanup.push(() => r.deleteNamespacedRole({ name: user, namespace: 'flyte' }));
    await r.createNamespacedRoleBinding({
      namespace: 'flyte',
      body: { metadata: { name: user }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: user }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
    });
    cleanup.push(() => r.deleteNamespacedRoleBinding({ name: user, namespace: 'flyte' }));
    const kubeconfig = restrictedKubeconfig(env, user, 'not-bound-anywhere');
    // RBAC reaches the authorizer asynchronously: wait until the identity may read the Lease.
    const http = new KubeHttp(await connect('control plane', { type: 'kubeconfig', context: env.controlPlane, path: kubeconfig }));
    await until('the binding is in force', async () => (await mayDo(http, 'control plane', env.clusters[env.controlPlane]!.server, [{ verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: 'flyte', name: 'flyte-credsync' }]))[0] === true);
    return kubeconfig;
  }

  const CASES: Array<{ title: string; rules: () => V1PolicyRule[]; refused: RegExp }> = [
    {
      title: 'the Lease may be read, not updated: refused before any write',
      rules: () => without('leases', (r) => ({ ...r, verbs: ['get'] })),
      refused: /update Lease flyte\/flyte-credsync: .*cannot update resource "leases" in API group "coordination\.k8s\.io"/,
    },
    {
      title: 'the credentials Secret may be read, not updated: refused before any write',
      rules: () => without('secrets', (r) => ({ ...r, verbs: ['get'] })),
      refused: /^control plane: the sync's identity may not update secrets flyte\/cluster-credentials: nothing written/,
    },
    {
      // Until issue #20: the Secret and the ConfigMaps written, then each restart refused. Now nothing is written.
      title: 'the Deployments may be read, not patched: refused before any write, both named',
      rules: () => without('deployments', (r) => ({ ...r, verbs: ['get'] })),
      refused: /^control plane: the sync's identity may not patch deployments\.apps flyte\/flyteadmin; patch deployments\.apps flyte\/syncresources: nothing written/,
    },
    {
      // The ConfigMaps would disagree: the first updated, the second refused (issue #20).
      title: 'one ConfigMap may be updated, the other only read: refused before any write, naming it',
      rules: () =>
        shippedRules().flatMap((r) =>
          r.resources?.includes('configmaps')
            ? [
                { ...r, resourceNames: ['flyte-admin-clusters-config'] },
                { ...r, resourceNames: ['flyte-clusterresourcesync-config'], verbs: ['get'] },
              ]
            : [r],
        ),
      refused: /^control plane: the sync's identity may not update configmaps flyte\/flyte-clusterresourcesync-config: nothing written/,
    },
  ];

  it.each(CASES)('$title', async ({ rules, refused }) => {
    // Prepare: the control plane as deploy/controlplane-rbac.yaml leaves it (the Secret and the Lease exist), the data planes as admin.
    await resetControlPlane(env);
    await applyManifest(env, env.controlPlane, CP);
    const kubeconfig = await controlIdentity(rules());
    const prefix = uniquePrefix('partial-sync');
    const cfg = envConfig(env, prefix, { controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: kubeconfig } } });
    const before = await controlPlaneObjects();
    // Act
    const report = await runSync(buildDeps(cfg, lineLog({ write: () => undefined }), { secretsManager: awsClient(env) }));
    // Assess: a failed run whose error names the verb, the resource and the object refused; nothing written.
    expect(report.ok).toBe(false);
    expect(report.controlPlaneError).toMatchObject({ code: 'CLUSTER_ACCESS_DENIED', reason: expect.stringMatching(refused) });
    expect(await controlPlaneObjects()).toEqual(before);
  });

  /** What a sync writes on the control plane for Flyte (the Lease is its own bookkeeping), as the API server versions it. */
  async function controlPlaneObjects(): Promise<Record<string, unknown>> {
    const { secret, configMaps, deployments } = await writableState(env, 'none-');
    return { secret, configMaps, deployments };
  }
});

describe('doctor: the stored flyteadmin credential, asked as itself on its data plane', () => {
  const credentialCheck = (r: Awaited<ReturnType<typeof runDoctor>>) => r.clusters.find((c) => c.cluster === `data plane ${dp}`)!.checks.find((k) => k.check === 'credential');

  /** A sync of one data plane (the test's namespace) into a store prefix of its own, then a doctor of the same configuration. */
  async function syncThenDoctor(namespace: string) {
    const cfg = envConfig(env, uniquePrefix('doctor-credential'), {}, [{ id: dp, access: { type: 'kubeconfig', context: dp, path: env.kubeconfig }, labels: { team1: 1 }, namespace }]);
    await resetControlPlane(env);
    const report = await runSync(buildDeps(cfg, lineLog({ write: () => undefined }), { secretsManager: awsClient(env) }));
    const doctor = () => runDoctor({ config: cfg, store: buildStore(cfg, { secretsManager: awsClient(env) }), connect: (w, a) => connect(w, a), timeoutMs: 20_000 });
    return { report, doctor };
  }

  it('may create and get FlyteWorkflows and get namespaces (the sync publishes it): doctor names what it may not, never the token; granted the rest, it passes', async () => {
    // Prepare: stored and published, since the sync asks only create flyteworkflows and get namespaces.
    const { namespace, token } = await flyteadminWith([flyteworkflows(['create', 'get']), namespaces(['get'])]);
    const { report, doctor } = await syncThenDoctor(namespace);
    expect(report.clusters[0]!.status).toBe('updated');
    // Act
    const r = await doctor();
    // Assess: the other checks pass; this one names exactly the missing actions.
    const identity = `system:serviceaccount:${namespace}:flyteadmin`;
    expect(r.clusters.flatMap((c) => c.checks.filter((k) => !k.ok).map((k) => `${c.cluster} ${k.check}`))).toEqual([`data plane ${dp} credential`]);
    expect(credentialCheck(r)!.detail).toMatch(
      new RegExp(`^the stored credential [0-9a-f]{12} \\(${identity}\\) may not delete flyteworkflows\\.flyte\\.lyft\\.com; create namespaces: flyteadmin cannot run or abort executions there`),
    );
    expect(JSON.stringify(r)).not.toContain(token);
    // Granted the chart's flyteadmin ClusterRole: passes once RBAC reaches the authorizer.
    const name = `${namespace}-complete`;
    await rbac(dp).createClusterRoleBinding({
      body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flyte-flyteadmin' }, subjects: [{ kind: 'ServiceAccount', name: 'flyteadmin', namespace }] },
    });
    cleanup.push(() => rbac(dp).deleteClusterRoleBinding({ name }));
    let fixed = r;
    await until('the stored credential has every right', async () => credentialCheck((fixed = await doctor()))!.ok);
    expect(credentialCheck(fixed)!.detail).toMatch(new RegExp(`^the stored credential [0-9a-f]{12} authenticates as ${identity} and may do the 5 actions flyteadmin needs$`));
  });

  it('its token Secret deleted since the sync stored it: "does not authenticate (HTTP 401)", named as such', async () => {
    // Prepare
    const { namespace, token } = await flyteadminWith([flyteworkflows(['create', 'get', 'delete']), namespaces(['get', 'create'])]);
    const { report, doctor } = await syncThenDoctor(namespace);
    expect(report.clusters[0]!.status).toBe('updated');
    expect(credentialCheck(await doctor())!.ok).toBe(true);
    await core(env, dp).deleteNamespacedSecret({ name: 'flyteadmin-token', namespace });
    // Act: the API server stops accepting the token once it sees its Secret gone (the token authenticator's cache).
    let r = await doctor();
    await until('the deleted Secret\'s token is refused', async () => !credentialCheck((r = await doctor()))!.ok);
    // Assess
    expect(credentialCheck(r)!.detail).toMatch(/^the stored credential [0-9a-f]{12} does not authenticate \(HTTP 401\): revoked, or its token Secret or ServiceAccount was deleted; the next sync replaces it$/);
    expect(JSON.stringify(r)).not.toContain(token);
  });
});
