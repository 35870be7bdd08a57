/**
 * What the test environment puts into its clusters, modelled on the flyte-core Helm chart
 * (flyteorg/flyte, charts/flyte-core; rendered examples in deployment/eks/flyte_helm_*_generated.yaml).
 *
 * Data planes (values-dataplane.yaml: flyteadmin disabled, its ServiceAccount kept):
 *   - Namespace `flyte`, ServiceAccount `flyte/flyteadmin`
 *   - ClusterRole `flyte-flyteadmin` + ClusterRoleBinding `flyte-flyteadmin-binding`, as the chart
 *     renders them (templates/admin/rbac.yaml: `<namespace>-flyteadmin`)
 *   - CRD flyteworkflows.flyte.lyft.com (templates/propeller/crds/flyteworkflow.yaml)
 *   - Secret `flyte/flyteadmin-token` (kubernetes.io/service-account-token), created by hand as the
 *     multi-cluster guide says, on every data plane but the last one, so that the "create the token
 *     Secret and wait for the token controller" path of the sync is exercised there.
 * Control plane:
 *   - Namespace `flyte`; ConfigMaps `flyte-admin-clusters-config` (only key clusters.yaml) and
 *     `flyte-clusterresourcesync-config` (clusters.yaml plus the chart's other keys);
 *   - ServiceAccount `flyte/flyteadmin` (the chart's, used by both Deployments);
 *   - Deployments `flyteadmin` (2 replicas, maxUnavailable 0, maxSurge 1) and `syncresources`
 *     (1 replica, the chart's default strategy), which roll out for real: the scheduler binds their
 *     pods to the KWOK nodes and KWOK makes them Running and Ready. NOT the `cluster-credentials`
 *     Secret: the sync creates it (no kubelet mounts it, so pods start without it);
 *   - Nodes `kwok-node-1`, `kwok-node-2` (annotation kwok.x-k8s.io/node=fake: managed by KWOK).
 * Every cluster: bindings that give kube-controller-manager's own identity the controller roles it
 * needs (it runs with --use-service-account-credentials=false).
 *
 * All creates are idempotent (409 Conflict is success).
 */
import {
  ApiException,
  ApiextensionsV1Api,
  AppsV1Api,
  type V1Node,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1Deployment,
} from '@kubernetes/client-node';

export const FLYTE_NAMESPACE = 'flyte';
export const FLYTEADMIN_SA = 'flyteadmin';
export const TOKEN_SECRET = 'flyteadmin-token';
export const FLYTEADMIN_CLUSTER_ROLE = 'flyte-flyteadmin';
export const FLYTEADMIN_CLUSTER_ROLE_BINDING = 'flyte-flyteadmin-binding';
export const ADMIN_CLUSTERS_CONFIGMAP = 'flyte-admin-clusters-config';
export const CLUSTERRESOURCESYNC_CONFIGMAP = 'flyte-clusterresourcesync-config';
export const CONTROL_PLANE_DEPLOYMENTS = ['flyteadmin', 'syncresources'] as const;
/** Replicas of each control-plane Deployment. */
export const DEPLOYMENT_REPLICAS: Record<(typeof CONTROL_PLANE_DEPLOYMENTS)[number], number> = { flyteadmin: 2, syncresources: 1 };
/** Simulated nodes of the control plane, kept Ready by KWOK. */
export const KWOK_NODES = ['kwok-node-1', 'kwok-node-2'] as const;

/** The chart's default clusters.yaml (no data planes yet). */
export const INITIAL_CLUSTERS_YAML = 'clusters:\n  clusterConfigs: []\n  labelClusterMap: {}\n';

const CLUSTER_RESOURCES_YAML = `cluster_resources:
  customData:
  - production:
    - projectQuotaCpu:
        value: "5"
    - projectQuotaMemory:
        value: 4000Mi
  - staging:
    - projectQuotaCpu:
        value: "2"
    - projectQuotaMemory:
        value: 3000Mi
  - development:
    - projectQuotaCpu:
        value: "4"
    - projectQuotaMemory:
        value: 3000Mi
  refreshInterval: 5m
  standaloneDeployment: false
  templatePath: /etc/flyte/clusterresource/templates
`;

const DB_YAML = `database:
  postgres:
    dbname: flyteadmin
    host: postgres.flyte.svc.cluster.local
    passwordPath: /etc/db/pass.txt
    port: 5432
    username: flyteadmin
`;

const DOMAIN_YAML = `domains:
- id: development
  name: development
- id: staging
  name: staging
- id: production
  name: production
`;

/** Labels the chart puts on flyteadmin's objects. */
const chartLabels = (name: string) => ({
  'app.kubernetes.io/name': name,
  'app.kubernetes.io/instance': 'flyte',
  'app.kubernetes.io/managed-by': 'credsync-testenv',
});

function describeError(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as { message?: string } | string | undefined;
    const msg = typeof body === 'string' ? body : body?.message;
    return `HTTP ${err.code}${msg ? `: ${msg}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

async function createIfMissing(cluster: string, what: string, create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (err instanceof ApiException && err.code === 409) return;
    throw new Error(`seeding ${what} on cluster ${cluster} failed: ${describeError(err)}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ClusterRoleBindings so kube-controller-manager's own identity may run these controllers. */
export async function seedControllerManagerRbac(kc: KubeConfig, cluster: string): Promise<void> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const roles = [
    'system:controller:namespace-controller',
    'system:controller:generic-garbage-collector',
    // Only the control plane runs these; a binding on a data plane grants an identity nothing runs.
    'system:controller:deployment-controller',
    'system:controller:replicaset-controller',
    'system:controller:node-controller',
  ];
  for (const role of roles) {
    const name = `credsync-testenv:kube-controller-manager:${role.replace('system:controller:', '')}`;
    await createIfMissing(cluster, `ClusterRoleBinding ${name}`, () =>
      rbac.createClusterRoleBinding({
        body: {
          metadata: { name },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:kube-controller-manager' }],
        },
      }),
    );
  }
}

async function seedNamespace(kc: KubeConfig, cluster: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await createIfMissing(cluster, `Namespace ${FLYTE_NAMESPACE}`, () =>
    core.createNamespace({ body: { metadata: { name: FLYTE_NAMESPACE } } }),
  );
}

async function seedFlyteWorkflowCrd(kc: KubeConfig, cluster: string): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const name = 'flyteworkflows.flyte.lyft.com';
  await createIfMissing(cluster, `CustomResourceDefinition ${name}`, () =>
    ext.createCustomResourceDefinition({
      body: {
        metadata: { name },
        spec: {
          group: 'flyte.lyft.com',
          names: { kind: 'FlyteWorkflow', plural: 'flyteworkflows', singular: 'flyteworkflow', shortNames: ['fly'] },
          scope: 'Namespaced',
          versions: [
            {
              name: 'v1alpha1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
            },
          ],
        },
      },
    }),
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const crd = await ext.readCustomResourceDefinition({ name });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
    if (Date.now() > deadline) throw new Error(`CRD ${name} on cluster ${cluster} not Established after 30s`);
    await sleep(200);
  }
  // Established is not enough: until its watch cache is initialised the resource answers
  // 429 "storage is (re)initializing". Wait until FlyteWorkflows can really be listed.
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (;;) {
    try {
      await custom.listNamespacedCustomObject({ group: 'flyte.lyft.com', version: 'v1alpha1', namespace: FLYTE_NAMESPACE, plural: 'flyteworkflows' });
      return;
    } catch (err) {
      if (!(err instanceof ApiException) || ![404, 429, 503].includes(err.code)) throw err;
      if (Date.now() > deadline) throw new Error(`FlyteWorkflows on cluster ${cluster} not servable after 30s: ${describeError(err)}`);
      await sleep(200);
    }
  }
}

/** A data plane as values-dataplane.yaml leaves it, plus (optionally) the hand-made token Secret. */
export async function seedDataPlane(kc: KubeConfig, cluster: string, opts: { tokenSecret: boolean }): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await seedNamespace(kc, cluster);
  await seedFlyteWorkflowCrd(kc, cluster);
  await createIfMissing(cluster, `ServiceAccount ${FLYTE_NAMESPACE}/${FLYTEADMIN_SA}`, () =>
    core.createNamespacedServiceAccount({
      namespace: FLYTE_NAMESPACE,
      body: { metadata: { name: FLYTEADMIN_SA, namespace: FLYTE_NAMESPACE, labels: chartLabels('flyteadmin') } },
    }),
  );
  await createIfMissing(cluster, `ClusterRole ${FLYTEADMIN_CLUSTER_ROLE}`, () =>
    rbac.createClusterRole({
      body: {
        metadata: { name: FLYTEADMIN_CLUSTER_ROLE, labels: chartLabels('flyteadmin') },
        // flyte-core values.yaml, flyteadmin.serviceAccount.clusterRole (one rule, verbs "*").
        rules: [
          {
            apiGroups: ['', 'flyte.lyft.com', 'rbac.authorization.k8s.io'],
            resources: [
              'configmaps',
              'flyteworkflows',
              'namespaces',
              'pods',
              'resourcequotas',
              'roles',
              'rolebindings',
              'secrets',
              'services',
              'serviceaccounts',
              'spark-role',
              'limitranges',
            ],
            verbs: ['*'],
          },
        ],
      },
    }),
  );
  await createIfMissing(cluster, `ClusterRoleBinding ${FLYTEADMIN_CLUSTER_ROLE_BINDING}`, () =>
    rbac.createClusterRoleBinding({
      body: {
        metadata: { name: FLYTEADMIN_CLUSTER_ROLE_BINDING, labels: chartLabels('flyteadmin') },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: FLYTEADMIN_CLUSTER_ROLE },
        subjects: [{ kind: 'ServiceAccount', name: FLYTEADMIN_SA, namespace: FLYTE_NAMESPACE }],
      },
    }),
  );
  if (opts.tokenSecret) {
    await createIfMissing(cluster, `Secret ${FLYTE_NAMESPACE}/${TOKEN_SECRET}`, () =>
      core.createNamespacedSecret({
        namespace: FLYTE_NAMESPACE,
        body: {
          metadata: {
            name: TOKEN_SECRET,
            namespace: FLYTE_NAMESPACE,
            annotations: { 'kubernetes.io/service-account.name': FLYTEADMIN_SA },
          },
          type: 'kubernetes.io/service-account-token',
        },
      }),
    );
  }
}

function deployment(name: (typeof CONTROL_PLANE_DEPLOYMENTS)[number], configMap: string): V1Deployment {
  const labels = chartLabels(name);
  return {
    metadata: { name, namespace: FLYTE_NAMESPACE, labels },
    spec: {
      replicas: DEPLOYMENT_REPLICAS[name],
      // flyteadmin: never fewer ready pods than wanted during a restart (what a zero-downtime
      // credential rotation relies on); syncresources keeps the API's default (25%/25%).
      ...(name === 'flyteadmin' ? { strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } } : {}),
      selector: { matchLabels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/instance': 'flyte' } },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: 'flyteadmin',
          containers: [
            {
              name,
              image: 'cr.flyte.org/flyteorg/flyteadmin:v1.16.8',
              command: ['flyteadmin', '--config', '/etc/flyte/config/*.yaml', name === 'flyteadmin' ? 'serve' : 'clusterresource'],
              volumeMounts: [
                { name: 'config-volume', mountPath: '/etc/flyte/config' },
                // Where flyteadmin/syncresources read <cluster>_token / <cluster>_cacert.
                { name: 'cluster-secrets', mountPath: '/var/run/credentials' },
              ],
            },
          ],
          volumes: [
            { name: 'config-volume', configMap: { name: configMap } },
            { name: 'cluster-secrets', secret: { secretName: 'cluster-credentials' } },
          ],
        },
      },
    },
  };
}

/** A node KWOK manages: it fills in status (Ready, capacity) and renews its Lease. */
function kwokNode(name: string): V1Node {
  return {
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
    },
  };
}

/** The Flyte control plane, before any data plane is registered. */
export async function seedControlPlane(kc: KubeConfig, cluster: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await seedNamespace(kc, cluster);
  for (const node of KWOK_NODES) await createIfMissing(cluster, `Node ${node}`, () => core.createNode({ body: kwokNode(node) }));
  await createIfMissing(cluster, `ServiceAccount ${FLYTE_NAMESPACE}/${FLYTEADMIN_SA}`, () =>
    core.createNamespacedServiceAccount({
      namespace: FLYTE_NAMESPACE,
      body: { metadata: { name: FLYTEADMIN_SA, namespace: FLYTE_NAMESPACE, labels: chartLabels('flyteadmin') } },
    }),
  );
  await createIfMissing(cluster, `ConfigMap ${ADMIN_CLUSTERS_CONFIGMAP}`, () =>
    core.createNamespacedConfigMap({
      namespace: FLYTE_NAMESPACE,
      body: {
        metadata: { name: ADMIN_CLUSTERS_CONFIGMAP, namespace: FLYTE_NAMESPACE, labels: chartLabels('flyteadmin') },
        data: { 'clusters.yaml': INITIAL_CLUSTERS_YAML },
      },
    }),
  );
  await createIfMissing(cluster, `ConfigMap ${CLUSTERRESOURCESYNC_CONFIGMAP}`, () =>
    core.createNamespacedConfigMap({
      namespace: FLYTE_NAMESPACE,
      body: {
        metadata: { name: CLUSTERRESOURCESYNC_CONFIGMAP, namespace: FLYTE_NAMESPACE, labels: chartLabels('flyteadmin') },
        data: {
          'cluster_resources.yaml': CLUSTER_RESOURCES_YAML,
          'db.yaml': DB_YAML,
          'domain.yaml': DOMAIN_YAML,
          'clusters.yaml': INITIAL_CLUSTERS_YAML,
        },
      },
    }),
  );
  await createIfMissing(cluster, 'Deployment flyteadmin', () =>
    apps.createNamespacedDeployment({ namespace: FLYTE_NAMESPACE, body: deployment('flyteadmin', ADMIN_CLUSTERS_CONFIGMAP) }),
  );
  await createIfMissing(cluster, 'Deployment syncresources', () =>
    apps.createNamespacedDeployment({
      namespace: FLYTE_NAMESPACE,
      body: deployment('syncresources', CLUSTERRESOURCESYNC_CONFIGMAP),
    }),
  );
}

/**
 * Whether a Deployment's rollout is complete, as `kubectl rollout status` decides it: the controller
 * saw the latest spec, and every replica is updated, ready and available with no old one left.
 */
export function deploymentRolledOut(d: V1Deployment): boolean {
  const want = d.spec?.replicas ?? 1;
  const st = d.status;
  return (
    !!st &&
    (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
    (st.updatedReplicas ?? 0) === want &&
    (st.replicas ?? 0) === want &&
    (st.readyReplicas ?? 0) === want &&
    (st.availableReplicas ?? 0) === want
  );
}

/**
 * Waits until kube-controller-manager works on this cluster: the ServiceAccount controller made
 * `flyte/default`, (data planes with a token Secret) the token controller filled it, and (control
 * plane, `rollouts`) both Deployments rolled out, i.e. the scheduler and KWOK work too.
 */
export async function waitForControllers(
  kc: KubeConfig,
  cluster: string,
  opts: { tokenSecret: boolean; rollouts?: boolean; timeoutMs: number; exited: () => string | undefined },
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const deadline = Date.now() + opts.timeoutMs;
  /** What is still missing (undefined: nothing); a 404 means "not there yet". */
  const missing = async (): Promise<string | undefined> => {
    const found = <T>(p: Promise<T>) => p.catch((err: unknown) => {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    });
    if (!(await found(core.readNamespacedServiceAccount({ name: 'default', namespace: FLYTE_NAMESPACE })))) return 'ServiceAccount flyte/default';
    if (opts.tokenSecret) {
      const s = await found(core.readNamespacedSecret({ name: TOKEN_SECRET, namespace: FLYTE_NAMESPACE }));
      if (!(s?.data?.token && s.data['ca.crt'] && s.data.namespace)) return `token controller to fill Secret ${FLYTE_NAMESPACE}/${TOKEN_SECRET}`;
    }
    if (opts.rollouts) {
      const pending: string[] = [];
      for (const name of CONTROL_PLANE_DEPLOYMENTS) {
        if (!deploymentRolledOut(await apps.readNamespacedDeployment({ name, namespace: FLYTE_NAMESPACE }))) pending.push(name);
      }
      if (pending.length > 0) return `Deployments ${pending.join(', ')} to roll out (scheduler + KWOK nodes)`;
    }
    return undefined;
  };
  for (;;) {
    const gone = opts.exited();
    if (gone) throw new Error(gone);
    const waitingFor = await missing();
    if (!waitingFor) return;
    if (Date.now() > deadline) {
      throw new Error(`kube-controller-manager on ${cluster}: timed out after ${opts.timeoutMs / 1000}s waiting for ${waitingFor}`);
    }
    await sleep(250);
  }
}
