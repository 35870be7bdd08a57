/**
 * GKE access: endpoint and CA from the GKE API (getCluster, over gRPC: lib/gcp/grpc.ts), bearer
 * token from google-auth-library (application default credentials, or a given auth client).
 * google-auth-library caches the access token and renews it before it expires (its
 * eagerRefreshThresholdMillis, 5 minutes by default); the sync asks it for a token each run.
 */
import type { ClusterManagerClient } from '@google-cloud/container';
import { ClusterNotReadyError, CredsyncError } from '../errors.ts';
import { CALL_TIMEOUT_MS, deadlineError, gaxCall } from '../util/abort.ts';
import { importOptional } from '../util/optional.ts';
import { registerSecret } from '../util/redact.ts';

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** The part of google-auth-library's clients the sync uses (GoogleAuth, OAuth2Client, ...). */
export interface AccessTokenSource {
  getAccessToken(): Promise<{ token?: string | null } | string | null | undefined>;
}

export type GkeClusterApi = Pick<ClusterManagerClient, 'getCluster'>;

let clusterManager: Promise<ClusterManagerClient> | undefined;

/** GKE's API endpoint (gRPC over TLS). */
export const GKE_API_ENDPOINT = 'container.googleapis.com:443';

/**
 * The one GKE API client of the process (application default credentials), created on first
 * use: access and discovery share it, and its gRPC client (lib/gcp/grpc.ts) loads only when GKE
 * is configured. It has the calls of @google-cloud/container's ClusterManagerClient that the sync
 * makes (getCluster, listClusters), and only those.
 */
export function defaultClusterManager(): Promise<ClusterManagerClient> {
  if (!clusterManager) {
    const p = import('../gcp/grpc.ts').then(
      (m) => m.clusterManagerOverGrpc({ endpoint: GKE_API_ENDPOINT, auth: defaultGoogleAuth }) as unknown as ClusterManagerClient,
    );
    p.catch(() => clusterManager === p && (clusterManager = undefined));
    clusterManager = p;
  }
  return clusterManager;
}

let googleAuth: Promise<AccessTokenSource> | undefined;
/**
 * The process's GoogleAuth (application default credentials, cloud-platform scope), loaded on
 * first use: GKE access tokens, and the access tokens of the GKE and Secret Manager API calls.
 */
export function defaultGoogleAuth(): Promise<AccessTokenSource> {
  if (!googleAuth) {
    const p = importOptional('google-auth-library', 'GKE access or GCP Secret Manager', () => import('google-auth-library')).then(
      (m) => new m.GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE], clientOptions: { transporterOptions: { timeout: CALL_TIMEOUT_MS } } }),
    );
    p.catch(() => googleAuth === p && (googleAuth = undefined));
    googleAuth = p;
  }
  return googleAuth;
}

export interface GkeClusterInfo {
  endpoint: string;
  caPem: string;
}

/** GKE's resource name of a cluster: `projects/P/locations/L/clusters/C`. */
export function gkeClusterPath(project: string, location: string, cluster: string): string {
  return `projects/${project}/locations/${location}/clusters/${cluster}`;
}

/** google.container.v1.Cluster.Status, for answers that carry the number instead of the name. */
const STATUS_NAMES = ['STATUS_UNSPECIFIED', 'PROVISIONING', 'RUNNING', 'RECONCILING', 'STOPPING', 'ERROR', 'DEGRADED'];
/**
 * GKE statuses whose API server answers: RUNNING; RECONCILING (an upgrade or repair, often hours
 * of node-pool work; a zonal control-plane upgrade is a short outage, which fails as unreachable);
 * DEGRADED (needs user action, but the control plane serves).
 */
const USABLE = new Set(['RUNNING', 'RECONCILING', 'DEGRADED']);

/** gRPC status codes (google-gax errors carry them in `code`). */
const GRPC_NOT_FOUND = 5;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNAUTHENTICATED = 16;

/**
 * Endpoint and CA of a GKE cluster. A cluster still PROVISIONING is {@link ClusterNotReadyError} (retry
 * later); STOPPING or ERROR say so; a cluster GKE does not know is a configuration error; a
 * refusal is access denied. `what` names the data plane in errors ("data plane dp1").
 */
export async function describeGkeCluster(api: GkeClusterApi, project: string, location: string, cluster: string, what?: string): Promise<GkeClusterInfo> {
  const name = gkeClusterPath(project, location, cluster);
  const at = what ? `${what}: ` : '';
  let c;
  try {
    [c] = await gaxCall((o) => api.getCluster({ name }, o));
  } catch (err) {
    if (err instanceof CredsyncError) throw err;
    const code = (err as { code?: unknown }).code;
    const message = (err as Error).message;
    const cut = code === 4 || code === 1 ? deadlineError(`${at}GKE getCluster ${name}`) : undefined;
    if (cut) throw cut;
    if (code === GRPC_NOT_FOUND) throw new CredsyncError('CONFIG_INVALID', `${at}GKE has no cluster ${name}: ${message}`, { cause: err });
    if (code === GRPC_PERMISSION_DENIED || code === GRPC_UNAUTHENTICATED)
      throw new CredsyncError('CLUSTER_ACCESS_DENIED', `${at}GKE getCluster ${name} denied: ${message}`, { cause: err });
    throw new CredsyncError('CLUSTER_UNREACHABLE', `${at}GKE getCluster ${name}: ${message}`, { cause: err });
  }
  const status = typeof c.status === 'string' ? c.status : typeof c.status === 'number' ? (STATUS_NAMES[c.status] ?? String(c.status)) : 'unknown';
  if (status === 'PROVISIONING' || status === 'STATUS_UNSPECIFIED' || status === 'unknown')
    throw new ClusterNotReadyError(`${at}GKE cluster ${name} is not RUNNING yet (status ${status})`);
  if (!USABLE.has(status)) throw new CredsyncError('CLUSTER_UNREACHABLE', `${at}GKE cluster ${name} is ${status}`);
  if (!c.endpoint || !c.masterAuth?.clusterCaCertificate)
    throw new CredsyncError('CLUSTER_UNREACHABLE', `${at}GKE cluster ${name} (status ${status}) reports no endpoint or CA`);
  return { endpoint: `https://${c.endpoint}`, caPem: Buffer.from(c.masterAuth.clusterCaCertificate, 'base64').toString('utf8') };
}

/** A fresh (or still valid) access token from google-auth-library. */
export async function gkeAccessToken(source: AccessTokenSource): Promise<string> {
  let res;
  try {
    res = await source.getAccessToken();
  } catch (err) {
    throw new CredsyncError('CLUSTER_ACCESS_DENIED', `GKE: cannot get an access token: ${(err as Error).message}`, { cause: err });
  }
  const token = typeof res === 'string' ? res : res?.token;
  if (!token) throw new CredsyncError('CLUSTER_ACCESS_DENIED', 'GKE: google-auth-library returned no access token');
  registerSecret(token);
  return token;
}
