/**
 * What the local environment is (./testenv.ts starts it): EnvInfo, the record every client reads from
 * <dir>/env.json, its parts, and the constants and paths the other files of the environment share.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Binaries, Log } from './build.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const DEFAULT_STATE_DIR = path.join(REPO_ROOT, '.testenv');

export const CONTROL_PLANE = 'control';

/** The OAuth2 client the FlyteAdmin stand-in knows (its secret is in EnvInfo.flyteadmin.clientSecretFile). */
export const FLYTEADMIN_CLIENT_ID = 'flyte-credsync';

/** What moto 5.2.5's STS GetCallerIdentity answers for a key it did not issue (default account). */
export const MOTO_DEFAULT_CALLER_ARN = 'arn:aws:sts::123456789012:user/moto';

export const EKS_GROUP = 'flyte-credsync';

/** The cross-account role the webhook maps too (EksInfo.crossAccountRoleArn). */
export const CROSS_ACCOUNT_ROLE_ARN = 'arn:aws:iam::210987654321:role/flyte-credsync-data-plane';

export const GCP_PROJECT = 'credsync-local';

export const GKE_SERVICE_ACCOUNT = 'credsync';

/** gke-auth.ts's GOOGLE_TOKEN_URL and CLOUD_PLATFORM_SCOPE (see the import above). */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** Lifetime of gke.shortLived's access tokens: well inside google-auth-library's 5-minute refresh window. */
export const GKE_SHORT_TOKEN_SECONDS = 3;

export type ClusterRole = 'control-plane' | 'data-plane';

export interface ClusterInfo {
  name: string;
  /** Context name in EnvInfo.kubeconfig (same as the cluster name). */
  context: string;
  /** https://127.0.0.1:PORT */
  server: string;
  caFile: string;
  /** Base64 of the CA PEM: what kubeconfig's certificate-authority-data holds. */
  caData: string;
  adminCertFile: string;
  adminKeyFile: string;
  role: ClusterRole;
  /** kube-apiserver log. */
  logFile: string;
  controllerManagerLogFile: string;
  etcdPrefix: string;
  serviceAccountIssuer: string;
}

/** EKS access to the data planes: see ./eks-webhook.ts. */
export interface EksInfo {
  /** The TokenReview webhook, http://127.0.0.1:PORT (POST /authenticate/<EKS cluster name>). */
  webhook: string;
  /** Data plane -> the EKS cluster name its API server stands for (the `x-k8s-aws-id` it requires). */
  clusterNames: Record<string, string>;
  /** The principal mapped to a Kubernetes identity: what moto's STS answers for env.aws's static key. */
  mappedArn: string;
  /**
   * A role "in another account" (moto's STS assumes any role ARN), also mapped to the group: what a
   * data plane's `roleArn` (cross-account access) names in the tests.
   */
  crossAccountRoleArn: string;
  /** The username and group it gets (deploy/dataplane-rbac.yaml binds the group). */
  username: string;
  group: string;
  /** The webhook's STS key store (JSON, see KeyStoreFile): static moto credentials; tests may add keys. */
  keyStore: string;
  logFile: string;
}

/** A service-account key of the GKE stand-in (./gke-auth.ts). */
export interface GkeServiceAccountInfo {
  /** Standard service-account key JSON (type service_account, private_key, client_email, token_uri = gke.tokenEndpoint, ...). */
  keyFile: string;
  clientEmail: string;
  /** `expires_in` of the access tokens the token endpoint issues for this account. */
  tokenLifetimeSeconds: number;
  /** What a data-plane API server calls it (`gke:<email>`); deploy/dataplane-rbac.yaml binds gke.group. */
  username: string;
}

/** GKE access to the data planes: see ./gke-auth.ts. */
export interface GkeInfo extends GkeServiceAccountInfo {
  /** The stand-in: http://127.0.0.1:PORT (POST /token, POST /authenticate-gke/<cluster>). */
  server: string;
  /** <server>/token: the keys' token_uri. */
  tokenEndpoint: string;
  /** What google-auth-library posts to and signs for, whatever token_uri says (see docs/testing.md). */
  googleTokenUrl: string;
  /** The scope GKE's review requires of a token. */
  scope: string;
  group: string;
  /** A second service account whose tokens live only a few seconds (expiry and renewal tests). */
  shortLived: GkeServiceAccountInfo;
  /** Where the data planes are as GKE clusters (access { type: gke, project, location, clusterName }). */
  project: string;
  location: string;
  clusterNames: Record<string, string>;
  logFile: string;
}

/**
 * The FlyteAdmin STAND-IN (./flyteadmin.ts; FlyteAdmin itself is in no package registry): the
 * execution-cluster-label calls of AdminService, over the same in-memory rows on two listeners.
 */
export interface FlyteAdminInfo {
  /** host:port, plaintext gRPC, no auth. */
  insecureEndpoint: string;
  /** host:port, TLS (certificate of caFile) and OAuth2 client credentials required. */
  endpoint: string;
  /** The stand-in's own CA (PEM). */
  caFile: string;
  /** https://127.0.0.1:PORT/oauth2/token (also advertised by AuthMetadataService). */
  tokenEndpoint: string;
  clientId: string;
  /** The client secret (0600); tests put it into the secret store. */
  clientSecretFile: string;
  /** Projects registered at start; tests register their own with RegisterProject. */
  projects: string[];
  logFile: string;
}

/** Real rollouts on the control plane: kube-scheduler + KWOK nodes (see docs/testing.md "Rollouts"). */
export interface RolloutsInfo {
  /** The simulated nodes KWOK manages (annotation kwok.x-k8s.io/node=fake). */
  nodes: string[];
  /** KWOK's server (GET /healthz). */
  kwokServer: string;
  kwokLogFile: string;
  schedulerLogFile: string;
}

export interface EnvInfo {
  version: 1;
  dir: string;
  kubeconfig: string;
  controlPlane: string;
  dataPlanes: string[];
  clusters: Record<string, ClusterInfo>;
  etcd: { endpoint: string };
  aws: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  gcp: { secretManagerEndpoint: string; project: string };
  eks: EksInfo;
  gke: GkeInfo;
  flyteadmin: FlyteAdminInfo;
  rollouts: RolloutsInfo;
  binaries: Binaries;
  startedAt: string;
}

export interface UpOptions {
  /** Number of data planes dp1..dpN (default 3). */
  dataPlanes?: number;
  /** State dir (default `.testenv/` at the repository root). */
  dir?: string;
  log?: Log;
  /** How the servers' ports are chosen, per attempt (default {@link freePorts}; tests). */
  ports?: (n: number) => Promise<number[]>;
}

export interface DirOptions {
  dir?: string;
  log?: Log;
}

export const defaultLog: Log = (line) => console.log(line);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const stateDir = (dir?: string) => path.resolve(dir ?? DEFAULT_STATE_DIR);

export const envFile = (dir: string) => path.join(dir, 'env.json');

export const pidsFile = (dir: string) => path.join(dir, 'pids.json');

// ---------------------------------------------------------------------------------------------
// Processes

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
