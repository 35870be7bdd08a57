/**
 * An object's metadata only, never its data: `credsync doctor` reads who manages the objects the
 * sync writes (lib/controlplane/owners.ts) without reading the credentials Secret's values. The API
 * server answers a GET asked as `PartialObjectMetadata` (meta.k8s.io/v1) with the metadata alone.
 */
import { kubeCall } from './errors.ts';
import type { KubeHttp } from './http2.ts';
import { statusOf } from './errors.ts';

/** `Accept` for the metadata of one object (the API server's PartialObjectMetadata transformation). */
export const PARTIAL_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

export interface ObjectMetadata {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Where an object of a kind credsync writes lives in the API. */
export function objectPath(kind: 'Secret' | 'ConfigMap' | 'Deployment', namespace: string, name: string): string {
  const ns = encodeURIComponent(namespace), n = encodeURIComponent(name);
  if (kind === 'Deployment') return `/apis/apps/v1/namespaces/${ns}/deployments/${n}`;
  return `/api/v1/namespaces/${ns}/${kind === 'Secret' ? 'secrets' : 'configmaps'}/${n}`;
}

/**
 * The labels and annotations of one object, or undefined when it does not exist. The request asks
 * for PartialObjectMetadata: a Secret's data never leaves the API server.
 *
 * @throws what {@link kubeCall} throws (a 403 is CLUSTER_ACCESS_DENIED)
 */
export async function readMetadata(
  http: KubeHttp,
  cluster: string,
  server: string,
  kind: 'Secret' | 'ConfigMap' | 'Deployment',
  namespace: string,
  name: string,
  timeoutMs?: number,
): Promise<ObjectMetadata | undefined> {
  try {
    const o = await kubeCall(
      cluster,
      server,
      `get ${kind} ${namespace}/${name} (metadata)`,
      (c) => http.request<{ kind?: string; metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } }>({ ...c, method: 'GET', path: objectPath(kind, namespace, name), accept: PARTIAL_METADATA }),
      timeoutMs,
    );
    return { labels: { ...(o.metadata?.labels ?? {}) }, annotations: { ...(o.metadata?.annotations ?? {}) } };
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}
