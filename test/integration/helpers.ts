/** Shared set-up of the integration tests: the running local environment, reached through the real clients. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { ApiException, AppsV1Api, CoordinationV1Api, PatchStrategy, setHeaderOptions, AuthenticationV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, loadAllYaml, type KubernetesObject, type V1Secret, type V1UserInfo } from '@kubernetes/client-node';
import { toPem } from '../../lib/clusters/access.ts';
import { registerSecret } from '../../lib/util/redact.ts';
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { adminKubeConfig, loadTestEnv, type EnvInfo } from '../env/testenv.ts';
import { CONTROL_PLANE_DEPLOYMENTS, deploymentRolledOut } from '../env/seed.ts';
import { stringify as stringifyYaml } from 'yaml';
import { parseConfig } from '../../lib/config/load.ts';
import type { Config } from '../../lib/config/schema.ts';

export { adminKubeConfig, loadTestEnv, type EnvInfo };

/** A KubeConfig for one server, CA and bearer token, in memory (for checks through client-node). */
export function tokenKubeConfig(server: string, caPem: string, token: string): KubeConfig {
  registerSecret(token);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'target', server, caData: Buffer.from(caPem, 'utf8').toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'bearer', token }],
    contexts: [{ name: 'target', cluster: 'target', user: 'bearer' }],
    currentContext: 'target',
  });
  return kc;
}

export const INITIAL_CLUSTERS_YAML = 'clusters:\n  clusterConfigs: []\n  labelClusterMap: {}\n';
export const CONFIG_MAPS = ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config'];

/**
 * Google's own Secret Manager client (@google-cloud/secret-manager) on the env's emulator: the
 * reference a test checks what lib/gcp/grpc.ts wrote against, and the calls it does not make
 * (listSecretVersions, ...).
 */
export async function googleSecretManager(env: EnvInfo): Promise<SecretManagerServiceClient> {
  const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
  const { credentials } = await import('@grpc/grpc-js');
  const host = env.gcp.secretManagerEndpoint;
  const i = host.lastIndexOf(':');
  // universeDomain: without it google-auth probes the GCE metadata server for the universe domain.
  return new SecretManagerServiceClient({ apiEndpoint: host.slice(0, i), port: Number(host.slice(i + 1)), sslCreds: credentials.createInsecure(), universeDomain: 'googleapis.com' });
}

export function awsClient(env: EnvInfo): SecretsManagerClient {
  return new SecretsManagerClient({
    region: env.aws.region,
    endpoint: env.aws.endpoint,
    credentials: { accessKeyId: env.aws.accessKeyId, secretAccessKey: env.aws.secretAccessKey },
  });
}

/** Credentials for the SDK's default chain (used by the wiring the CLI and handlers use). */
export function exportAwsEnv(env: EnvInfo): void {
  process.env['AWS_ACCESS_KEY_ID'] = env.aws.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = env.aws.secretAccessKey;
  process.env['AWS_REGION'] = env.aws.region;
}

export const core = (env: EnvInfo, cluster: string) => adminKubeConfig(env, cluster).makeApiClient(CoreV1Api);
export const apps = (env: EnvInfo, cluster: string) => adminKubeConfig(env, cluster).makeApiClient(AppsV1Api);

export function uniquePrefix(tag: string): string {
  return `it-${tag}-${randomBytes(4).toString('hex')}/`;
}

/** A configuration for the local environment: admin kubeconfig contexts, moto as the store. */
export function envConfig(env: EnvInfo, prefix: string, over: Record<string, unknown> = {}, dataPlanes?: unknown[]): Config {
  return parseConfig({
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, defaultExecutionLabel: 'team1' },
    store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
    dataPlanes:
      dataPlanes ??
      env.dataPlanes.map((id, i) => ({
        id,
        access: { type: 'kubeconfig', context: id, path: env.kubeconfig },
        labels: i === 0 ? { team1: 1, gpu: 0.5 } : { team1: 0.5 },
      })),
    tokenWaitSeconds: 30,
    ...over,
  });
}

/**
 * Writes a configuration file for the local environment (kubeconfig access everywhere, AWS store
 * under `prefix`) into `dir`, and returns its path.
 */
export function writeEnvConfigFile(env: EnvInfo, dir: string, prefix: string, dataPlanes: string[] = env.dataPlanes): string {
  const file = join(dir, 'credsync.yaml');
  writeFileSync(
    file,
    stringifyYaml({
      controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
      store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
      dataPlanes: dataPlanes.map((id) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: { team1: 1 } })),
    }),
  );
  return file;
}

/** Puts the control plane back as the environment seeded it, and forgets a previous run's state. */
export async function resetControlPlane(env: EnvInfo): Promise<void> {
  const c = core(env, env.controlPlane);
  for (const name of CONFIG_MAPS) {
    const cm = await c.readNamespacedConfigMap({ name, namespace: 'flyte' });
    const annotations = { ...(cm.metadata?.annotations ?? {}) };
    delete annotations['flyte-credsync.io/managed-clusters'];
    delete annotations['flyte-credsync.io/draining-clusters'];
    // The content stamp too (lib/controlplane/content.ts): a reset is not another writer's revert to repair.
    delete annotations['flyte-credsync.io/content'];
    await c.replaceNamespacedConfigMap({
      name,
      namespace: 'flyte',
      body: { ...cm, metadata: { ...cm.metadata, annotations }, data: { ...cm.data, 'clusters.yaml': INITIAL_CLUSTERS_YAML } },
    });
  }
  await c.deleteNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined);
  // The Deployments as seeded: started with no configuration checksum.
  for (const name of ['flyteadmin', 'syncresources'])
    await apps(env, env.controlPlane).patchNamespacedDeployment(
      { name, namespace: 'flyte', body: { spec: { template: { metadata: { annotations: { 'flyte-credsync.io/config-checksum': null } } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
}

/** Deletes a data plane's token Secret and waits until it is gone. */
export async function deleteTokenSecret(env: EnvInfo, cluster: string, name = 'flyteadmin-token'): Promise<void> {
  const c = core(env, cluster);
  await c.deleteNamespacedSecret({ name, namespace: 'flyte' }).catch(() => undefined);
  for (let i = 0; i < 100; i++) {
    try {
      await c.readNamespacedSecret({ name, namespace: 'flyte' });
      await new Promise((r) => setTimeout(r, 100));
    } catch {
      return;
    }
  }
  throw new Error(`Secret ${name} on ${cluster} was not deleted`);
}

/** Waits until the token controller filled a token Secret; returns token and CA. */
export async function filledTokenSecret(env: EnvInfo, cluster: string, name = 'flyteadmin-token'): Promise<{ token: string; ca: string }> {
  const c = core(env, cluster);
  for (let i = 0; i < 150; i++) {
    const s = await c.readNamespacedSecret({ name, namespace: 'flyte' }).catch(() => undefined);
    if (s?.data?.['token'] && s.data['ca.crt'])
      return { token: Buffer.from(s.data['token'], 'base64').toString(), ca: Buffer.from(s.data['ca.crt'], 'base64').toString() };
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`token Secret ${name} on ${cluster} was never filled`);
}

/**
 * Every form in which a data plane's credential could leak into text: the token and its signature,
 * the CA's PEM body lines (base64 of DER), and the whole PEM base64-encoded (as a Secret's data and
 * a kubeconfig's certificate-authority-data carry it), each also as a 40-character fragment.
 */
export function secretForms({ token, ca }: { token: string; ca: string }): string[] {
  const body = ca.split('\n').filter((l) => l && !l.startsWith('-----'));
  const pemB64 = Buffer.from(ca).toString('base64');
  return [token, token.split('.')[2]!, body.join(''), body.join('').slice(0, 40), ...body.filter((l) => l.length >= 40), pemB64, pemB64.slice(20, 60)];
}

/** Applies a multi-document YAML manifest with the admin identity (create, or replace if present). */
export async function applyManifest(env: EnvInfo, cluster: string, file: string): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(adminKubeConfig(env, cluster));
  for (const obj of loadAllYaml(readFileSync(file, 'utf8')) as KubernetesObject[]) {
    try {
      await client.create(obj);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
      const cur = await client.read(obj as KubernetesObject & { metadata: { name: string } });
      await client.replace({ ...obj, metadata: { ...obj.metadata, resourceVersion: cur.metadata?.resourceVersion } });
    }
  }
}

/**
 * Writes a kubeconfig whose users are a restricted identity (client certificate CN=<user>,
 * O=<group>, signed by each cluster's CA) instead of the admin.
 */
export function restrictedKubeconfig(env: EnvInfo, user: string, group: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'credsync-restricted-'));
  const kc = new KubeConfig();
  const clusters = [], users = [], contexts = [];
  for (const [name, info] of Object.entries(env.clusters)) {
    const caDir = dirname(info.caFile);
    const key = join(dir, `${name}.key`), csr = join(dir, `${name}.csr`), crt = join(dir, `${name}.crt`), ext = join(dir, 'client.ext');
    writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${user}/O=${group}`], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', info.caFile, '-CAkey', join(caDir, 'ca.key'), '-CAcreateserial', '-CAserial', join(dir, 'serial'), '-days', '1', '-extfile', ext, '-out', crt], { stdio: 'ignore' });
    clusters.push({ name, server: info.server, caFile: info.caFile, skipTLSVerify: false });
    users.push({ name: `${user}@${name}`, certFile: crt, keyFile: key });
    contexts.push({ name, cluster: name, user: `${user}@${name}` });
  }
  kc.loadFromOptions({ clusters, users, contexts, currentContext: env.controlPlane });
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, kc.exportConfig());
  return file;
}

/** The HTTP status an API call failed with, or undefined when it succeeded. */
export async function apiCode(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

/** A cluster's CA as PEM. */
export const clusterCaPem = (env: EnvInfo, cluster: string) => toPem(env.clusters[cluster]!.caData);

/** SelfSubjectReview on a cluster with a bearer token: the user info, or the HTTP status. */
export async function whoAmI(env: EnvInfo, cluster: string, token: string): Promise<{ user?: V1UserInfo; code?: number }> {
  try {
    const r = await tokenKubeConfig(env.clusters[cluster]!.server, clusterCaPem(env, cluster), token)
      .makeApiClient(AuthenticationV1Api)
      .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    return { user: r.status?.userInfo ?? {} };
  } catch (err) {
    if (err instanceof ApiException) return { code: err.code };
    throw err;
  }
}

/** Secrets stay secret: what in logged text looks like a token (a JWT) or a CA (empty: nothing). */
export function secretsIn(text: string): string[] {
  const found: string[] = [];
  if (/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/.test(text)) found.push('a JWT');
  if (text.includes('BEGIN CERTIFICATE')) found.push('a PEM certificate');
  return found;
}

/**
 * A data-plane Secret as what a run could write: its identity and content, not its resourceVersion.
 * The API server itself bumps a legacy token Secret's resourceVersion the first time each day the
 * token authenticates (the `kubernetes.io/legacy-token-last-used` label), so a dry run that only
 * verifies the token would look like a write; that label is left out, everything else is kept.
 */
function secretFingerprint(s: V1Secret): string {
  const { [LEGACY_TOKEN_LAST_USED]: _used, ...labels } = s.metadata?.labels ?? {};
  const content = JSON.stringify({ type: s.type, data: s.data ?? {}, annotations: s.metadata?.annotations ?? {}, labels });
  return `${s.metadata?.name}#${s.metadata?.uid}:${createHash('sha256').update(content).digest('hex').slice(0, 16)}`;
}
const LEGACY_TOKEN_LAST_USED = 'kubernetes.io/legacy-token-last-used';

/**
 * Everything a run could write, as the servers version it: on the control plane the credentials
 * Secret, both ConfigMaps and the Lease (resourceVersions: any update that changes them changes
 * these) and the Deployments (their generation: a restart changes the spec, while a rollout in
 * progress moves the status and so the resourceVersion without any write of ours); on every data
 * plane the Secrets of the Flyte namespace; in the AWS store, the entries under `storePrefix` and
 * when each last changed. Equal before and after a run: the run wrote nothing.
 */
export async function writableState(env: EnvInfo, storePrefix: string): Promise<Record<string, unknown>> {
  const c = core(env, env.controlPlane);
  const rv = (p: Promise<{ metadata?: { resourceVersion?: string } }>) => p.then((o) => o.metadata?.resourceVersion, () => 'absent');
  const listed = await awsClient(env).send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [storePrefix] }] }));
  return {
    secret: await rv(c.readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' })),
    configMaps: await Promise.all(CONFIG_MAPS.map((name) => rv(c.readNamespacedConfigMap({ name, namespace: 'flyte' })))),
    lease: await rv(adminKubeConfig(env, env.controlPlane).makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'flyte-credsync', namespace: 'flyte' })),
    deployments: await Promise.all(['flyteadmin', 'syncresources'].map(async (name) => (await apps(env, env.controlPlane).readNamespacedDeployment({ name, namespace: 'flyte' })).metadata?.generation)),
    dataPlaneSecrets: Object.fromEntries(
      await Promise.all(env.dataPlanes.map(async (id) => [id, (await core(env, id).listNamespacedSecret({ namespace: 'flyte' })).items.map(secretFingerprint).sort()])),
    ),
    store: (listed.SecretList ?? []).map((s) => `${s.Name}@${s.LastChangedDate?.toISOString()}`).sort(),
  };
}

/**
 * Runs the real CLI (lib/cli/main.ts) in its own process with the environment's moto credentials;
 * killed after `timeoutMs` (generous: the machine may be busy).
 */
export function runCli(env: EnvInfo, args: string[], timeoutMs: number): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'lib/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    env: { ...process.env, AWS_ACCESS_KEY_ID: env.aws.accessKeyId, AWS_SECRET_ACCESS_KEY: env.aws.secretAccessKey, AWS_REGION: env.aws.region },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Waits (generously: the machine may be busy) until both control-plane Deployments have rolled out. */
export async function rolledOut(env: EnvInfo, namespace = 'flyte', timeoutMs = 240_000): Promise<void> {
  const a = apps(env, env.controlPlane);
  for (const until = Date.now() + timeoutMs; ; ) {
    const pending: string[] = [];
    for (const name of CONTROL_PLANE_DEPLOYMENTS) if (!deploymentRolledOut(await a.readNamespacedDeployment({ name, namespace }))) pending.push(name);
    if (!pending.length) return;
    if (Date.now() > until) throw new Error(`${pending.join(', ')} in ${namespace} did not roll out within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A current pod (not terminating): created (ms; whole seconds) and the write ids its template carried (flyte-credsync.io/restarted-after). */
export interface PodStart {
  created: number;
  restartedAfter: string[];
}

/** The current pods of a control-plane Deployment. */
export async function podsOf(env: EnvInfo, deployment: string, namespace = 'flyte'): Promise<PodStart[]> {
  const d = await apps(env, env.controlPlane).readNamespacedDeployment({ name: deployment, namespace });
  const selector = Object.entries(d.spec!.selector.matchLabels!).map(([k, v]) => `${k}=${v}`).join(',');
  const pods = await core(env, env.controlPlane).listNamespacedPod({ namespace, labelSelector: selector });
  return pods.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => ({
      created: new Date(p.metadata!.creationTimestamp as unknown as string).getTime(),
      restartedAfter: (p.metadata?.annotations?.['flyte-credsync.io/restarted-after'] ?? '').split(',').filter(Boolean),
    }));
}

/**
 * The control plane's content as the restart rule dates it: when any field manager last changed
 * it (ms, API server clock, whole seconds: the ConfigMaps' clusters.yaml or the Secret's data,
 * from managedFields), and the id of credsync's write that made each object's content live (its
 * content stamp, flyte-credsync.io/content: the last repair's, or the write that set `since`).
 */
export async function contentState(env: EnvInfo, namespace = 'flyte'): Promise<{ changedAt: number; writeIds: string[] }> {
  const c = core(env, env.controlPlane);
  const objs = [
    await c.readNamespacedSecret({ name: 'cluster-credentials', namespace }),
    ...(await Promise.all(CONFIG_MAPS.map((name) => c.readNamespacedConfigMap({ name, namespace })))),
  ];
  const times = objs.flatMap((o) =>
    (o.metadata?.managedFields ?? [])
      .filter((f) => JSON.stringify(f.fieldsV1 ?? {}).match(/"f:(clusters\.yaml|[^"]+_(token|cacert))"/))
      .map((f) => new Date(f.time as unknown as string).getTime()),
  );
  const writeIds = objs.flatMap((o) => {
    const raw = o.metadata?.annotations?.['flyte-credsync.io/content'];
    if (!raw) return [];
    const stamp = JSON.parse(raw) as { write?: string; foreign?: Array<[string, string | null, string?]> };
    const id = stamp.foreign?.at(-1)?.[2] ?? stamp.write;
    return id ? [id] : [];
  });
  return { changedAt: Math.max(...times), writeIds };
}

/**
 * Whether a pod started on the content: created in a later second than its last change, or in
 * that same second by a restart recorded after every write that made it live (whole seconds
 * cannot order the two; the restart's write ids can).
 */
export function startedOnContent(pod: PodStart, content: { changedAt: number; writeIds: string[] }): boolean {
  return pod.created > content.changedAt || (pod.created === content.changedAt && content.writeIds.length > 0 && content.writeIds.every((id) => pod.restartedAfter.includes(id)));
}
