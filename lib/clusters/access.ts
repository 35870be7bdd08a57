/**
 * How a cluster is reached: turns a configured {@link ClusterAccess} into an in-memory
 * KubeConfig (no files written, fits Lambda). Cloud access (EKS, GKE) plugs in as new
 * `type`s of the access union and new cases here.
 */
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import type { EKSClient } from '@aws-sdk/client-eks';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { ClusterAccess } from '../config/schema.ts';
import { describeEksCluster, eksToken, EksTokenCache } from './eks.ts';
import type { KubeconfigLoads } from './kubeconfig.ts';
import { defaultClusterManager, defaultGoogleAuth, describeGkeCluster, gkeAccessToken, type AccessTokenSource, type GkeClusterApi } from './gke.ts';
import { AccessError, ConfigError, type ConfigIssue } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { echo } from '../util/bounded.ts';
import { FILE_LIMITS, readRegularFile } from '../util/files.ts';
import { AWS_REQUEST_HANDLER } from '../util/abort.ts';
import { registerSecret } from '../util/redact.ts';

/**
 * How the sync reaches one API server: a bearer token and the CA (token, EKS and GKE access), or a
 * loaded kubeconfig (client certificates, exec plugins and the rest that client-node supports).
 */
export type ClusterConnection = {
  /** API server URL the sync uses. */
  server: string;
} & ({ token: string; caPem: string } | { kubeConfig: KubeConfig });

/** A bearer-token connection; the token is registered for redaction. */
export function tokenConnection(server: string, caPem: string, token: string): ClusterConnection {
  registerSecret(token);
  return { server, caPem, token };
}

/**
 * Accepts PEM text or base64 of PEM (kubeconfig's certificate-authority-data).
 *
 * @throws AccessError (`access.caData`) when it is neither; `what` names the cluster
 */
export function toPem(ca: string, what = 'cluster'): string {
  const t = ca.trim();
  if (t.startsWith('-----BEGIN')) return ca;
  const decoded = Buffer.from(t, 'base64').toString('utf8');
  if (!decoded.startsWith('-----BEGIN')) throw new AccessError(what, 'access.caData', 'neither PEM nor base64 of PEM');
  return decoded;
}

/** A bearer token: one run of visible ASCII characters (what an HTTP header may carry), at most 64 KiB. */
const BEARER_TOKEN = /^[\x21-\x7e]{1,65536}$/;

export interface AccessEnv {
  env: NodeJS.ProcessEnv;
  /** Reads a file the access names; default: only a regular file of at most `maxBytes` (lib/util/files.ts). */
  readFile: (path: string, maxBytes: number) => Promise<string>;
  /**
   * This run's kubeconfig loads, shared by its connections (each kubeconfig read once per run);
   * without it, each connection reads its kubeconfig anew. See {@link forRun}.
   */
  kubeconfigs?: Pick<KubeconfigLoads, 'load'>;
  /** AWS credentials for EKS access: the function's own, or `roleArn` assumed. */
  awsCredentials?: (region: string, roleArn?: string) => AwsCredentialIdentityProvider;
  eksClient?: (region: string, credentials: AwsCredentialIdentityProvider, endpoint?: string) => EKSClient;
  eksTokens?: EksTokenCache;
  /** GKE: the cluster API and the token source (default: @google-cloud/container and application default credentials). */
  gkeClusters?: () => Promise<GkeClusterApi>;
  googleAuth?: () => Promise<AccessTokenSource>;
}

const sharedEksTokens = new EksTokenCache();

const providers = new Map<string, AwsCredentialIdentityProvider>();
/**
 * AWS credentials of the function's own identity, or of `roleArn` assumed: one provider per
 * (region, role), shared by EKS access and discovery and reused across data planes and warm
 * invocations (it caches its credentials, so a role is assumed once, not once per call).
 */
export function awsCredentialsFor(region: string, roleArn?: string): AwsCredentialIdentityProvider {
  const key = `${region}/${roleArn ?? ''}`;
  let p = providers.get(key);
  if (!p) {
    // Loaded on first use (only EKS access and discovery need the SDK's providers), then kept.
    // Memoized until shortly before the credentials expire: fromTemporaryCredentials alone calls
    // AssumeRole on every call (every data plane, every token), not once.
    let inner: Promise<AwsCredentialIdentityProvider> | undefined;
    const load = () =>
      (inner ??= import('../aws/credentials.ts').then(
        (m) =>
          m.memoizeIdentityProvider(
            roleArn
              ? m.fromTemporaryCredentials({ params: { RoleArn: roleArn, RoleSessionName: 'flyte-credsync' }, clientConfig: { region, requestHandler: AWS_REQUEST_HANDLER } })
              : m.fromNodeProviderChain(),
            m.isIdentityExpired,
            m.doesIdentityRequireRefresh,
          )!,
      ));
    p = async (props) => (await load())(props);
    providers.set(key, p);
  }
  return p;
}

const defaultEnv: AccessEnv = { env: process.env, readFile: readRegularFile };

/**
 * `io` (default: the process's environment and {@link readRegularFile}) for one run: its
 * connections share one {@link KubeconfigLoads}, so a kubeconfig that many clusters name is read,
 * checked and parsed once per run, and each context resolved once. Make a new one per run (files
 * change between runs); an `io` that has loads already is returned as it is.
 */
export function forRun(io: AccessEnv = defaultEnv): AccessEnv {
  if (io.kubeconfigs) return io;
  // Made on the run's first kubeconfig access: ./kubeconfig.ts (client-node) loads only then.
  let loads: Promise<KubeconfigLoads> | undefined;
  const kubeconfigs = {
    load: async (path: string | undefined, context: string) => (await (loads ??= import('./kubeconfig.ts').then((m) => new m.KubeconfigLoads(io.readFile, io.env)))).load(path, context),
  };
  return { ...io, kubeconfigs };
}

/** Resolves how to reach a cluster. `what` names it in errors ("data plane dp1"). */
export async function connect(what: string, access: ClusterAccess, io: AccessEnv = defaultEnv): Promise<ClusterConnection> {
  switch (access.type) {
    case 'kubeconfig': {
      // Every file it reads (the kubeconfig, $KUBECONFIG's, and those the context's cluster and
      // user name) is bounded and must be a regular file (./kubeconfig.ts). Loaded on first use:
      // client-node's KubeConfig (with js-yaml, jsonpath-plus and its OIDC client) serves only
      // kubeconfig access, so bearer-token access (token, EKS, GKE) never loads it.
      const { KubeconfigError, KubeconfigLoads } = await import('./kubeconfig.ts');
      let kc: KubeConfig;
      try {
        kc = await (io.kubeconfigs ?? new KubeconfigLoads(io.readFile, io.env)).load(access.path, access.context);
      } catch (err) {
        if (err instanceof KubeconfigError) throw new AccessError(what, err.field, err.message, { cause: err });
        throw err;
      }
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw new AccessError(what, 'access.context', `context "${echo(access.context)}" names no cluster`);
      const user = kc.getCurrentUser();
      registerSecret(user?.token);
      return { server: cluster.server, kubeConfig: kc };
    }
    case 'token': {
      let token: string;
      const field = access.tokenEnv ? 'access.tokenEnv' : 'access.tokenFile';
      if (access.tokenEnv) {
        const t = io.env[access.tokenEnv];
        if (!t) throw new AccessError(what, field, `environment variable ${echo(access.tokenEnv)} is not set`);
        token = t;
      } else {
        token = await io.readFile(access.tokenFile!, FILE_LIMITS.token).catch((err: Error) => {
          throw new AccessError(what, field, `cannot read ${echo(access.tokenFile)}: ${err.message}`, { cause: err });
        });
      }
      token = token.trim();
      registerSecret(token);
      if (!BEARER_TOKEN.test(token))
        throw new AccessError(what, field, `${echo(access.tokenEnv ?? access.tokenFile)} is not a token (expected one line of printable characters, a bearer token)`);
      let ca: string;
      if (access.caData) ca = toPem(access.caData, what);
      else {
        ca = await io.readFile(access.caFile!, FILE_LIMITS.ca).catch((err: Error) => {
          throw new AccessError(what, 'access.caFile', `cannot read ${echo(access.caFile)}: ${err.message}`, { cause: err });
        });
        if (!ca.trimStart().startsWith('-----BEGIN')) throw new AccessError(what, 'access.caFile', `${echo(access.caFile)} is not a PEM certificate`);
      }
      return tokenConnection(access.endpoint, ca, token);
    }
    case 'eks': {
      const credentials = (io.awsCredentials ?? awsCredentialsFor)(access.region, access.roleArn);
      const eks = io.eksClient
        ? io.eksClient(access.region, credentials, access.eksEndpoint)
        : new (await import('../aws/eks.ts')).EKSClient({ region: access.region, credentials, requestHandler: AWS_REQUEST_HANDLER, ...(access.eksEndpoint ? { endpoint: access.eksEndpoint } : {}) });
      const info = await describeEksCluster(eks, access.clusterName, what);
      // Keyed on the identity that signs, so a token is never handed to a caller with other credentials.
      const identity = await credentials();
      const key = `${access.region}/${access.clusterName}/${identity.accessKeyId}`;
      const token = await (io.eksTokens ?? sharedEksTokens).get(key, (now) =>
        eksToken(access.clusterName, access.region, identity, now),
      );
      return tokenConnection(info.endpoint, info.caPem, token);
    }
    case 'gke': {
      const clusters = await (io.gkeClusters ?? defaultClusterManager)();
      const auth = await (io.googleAuth ?? defaultGoogleAuth)();
      const info = await describeGkeCluster(clusters, access.project, access.location, access.clusterName, what);
      const token = await gkeAccessToken(auth);
      return tokenConnection(info.endpoint, info.caPem, token);
    }
  }
}

/** The cluster every local access (kubeconfig, token) stands for: its id, or the control plane. */
export const CONTROL_PLANE_KEY = 'control plane';

/**
 * Checks every access that needs no network call (kubeconfig and token: files, environment
 * variables, contexts, CA and token shape) of the control plane and every data plane, before
 * anything is read or written, and keeps the connections it made for the sync to use.
 * EKS and GKE access are resolved by the sync (they ask the cloud). Clusters that name the same
 * kubeconfig and context share its load and its KubeConfig ({@link forRun}).
 *
 * @returns the connections, keyed by data plane id and {@link CONTROL_PLANE_KEY}
 * @throws ConfigError (`CONFIG_INVALID`) listing every access that cannot be used, each with the
 *   data plane and the field (`dataPlanes[dp2].access.tokenFile`)
 */
export async function checkLocalAccess(cfg: Pick<Config, 'controlPlane' | 'dataPlanes'>, io: AccessEnv = defaultEnv): Promise<Map<string, ClusterConnection>> {
  const targets = [
    { key: CONTROL_PLANE_KEY, what: 'control plane', path: 'controlPlane', access: cfg.controlPlane.access },
    ...cfg.dataPlanes.map((d) => ({ key: d.id, what: `data plane ${d.id}`, path: `dataPlanes[${d.id}]`, access: d.access })),
  ].filter((t) => t.access.type === 'kubeconfig' || t.access.type === 'token');
  const connections = new Map<string, ClusterConnection>();
  const issues: ConfigIssue[] = [];
  const run = forRun(io);
  await Promise.all(
    targets.map(async (t) => {
      try {
        connections.set(t.key, await connect(t.what, t.access, run));
      } catch (err) {
        if (!(err instanceof AccessError)) throw err;
        issues.push({ path: `${t.path}.${err.field}`, message: err.detail });
      }
    }),
  );
  if (issues.length) {
    const order = new Map(targets.map((t, i) => [t.path, i]));
    issues.sort((a, b) => order.get(a.path.slice(0, a.path.lastIndexOf('.access')))! - order.get(b.path.slice(0, b.path.lastIndexOf('.access')))!);
    const shown = issues.slice(0, 50);
    if (issues.length > shown.length) shown.push({ path: '', message: `and ${issues.length - shown.length} more` });
    throw new ConfigError(shown, 'cluster access');
  }
  return connections;
}
