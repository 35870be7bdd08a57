/**
 * The configuration of one flyte-credsync deployment, validated strictly: unknown keys are
 * errors (a typo is never silently ignored) and every error names the offending field.
 *
 * @example
 * ```yaml
 * controlPlane:
 *   access: { type: kubeconfig, context: flyte-control }
 * store:
 *   aws: { region: us-east-1, prefix: flyte-credsync/ }
 * dataPlanes:
 *   - id: dp1
 *     access: { type: kubeconfig, context: dp1 }
 *     labels: { team1: 1 }
 * ```
 */
import * as z from '../util/zod.ts';
import { DURATION, renewalProblem, RotationOverride, rotationSettings } from './rotation.ts';
import { EksDiscovery } from './discovery-eks.ts';
import { GkeDiscovery } from './discovery-gke.ts';
import { Labels } from './labels.ts';
import { echo, requiredMessage } from '../util/bounded.ts';

/** Whether `root` has a value at `path` (a missing key, or a path through something that is not an object, has none). */
function hasValueAt(root: unknown, path: ReadonlyArray<PropertyKey>): boolean {
  let cur: unknown = root;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, k)) return false;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur !== undefined;
}

/**
 * A zod issue as a person reads it: a missing field says it is required (not "expected string,
 * received undefined"); a missing or unknown discriminator says which values it takes (not
 * "Invalid discriminator value"); record-key problems carry their own message one level down.
 * Never the value received.
 *
 * @param root the input validated, to tell a missing field from a wrong one (default: not known;
 *   then an issue on `undefined` is taken as missing)
 */
export function issueMessage(i: z.core.$ZodIssue, root?: unknown): string {
  if (i.code === 'invalid_key') return i.issues[0]?.message ?? i.message;
  const missing = root === undefined ? undefined : !hasValueAt(root, i.path);
  if (i.code === 'invalid_union' && 'discriminator' in i && typeof i.discriminator === 'string') {
    const options = ((i as { options?: unknown[] }).options ?? []).map(String).join(', ');
    return missing
      ? `required but missing: which kind this is, one of ${options}`
      : `must be one of ${options}`;
  }
  if (i.code === 'invalid_type' && (missing ?? i.message.endsWith('received undefined')))
    return requiredMessage(i.expected);
  return i.message;
}

/** DNS-1123 label: namespaces. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** DNS-1123 subdomain: Secrets, ConfigMaps, ServiceAccounts, Deployments. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/**
 * A data-plane id must prefix Secret data keys (`<id>_token`), name an AWS and a GCP secret
 * (`[A-Za-z0-9_-]`), and be safe as a viper (case-insensitive) config value: lower-case
 * letters, digits, `-` and `_`, starting and ending alphanumeric, at most 63 characters.
 */
export const CLUSTER_ID = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/;
/** Execution labels: lower-case (viper lower-cases config keys). */
export const LABEL = /^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$/;
/** Secret data keys: `[-._a-zA-Z0-9]+`. */
export const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

const dnsLabel = (what: string) =>
  z.string().check(z.maxLength(63), z.regex(DNS_LABEL, `${what} must be a DNS-1123 label (lower-case alphanumerics and '-')`));
const dnsSubdomain = (what: string) =>
  z.string().check(z.maxLength(253), z.regex(DNS_SUBDOMAIN, `${what} must be a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.')`));
const httpsUrl = z.url({ protocol: /^https$/, error: 'must be an https:// URL' });

/** A kubeconfig context (path defaults to $KUBECONFIG, then ~/.kube/config). */
const kubeconfigAccess = z.strictObject({
  type: z.literal('kubeconfig'),
  context: z.string().check(z.minLength(1)),
  path: z.optional(z.string().check(z.minLength(1))),
});

/** Endpoint + CA + bearer token. The token is read from a file or an environment variable, never inline. */
const tokenAccess = z
  .strictObject({
    type: z.literal('token'),
    endpoint: httpsUrl,
    caFile: z.optional(z.string().check(z.minLength(1))),
    caData: z.optional(z.string().check(z.minLength(1))),
    tokenFile: z.optional(z.string().check(z.minLength(1))),
    tokenEnv: z.optional(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'))),
  })
  .check(
    z.superRefine((v, ctx) => {
      if (!v.caFile === !v.caData) ctx.addIssue({ code: 'custom', message: 'set exactly one of caFile, caData' });
      if (!v.tokenFile === !v.tokenEnv)
        ctx.addIssue({ code: 'custom', message: 'set exactly one of tokenFile, tokenEnv' });
    }),
  );

/**
 * EKS: endpoint and CA from DescribeCluster, a bearer token presigned from the function's own
 * AWS identity, or from `roleArn` assumed for this cluster (cross-account).
 */
const eksAccess = z.strictObject({
  type: z.literal('eks'),
  clusterName: z.string().check(z.regex(/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/, 'must be an EKS cluster name')),
  region: z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1')),
  roleArn: z.optional(z.string().check(z.regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'must be an IAM role ARN'))),
  /** EKS API endpoint override (local emulators only). */
  eksEndpoint: z.optional(z.url()),
});

/** GKE: endpoint and CA from the GKE API, bearer token from application default credentials. */
const gkeAccess = z.strictObject({
  type: z.literal('gke'),
  project: z.string().check(z.regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a GCP project id')),
  /** Region or zone. */
  location: z.string().check(z.regex(/^[a-z]+-[a-z]+\d+(-[a-z])?$/, 'must be a GCP region or zone such as europe-west1')),
  clusterName: z.string().check(z.regex(/^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/, 'must be a GKE cluster name')),
});

/** How the sync reaches a cluster: a discriminated union on `type`. */
export const ClusterAccess = z.discriminatedUnion('type', [kubeconfigAccess, tokenAccess, eksAccess, gkeAccess]);
export type ClusterAccess = z.infer<typeof ClusterAccess>;

export const KubeClientConfig = z
  .strictObject({
    qps: z.optional(z.number().check(z.int(), z.gte(0))),
    burst: z.optional(z.number().check(z.int(), z.gte(0))),
    timeout: z.optional(z.string().check(z.regex(/^\d+(ms|s|m|h)$/, 'must be a Go duration such as 30s'))),
  })
  .check(
    z.superRefine((v, ctx) => {
      if ((v.qps ?? 0) > 0 && (v.burst ?? 0) <= 0)
        ctx.addIssue({ code: 'custom', path: ['burst'], message: 'must be > 0 when qps > 0 (flyteadmin refuses to start)' });
    }),
  );
export type KubeClientConfig = z.infer<typeof KubeClientConfig>;

const weight = z.number().check(z.gte(0, 'weight must be in [0, 1]'), z.lte(1, 'weight must be in [0, 1]'));

export const DataPlane = z.strictObject({
  /** Cluster id: the name in clusters.yaml, the prefix of `<id>_token`/`<id>_cacert`, the store entry name. */
  id: z.string().check(z.regex(CLUSTER_ID, 'must be lower-case alphanumerics, - or _, start and end alphanumeric, max 63')),
  access: ClusterAccess,
  /** The API server URL as flyteadmin reaches it, when it differs from the one the sync uses. */
  flyteadminEndpoint: z.optional(httpsUrl),
  namespace: z._default(dnsLabel('namespace'), 'flyte'),
  serviceAccount: z._default(dnsSubdomain('serviceAccount'), 'flyteadmin'),
  tokenSecret: z._default(dnsSubdomain('tokenSecret'), 'flyteadmin-token'),
  /** Execution label -> weight in [0, 1] (relative; they need not sum to 1). */
  labels: z._default(z.record(z.string().check(z.regex(LABEL, 'labels must be lower-case alphanumerics, -, _ or .')), weight), {}),
  enabled: z._default(z.boolean(), true),
  /**
   * `draining`: out of every label and `enabled: false` in clusters.yaml (no new executions; aborts
   * of running ones keep working), its credential still published, verified and rotated, until it
   * is retired (docs/data-plane-lifecycle.md). `credsync drain --cluster ID` drains without a
   * configuration change (a control-plane annotation).
   */
  state: z._default(z.enum(['active', 'draining']), 'active'),
  /** Draining longer than this (`<n>s|m|h|d`): retired even with executions unfinished, reported as forced. */
  maxDrainTime: z.optional(z.string().check(z.regex(DURATION, 'must be a duration such as 30m, 6h or 7d'))),
  kubeClientConfig: z.optional(KubeClientConfig),
  /** The EKS cluster name, when it differs from `id`: matches cluster-created events to this data plane. */
  eksClusterName: z.optional(z.string().check(z.regex(/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/, 'must be an EKS cluster name'))),
  /** Overrides the top-level `rotation` for this data plane (./rotation.ts). */
  rotation: z.optional(RotationOverride),
});
export type DataPlane = z.infer<typeof DataPlane>;

export const ControlPlane = z.strictObject({
  access: ClusterAccess,
  /**
   * Who writes clusters.yaml (docs/helm-gitops.md). `owner` (default): credsync writes the
   * credentials Secret and clusters.yaml in every configured ConfigMap. `gitops`: the chart (Helm,
   * Argo CD, Flux) owns clusters.yaml and credsync never writes the ConfigMaps: it writes only the
   * Secret, checks the ConfigMaps against its rendering and fails the run with CONTROL_PLANE_DRIFT
   * and the values to commit when they differ.
   */
  mode: z._default(z.enum(['owner', 'gitops']), 'owner'),
  namespace: z._default(dnsLabel('namespace'), 'flyte'),
  credentialsSecret: z._default(dnsSubdomain('credentialsSecret'), 'cluster-credentials'),
  mountPath: z._default(z.string().check(z.regex(/^\/[^\s]*[^/\s]$|^\/$/, 'must be an absolute path without a trailing slash')), '/var/run/credentials'),
  configMaps: z._default(z.array(dnsSubdomain('configMap')).check(z.minLength(1)), ['flyte-admin-clusters-config', 'flyte-clusterresourcesync-config']),
  configKey: z._default(z.string().check(z.regex(SECRET_KEY, 'must be a valid ConfigMap data key')), 'clusters.yaml'),
  deployments: z._default(z.array(dnsSubdomain('deployment')), ['flyteadmin', 'syncresources']),
  defaultExecutionLabel: z.optional(z.string().check(z.regex(LABEL, 'labels must be lower-case alphanumerics, -, _ or .'))),
  /**
   * Labels that may be left with no enabled cluster (retired on purpose). Any other label that
   * would be emptied is refused: flyteadmin would send its executions to every enabled cluster.
   */
  retiredLabels: z._default(z.array(z.string().check(z.regex(LABEL, 'labels must be lower-case alphanumerics, -, _ or .'))), []),
  /**
   * More repairs than this within an hour of another writer's revert of what credsync wrote
   * (Argo CD self-heal, a `helm upgrade` loop): the control plane is contested. The sync still
   * repairs, but no longer restarts the Deployments for those reverts, and the run fails with
   * CONTROL_PLANE_CONTESTED naming the other writer (lib/controlplane/content.ts).
   */
  maxRepairsPerHour: z._default(z.number().check(z.int(), z.gte(1), z.lte(100)), 3),
  /**
   * The Lease that makes control-plane applies mutually exclusive (lib/controlplane/lease.ts):
   * held for every write and restart of one apply, renewed before each write.
   */
  lease: z.prefault(
    z.strictObject({
      name: z._default(dnsSubdomain('lease'), 'flyte-credsync'),
      /** Valid this long without renewal: a run killed holding it delays the next one at most this long. */
      durationSeconds: z._default(z.number().check(z.int(), z.gte(2), z.lte(300)), 30),
      /** How long a run waits for another run's Lease before failing with CONTROL_PLANE_BUSY. */
      waitSeconds: z._default(z.number().check(z.int(), z.gte(0), z.lte(900)), 90),
    }),
    {},
  ),
});
export type ControlPlane = z.infer<typeof ControlPlane>;

export const AwsStore = z.strictObject({
  region: z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1')),
  /** Prefix of every secret name; the cluster id is appended. */
  prefix: z._default(z.string().check(z.regex(/^[A-Za-z0-9/_+=.@-]{0,400}$/, "may contain only A-Z a-z 0-9 / _ + = . @ -")), 'flyte-credsync/'),
  kmsKeyId: z.optional(z.string().check(z.minLength(1))),
  tags: z._default(z.record(z.string().check(z.minLength(1), z.maxLength(128)), z.string().check(z.maxLength(256))), {}),
  /** Endpoint override (local emulators only). */
  endpoint: z.optional(z.url()),
});
export type AwsStore = z.infer<typeof AwsStore>;

export const GcpStore = z.strictObject({
  project: z.string().check(z.regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a GCP project id')),
  /** Prepended to the cluster id to make each secret id (A-Z a-z 0-9 _ - only). */
  prefix: z._default(z.string().check(z.regex(/^[A-Za-z0-9_-]{0,190}$/, 'may contain only A-Z a-z 0-9 _ -')), 'flyte-credsync-'),
  labels: z._default(
    z.record(
      z.string().check(z.regex(/^[a-z][a-z0-9_-]{0,62}$/, 'label keys: lower-case, start with a letter, max 63')),
      z.string().check(z.regex(/^[a-z0-9_-]{0,63}$/, 'label values: lower-case, digits, _ or -, max 63')),
    ),
    {},
  ),
  /** Emulator address host:port (local testing only; plaintext gRPC). */
  emulatorHost: z.optional(z.string().check(z.regex(/^[^:\s]+:\d+$/, 'must be host:port'))),
});
export type GcpStore = z.infer<typeof GcpStore>;

export const Store = z.strictObject({ aws: z.optional(AwsStore), gcp: z.optional(GcpStore) }).check(
  z.refine((s) => (s.aws === undefined) !== (s.gcp === undefined), {
    message: 'configure exactly one secret store: store.aws or store.gcp',
  }),
);
export type Store = z.infer<typeof Store>;

export const Config = z.strictObject({
    controlPlane: ControlPlane,
    store: Store,
    dataPlanes: z._default(z.array(DataPlane), []),
    /** Data planes found in the cloud instead of (or besides) written out; a written entry wins. */
    discovery: z.optional(z.strictObject({ eks: z.optional(EksDiscovery), gke: z.optional(GkeDiscovery) })),
    /**
     * Data planes read and verified at once. Each data plane is usually its own API server, so 32
     * suits 50 to 500 of them; the control plane is not touched in that phase, and the store is
     * read in batches and backs off when throttled.
     */
    concurrency: z._default(z.number().check(z.int(), z.gte(1), z.lte(128)), 32),
    /** How long to wait for the token controller to fill a newly created token Secret. */
    tokenWaitSeconds: z._default(z.number().check(z.int(), z.gte(1), z.lte(600)), 60),
    /** Execution-cluster labels as code, and how to reach FlyteAdmin (./labels.ts). */
    labels: z.optional(Labels),
    /** Real rotation for every data plane (./rotation.ts); absent: the plain sync. */
    rotation: z.optional(RotationOverride),
    /**
     * A data plane whose credential is rejected (it no longer authenticates, or lacks flyteadmin's
     * rights): `unroute` (default) keeps its credential for aborts but disables it and takes it out
     * of every label until it verifies again; `keep` leaves its routing as it was.
     */
    onCredentialRejected: z._default(z.enum(['unroute', 'keep']), 'unroute'),
    /** Retiring drained data planes (docs/data-plane-lifecycle.md). */
    lifecycle: z.prefault(
      z.strictObject({
        /**
         * The retired data plane's store entry can be restored this many days (AWS Secrets Manager's
         * RecoveryWindowInDays, 7 to 30; on GCP its versions are disabled, and may be deleted after it).
         */
        recoveryWindowDays: z._default(z.number().check(z.int(), z.gte(7), z.lte(30)), 30),
        /** How long a retirement waits for flyteadmin and syncresources to roll out before revoking (the next run resumes). */
        rolloutTimeoutSeconds: z._default(z.number().check(z.int(), z.gte(10), z.lte(3600)), 180),
      }),
      {},
    ),
  })
  .check(
    z.superRefine(
      (cfg, ctx) => {
        // A bounded token must be renewable in time under the schedule (rotation.runEvery).
        const global = rotationSettings(cfg.rotation, undefined);
        const globalProblem = global && renewalProblem(global);
        if (globalProblem) ctx.addIssue({ code: 'custom', path: ['rotation'], message: globalProblem });
        cfg.dataPlanes.forEach((dp, i) => {
          const s = rotationSettings(cfg.rotation, dp.rotation);
          const problem = dp.rotation && s && renewalProblem(s);
          if (problem) ctx.addIssue({ code: 'custom', path: ['dataPlanes', i, 'rotation'], message: problem });
          if (s && dp.tokenSecret.length > 240)
            ctx.addIssue({ code: 'custom', path: ['dataPlanes', i, 'tokenSecret'], message: 'at most 240 characters when rotating (generation objects are named <tokenSecret>-<n>)' });
        });
      },
      // Only on fields that passed: zod runs an object's checks after a field's non-aborting issue
      // (a duration that does not match), and these read the durations.
      { when: (payload) => payload.issues.length === 0 },
    ),
  );
export type Config = z.infer<typeof Config>;

/**
 * Checks across fields, run on the raw input even when field validation fails, so one pass
 * reports every problem.
 *
 * @param opts.labelsKnown false when a data plane's keys or labels failed validation: the default
 *   label is then not checked against them (a typo'd `lables:` is one error, not two) (default true)
 */
export function crossFieldIssues(raw: unknown, opts: { labelsKnown?: boolean } = {}): Array<{ path: Array<string | number>; message: string }> {
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  const cfg = (raw ?? {}) as { dataPlanes?: unknown; controlPlane?: { defaultExecutionLabel?: unknown; configMaps?: unknown } };
  const dps = Array.isArray(cfg.dataPlanes) ? (cfg.dataPlanes as Array<Record<string, unknown> | null>) : [];
  const seen = new Map<unknown, number>();
  dps.forEach((dp, i) => {
    const id = dp?.['id'];
    if (typeof id !== 'string') return;
    const prev = seen.get(id);
    if (prev !== undefined) out.push({ path: ['dataPlanes', i, 'id'], message: `duplicate id "${echo(id, 100)}" (also dataPlanes[${prev}])` });
    else seen.set(id, i);
  });
  // A draining data plane is disabled in clusters.yaml, whatever `enabled` says.
  const enabled = dps.filter((d) => d && d['enabled'] !== false && d['state'] !== 'draining');
  const labels = new Set(
    enabled.flatMap((d) => (d?.['labels'] && typeof d['labels'] === 'object' ? Object.keys(d['labels'] as object) : [])),
  );
  const def = cfg.controlPlane?.defaultExecutionLabel;
  const discovery = (raw as { discovery?: { eks?: unknown; gke?: unknown } } | null)?.discovery;
  const discovers = !!(discovery?.eks || discovery?.gke);
  if (!dps.length && !discovers) out.push({ path: ['dataPlanes'], message: 'configure at least one data plane (or discovery)' });
  // With discovery, labels are only known at run time; the merged clusters.yaml is checked then.
  // When a data plane's keys are wrong (`lables:`), its labels are not known: that error is enough.
  if (typeof def === 'string' && !labels.has(def) && !discovers && opts.labelsKnown !== false)
    out.push({ path: ['controlPlane', 'defaultExecutionLabel'], message: `label "${echo(def, 100)}" names no cluster (no enabled data plane carries it)` });
  if (dps.length && !enabled.length)
    out.push({ path: ['dataPlanes'], message: 'at least one data plane must be enabled and not draining (flyteadmin refuses to start otherwise)' });
  const cms = Array.isArray(cfg.controlPlane?.configMaps) ? (cfg.controlPlane!.configMaps as unknown[]) : [];
  cms.forEach((n, i) => {
    if (cms.indexOf(n) !== i) out.push({ path: ['controlPlane', 'configMaps', i], message: `duplicate ConfigMap "${echo(String(n), 100)}"` });
  });
  return out;
}

export type ConfigInput = z.input<typeof Config>;
