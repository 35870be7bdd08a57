/**
 * GKE access: endpoint and CA from the GKE API (@google-cloud/container getCluster), bearer
 * token from google-auth-library (application default credentials, or a given auth client).
 * google-auth-library caches the access token and renews it before it expires (its
 * eagerRefreshThresholdMillis, 5 minutes by default); the sync asks it for a token each run.
 */
import type { ClusterManagerClient } from '@google-cloud/container';
import { CredsyncError } from '../errors.ts';
import { registerSecret } from '../util/redact.ts';

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** The part of google-auth-library's clients the sync uses (GoogleAuth, OAuth2Client, ...). */
export interface AccessTokenSource {
  getAccessToken(): Promise<{ token?: string | null } | string | null | undefined>;
}

export type GkeClusterApi = Pick<ClusterManagerClient, 'getCluster'>;

export interface GkeClusterInfo {
  endpoint: string;
  caPem: string;
}

export function gkeClusterPath(project: string, location: string, cluster: string): string {
  return `projects/${project}/locations/${location}/clusters/${cluster}`;
}

/** Endpoint and CA of a GKE cluster; one that is not RUNNING is an error that says so. */
export async function describeGkeCluster(api: GkeClusterApi, project: string, location: string, cluster: string): Promise<GkeClusterInfo> {
  const name = gkeClusterPath(project, location, cluster);
  let c;
  try {
    [c] = await api.getCluster({ name });
  } catch (err) {
    throw new CredsyncError('CLUSTER_UNREACHABLE', `GKE getCluster ${name}: ${(err as Error).message}`, { cause: err });
  }
  const status = typeof c.status === 'string' ? c.status : c.status === 2 ? 'RUNNING' : String(c.status ?? 'unknown');
  if (status !== 'RUNNING' || !c.endpoint || !c.masterAuth?.clusterCaCertificate)
    throw new CredsyncError('CLUSTER_UNREACHABLE', `GKE cluster ${name} is not RUNNING yet (status ${status})`);
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
