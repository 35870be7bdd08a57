/**
 * Builds the real adapters for a configuration: the secret store (with its SDK client) and the
 * Kubernetes connections per cluster. The runtime builds the store once per cold start
 * (./invocation.ts) and the rest per invocation (it depends on what discovery found); tests and
 * benchmarks may pass their own clients.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { connect, CONTROL_PLANE_KEY, forRun, type ClusterConnection } from '../clusters/access.ts';
import type { Config, DataPlane } from '../config/schema.ts';
import { verifyWithApiServer } from '../dataplane/verify.ts';
import { KubeControlPlane, KubeDataPlane } from '../kube/client.ts';
import { AwsSecretsManagerStore } from '../stores/aws.ts';
import { GcpSecretManagerStore, type GcpSecretManagerApi } from '../stores/gcp.ts';
import type { SecretStore } from '../stores/types.ts';
import type { Log } from '../util/log.ts';
import { defaultGoogleAuth } from '../clusters/gke.ts';
import type { SyncDeps } from '../sync/sync.ts';
import { CredsyncError } from '../errors.ts';
import { fileReader, type ConfigReader, type ConfigSource } from '../config/source.ts';
import type { MetricsSink } from './metrics.ts';
import { connectFlyteAdmin } from '../labels/run.ts';
import { AWS_REQUEST_HANDLER, CALL_TIMEOUT_MS, callSignal, gaxCall } from '../util/abort.ts';

export interface WiringOverrides {
  secretsManager?: SecretsManagerClient;
  gcpSecretManager?: GcpSecretManagerApi;
  store?: SecretStore;
  /** The platform's metrics sink (none by default). */
  metrics?: MetricsSink;
  /** The CLI's progress line. */
  onProgress?: SyncDeps['onProgress'];
  /** Connections already made (checkLocalAccess), keyed by data plane id and CONTROL_PLANE_KEY. */
  connections?: ReadonlyMap<string, ClusterConnection>;
}

/** GCP Secret Manager's API endpoint (gRPC over TLS). */
export const SECRET_MANAGER_ENDPOINT = 'secretmanager.googleapis.com:443';

/**
 * A GCP Secret Manager client (lib/gcp/grpc.ts, loaded on first use): application default
 * credentials over TLS, or plaintext gRPC without credentials to an emulator (`host:port`).
 */
export async function gcpSecretManagerClient(emulatorHost?: string): Promise<GcpSecretManagerApi> {
  const { secretManagerOverGrpc } = await import('../gcp/grpc.ts');
  const api = emulatorHost
    ? secretManagerOverGrpc({ endpoint: emulatorHost, insecure: true })
    : secretManagerOverGrpc({ endpoint: SECRET_MANAGER_ENDPOINT, auth: defaultGoogleAuth });
  return api as unknown as GcpSecretManagerApi;
}

/**
 * The configured secret store (AWS Secrets Manager or GCP Secret Manager), or `o.store`. The
 * adapters keep rotation's markers too (lib/stores/types.ts RotationMarkers).
 */
export function buildStore(cfg: Pick<Config, 'store'>, o: WiringOverrides = {}): SecretStore {
  if (o.store) return o.store;
  const gcp = cfg.store.gcp;
  if (gcp) {
    const client = o.gcpSecretManager ?? (() => gcpSecretManagerClient(gcp.emulatorHost));
    return new GcpSecretManagerStore(client, { project: gcp.project, prefix: gcp.prefix, labels: gcp.labels });
  }
  const aws = cfg.store.aws!;
  // Throttling (ThrottlingException and the like) is retried by the SDK with backoff; adaptive
  // mode also slows the client down while it lasts.
  const client =
    o.secretsManager ??
    new SecretsManagerClient({ region: aws.region, retryMode: 'adaptive', maxAttempts: 6, requestHandler: AWS_REQUEST_HANDLER, ...(aws.endpoint ? { endpoint: aws.endpoint } : {}) });
  return new AwsSecretsManagerStore(client, {
    prefix: aws.prefix,
    ...(aws.kmsKeyId ? { kmsKeyId: aws.kmsKeyId } : {}),
    tags: aws.tags,
  });
}

/**
 * Everything {@link runSync} needs for this configuration, for one run; `o.store` reuses a store
 * already built. The store and Kubernetes adapters keep rotation's markers and make its calls
 * too, so every entry point can rotate. The connections it makes itself (those not in `o.connections`) share one run's
 * kubeconfig loads (each kubeconfig read once): build new deps for the next run.
 */
export function buildDeps(cfg: Config, log: Log, o: WiringOverrides = {}): SyncDeps {
  const store = buildStore(cfg, o);
  const labels = cfg.labels;
  // Connections checkLocalAccess already made are used as they are.
  const access = forRun();
  const dataPlane = async (dp: DataPlane) => new KubeDataPlane(dp.id, o.connections?.get(dp.id) ?? (await connect(`data plane ${dp.id}`, dp.access, access)));
  const controlPlane = async () => new KubeControlPlane(o.connections?.get(CONTROL_PLANE_KEY) ?? (await connect('control plane', cfg.controlPlane.access, access)));
  return {
    config: cfg,
    log,
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    store,
    ...(labels ? { flyteAdmin: () => connectFlyteAdmin(labels.flyteadmin, store) } : {}),
    verify: verifyWithApiServer,
    dataPlane,
    controlPlane,
    rotation: { dataPlane, controlPlane },
  };
}

export interface ConfigReaderOverrides {
  /** An SSM client (default: the SDK's, in the function's region; `AWS_ENDPOINT_URL_SSM` is honoured by the SDK). */
  ssm?: import('@aws-sdk/client-ssm').SSMClient;
  gcpSecretManager?: Pick<GcpSecretManagerApi, 'accessSecretVersion'>;
}

/**
 * Reads a configuration source (lib/config/source.ts). The SSM and GCP clients load only when
 * that source is used.
 */
export function configReader(source: ConfigSource, o: ConfigReaderOverrides = {}): ConfigReader {
  if (source.kind === 'file') return fileReader(source.path);
  if (source.kind === 'ssm') {
    let client = o.ssm;
    return async () => {
      const { SSMClient, GetParameterCommand } = await import('../aws/ssm.ts');
      client ??= new SSMClient({ requestHandler: AWS_REQUEST_HANDLER });
      let out;
      try {
        out = await client.send(new GetParameterCommand({ Name: source.name, WithDecryption: true }), { abortSignal: callSignal() });
      } catch (err) {
        const e = err as Error;
        throw new CredsyncError('CONFIG_NOT_FOUND', `cannot read configuration ssm:${source.name}: ${e.name}: ${e.message}`, { cause: err });
      }
      const p = out.Parameter;
      if (!p?.Value || p.Version === undefined) throw new CredsyncError('CONFIG_NOT_FOUND', `configuration ssm:${source.name} has no value`);
      return { text: p.Value, version: String(p.Version), name: `ssm:${source.name} version ${p.Version}`, json: false };
    };
  }
  let client: Promise<Pick<GcpSecretManagerApi, 'accessSecretVersion'>> | undefined = o.gcpSecretManager && Promise.resolve(o.gcpSecretManager);
  return async () => {
    client ??= gcpSecretManagerClient();
    let v;
    try {
      const api = await client;
      [v] = await gaxCall((o) => api.accessSecretVersion({ name: `${source.secret}/versions/latest` }, o), CALL_TIMEOUT_MS, `configuration gcpsm:${source.secret}`);
    } catch (err) {
      throw new CredsyncError('CONFIG_NOT_FOUND', `cannot read configuration gcpsm:${source.secret}: ${(err as Error).message}`, { cause: err });
    }
    const version = v.name?.split('/').at(-1);
    const data = v.payload?.data;
    if (!version || !data) throw new CredsyncError('CONFIG_NOT_FOUND', `configuration gcpsm:${source.secret} has no value`);
    return { text: Buffer.from(data as Uint8Array).toString('utf8'), version, name: `gcpsm:${source.secret} version ${version}`, json: false };
  };
}
