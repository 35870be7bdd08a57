/**
 * How a cluster is reached: turns a configured {@link ClusterAccess} into an in-memory
 * KubeConfig (no files written, fits Lambda). Cloud access (EKS, GKE) plugs in as new
 * `type`s of the access union and new cases here.
 */
import { readFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import type { EKSClient } from '@aws-sdk/client-eks';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import type { ClusterAccess } from '../config/schema.ts';
import { describeEksCluster, eksToken, EksTokenCache } from './eks.ts';
import { CLOUD_PLATFORM_SCOPE, defaultClusterManager, describeGkeCluster, gkeAccessToken, type AccessTokenSource, type GkeClusterApi } from './gke.ts';
import { CredsyncError } from '../errors.ts';
import { importOptional } from '../util/optional.ts';
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

/** Accepts PEM text or base64 of PEM (kubeconfig's certificate-authority-data). */
export function toPem(ca: string): string {
  const t = ca.trim();
  if (t.startsWith('-----BEGIN')) return ca;
  const decoded = Buffer.from(t, 'base64').toString('utf8');
  if (!decoded.startsWith('-----BEGIN')) throw new CredsyncError('CONFIG_INVALID', 'caData is neither PEM nor base64 PEM');
  return decoded;
}

export interface AccessEnv {
  env: NodeJS.ProcessEnv;
  readFile: (path: string) => Promise<string>;
  /** AWS credentials for EKS access: the function's own, or `roleArn` assumed. */
  awsCredentials?: (region: string, roleArn?: string) => AwsCredentialIdentityProvider;
  eksClient?: (region: string, credentials: AwsCredentialIdentityProvider, endpoint?: string) => EKSClient;
  eksTokens?: EksTokenCache;
  /** GKE: the cluster API and the token source (default: @google-cloud/container and application default credentials). */
  gkeClusters?: () => Promise<GkeClusterApi>;
  googleAuth?: () => Promise<AccessTokenSource>;
}

let defaultGoogleAuth: Promise<AccessTokenSource> | undefined;
/** The process's GoogleAuth (application default credentials), loaded on first GKE use. */
function defaultGoogleAuthClient(): Promise<AccessTokenSource> {
  if (!defaultGoogleAuth) {
    const p = importOptional('google-auth-library', 'GKE access', () => import('google-auth-library')).then(
      (m) => new m.GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] }),
    );
    p.catch(() => defaultGoogleAuth === p && (defaultGoogleAuth = undefined));
    defaultGoogleAuth = p;
  }
  return defaultGoogleAuth;
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
      (inner ??= Promise.all([import('@aws-sdk/credential-providers'), import('@smithy/core')]).then(
        ([m, core]) =>
          core.memoizeIdentityProvider(
            roleArn
              ? m.fromTemporaryCredentials({ params: { RoleArn: roleArn, RoleSessionName: 'flyte-credsync' }, clientConfig: { region } })
              : m.fromNodeProviderChain(),
            core.isIdentityExpired,
            core.doesIdentityRequireRefresh,
          )!,
      ));
    p = async (props) => (await load())(props);
    providers.set(key, p);
  }
  return p;
}

const defaultEnv: AccessEnv = { env: process.env, readFile: (p) => readFile(p, 'utf8') };

/** Resolves how to reach a cluster. `what` names it in errors ("data plane dp1"). */
export async function connect(what: string, access: ClusterAccess, io: AccessEnv = defaultEnv): Promise<ClusterConnection> {
  switch (access.type) {
    case 'kubeconfig': {
      const kc = new KubeConfig();
      try {
        if (access.path) kc.loadFromFile(access.path);
        else kc.loadFromDefault();
      } catch (err) {
        throw new CredsyncError('CONFIG_INVALID', `${what}: cannot load kubeconfig ${access.path ?? '(default)'}: ${(err as Error).message}`, { cause: err });
      }
      if (!kc.getContextObject(access.context))
        throw new CredsyncError('CONFIG_INVALID', `${what}: kubeconfig has no context "${access.context}"`);
      kc.setCurrentContext(access.context);
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw new CredsyncError('CONFIG_INVALID', `${what}: context "${access.context}" names no cluster`);
      const user = kc.getCurrentUser();
      registerSecret(user?.token);
      return { server: cluster.server, kubeConfig: kc };
    }
    case 'token': {
      let token: string | undefined;
      if (access.tokenEnv) {
        token = io.env[access.tokenEnv];
        if (!token) throw new CredsyncError('CONFIG_INVALID', `${what}: environment variable ${access.tokenEnv} is not set`);
      } else {
        token = await io.readFile(access.tokenFile!).catch((err: Error) => {
          throw new CredsyncError('CONFIG_INVALID', `${what}: cannot read tokenFile ${access.tokenFile}: ${err.message}`);
        });
      }
      token = token.trim();
      const ca = access.caData
        ? toPem(access.caData)
        : await io.readFile(access.caFile!).catch((err: Error) => {
            throw new CredsyncError('CONFIG_INVALID', `${what}: cannot read caFile ${access.caFile}: ${err.message}`);
          });
      return tokenConnection(access.endpoint, ca, token);
    }
    case 'eks': {
      const credentials = (io.awsCredentials ?? awsCredentialsFor)(access.region, access.roleArn);
      const eks = io.eksClient
        ? io.eksClient(access.region, credentials, access.eksEndpoint)
        : new (await import('@aws-sdk/client-eks')).EKSClient({ region: access.region, credentials, ...(access.eksEndpoint ? { endpoint: access.eksEndpoint } : {}) });
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
      const auth = await (io.googleAuth ?? defaultGoogleAuthClient)();
      const info = await describeGkeCluster(clusters, access.project, access.location, access.clusterName, what);
      const token = await gkeAccessToken(auth);
      return tokenConnection(info.endpoint, info.caPem, token);
    }
  }
}
