/**
 * @kubernetes/client-node adapters of the ports in ./ports.ts, one class per side: a data plane
 * (token Secrets, and rotation's per-generation Secrets and TokenRequests) and the control plane
 * (the credentials Secret, ConfigMaps, restarts, Events, the Lease, and the rollout reads of
 * rotation). Each call names the cluster and the operation in its errors (see kubeCall) and never
 * echoes request or response secrets.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { V1ConfigMap, V1Deployment, V1Lease, V1ManagedFieldsEntry, V1PodList, V1ReplicaSetList, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { ClusterConnection } from '../clusters/access.ts';
import { CredsyncError } from '../errors.ts';
import { registerSecret } from '../util/redact.ts';
import { kubeCall, statusOf, type CallOptions } from './errors.ts';
import { KubeHttp } from './http2.ts';
import { mayDoInNamespace, type ReviewedAction } from './reviews.ts';
import {
  SA_NAME_ANNOTATION,
  TOKEN_SECRET_TYPE,
  type AuditEvent,
  type ConfigMapObject,
  type ControlPlaneApi,
  type CurrentPods,
  type DataPlaneApi,
  type FieldOwner,
  type DeploymentObject,
  type DeploymentView,
  type FlyteWorkflowView,
  type LeaseObject,
  type PodView,
  type ReplicaSetView,
  type RolloutApi,
  type RotationDataPlaneApi,
  type SecretObject,
} from './ports.ts';

const FIELD_MANAGER = 'flyte-credsync';
/** The `reportingController` of every audit Event the sync records. */
export const AUDIT_CONTROLLER = 'flyte-credsync.io/sync';
const WRITE_QUERY = `?fieldManager=${FIELD_MANAGER}`;
const seg = encodeURIComponent;
const secretsPath = (ns: string) => `/api/v1/namespaces/${seg(ns)}/secrets`;
const leasePath = (ns: string, name?: string) => `/apis/coordination.k8s.io/v1/namespaces/${seg(ns)}/leases${name === undefined ? '' : `/${seg(name)}`}`;
const configMapPath = (ns: string, name: string) => `/api/v1/namespaces/${seg(ns)}/configmaps/${seg(name)}`;
const deploymentPath = (ns: string, name: string) => `/apis/apps/v1/namespaces/${seg(ns)}/deployments/${seg(name)}`;

const isoTime = (t: unknown) => (t instanceof Date ? t.toISOString() : typeof t === 'string' ? t : undefined);

/** The data keys each field manager owns (managedFields' fieldsV1 under f:data, f:stringData, f:binaryData). */
export function fieldOwners(entries: V1ManagedFieldsEntry[] | undefined): FieldOwner[] {
  return (entries ?? []).map((e) => {
    const fields = (e.fieldsV1 ?? {}) as Record<string, unknown>;
    const dataKeys = ['f:data', 'f:stringData', 'f:binaryData'].flatMap((k) =>
      Object.keys((fields[k] as Record<string, unknown> | undefined) ?? {}).filter((f) => f.startsWith('f:')).map((f) => f.slice(2)),
    );
    const time = isoTime(e.time);
    return { manager: e.manager ?? '', ...(e.operation ? { operation: e.operation } : {}), ...(time ? { time } : {}), dataKeys };
  });
}

function fromV1Secret(s: V1Secret): SecretObject {
  const data: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64');
  return {
    name: s.metadata?.name ?? '',
    namespace: s.metadata?.namespace ?? '',
    type: s.type,
    uid: s.metadata?.uid,
    resourceVersion: s.metadata?.resourceVersion,
    labels: { ...(s.metadata?.labels ?? {}) },
    annotations: { ...(s.metadata?.annotations ?? {}) },
    data,
    owners: fieldOwners(s.metadata?.managedFields),
  };
}

function toV1Secret(s: SecretObject): V1Secret {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data)) data[k] = v.toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: s.name,
      namespace: s.namespace,
      resourceVersion: s.resourceVersion,
      labels: s.labels,
      annotations: s.annotations,
    },
    type: s.type ?? 'Opaque',
    data,
  };
}

function fromV1ConfigMap(c: V1ConfigMap): ConfigMapObject {
  return {
    name: c.metadata?.name ?? '',
    namespace: c.metadata?.namespace ?? '',
    resourceVersion: c.metadata?.resourceVersion,
    labels: { ...(c.metadata?.labels ?? {}) },
    annotations: { ...(c.metadata?.annotations ?? {}) },
    data: { ...(c.data ?? {}) },
    owners: fieldOwners(c.metadata?.managedFields),
  };
}

function fromV1Lease(l: V1Lease): LeaseObject {
  const spec = l.spec ?? {};
  const time = isoTime;
  const out: LeaseObject = { name: l.metadata?.name ?? '', namespace: l.metadata?.namespace ?? '' };
  if (l.metadata?.resourceVersion) out.resourceVersion = l.metadata.resourceVersion;
  if (spec.holderIdentity) out.holderIdentity = spec.holderIdentity;
  if (spec.leaseDurationSeconds !== undefined) out.leaseDurationSeconds = spec.leaseDurationSeconds;
  const acquire = time(spec.acquireTime), renew = time(spec.renewTime);
  if (acquire) out.acquireTime = acquire;
  if (renew) out.renewTime = renew;
  if (spec.leaseTransitions !== undefined) out.leaseTransitions = spec.leaseTransitions;
  return out;
}

/** A Kubernetes MicroTime: RFC 3339 with 6 fractional digits. */
function microTime(t: Date): string {
  return t.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The Lease as sent (its times as MicroTime strings; client-node's V1Lease types them as Date). */
function toV1Lease(l: LeaseObject): Omit<V1Lease, 'spec'> & { spec: Record<string, unknown> } {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: l.name, namespace: l.namespace, ...(l.resourceVersion ? { resourceVersion: l.resourceVersion } : {}) },
    spec: {
      ...(l.holderIdentity ? { holderIdentity: l.holderIdentity } : {}),
      ...(l.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: l.leaseDurationSeconds } : {}),
      // MicroTime: RFC 3339 with microseconds, which the API server requires.
      ...(l.acquireTime ? { acquireTime: microTime(new Date(l.acquireTime)) } : {}),
      ...(l.renewTime ? { renewTime: microTime(new Date(l.renewTime)) } : {}),
      ...(l.leaseTransitions !== undefined ? { leaseTransitions: l.leaseTransitions } : {}),
    },
  };
}

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/** What both sides share: one cluster's pooled HTTP/2 client, calls named after it, 404 read as absent. */
abstract class KubeCluster {
  readonly server: string;
  protected readonly cluster: string;
  protected readonly http: KubeHttp;
  protected readonly conn: ClusterConnection;

  constructor(cluster: string, conn: ClusterConnection) {
    this.cluster = cluster;
    this.server = conn.server;
    this.conn = conn;
    this.http = new KubeHttp(conn);
  }

  /** One call, aborted at its timeout or the invocation's deadline: pass `o` to the client. */
  protected call<T>(op: string, fn: (o: CallOptions) => Promise<T>): Promise<T> {
    return kubeCall(this.cluster, this.server, op, fn);
  }

  /** A read that answers undefined for 404. */
  protected read<T>(op: string, fn: (o: CallOptions) => Promise<T>): Promise<T | undefined> {
    return orUndefined(this.call(op, fn));
  }

  async getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    const s = await this.read(`get Secret ${namespace}/${name}`, (o) =>
      this.http.request<V1Secret>({ ...o, method: 'GET', path: `${secretsPath(namespace)}/${seg(name)}` }),
    );
    return s && fromV1Secret(s);
  }
}

/** FlyteWorkflows listed per page (the API server's chunking; `continue` for the rest). */
const FLYTE_WORKFLOW_PAGE = 500;

interface FlyteWorkflowList {
  metadata?: { continue?: string };
  items?: Array<{ metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; creationTimestamp?: string }; status?: { phase?: unknown } }>;
}

export class KubeDataPlane extends KubeCluster implements DataPlaneApi, RotationDataPlaneApi {
  async listFlyteWorkflows(): Promise<FlyteWorkflowView[]> {
    const out: FlyteWorkflowView[] = [];
    let cont: string | undefined;
    do {
      const query = `?limit=${FLYTE_WORKFLOW_PAGE}${cont ? `&continue=${seg(cont)}` : ''}`;
      const page = await this.read('list FlyteWorkflows (all namespaces)', (o) =>
        this.http.request<FlyteWorkflowList>({ ...o, method: 'GET', path: `/apis/flyte.lyft.com/v1alpha1/flyteworkflows${query}` }),
      );
      // 404: the resource does not exist here (no Flyte CRD): nothing can run.
      if (!page) return out;
      for (const w of page.items ?? []) {
        const name = w.metadata?.name ?? '';
        const phase = w.status?.phase;
        out.push({
          namespace: w.metadata?.namespace ?? '',
          name,
          executionId: w.metadata?.labels?.['execution-id'] ?? name,
          ...(typeof phase === 'number' ? { phase } : {}),
          ...(w.metadata?.creationTimestamp ? { createdAt: new Date(w.metadata.creationTimestamp).toISOString() } : {}),
        });
      }
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return out;
  }
  async createTokenSecret(namespace: string, name: string, serviceAccount: string): Promise<'created' | 'exists'> {
    try {
      await this.call(`create Secret ${namespace}/${name}`, (o) =>
        this.http.request({
          ...o,
          method: 'POST',
          path: secretsPath(namespace) + WRITE_QUERY,
          body: {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: {
              name,
              namespace,
              annotations: { [SA_NAME_ANNOTATION]: serviceAccount },
              labels: { 'app.kubernetes.io/managed-by': 'flyte-credsync' },
            },
            type: TOKEN_SECRET_TYPE,
          },
        }),
      );
      return 'created';
    } catch (err) {
      if (statusOf(err) === 409) return 'exists';
      throw err;
    }
  }

  async serviceAccountExists(namespace: string, name: string): Promise<boolean> {
    const sa = await this.read(`get ServiceAccount ${namespace}/${name}`, (o) =>
      this.http.request<V1ServiceAccount>({ ...o, method: 'GET', path: `/api/v1/namespaces/${seg(namespace)}/serviceaccounts/${seg(name)}` }),
    );
    return sa !== undefined;
  }

  // Rotation (lib/rotation): per-generation Secrets, TokenRequests bound to them, revocation.

  async createBindingSecret(namespace: string, name: string, labels: Record<string, string>): Promise<{ uid: string }> {
    try {
      const s = await this.call(`create Secret ${namespace}/${name}`, (o) =>
        this.http.request<V1Secret>({
          ...o,
          method: 'POST',
          path: secretsPath(namespace) + WRITE_QUERY,
          body: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels }, type: 'Opaque' },
        }),
      );
      return { uid: s.metadata!.uid! };
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      const existing = await this.getSecret(namespace, name);
      if (!existing?.uid) throw err;
      return { uid: existing.uid };
    }
  }

  async requestToken(namespace: string, serviceAccount: string, opts: { expirationSeconds: number; bound: { name: string; uid: string } }): Promise<{ token: string; expiresAt: string }> {
    const tr = await this.call(`create ServiceAccount ${namespace}/${serviceAccount} token`, (o) =>
      this.http.request<{ status?: { token?: string; expirationTimestamp?: string } }>({
        ...o,
        method: 'POST',
        path: `/api/v1/namespaces/${seg(namespace)}/serviceaccounts/${seg(serviceAccount)}/token${WRITE_QUERY}`,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            audiences: [],
            expirationSeconds: opts.expirationSeconds,
            boundObjectRef: { apiVersion: 'v1', kind: 'Secret', name: opts.bound.name, uid: opts.bound.uid },
          },
        },
      }),
    );
    const token = tr.status?.token;
    const expires = tr.status?.expirationTimestamp;
    if (!token || !expires) throw new CredsyncError('TOKEN_NOT_ISSUED', `data plane ${this.cluster}: TokenRequest for ${namespace}/${serviceAccount} returned no token`);
    registerSecret(token);
    return { token, expiresAt: new Date(expires).toISOString() };
  }

  async deleteSecret(namespace: string, name: string): Promise<'deleted' | 'absent'> {
    try {
      await this.call(`delete Secret ${namespace}/${name}`, (o) => this.http.request({ ...o, method: 'DELETE', path: `${secretsPath(namespace)}/${seg(name)}` }));
      return 'deleted';
    } catch (err) {
      if (statusOf(err) === 404) return 'absent';
      throw err;
    }
  }

  async caPem(): Promise<string> {
    const c = 'kubeConfig' in this.conn ? this.conn.kubeConfig.getCurrentCluster() : undefined;
    const pem = !('kubeConfig' in this.conn) ? this.conn.caPem : c?.caData ? Buffer.from(c.caData, 'base64').toString('utf8') : c?.caFile ? await readFile(c.caFile, 'utf8') : '';
    if (!pem.includes('-----BEGIN CERTIFICATE-----'))
      throw new CredsyncError('CONFIG_INVALID', `data plane ${this.cluster}: the connection has no CA certificate to hand to flyteadmin (tokenRequest mode needs one)`);
    return pem;
  }
}

function selectorOf(d: V1Deployment): string {
  return Object.entries(d.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
}

export class KubeControlPlane extends KubeCluster implements ControlPlaneApi, RolloutApi {
  constructor(conn: ClusterConnection) {
    super('control-plane', conn);
  }

  async createSecret(secret: SecretObject): Promise<void> {
    await this.call(`create Secret ${secret.namespace}/${secret.name}`, (o) =>
      this.http.request({ ...o, method: 'POST', path: secretsPath(secret.namespace) + WRITE_QUERY, body: toV1Secret(secret) }),
    );
  }

  async replaceSecret(secret: SecretObject): Promise<void> {
    await this.call(`update Secret ${secret.namespace}/${secret.name}`, (o) =>
      this.http.request({ ...o, method: 'PUT', path: `${secretsPath(secret.namespace)}/${seg(secret.name)}${WRITE_QUERY}`, body: toV1Secret(secret) }),
    );
  }

  async getConfigMap(namespace: string, name: string): Promise<ConfigMapObject | undefined> {
    const c = await this.read(`get ConfigMap ${namespace}/${name}`, (o) =>
      this.http.request<V1ConfigMap>({ ...o, method: 'GET', path: configMapPath(namespace, name) }),
    );
    return c && fromV1ConfigMap(c);
  }

  async replaceConfigMap(cm: ConfigMapObject): Promise<void> {
    await this.call(`update ConfigMap ${cm.namespace}/${cm.name}`, (o) =>
      this.http.request({
        ...o,
        method: 'PUT',
        path: configMapPath(cm.namespace, cm.name) + WRITE_QUERY,
        body: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: cm.name,
            namespace: cm.namespace,
            resourceVersion: cm.resourceVersion,
            labels: cm.labels,
            annotations: cm.annotations,
          },
          data: cm.data,
        },
      }),
    );
  }

  async getDeploymentTemplate(namespace: string, name: string): Promise<DeploymentObject | undefined> {
    const d = await this.read(`get Deployment ${namespace}/${name}`, (o) =>
      this.http.request<V1Deployment>({ ...o, method: 'GET', path: deploymentPath(namespace, name) }),
    );
    return (
      d && {
        name,
        namespace,
        templateAnnotations: { ...(d.spec?.template?.metadata?.annotations ?? {}) },
        labels: { ...(d.metadata?.labels ?? {}) },
        annotations: { ...(d.metadata?.annotations ?? {}) },
        ...(d.metadata?.resourceVersion ? { resourceVersion: d.metadata.resourceVersion } : {}),
      }
    );
  }

  async restartDeployment(namespace: string, name: string, at: string, annotations: Record<string, string> = {}, resourceVersion?: string): Promise<void> {
    await this.call(`restart Deployment ${namespace}/${name}`, (o) =>
      this.http.request({
        ...o,
        method: 'PATCH',
        path: deploymentPath(namespace, name) + WRITE_QUERY,
        contentType: 'application/merge-patch+json',
        // A resourceVersion in a merge patch is a precondition: 409 if the Deployment changed since it was read.
        body: {
          ...(resourceVersion ? { metadata: { resourceVersion } } : {}),
          spec: { template: { metadata: { annotations: { ...annotations, 'kubectl.kubernetes.io/restartedAt': at } } } },
        },
      }),
    );
  }

  async currentPods(namespace: string, name: string): Promise<CurrentPods | undefined> {
    const d = await this.read(`get Deployment ${namespace}/${name}`, (o) =>
      this.http.request<V1Deployment>({ ...o, method: 'GET', path: `/apis/apps/v1/namespaces/${seg(namespace)}/deployments/${seg(name)}` }),
    );
    if (!d) return undefined;
    if ((d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) return { observed: false, created: [] };
    const selector = Object.entries(d.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    const q = `?labelSelector=${seg(selector)}`;
    const [sets, pods] = await Promise.all([
      this.call(`list ReplicaSets ${namespace}`, (o) => this.http.request<V1ReplicaSetList>({ ...o, method: 'GET', path: `/apis/apps/v1/namespaces/${seg(namespace)}/replicasets${q}` })),
      this.call(`list Pods ${namespace}`, (o) => this.http.request<V1PodList>({ ...o, method: 'GET', path: `/api/v1/namespaces/${seg(namespace)}/pods${q}` })),
    ]);
    const revision = d.metadata?.annotations?.['deployment.kubernetes.io/revision'];
    const uid = d.metadata?.uid;
    const current = sets.items.find(
      (r) => r.metadata?.annotations?.['deployment.kubernetes.io/revision'] === revision && (r.metadata?.ownerReferences ?? []).some((ref) => ref.uid === uid),
    );
    // No ReplicaSet of the Deployment's revision yet: as good as not observed (its pods are still to be created).
    if (!current?.metadata?.uid) return { observed: false, created: [] };
    const created = pods.items
      .filter((p) => !p.metadata?.deletionTimestamp && (p.metadata?.ownerReferences ?? []).some((ref) => ref.uid === current.metadata!.uid))
      .flatMap((p) => {
        const t = isoTime(p.metadata?.creationTimestamp);
        return t ? [t] : [];
      });
    return { observed: true, created, templateAnnotations: { ...(current.spec?.template?.metadata?.annotations ?? {}) } };
  }

  async createEvent(e: AuditEvent): Promise<void> {
    // Named like kubectl's events: the object's name and a unique suffix.
    const name = `${e.regarding.name}.${randomBytes(8).toString('hex')}`;
    await this.call(`create Event ${e.namespace}/${name}`, (o) =>
      this.http.request({
        ...o,
        method: 'POST',
        path: `/apis/events.k8s.io/v1/namespaces/${seg(e.namespace)}/events${WRITE_QUERY}`,
        body: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name, namespace: e.namespace, labels: { 'app.kubernetes.io/managed-by': 'flyte-credsync' }, annotations: { 'flyte-credsync.io/run': e.runId } },
          eventTime: microTime(e.time),
          reportingController: AUDIT_CONTROLLER,
          reportingInstance: `flyte-credsync-${e.runId}`.slice(0, 128),
          action: e.action,
          reason: e.reason,
          type: e.type,
          note: e.note,
          regarding: { apiVersion: e.regarding.apiVersion, kind: e.regarding.kind, name: e.regarding.name, namespace: e.namespace },
        },
      }),
    );
  }

  mayDo(namespace: string, actions: readonly ReviewedAction[]): Promise<boolean[]> {
    return mayDoInNamespace(this.http, this.cluster, this.server, namespace, actions);
  }

  async getLease(namespace: string, name: string): Promise<LeaseObject | undefined> {
    const l = await this.read(`get Lease ${namespace}/${name}`, (o) => this.http.request<V1Lease>({ ...o, method: 'GET', path: leasePath(namespace, name) }));
    return l && fromV1Lease(l);
  }

  async createLease(lease: LeaseObject): Promise<LeaseObject> {
    return this.call(`create Lease ${lease.namespace}/${lease.name}`, (o) =>
      this.http.request<V1Lease>({ ...o, method: 'POST', path: leasePath(lease.namespace) + WRITE_QUERY, body: toV1Lease(lease) }).then(fromV1Lease),
    );
  }

  async replaceLease(lease: LeaseObject): Promise<LeaseObject> {
    return this.call(`update Lease ${lease.namespace}/${lease.name}`, (o) =>
      this.http.request<V1Lease>({ ...o, method: 'PUT', path: leasePath(lease.namespace, lease.name) + WRITE_QUERY, body: toV1Lease(lease) }).then(fromV1Lease),
    );
  }

  // The rollout reads of rotation's wait (lib/rotation/rollout.ts).

  async getDeployment(namespace: string, name: string): Promise<DeploymentView | undefined> {
    const d = await this.read(`get Deployment ${namespace}/${name}`, (o) =>
      this.http.request<V1Deployment>({ ...o, method: 'GET', path: deploymentPath(namespace, name) }),
    );
    if (!d) return undefined;
    const restartedAt = d.spec?.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'];
    const revision = d.metadata?.annotations?.['deployment.kubernetes.io/revision'];
    return {
      name,
      generation: d.metadata?.generation ?? 0,
      observedGeneration: d.status?.observedGeneration ?? 0,
      replicas: d.spec?.replicas ?? 1,
      statusReplicas: d.status?.replicas ?? 0,
      updatedReplicas: d.status?.updatedReplicas ?? 0,
      readyReplicas: d.status?.readyReplicas ?? 0,
      availableReplicas: d.status?.availableReplicas ?? 0,
      ...(restartedAt ? { restartedAt } : {}),
      ...(revision ? { revision } : {}),
      selector: selectorOf(d),
    };
  }

  async listReplicaSets(namespace: string, selector: string): Promise<ReplicaSetView[]> {
    const list = await this.call(`list ReplicaSets ${namespace}`, (o) =>
      this.http.request<V1ReplicaSetList>({ ...o, method: 'GET', path: `/apis/apps/v1/namespaces/${seg(namespace)}/replicasets?labelSelector=${seg(selector)}` }),
    );
    return list.items.map((r) => ({
      name: r.metadata?.name ?? '',
      ...(r.metadata?.annotations?.['deployment.kubernetes.io/revision'] ? { revision: r.metadata.annotations['deployment.kubernetes.io/revision'] } : {}),
      ...(r.metadata?.labels?.['pod-template-hash'] ? { templateHash: r.metadata.labels['pod-template-hash'] } : {}),
    }));
  }

  async listPods(namespace: string, selector: string): Promise<PodView[]> {
    const list = await this.call(`list Pods ${namespace}`, (o) =>
      this.http.request<V1PodList>({ ...o, method: 'GET', path: `/api/v1/namespaces/${seg(namespace)}/pods?labelSelector=${seg(selector)}` }),
    );
    return list.items.map((p) => ({
      name: p.metadata?.name ?? '',
      ...(p.metadata?.labels?.['pod-template-hash'] ? { templateHash: p.metadata.labels['pod-template-hash'] } : {}),
      terminating: !!p.metadata?.deletionTimestamp,
    }));
  }
}
