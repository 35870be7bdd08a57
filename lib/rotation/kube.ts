/**
 * Kubernetes adapters of rotation's ports (over the sync's pooled HTTP/2 transport): the data-plane side (per-generation
 * Secrets, TokenRequest bound to them, deletion) and the control-plane reads of the rollout wait.
 * They extend the sync's adapters, so one connection serves both.
 */
import { readFile } from 'node:fs/promises';
import type { V1Deployment, V1PodList, V1ReplicaSetList, V1Secret } from '@kubernetes/client-node';
import type { ClusterConnection } from '../clusters/access.ts';
import { CredsyncError } from '../errors.ts';
import { KubeControlPlane, KubeDataPlane } from '../kube/client.ts';
import { statusOf } from '../kube/errors.ts';
import { registerSecret } from '../util/redact.ts';
import type { RotationDataPlaneApi } from './ports.ts';
import type { DeploymentView, PodView, ReplicaSetView, RolloutApi } from './rollout.ts';

const FIELD_MANAGER = 'flyte-credsync';
const WRITE_QUERY = `?fieldManager=${FIELD_MANAGER}`;
const seg = encodeURIComponent;

export class KubeRotationDataPlane extends KubeDataPlane implements RotationDataPlaneApi {
  private readonly conn: ClusterConnection;

  constructor(cluster: string, conn: ClusterConnection) {
    super(cluster, conn);
    this.conn = conn;
  }

  async createBindingSecret(namespace: string, name: string, labels: Record<string, string>): Promise<{ uid: string }> {
    try {
      const s = await this.call(`create Secret ${namespace}/${name}`, (o) =>
        this.http.request<V1Secret>({
          ...o,
          method: 'POST',
          path: `/api/v1/namespaces/${seg(namespace)}/secrets${WRITE_QUERY}`,
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
      await this.call(`delete Secret ${namespace}/${name}`, (o) => this.http.request({ ...o, method: 'DELETE', path: `/api/v1/namespaces/${seg(namespace)}/secrets/${seg(name)}` }));
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

export class KubeRotationControlPlane extends KubeControlPlane implements RolloutApi {
  async getDeployment(namespace: string, name: string): Promise<DeploymentView | undefined> {
    const d = await this.read(`get Deployment ${namespace}/${name}`, (o) =>
      this.http.request<V1Deployment>({ ...o, method: 'GET', path: `/apis/apps/v1/namespaces/${seg(namespace)}/deployments/${seg(name)}` }),
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
