/**
 * EKS access for real, against the local environment: the data planes are EKS clusters created in
 * moto (EKS CreateCluster/DescribeCluster), the sync's bearer token is the presigned STS request of
 * lib/clusters/eks.ts, and each data-plane kube-apiserver authenticates it through the env's
 * TokenReview webhook (test/env/eks-webhook.ts), which checks it as EKS does, resolves the AWS
 * identity with STS GetCallerIdentity (moto) and maps it to user/group; RBAC
 * (deploy/dataplane-rbac.yaml) then governs that identity.
 *
 * TEST-ONLY ADJUSTMENT: moto's DescribeCluster invents the cluster endpoint and CA. The EKS client
 * handed to connect() (AccessEnv.eksClient) is the real one, talking to moto, with one middleware
 * that replaces `endpoint` and `certificateAuthority.data` of a DescribeCluster answer with the local
 * API server's (env.clusters[dp].server, caData). The call itself, its errors and the status check
 * in lib/ are untouched.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { CreateClusterCommand, EKSClient, type DescribeClusterCommandOutput } from '@aws-sdk/client-eks';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { parse } from 'yaml';
import { awsCredentialsFor, connect, toPem, type AccessEnv } from '../../lib/clusters/access.ts';
import { eksToken, EksTokenCache, EKS_TOKEN_PREFIX } from '../../lib/clusters/eks.ts';
import { KubeDataPlane } from '../../lib/kube/client.ts';
import { runSync } from '../../lib/sync/sync.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { lineLog } from '../../lib/util/log.ts';
import type { Config } from '../../lib/config/schema.ts';
import type { KeyStoreFile, TokenReviewStatus } from '../env/eks-webhook.ts';
import {
  applyManifest,
  awsClient,
  core,
  deleteTokenSecret,
  envConfig,
  exportAwsEnv,
  filledTokenSecret,
  loadTestEnv,
  resetControlPlane,
  uniquePrefix,
  type EnvInfo,
  apiCode,
  whoAmI,
  tokenKubeConfig,
} from './helpers.ts';

let env: EnvInfo;
const logs: string[] = [];
const log = lineLog({ verbose: true, write: (l) => logs.push(l) });
/** Every EKS token this file mints itself: none may show up in any log. */
const minted: string[] = [];

const staticCreds = (): AwsCredentialIdentity => ({ accessKeyId: env.aws.accessKeyId, secretAccessKey: env.aws.secretAccessKey });
const eksName = (dp: string) => env.eks.clusterNames[dp]!;
const caPem = (dp: string) => toPem(env.clusters[dp]!.caData);

async function mint(clusterName: string, creds: AwsCredentialIdentity = staticCreds(), now?: Date): Promise<string> {
  const { token } = await eksToken(clusterName, env.aws.region, creds, now);
  minted.push(token);
  return token;
}

/**
 * The real EKS client (to moto), plus the test-only adjustment described at the top: a
 * DescribeCluster answer gets the local API server's endpoint and CA; `status` may override the
 * status of named clusters (moto only ever reports ACTIVE).
 */
function localEksClient(calls: string[], status: Record<string, string> = {}): NonNullable<AccessEnv['eksClient']> {
  const byEksName = new Map(Object.entries(env.eks.clusterNames).map(([dp, name]) => [name, dp]));
  return (region, credentials, endpoint) => {
    const client = new EKSClient({ region, credentials, endpoint: endpoint ?? env.aws.endpoint });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName !== 'DescribeClusterCommand') return result;
        const cluster = (result.output as DescribeClusterCommandOutput).cluster;
        const name = cluster?.name ?? '';
        calls.push(name);
        const dp = byEksName.get(name);
        if (cluster && dp) {
          cluster.endpoint = env.clusters[dp]!.server;
          cluster.certificateAuthority = { data: env.clusters[dp]!.caData };
        }
        if (cluster && status[name]) cluster.status = status[name] as typeof cluster.status;
        return result;
      },
      { step: 'initialize', name: 'testOnlyLocalApiServer' },
    );
    return client;
  };
}

/** The wiring the sync uses, with data planes reached through connect()'s EKS path. */
function eksDeps(cfg: Config, describeCalls: string[], status: Record<string, string> = {}) {
  const deps = buildDeps(cfg, log, { secretsManager: awsClient(env) });
  const staticProvider: AwsCredentialIdentityProvider = async () => staticCreds();
  const io: AccessEnv = {
    env: process.env,
    readFile: (p) => readFile(p, 'utf8'),
    awsCredentials: () => staticProvider,
    eksClient: localEksClient(describeCalls, status),
    eksTokens: new EksTokenCache(),
  };
  deps.dataPlane = async (dp) => new KubeDataPlane(dp.id, await connect(`data plane ${dp.id}`, dp.access, io));
  return deps;
}

const eksDataPlanes = (ids: string[], clusterName: (id: string) => string = eksName) =>
  ids.map((id, i) => ({ id, access: { type: 'eks', clusterName: clusterName(id), region: env.aws.region }, labels: i === 0 ? { team1: 1 } : { team1: 0.5 } }));

/** The same TokenReview the API server sends, asked of the webhook directly (to see its reason). */
async function webhookReview(clusterName: string, token: string): Promise<TokenReviewStatus> {
  const res = await fetch(`${env.eks.webhook}/authenticate/${clusterName}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { apiVersion: string; kind: string; status: TokenReviewStatus };
  expect([body.apiVersion, body.kind]).toEqual(['authentication.k8s.io/v1', 'TokenReview']);
  return body.status;
}

/** Adds a key to the webhook's STS key store (atomically); returns a function that removes it. */
function registerWithSts(creds: AwsCredentialIdentity): () => void {
  const update = (f: (k: KeyStoreFile['keys']) => void) => {
    const store = JSON.parse(readFileSync(env.eks.keyStore, 'utf8')) as KeyStoreFile;
    f(store.keys);
    const tmp = `${env.eks.keyStore}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(store, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, env.eks.keyStore);
  };
  update((k) => {
    k[creds.accessKeyId] = { secretAccessKey: creds.secretAccessKey, ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}) };
  });
  return () => update((k) => void delete k[creds.accessKeyId]);
}

beforeAll(async () => {
  env = loadTestEnv();
  // The data planes as EKS clusters in moto (idempotent: the env may be reused across runs).
  const eks = new EKSClient({ region: env.aws.region, endpoint: env.aws.endpoint, credentials: staticCreds() });
  for (const dp of env.dataPlanes) {
    try {
      const out = await eks.send(
        new CreateClusterCommand({
          name: eksName(dp),
          roleArn: 'arn:aws:iam::123456789012:role/credsync-eks-cluster',
          resourcesVpcConfig: { subnetIds: ['subnet-0000000000000001', 'subnet-0000000000000002'] },
        }),
      );
      expect(out.cluster?.status).toBe('ACTIVE');
    } catch (err) {
      if ((err as Error).name !== 'ResourceInUseException') throw err;
    }
  }
  // The sync's rights on each data plane, bound to the group the webhook maps the identity into.
  for (const dp of env.dataPlanes) await applyManifest(env, dp, 'deploy/dataplane-rbac.yaml');
});

beforeEach(async () => {
  await resetControlPlane(env);
});

afterAll(() => {
  // No EKS token, signature or PEM in anything the sync logged, nor in the webhook's log.
  const text = logs.join('\n');
  expect(text.includes(EKS_TOKEN_PREFIX)).toBe(false);
  expect(text).not.toContain('BEGIN CERTIFICATE');
  const webhookLog = readFileSync(env.eks.logFile, 'utf8');
  expect(webhookLog.includes(EKS_TOKEN_PREFIX)).toBe(false);
  expect(/X-Amz-Signature|[0-9a-f]{64}/i.test(webhookLog)).toBe(false);
  expect(minted.length).toBeGreaterThan(0);
  expect(minted.some((t) => webhookLog.includes(t.slice(EKS_TOKEN_PREFIX.length)))).toBe(false);
});

describe('EKS access through a token-review webhook that checks the token as EKS does', () => {
  it('a whole sync reaches every data plane as the mapped EKS identity, with exactly deploy/dataplane-rbac.yaml rights', async () => {
    // Prepare: the last data plane has no token Secret, so the sync's create right is used too.
    const last = env.dataPlanes.at(-1)!;
    await deleteTokenSecret(env, last);
    const prefix = uniquePrefix('eks');
    const cfg = envConfig(env, prefix, {}, eksDataPlanes(env.dataPlanes));
    const describeCalls: string[] = [];
    const deps = eksDeps(cfg, describeCalls);
    // Act
    const r = await runSync(deps);
    // Assess: every data plane synced through DescribeCluster + the presigned token.
    expect(r.clusters.map((c) => [c.id, c.status, c.reason])).toEqual(env.dataPlanes.map((id) => [id, 'updated', undefined]));
    expect(r.ok).toBe(true);
    expect(r.clusters.find((c) => c.id === last)!.tokenSecretCreated).toBe(true);
    expect([...describeCalls].sort()).toEqual(env.dataPlanes.map(eksName).sort());
    const secret = await core(env, env.controlPlane).readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' });
    for (const id of env.dataPlanes) {
      const { token, ca } = await filledTokenSecret(env, id);
      const stored = Buffer.from(secret.data![`${id}_token`]!, 'base64').toString();
      expect(stored === token).toBe(true); // the data plane's flyteadmin token, compared without printing it
      expect(Buffer.from(secret.data![`${id}_cacert`]!, 'base64').toString() === ca).toBe(true);
    }
    const doc = parse((await core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' })).data!['clusters.yaml']!);
    expect(doc.clusters.clusterConfigs.map((e: { name: string; endpoint: string }) => [e.name, e.endpoint])).toEqual(
      env.dataPlanes.map((id) => [id, env.clusters[id]!.server]),
    );

    // Whom the API servers saw: the mapped identity, in the group the manifest binds.
    for (const id of env.dataPlanes) {
      const token = await mint(eksName(id));
      const { user, code } = await whoAmI(env, id, token);
      expect(code).toBeUndefined();
      expect(user!.username).toBe(env.eks.username);
      expect(user!.username).toBe(`eks:${env.eks.mappedArn}`);
      expect(user!.groups).toEqual(expect.arrayContaining([env.eks.group, 'system:authenticated']));
      expect(user!.extra?.['arn']).toEqual([env.eks.mappedArn]);
      // ... and RBAC governs it: nothing beyond the manifest's rights.
      const api = tokenKubeConfig(env.clusters[id]!.server, caPem(id), token).makeApiClient(CoreV1Api);
      expect(await apiCode(api.readNamespacedSecret({ name: 'flyteadmin-token', namespace: 'flyte' }))).toBeUndefined();
      expect(await apiCode(api.readNamespacedSecret({ name: 'some-other-secret', namespace: 'flyte' }))).toBe(403);
      expect(await apiCode(api.listNamespacedSecret({ namespace: 'flyte' }))).toBe(403);
      expect(await apiCode(api.readNamespace({ name: 'flyte' }))).toBe(403);
    }
    const decisions = readFileSync(env.eks.logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { cluster?: string; authenticated?: boolean; arn?: string });
    for (const id of env.dataPlanes)
      expect(decisions.some((d) => d.cluster === eksName(id) && d.authenticated === true && d.arn === env.eks.mappedArn)).toBe(true);

    // Act again: the same credentials, nothing to write.
    const again = await runSync(deps);
    expect(again.ok).toBe(true);
    expect(again.clusters.every((c) => c.status === 'unchanged' && c.store === 'unchanged')).toBe(true);
    expect(again.controlPlane!.restarted).toEqual([]);
    expect(JSON.stringify([r, again]).includes(EKS_TOKEN_PREFIX)).toBe(false);
  });

  describe('tokens the API server refuses (401), and the webhook says why', () => {
    const dp = 'dp1';
    const refused = async (token: string, reason: RegExp) => {
      expect((await whoAmI(env, dp, token)).code).toBe(401);
      const status = await webhookReview(eksName(dp), token);
      expect(status.authenticated).toBe(false);
      expect(status.user).toBeUndefined();
      expect(status.error).toMatch(reason);
      expect(status.error!.includes(token) || status.error!.includes(EKS_TOKEN_PREFIX)).toBe(false);
    };

    it('control: a fresh token for this cluster is accepted', async () => {
      expect((await whoAmI(env, dp, await mint(eksName(dp)))).user?.username).toBe(env.eks.username);
    });

    it('a token made for another EKS cluster', async () => {
      await refused(await mint(eksName('dp2')), /^the signature does not match/);
    });

    it('a token whose X-Amz-Date is older than 15 minutes', async () => {
      await refused(await mint(eksName(dp), staticCreds(), new Date(Date.now() - 20 * 60_000)), /^X-Amz-Date \d{8}T\d{6}Z is expired \(15 minute expiration\)$/);
    });

    it('a token dated further in the future than the allowed clock skew', async () => {
      await refused(await mint(eksName(dp), staticCreds(), new Date(Date.now() + 10 * 60_000)), /is more than 5 minutes in the future$/);
    });

    it('a token signed with a wrong secret key', async () => {
      await refused(await mint(eksName(dp), { accessKeyId: env.aws.accessKeyId, secretAccessKey: 'not-the-secret-key' }), /^the signature does not match/);
    });

    it('a token of an access key STS does not know', async () => {
      await refused(await mint(eksName(dp), { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'whatever' }), /not known to STS/);
    });

    it('a token whose presigned query was altered after signing', async () => {
      const token = await mint(eksName(dp));
      const url = Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString();
      const altered = EKS_TOKEN_PREFIX + Buffer.from(url.replace('X-Amz-Expires=60', 'X-Amz-Expires=900')).toString('base64url');
      minted.push(altered);
      await refused(altered, /^the signature does not match/);
      const otherHost = EKS_TOKEN_PREFIX + Buffer.from(url.replace('sts.us-east-1.amazonaws.com', 'sts.us-east-1.amazonaws.com.example.org')).toString('base64url');
      minted.push(otherHost);
      await refused(otherHost, /^presigned URL host is not an STS endpoint$/);
    });

    it('a token of an AWS identity that is not mapped (a role assumed in moto, its key known to STS)', async () => {
      // moto answers GetCallerIdentity for env.aws's static key with one fixed ARN (the mapped one);
      // credentials of a role assumed in moto make it answer that role's session ARN instead.
      const role = `credsync-unmapped-${randomBytes(3).toString('hex')}`;
      const sts = new STSClient({ region: env.aws.region, endpoint: env.aws.endpoint, credentials: staticCreds() });
      const out = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::123456789012:role/${role}`, RoleSessionName: 'eks-test' }));
      const c = out.Credentials!;
      const creds = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
      const unregister = registerWithSts(creds);
      try {
        await refused(await mint(eksName(dp), creds), new RegExp(`^ARN arn:aws:sts::123456789012:assumed-role/${role}/eks-test is not mapped`));
        // The same key without its session token does not verify.
        await refused(await mint(eksName(dp), { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey }), /security token is missing or invalid/);
      } finally {
        unregister();
      }
    });

    it('ServiceAccount tokens still authenticate as before (the webhook comes after the built-in authenticators)', async () => {
      const { token } = await filledTokenSecret(env, dp);
      expect((await whoAmI(env, dp, token)).user?.username).toBe('system:serviceaccount:flyte:flyteadmin');
      expect((await whoAmI(env, dp, 'not-a-token-at-all')).code).toBe(401);
    });
  });

  it('a cluster that is not ACTIVE, and one EKS does not know, fail with a clear reason; the others sync', async () => {
    const [dp1, dp2, dp3] = env.dataPlanes as [string, string, string];
    const prefix = uniquePrefix('eks-inactive');
    const cfg = envConfig(env, prefix, {}, [
      ...eksDataPlanes([dp1, dp2, dp3]),
      { id: 'missing', access: { type: 'eks', clusterName: 'credsync-missing', region: env.aws.region }, labels: { team1: 1 } },
    ]);
    // moto reports every cluster ACTIVE: the test-only client says CREATING for dp2's.
    const r = await runSync(eksDeps(cfg, [], { [eksName(dp2)]: 'CREATING' }));
    expect(r.ok).toBe(false);
    expect(r.clusters.find((c) => c.id === dp2)).toMatchObject({
      status: 'failed',
      code: 'CLUSTER_NOT_READY',
      reason: `data plane ${dp2}: EKS cluster ${eksName(dp2)} is not ACTIVE yet (status CREATING)`,
      lastGoodKept: false,
    });
    const missing = r.clusters.find((c) => c.id === 'missing')!;
    expect(missing).toMatchObject({
      status: 'failed',
      code: 'CONFIG_INVALID',
      reason: 'data plane missing: EKS has no cluster named credsync-missing in this region and account',
    });
    expect(r.clusters.filter((c) => c.status === 'updated').map((c) => c.id)).toEqual([dp1, dp3]);
  });
});

describe('EKS data planes in another account and another region than the store', () => {
  const region = 'eu-west-1';

  it('roleArn is assumed through STS (moto) for DescribeCluster and the token; the store stays in its own region', async () => {
    // Prepare: dp1's API server as an EKS cluster of another account in eu-west-1, reached by
    // assuming the cross-account role the webhook maps (AWS's STS would know the temporary key it
    // issued; the webhook's key store is told, as in the "unmapped" case above).
    exportAwsEnv(env); // the function's own identity: what the role is assumed with
    process.env['AWS_ENDPOINT_URL_STS'] = env.aws.endpoint;
    const dp = env.dataPlanes[0]!;
    // The very provider the sync uses (one per region and role, shared): assumed once.
    const creds = await awsCredentialsFor(region, env.eks.crossAccountRoleArn)();
    expect(creds.accessKeyId).toMatch(/^ASIA/);
    // The cluster lives in the other account (moto keeps EKS per account and region).
    const eu = new EKSClient({ region, endpoint: env.aws.endpoint, credentials: creds });
    await eu
      .send(new CreateClusterCommand({ name: eksName(dp), roleArn: 'arn:aws:iam::210987654321:role/eks', resourcesVpcConfig: { subnetIds: ['subnet-0000000000000003'] } }))
      .catch((err: Error) => {
        if (err.name !== 'ResourceInUseException') throw err;
      });
    const unregister = registerWithSts(creds);
    const prefix = uniquePrefix('xacct');
    const cfg = envConfig(env, prefix, {}, [
      { id: 'xacct', access: { type: 'eks', clusterName: eksName(dp), region, roleArn: env.eks.crossAccountRoleArn, eksEndpoint: env.aws.endpoint }, labels: { team1: 1 } },
    ]);
    const calls: string[] = [];
    const deps = buildDeps(cfg, log, { secretsManager: awsClient(env) });
    const io: AccessEnv = { env: process.env, readFile: (p) => readFile(p, 'utf8'), eksClient: localEksClient(calls), eksTokens: new EksTokenCache() };
    deps.dataPlane = async (d) => new KubeDataPlane(d.id, await connect(`data plane ${d.id}`, d.access, io));
    try {
      // Act
      const r = await runSync(deps);
      // Assess
      expect(r.clusters).toEqual([expect.objectContaining({ id: 'xacct', status: 'updated', store: 'created', identity: 'system:serviceaccount:flyte:flyteadmin' })]);
      expect(r.ok).toBe(true);
      expect(calls).toEqual([eksName(dp)]);
      const decisions = readFileSync(env.eks.logFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { cluster?: string; authenticated?: boolean; arn?: string });
      expect(decisions.some((d) => d.cluster === eksName(dp) && d.authenticated === true && d.arn === 'arn:aws:sts::210987654321:assumed-role/flyte-credsync-data-plane/flyte-credsync')).toBe(true);
      // The credential is stored in the store's region (us-east-1), not the cluster's.
      expect((await awsClient(env).send(new DescribeSecretCommand({ SecretId: `${prefix}xacct` }))).Name).toBe(`${prefix}xacct`);
      const euStore = new SecretsManagerClient({ region, endpoint: env.aws.endpoint, credentials: staticCreds() });
      await expect(euStore.send(new DescribeSecretCommand({ SecretId: `${prefix}xacct` }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    } finally {
      unregister();
    }
  });
});
