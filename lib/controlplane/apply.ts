/**
 * Plans and applies the control plane: reads the credentials Secret and the ConfigMaps,
 * renders the merge, validates it, and writes only what changed, with optimistic concurrency
 * (resourceVersion; on a 409 everything is re-read, re-merged and retried).
 *
 * Safe with concurrent runs and crashes:
 * - every write and restart of one apply happens under the control-plane Lease (./lease.ts),
 *   renewed before each write, so two syncs never interleave their writes;
 * - after writing, everything is re-read and re-rendered: if anything would still change (a
 *   writer outside the Lease got in between), it is applied again, so the Secret and both
 *   ConfigMaps always come from one rendering;
 * - restarts are derived from state, not from what this run wrote: every Deployment whose
 *   config checksum is behind what the control plane holds is restarted (./restart.ts), so a run
 *   killed between its writes and its restarts is completed by the next run.
 * A run with nothing to change writes nothing (not even the Lease) and restarts nothing.
 */
import { createTwoFilesPatch } from 'diff';
import type { Config } from '../config/schema.ts';
import { CredsyncError } from '../errors.ts';
import { ConflictError } from '../kube/errors.ts';
import type { ConfigMapObject, ControlPlaneApi, SecretObject } from '../kube/ports.ts';
import { describeAction, type ReviewedAction } from '../kube/reviews.ts';
import { fingerprint, shortFingerprint, type CredentialRecord } from '../stores/types.ts';
import { silentLog, type Log } from '../util/log.ts';
import { acquireLease, LeaseLostError, type HeldLease } from './lease.ts';
import {
  caKey,
  DRAINING_ANNOTATION,
  formatDrainList,
  MANAGED_ANNOTATION,
  mergeClustersYaml,
  parseDrainList,
  parseIdList,
  renderSecretData,
  tokenKey,
  UNROUTED_ANNOTATION,
  yamlParses,
  type ClustersGuard,
  type DataPlaneRouting,
} from './render.ts';
import { configChecksum, readDeployments, restartBehind, type DeploymentReads, type RestartFailure } from './restart.ts';
import { assessOwnership, type ObjectOwnership } from './owners.ts';
import { checkDrift, clustersMapping, routingOf, type DriftReport } from './drift.ts';
import { contentHash, contested, readStamp, staleTimes, stampForWrite, CONTENT_ANNOTATION, type StaleTimes } from './content.ts';

export interface SecretChange {
  name: string;
  action: 'create' | 'update' | 'none';
  /** Data keys added / changed (names only, never values). */
  added: string[];
  changed: string[];
  /** Data keys removed: retiring data planes' (names only). */
  removed?: string[];
}

export interface ConfigMapChange {
  name: string;
  action: 'update' | 'none';
  /** Unified diff of the data key (clusters.yaml holds no secret). */
  diff: string;
  disabledClusters: string[];
}

/** What the control plane holds for one configured data plane after the apply (or would, in a dry run). */
export interface PublishedState extends DataPlaneRouting {
  /** Short fingerprint of the token and CA the Secret holds for it; absent when it holds none. */
  credential?: string;
  /** Out of routing because its credential was rejected and has not verified since. */
  unrouted: boolean;
  /** Draining (configuration `state: draining`, or `credsync drain`) since this time: disabled, in no label. */
  drainingSince?: string;
}

/** Content another field manager wrote, which this run replaced (the writer named from managedFields). */
export interface ReplacedContent {
  /** `ConfigMap/<name>` or `Secret/<name>`. */
  object: string;
  /** The field manager that last wrote it (`helm`, `argocd-controller`, `kubectl-edit`, ...). */
  manager: string;
  /** When it wrote it (the API server's clock). */
  at: string;
  /** It had reverted content of credsync's: how many such repairs within the hour (see lib/controlplane/content.ts). */
  repairs?: number;
}

/** Two writers keep reverting each other's content (lib/controlplane/content.ts): restarts for the reverts are paused. */
export interface ContestedContent {
  /** The other writer (field manager) of the last revert. */
  by: string;
  /** Repairs of its reverts within the window. */
  repairs: number;
  /** The window's start (credsync's clock). */
  since: string;
}

export interface ControlPlaneReport {
  secret: SecretChange;
  configMaps: ConfigMapChange[];
  /** Deployments restarted (or that would be, in a dry run): those behind `checksum`. */
  restarted: string[];
  /** Why each restarted Deployment was behind. */
  restartReasons?: Record<string, string>;
  /** Content another writer wrote that this run replaced (in a dry run: would replace). */
  replaced?: ReplacedContent[];
  /** Set when two writers keep reverting each other: the run fails with CONTROL_PLANE_CONTESTED. */
  contested?: ContestedContent;
  /** Deployments whose restart failed, with the reason. */
  restartFailures: RestartFailure[];
  /** The checksum of what the control plane holds (restart.ts); the Deployments carry it once restarted. */
  checksum: string;
  /** Each configured data plane, as the control plane holds it. */
  published: Record<string, PublishedState>;
  applied: boolean;
  attempts: number;
  /** Set in mode gitops: clusters.yaml was only read and checked (`drift`), never written. */
  mode?: 'gitops';
  /**
   * Mode gitops: how the ConfigMaps' clusters.yaml differs from the configured rendering, and the
   * values to commit (lib/controlplane/drift.ts); absent when it does not. A drift fails the run.
   */
  drift?: DriftReport;
  /**
   * Each object credsync writes or patches (the Secret, the ConfigMaps, the Deployments) that
   * another tool manages, or that needs another mode (./owners.ts); absent when there is none.
   */
  owners?: ObjectOwnership[];
}

/** What the apply renders from, besides the configuration. */
export interface ApplyInput {
  /** Every configured data plane's current credential (those without one keep what the Secret holds). */
  records: ReadonlyMap<string, CredentialRecord>;
  /** Data planes whose published credential was rejected this run (see Config.onCredentialRejected). */
  rejected?: ReadonlySet<string>;
  /** Data planes whose credential verified this run (back in routing if they were out). */
  verified?: ReadonlySet<string>;
  /** Data planes to start draining now (`credsync drain`): recorded in DRAINING_ANNOTATION. */
  drain?: ReadonlySet<string>;
  /** Data planes whose `credsync drain` is cancelled (`--cancel`); one draining by configuration stays draining. */
  undrain?: ReadonlySet<string>;
  /** Data planes retiring (lib/sync/retire.ts): entry, labels and Secret keys removed. */
  retired?: ReadonlySet<string>;
  /**
   * Data planes whose cluster was deleted (lib/sync/retire.ts): they drain (recorded in
   * DRAINING_ANNOTATION) until retired, configured or not (discovery no longer finds a deleted
   * cluster), and `undrain` does not cancel them.
   */
  deleted?: ReadonlySet<string>;
}

interface Plan {
  secret: { object: SecretObject; change: SecretChange };
  configMaps: Array<{ object: ConfigMapObject; change: ConfigMapChange }>;
  published: Record<string, PublishedState>;
  /** Mode gitops: the ConfigMaps' drift from the configured rendering. */
  drift?: DriftReport;
  /** When the live content differed from what it is now (before this plan's writes). */
  stale: StaleTimes[];
  replaced: ReplacedContent[];
  contested?: ContestedContent;
}

const MAX_ATTEMPTS = 5;

export type { ClustersGuard };

/**
 * Kubernetes refuses a Secret whose data values add up to more than 1 MiB (MaxSecretSize,
 * pkg/apis/core/validation ValidateSecret), and a ConfigMap whose keys and values do.
 */
export const MAX_OBJECT_DATA_BYTES = 1024 * 1024;

/**
 * Refuses, before anything is written, a credentials Secret or ConfigMap the API server would
 * reject for its size: the error names the limit, the size and the data planes it would hold.
 *
 * @throws CredsyncError `CONTROL_PLANE_TOO_LARGE`
 */
export function checkObjectSizes(p: Pick<Plan, 'secret' | 'configMaps'>, records: ReadonlyMap<string, CredentialRecord>): void {
  const secret = p.secret.object;
  const secretBytes = Object.values(secret.data).reduce((a, v) => a + v.length, 0);
  const tooBig: string[] = [];
  if (secretBytes > MAX_OBJECT_DATA_BYTES) tooBig.push(`the credentials Secret ${secret.namespace}/${secret.name} would hold ${secretBytes} bytes of data`);
  for (const { object: cm } of p.configMaps) {
    const bytes = Object.entries(cm.data).reduce((a, [k, v]) => a + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    if (bytes > MAX_OBJECT_DATA_BYTES) tooBig.push(`ConfigMap ${cm.namespace}/${cm.name} would hold ${bytes} bytes of data`);
  }
  if (!tooBig.length) return;
  const ids = [...records.keys()].sort();
  const shown = ids.slice(0, 10).join(', ') + (ids.length > 10 ? `, and ${ids.length - 10} more` : '');
  const perPlane = records.size ? Math.round(secretBytes / records.size) : 0;
  throw new CredsyncError(
    'CONTROL_PLANE_TOO_LARGE',
    `control plane: ${tooBig.join('; ')}, over Kubernetes' limit of ${MAX_OBJECT_DATA_BYTES} bytes (1 MiB) per object, ` +
      `for ${records.size} data planes (${shown}; about ${perPlane} bytes each). Nothing was written. ` +
      'Serve fewer data planes from this control plane (docs/operations.md "Limits").',
  );
}

/**
 * What one apply may write on the control plane, whatever this run changes: the credentials Secret
 * (create when it does not exist yet, else update), every ConfigMap (mode owner; mode gitops never
 * writes them) and a restart patch of every Deployment. deploy/controlplane-rbac.yaml grants them.
 */
export function writePermissions(cp: Config['controlPlane'], createSecret: boolean): ReviewedAction[] {
  return [
    createSecret ? { verb: 'create', group: '', resource: 'secrets' } : { verb: 'update', group: '', resource: 'secrets', name: cp.credentialsSecret },
    ...(cp.mode === 'gitops' ? [] : cp.configMaps.map((name) => ({ verb: 'update', group: '', resource: 'configmaps', name }))),
    ...cp.deployments.map((name) => ({ verb: 'patch', group: 'apps', resource: 'deployments', name })),
  ];
}

/**
 * Refuses, before anything is written, an apply the sync's identity could only do in part: asked
 * once per run that writes (one SelfSubjectRulesReview; a no-op run asks nothing).
 *
 * @throws CredsyncError `CLUSTER_ACCESS_DENIED` naming every action refused
 */
async function assertMayWrite(api: ControlPlaneApi, cp: Config['controlPlane'], createSecret: boolean): Promise<void> {
  const needed = writePermissions(cp, createSecret);
  const answers = await api.mayDo(cp.namespace, needed);
  const denied = needed.filter((_, i) => !answers[i]).map((a) => describeAction({ ...a, namespace: cp.namespace }));
  if (denied.length)
    throw new CredsyncError(
      'CLUSTER_ACCESS_DENIED',
      `control plane: the sync's identity may not ${denied.join('; ')}: nothing written (a partial write could leave the ConfigMaps disagreeing; deploy/controlplane-rbac.yaml grants these, docs/permissions.md)`,
    );
}

function setIdList(annotations: Record<string, string>, key: string, ids: Iterable<string>): Record<string, string> {
  const value = [...ids].sort().join(',');
  const out = { ...annotations };
  if (value) out[key] = value;
  else delete out[key];
  return out;
}

/**
 * Which configured data planes drain, and since when: those a ConfigMap's DRAINING_ANNOTATION
 * records (the earliest time of either ConfigMap: a run may have died between the two writes),
 * those the configuration drains, and `input.drain`, less `input.undrain` (unless configured so).
 * A newly draining one, or one recorded without a time, drains since `at`. `input.deleted` drain
 * too, configured or not, and cannot be cancelled.
 */
export function drainingSince(cfg: Config, present: readonly ConfigMapObject[], input: Pick<ApplyInput, 'drain' | 'undrain' | 'deleted'>, at: string): Map<string, string> {
  const configured = new Map(cfg.dataPlanes.map((d) => [d.id, d]));
  const deleted = input.deleted ?? new Set<string>();
  const since = new Map<string, string>();
  for (const cm of present)
    for (const [id, t] of parseDrainList(cm.annotations)) {
      if (!configured.has(id) && !deleted.has(id)) continue;
      const prev = since.get(id);
      if (prev === undefined || (t && (!prev || t < prev))) since.set(id, t);
    }
  for (const id of input.undrain ?? []) if (configured.get(id)?.state !== 'draining' && !deleted.has(id)) since.delete(id);
  for (const dp of cfg.dataPlanes) if (dp.state === 'draining' && !since.has(dp.id)) since.set(dp.id, at);
  for (const id of deleted) if (!since.has(id)) since.set(id, at);
  for (const id of input.drain ?? []) if (configured.has(id) && !since.has(id)) since.set(id, at);
  for (const [id, t] of since) if (!t) since.set(id, at);
  return since;
}

async function plan(api: ControlPlaneApi, cfg: Config, input: ApplyInput, at: string, guard?: ClustersGuard): Promise<Plan> {
  const cp = cfg.controlPlane;
  const now = new Date(at);
  const [existingSecret, ...cms] = await Promise.all([
    api.getSecret(cp.namespace, cp.credentialsSecret),
    ...cp.configMaps.map((n) => api.getConfigMap(cp.namespace, n)),
  ]);
  const missing = cms.findIndex((cm) => !cm);
  if (missing >= 0)
    throw new CredsyncError(
      'CONTROL_PLANE_INVALID',
      `control plane: ConfigMap ${cp.namespace}/${cp.configMaps[missing]} does not exist (it comes with the flyte-core chart; check controlPlane.configMaps)`,
    );
  const present = cms as ConfigMapObject[];
  // Out of routing: those rejected now or before (either ConfigMap's record: a run may have died
  // between the two writes), unless they verified this run.
  const configured = new Set(cfg.dataPlanes.map((d) => d.id));
  const unrouted = new Set<string>();
  // (Mode gitops: nothing is taken out of routing; clusters.yaml is the chart's.)
  if (cfg.onCredentialRejected === 'unroute' && cp.mode !== 'gitops') {
    for (const cm of present) for (const id of parseIdList(cm.annotations, UNROUTED_ANNOTATION)) unrouted.add(id);
    for (const id of input.rejected ?? []) unrouted.add(id);
    for (const id of input.verified ?? []) unrouted.delete(id);
    for (const id of unrouted) if (!configured.has(id)) unrouted.delete(id);
  }
  // Mode gitops: the chart's ConfigMaps hold routing, so nothing drains here (lib/sync/retire.ts refuses it).
  const drainSince = cfg.controlPlane.mode === 'gitops' ? new Map<string, string>() : drainingSince(cfg, present, input, at);
  const draining = new Set(drainSince.keys());
  const drainValue = formatDrainList(drainSince);
  let routing: Map<string, DataPlaneRouting> | undefined;
  const parse = yamlParses(); // the ConfigMaps usually hold the same text: parsed once
  const gitops = cp.mode === 'gitops';
  // Mode gitops: the ConfigMaps are the chart's, read and never written (their drift is checked
  // below, once the Secret's keys are known); routing is what the first one holds.
  if (gitops) {
    let live: Record<string, unknown> = {};
    try {
      live = clustersMapping(present[0]?.data[cp.configKey], parse);
    } catch {
      // not YAML: nothing is routed; the drift check names it
    }
    routing = routingOf(live, cfg.dataPlanes.map((d) => d.id));
  }
  const stale: StaleTimes[] = [];
  const replaced: ReplacedContent[] = [];
  const stamps: Array<ReturnType<typeof readStamp>> = [];
  const isConfigKey = (k: string) => k === cp.configKey;
  // Whoever writes them, pods that started before the ConfigMaps' last change are behind (./content.ts).
  for (const cm of present) {
    stale.push(staleTimes(cm, contentHash({ [cp.configKey]: cm.data[cp.configKey] ?? '' }), isConfigKey));
    stamps.push(readStamp(cm.annotations));
  }
  const configMaps: Plan['configMaps'] = gitops
    ? present.map((cm) => ({ object: cm, change: { name: cm.name, action: 'none', diff: '', disabledClusters: [] } }))
    : present.map((cm, i) => {
      const name = cp.configMaps[i]!;
      const where = `ConfigMap ${cp.namespace}/${name} key ${cp.configKey}`;
      const oldText = cm.data[cp.configKey];
      const merged = mergeClustersYaml(oldText, parseIdList(cm.annotations, MANAGED_ANNOTATION), cfg, { records: input.records, unrouted, draining, ...(input.retired ? { retired: input.retired } : {}), parse, ...(guard ? { guard } : {}) }, where);
      routing ??= merged.routing;
      const annotations = setIdList(setIdList(cm.annotations, MANAGED_ANNOTATION, merged.managed), UNROUTED_ANNOTATION, unrouted);
      if (drainValue) annotations[DRAINING_ANNOTATION] = drainValue;
      else delete annotations[DRAINING_ANNOTATION];
      const annotationsChanged = [MANAGED_ANNOTATION, UNROUTED_ANNOTATION, DRAINING_ANNOTATION].some((k) => (cm.annotations[k] ?? '') !== (annotations[k] ?? ''));
      if (merged.changed || annotationsChanged) {
        // Written: with the content stamp (./content.ts), which by itself never makes a write.
        const w = stampForWrite(cm, contentHash({ [cp.configKey]: oldText ?? '' }), contentHash({ [cp.configKey]: merged.text }), isConfigKey, now);
        annotations[CONTENT_ANNOTATION] = w.annotation;
        if (w.replaced) replaced.push({ object: `ConfigMap/${name}`, ...w.replaced, ...(w.repairs ? { repairs: w.repairs.n } : {}) });
      }
      return {
        object: { ...cm, annotations, data: { ...cm.data, [cp.configKey]: merged.text } },
        change: {
          name,
          action: merged.changed || annotationsChanged ? 'update' : 'none',
          diff: merged.changed ? createTwoFilesPatch(`${name}/${cp.configKey}`, `${name}/${cp.configKey}`, oldText ?? '', merged.text, 'current', 'desired') : '',
          disabledClusters: merged.disabled,
        },
      };
    });
  // A retiring data plane's keys go only once no ConfigMap lists it any more (as read now): written
  // in one go, a run killed between the Secret's write and the second ConfigMap's would leave an
  // entry whose files are gone, and flyteadmin or syncresources would not start. So the apply
  // writes the ConfigMaps without it first, and the Secret without its keys after (see applyControlPlane).
  let removable = input.retired;
  if (input.retired?.size) {
    const listed = new Set<string>();
    for (const cm of present) {
      try {
        const entries = clustersMapping(cm.data[cp.configKey], parse)['clusterConfigs'];
        if (Array.isArray(entries)) for (const e of entries) if (typeof (e as { name?: unknown })?.name === 'string') listed.add((e as { name: string }).name);
      } catch {
        // not YAML: the merge above refused it already
      }
    }
    removable = new Set([...input.retired].filter((id) => !listed.has(id)));
  }
  const secretData = renderSecretData(existingSecret?.data ?? {}, input.records, removable);
  const secretChanged = !existingSecret || secretData.added.length + secretData.changed.length + secretData.removed.length > 0;
  const object: SecretObject = existingSecret
    ? { ...existingSecret, data: secretData.data }
    : {
        name: cp.credentialsSecret,
        namespace: cp.namespace,
        type: 'Opaque',
        labels: { 'app.kubernetes.io/managed-by': 'flyte-credsync' },
        annotations: {},
        data: secretData.data,
      };
  const drift = gitops
    ? checkDrift({
        cfg,
        records: input.records,
        configMaps: present.map((cm) => ({ name: cm.name, text: cm.data[cp.configKey] })),
        secretKeys: new Set(Object.keys(secretData.data)),
        parse,
        ...(guard ? { guard } : {}),
      })
    : undefined;
  const anyKey = () => true;
  const liveSecretHash = contentHash(existingSecret?.data ?? {});
  if (existingSecret) {
    stale.push(staleTimes(existingSecret, liveSecretHash, anyKey));
    stamps.push(readStamp(existingSecret.annotations));
  }
  if (secretChanged) {
    const w = stampForWrite(existingSecret ?? { annotations: {} }, liveSecretHash, contentHash(secretData.data), anyKey, now);
    object.annotations = { ...object.annotations, [CONTENT_ANNOTATION]: w.annotation };
    if (w.replaced && existingSecret) replaced.push({ object: `Secret/${cp.credentialsSecret}`, ...w.replaced, ...(w.repairs ? { repairs: w.repairs.n } : {}) });
  }
  const fight = stamps.find((st) => contested(st, now, cp.maxRepairsPerHour))?.repairs;
  const published: Record<string, PublishedState> = {};
  for (const dp of cfg.dataPlanes) {
    const token = secretData.data[tokenKey(dp.id)], ca = secretData.data[caKey(dp.id)];
    published[dp.id] = {
      ...(routing?.get(dp.id) ?? { listed: false, enabled: false, labels: [], keptInLabels: [] }),
      ...(token && ca ? { credential: shortFingerprint(fingerprint(token.toString('utf8'), ca.toString('utf8'))) } : {}),
      unrouted: unrouted.has(dp.id),
      ...(drainSince.has(dp.id) ? { drainingSince: drainSince.get(dp.id)! } : {}),
    };
  }
  const planned: Plan = {
    secret: {
      object,
      change: {
        name: cp.credentialsSecret,
        action: !existingSecret ? 'create' : secretChanged ? 'update' : 'none',
        added: secretData.added,
        changed: secretData.changed,
        ...(secretData.removed.length ? { removed: secretData.removed } : {}),
      },
    },
    configMaps,
    published,
    ...(drift ? { drift } : {}),
    stale,
    replaced,
    ...(fight ? { contested: { by: fight.by, repairs: fight.n, since: fight.at } } : {}),
  };
  checkObjectSizes(planned, input.records);
  return planned;
}

const changes = (p: Plan) => p.secret.change.action !== 'none' || p.configMaps.some((c) => c.change.action !== 'none');

/**
 * The checksum of what a plan renders: what the control plane holds once it is written. In mode
 * gitops only the Secret's: the chart owns clusters.yaml, and its own config checksum rolls the
 * Deployments out when clusters.yaml changes (a second restart by credsync would be a fight).
 */
function checksumOf(p: Plan, cp: Config['controlPlane']): string {
  return configChecksum({
    secretData: p.secret.object.data,
    clustersYaml: cp.mode === 'gitops' ? {} : Object.fromEntries(p.configMaps.map((c) => [c.object.name, c.object.data[cp.configKey] ?? ''])),
  });
}

/** Who else manages each object the apply writes or patches (./owners.ts), from the plan's reads and the Deployments'. */
function ownershipOf(p: Plan, cp: Config['controlPlane'], existingSecret: boolean, templates: DeploymentReads): ObjectOwnership[] {
  const out: ObjectOwnership[] = [];
  if (existingSecret) out.push(assessOwnership(`Secret ${cp.namespace}/${cp.credentialsSecret}`, 'secret', p.secret.object, cp.mode));
  for (const c of p.configMaps) out.push(assessOwnership(`ConfigMap ${cp.namespace}/${c.object.name}`, 'configmap', c.object, cp.mode));
  cp.deployments.forEach((name, i) => {
    const r = templates[i];
    const d = r?.status === 'fulfilled' ? r.value.template : undefined;
    if (d) out.push(assessOwnership(`Deployment ${cp.namespace}/${name}`, 'deployment', { labels: d.labels ?? {}, annotations: d.annotations ?? {} }, cp.mode));
  });
  return out.filter((o) => o.owners.length || o.severity !== 'ok');
}

/**
 * Plans and applies the control plane (see the module header).
 *
 * @param input every configured data plane's current credential, and which were rejected or
 *   verified this run
 * @param opts.dryRun plan only, no Lease: the report says what would be written and restarted.
 *   A run with nothing to write or restart takes no Lease either.
 * @param opts.now the restart timestamp's and the Lease's clock
 * Waiting for another run's Lease ends by the invocation's deadline (lib/util/abort.ts).
 * @param opts.log where Lease waits and take-overs are logged (default silent)
 * @param opts.guard checks each clusters.yaml before anything is written (the routing guard)
 * @param opts.restartedSince a rotation's publication time: a Deployment started before it is
 *   restarted too, with the checksum, like every restart (see ./restart.ts)
 * @returns what was written (or would be), what was restarted, what the control plane holds
 * @throws CredsyncError `CONTROL_PLANE_INVALID` (a ConfigMap is missing, or the merge would stop
 *   flyteadmin), `LABEL_WOULD_EMPTY`, `CONTROL_PLANE_TOO_LARGE` (the Secret or a ConfigMap would
 *   exceed Kubernetes' 1 MiB per object; nothing is written), `CONTROL_PLANE_BUSY` (another run
 *   held the Lease too long), `CONTROL_PLANE_CONFLICT` after 5 conflicting attempts, Kubernetes API errors
 */
export async function applyControlPlane(
  api: ControlPlaneApi,
  cfg: Config,
  input: ApplyInput,
  opts: { dryRun: boolean; now: () => Date; log?: Log; guard?: ClustersGuard; restartedSince?: Date },
): Promise<ControlPlaneReport> {
  const cp = cfg.controlPlane;
  const at = () => opts.now().toISOString();
  // First without the Lease: a dry run stops here, and so does a run with nothing to write or
  // restart (taking the Lease is a write; a no-op run writes nothing).
  // The Deployments are read alongside the Secret and the ConfigMaps: a no-op run is one round trip.
  const templates = readDeployments(api, cp.namespace, cp.deployments);
  const first = await plan(api, cfg, input, at(), opts.guard);
  const firstChecksum = checksumOf(first, cp);
  const owners = ownershipOf(first, cp, first.secret.change.action !== 'create', await templates);
  const since = opts.restartedSince ? { restartedSince: opts.restartedSince } : {};
  const rule = (p: Plan) => ({ stale: p.stale, ...(p.contested ? { ignoreIntervals: true } : {}), ...since });
  const behind = await restartBehind(api, cp.namespace, cp.deployments, firstChecksum, { at: at(), dryRun: true, templates: await templates, ...rule(first) });
  if (opts.dryRun || (!changes(first) && behind.restarted.length === 0))
    return report(first, opts.dryRun ? behind : { restarted: [], reasons: {}, failures: behind.failures }, firstChecksum, false, 1, cp.mode, owners);
  // Before the first write (the Lease included): may this identity write everything one rendering
  // writes? An identity that may update one ConfigMap and not the other would leave them disagreeing.
  await assertMayWrite(api, cp, first.secret.change.action === 'create');
  const leaseOpts = {
    namespace: cp.namespace,
    name: cp.lease.name,
    durationSeconds: cp.lease.durationSeconds,
    waitSeconds: cp.lease.waitSeconds,
    log: opts.log ?? silentLog,
    now: () => opts.now().getTime(),
  };
  let lease: HeldLease = await acquireLease(api, leaseOpts);
  // What has been written so far, across retries: the report and `applied` come from it.
  let writtenSecret: SecretChange | undefined;
  const writtenMaps = new Map<string, ConfigMapChange>();
  const replaced = new Map<string, ReplacedContent>();
  // What has been restarted so far, across retries: an attempt that throws after restarting one
  // Deployment (the next kept changing under its patch) is retried, and the retry finds that one
  // up to date; the report still names it (and the audit records it).
  const restarts = new Map<string, string>();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        let p = await plan(api, cfg, input, at(), opts.guard);
        if (changes(p)) {
          for (const r of p.replaced) replaced.set(r.object, r);
          const s = p.secret;
          if (s.change.action !== 'none') {
            await lease.renew();
            if (s.change.action === 'create') await api.createSecret(s.object);
            else await api.replaceSecret(s.object);
            writtenSecret = s.change;
          }
          for (const c of p.configMaps) {
            if (c.change.action !== 'update') continue;
            await lease.renew();
            await api.replaceConfigMap(c.object);
            writtenMaps.set(c.change.name, c.change);
          }
          for (const r of replaced.values())
            opts.log?.warn('replaced content another writer had written', { object: r.object, writer: r.manager, writtenAt: r.at, ...(r.repairs ? { repairsWithinHour: r.repairs } : {}) });
          // Read back: everything must now be exactly what one rendering says, but for the keys of
          // retiring data planes, removed only now that no ConfigMap lists them (see plan()).
          p = await plan(api, cfg, input, at(), opts.guard);
          const keysLeft = p.secret.change;
          if (keysLeft.action === 'update' && keysLeft.removed?.length && !keysLeft.added.length && !keysLeft.changed.length && p.configMaps.every((c) => c.change.action === 'none')) {
            await lease.renew();
            await api.replaceSecret(p.secret.object);
            writtenSecret = { ...keysLeft, ...(writtenSecret ? { added: writtenSecret.added, changed: writtenSecret.changed } : {}) };
            p = await plan(api, cfg, input, at(), opts.guard);
          }
          if (changes(p)) throw new ConflictError('control plane: changed by another writer while applying');
        }
        const checksum = checksumOf(p, cp);
        const r = await restartBehind(api, cp.namespace, cp.deployments, checksum, {
          at: at(),
          // Sent right after the writes: the restart records their write ids (./content.ts), so
          // the next run tells these pods from pods created before the writes in the same second.
          beforeWrite: () => lease.renew(),
          onRestart: (name, reason) => void restarts.set(name, reason),
          ...rule(p),
        });
        const restarted = { ...r, restarted: [...restarts.keys()], reasons: Object.fromEntries(restarts) };
        const written: Plan = {
          ...p,
          secret: { ...p.secret, change: writtenSecret ?? p.secret.change },
          configMaps: p.configMaps.map((c) => ({ ...c, change: writtenMaps.get(c.change.name) ?? c.change })),
          replaced: [...replaced.values()],
        };
        return report(written, restarted, checksum, writtenSecret !== undefined || writtenMaps.size > 0, attempt, cp.mode, owners);
      } catch (err) {
        // A run paused past its Lease sees its calls cut off by their own timeouts when it wakes
        // (CLUSTER_UNREACHABLE "timed out after 20000 ms"): that is the Lease lost, not the cluster.
        if (!(err instanceof LeaseLostError)) {
          const lost = lease.lostBy(err);
          if (lost) throw lost;
        }
        if (!(err instanceof ConflictError) && !(err instanceof LeaseLostError)) throw err;
        if (attempt >= MAX_ATTEMPTS)
          throw new CredsyncError('CONTROL_PLANE_CONFLICT', `control plane: still conflicting after ${MAX_ATTEMPTS} attempts: ${err.message}`);
        if (err instanceof LeaseLostError) {
          opts.log?.warn('lost the control-plane Lease while applying; waiting for it again', { reason: err.message });
          lease = await acquireLease(api, leaseOpts);
        }
      }
    }
  } finally {
    await lease.release();
  }
}

function report(
  p: Plan,
  r: { restarted: string[]; reasons: Record<string, string>; failures: RestartFailure[] },
  checksum: string,
  applied: boolean,
  attempts: number,
  mode: Config['controlPlane']['mode'],
  owners: ObjectOwnership[],
): ControlPlaneReport {
  return {
    secret: p.secret.change,
    configMaps: p.configMaps.map((c) => c.change),
    restarted: r.restarted,
    restartReasons: r.reasons,
    replaced: p.replaced,
    ...(p.contested ? { contested: p.contested } : {}),
    restartFailures: r.failures,
    checksum,
    published: p.published,
    applied,
    attempts,
    ...(mode === 'gitops' ? { mode } : {}),
    ...(p.drift ? { drift: p.drift } : {}),
    ...(owners.length ? { owners } : {}),
  };
}
