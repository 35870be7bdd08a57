/**
 * @kubernetes/client-node adapters of the ports in ./ports.ts. Each call names the cluster and
 * the operation in its errors (see kubeCall) and never echoes request or response secrets.
 */
import { randomBytes } from 'node:crypto';
import type { V1ConfigMap, V1Deployment, V1Lease, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import type { ClusterConnection } from '../clusters/access.ts';
import { kubeCall, statusOf, type CallOptions } from './errors.ts';
import { KubeHttp } from './http2.ts';
import {
  SA_NAME_ANNOTATION,
  TOKEN_SECRET_TYPE,
  type AuditEvent,
  type ConfigMapObject,
  type ControlPlaneApi,
  type DataPlaneApi,
  type DeploymentObject,
  type LeaseObject,
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
  };
}

function fromV1Lease(l: V1Lease): LeaseObject {
  const spec = l.spec ?? {};
  const time = (t: unknown) => (t instanceof Date ? t.toISOString() : typeof t === 'string' ? t : undefined);
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

  constructor(cluster: string, conn: ClusterConnection) {
    this.cluster = cluster;
    this.server = conn.server;
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

export class KubeDataPlane extends KubeCluster implements DataPlaneApi {

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
}

export class KubeControlPlane extends KubeCluster implements ControlPlaneApi {
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
      this.http.request<V1Deployment>({ ...o, method: 'GET', path: `/apis/apps/v1/namespaces/${seg(namespace)}/deployments/${seg(name)}` }),
    );
    return d && { name, namespace, templateAnnotations: { ...(d.spec?.template?.metadata?.annotations ?? {}) } };
  }

  async restartDeployment(namespace: string, name: string, at: string, annotations: Record<string, string> = {}): Promise<void> {
    await this.call(`restart Deployment ${namespace}/${name}`, (o) =>
      this.http.request({
        ...o,
        method: 'PATCH',
        path: `/apis/apps/v1/namespaces/${seg(namespace)}/deployments/${seg(name)}${WRITE_QUERY}`,
        contentType: 'application/merge-patch+json',
        body: { spec: { template: { metadata: { annotations: { ...annotations, 'kubectl.kubernetes.io/restartedAt': at } } } } },
      }),
    );
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
}
