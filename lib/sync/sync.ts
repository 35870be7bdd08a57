/**
 * The orchestrator: read and verify every data plane (bounded concurrency), store each verified
 * credential, render the control plane from the store, apply what changed, report.
 * A dry run does all reads and verification and reports the exact diff, writing nothing.
 * It knows nothing of Lambda or the CLI: those are thin adapters around {@link runSync}.
 */
import type { DataPlane } from '../config/schema.ts';
import { randomUUID } from 'node:crypto';
import { applyControlPlane, type ControlPlaneReport } from '../controlplane/apply.ts';
import { auditEvents } from '../controlplane/audit.ts';
import { readCredential } from '../dataplane/credential.ts';
import { verifyCredential, verifyEarly, type EarlyVerification } from '../dataplane/verify.ts';
import { startLabelsStep, type LabelsStep } from '../labels/run.ts';
import { LabelRoutingError } from '../labels/errors.ts';
import { CredentialRejectedError, CredsyncError, describeError, errorCode } from '../errors.ts';
import type { ControlPlaneApi, DataPlaneApi } from '../kube/ports.ts';
import { fingerprint, makeRecord, shortFingerprint, type CredentialRecord, type SecretStore } from '../stores/types.ts';
import { timeLeft } from '../util/abort.ts';
import { boundedList, loggedIds, MAX_LOGGED_IDS } from '../util/bounded.ts';
import { mapBounded } from '../util/log.ts';
import { requireRotation, settingsFor } from '../rotation/config.ts';
import type { PreparedRotation } from '../rotation/rotate.ts';
import { finishStep, rotationStep } from './rotation.ts';
import type { AuditReport, ClusterReport, SyncDeps, SyncOptions, SyncReport } from './types.ts';

// The sync's ports and reports live in ./types.ts; its callers import them from here.
export type { AuditReport, ClusterReport, ClusterStatus, ConfigInfo, RotationAdapters, SyncDeps, SyncOptions, SyncReport } from './types.ts';
import { finishRetirements, planLifecycle, type LifecyclePlan } from './retire.ts';

/**
 * One sync: read and verify the selected data planes (at most `config.concurrency` at once), store
 * each verified credential, render the control plane from the store for every configured data
 * plane, apply what changed (restarting the configured Deployments when anything did), report.
 *
 * A failure of one data plane is reported (`status: 'failed'`, a code and a reason) and does not
 * stop the others; the control plane keeps that data plane's last good credential. A failure to
 * write the control plane is `controlPlaneError`. `report.ok` is false when anything failed.
 *
 * @param opts.clusters only these data planes are read, verified and stored (default: all)
 * @param opts.dryRun read and verify everything, write nothing (default false)
 * @throws CredsyncError `UNKNOWN_DATA_PLANE` when `opts.clusters` names a data plane that is not
 *   configured, `ROTATION_NOT_CONFIGURED` when rotation was required and the data planes do not
 *   rotate (see {@link SyncOptions.requireRotation}); both before anything is read or written.
 *   Nothing else throws: failures are reported.
 *
 * The run keeps the invocation's deadline (lib/util/abort.ts, set by the entry point): every
 * network call is aborted at it at the latest, waits end by it, data planes not started by then
 * fail with `DEADLINE`, and the control plane is not written after it. The report is still returned.
 */
export async function runSync(deps: SyncDeps, opts: SyncOptions = {}): Promise<SyncReport> {
  const run = await startRun(deps, opts);
  const store = await readStore(deps);
  // 1-3. Read, verify and store each selected data plane.
  const outcomes = await syncDataPlanes(deps, run, store);
  // 4. What the control plane must carry: every configured data plane's current stored credential.
  const records = await storedRecords(deps, run, store.view, outcomes);
  // 5. Apply the control plane, unless it would leave an assigned label without an enabled cluster.
  const labels = await startLabelsStep(deps.config, deps.flyteAdmin, deps.log);
  const applied = await applyStep(deps, run, outcomes, records, labels);
  // 6. Labels as code, once the clusters.yaml they route by is in place.
  // (Mode gitops: not when an assigned label routes nowhere in the chart's clusters.yaml.)
  const labelsOutcome = await labels.finish(run.dryRun || applied.controlPlaneError !== undefined || applied.controlPlane?.drift?.routing === true);
  if (labelsOutcome.error) deps.log.error('execution-cluster labels not applied', labelsOutcome.error);
  const written = !run.dryRun && !applied.controlPlaneError;
  // 7. Rotations: restart if needed, wait for the rollout, then revoke the previous generations.
  const rotationError = written ? await finishStep(deps, outcomes.flatMap((o) => (o.prepared ? [o.prepared] : []))) : undefined;
  // 8. Retirements: wait for the rollout without them, revoke, schedule the store entry's deletion.
  if (written) await finishRetirements(deps, run.lifecycle);
  return report(deps, run, outcomes, applied, labelsOutcome, rotationError);
}

/** One run: its id, options, the data planes it reads, its drains and retirements, and when it started. */
interface Run {
  id: string;
  opts: SyncOptions;
  dryRun: boolean;
  selected: DataPlane[];
  lifecycle: LifecyclePlan;
  /** The run's one control-plane connection (the drain plan reads through it, the apply writes). */
  controlPlane: SyncDeps['controlPlane'];
  now: () => Date;
  started: Date;
  t0: number;
}

/**
 * Checks what the run was asked, before anything is read or written, plans its drains and
 * retirements (a retiring data plane is no longer synced, and the control plane is rendered
 * without it), and names the run.
 * @throws CredsyncError UNKNOWN_DATA_PLANE, ROTATION_NOT_CONFIGURED
 */
async function startRun(deps: SyncDeps, opts: SyncOptions): Promise<Run> {
  const { config: cfg, log } = deps;
  const now = deps.now ?? (() => new Date());
  const started = now();
  const t0 = performance.now();
  const id = randomUUID();
  const dryRun = opts.dryRun ?? false;
  const known = new Set(cfg.dataPlanes.map((d) => d.id));
  const deleted = new Set(opts.deleted ?? []);
  const unknown = [...new Set([...(opts.clusters ?? []), ...(opts.drain ?? []), ...(opts.undrain ?? []), ...(opts.retire?.clusters ?? [])])].filter((c) => !known.has(c) && !deleted.has(c));
  if (unknown.length)
    throw new CredsyncError('UNKNOWN_DATA_PLANE', `unknown data plane(s): ${boundedList(unknown)} (configured: ${boundedList([...known])})`);
  if (opts.rotateNow || opts.requireRotation) requireRotation(cfg, opts.rotateNow ? 'rotate --now' : 'rotate', opts.clusters);
  // One control-plane connection for the run: the drain plan reads the ConfigMaps through it, the
  // apply writes through it (a connection that fails fails the apply, as it always did).
  let cpConnection: ReturnType<SyncDeps['controlPlane']> | undefined;
  const controlPlane = () => (cpConnection ??= deps.controlPlane());
  const lifecycle = await planLifecycle(
    { ...deps, controlPlane },
    { dryRun, ...(opts.drain ? { drain: opts.drain } : {}), ...(opts.undrain ? { undrain: opts.undrain } : {}), ...(opts.retire ? { retire: opts.retire } : {}), ...(opts.deleted ? { deleted: opts.deleted } : {}) },
  );
  // Retiring data planes and deleted clusters are not synced.
  const selected = (opts.clusters?.length ? cfg.dataPlanes.filter((d) => opts.clusters!.includes(d.id)) : cfg.dataPlanes).filter((d) => !lifecycle.retiring.has(d.id) && !lifecycle.deleted.has(d.id));
  // Lines that list data planes list the first few and count them all: 5,000 ids are not a log line.
  log.info('sync started', { runId: id, dryRun, clusterCount: selected.length, clusters: loggedIds(selected.map((d) => d.id)), store: deps.store.kind });
  return { id, opts, dryRun, selected, lifecycle, controlPlane, now, started, t0 };
}

/** The store as this run reads it: a batch view, and why the batch read was cut off, if it was. */
interface RunStore {
  view: SecretStore;
  cutOff?: string;
}

/**
 * The store's entries of every configured data plane, read in batches when the store can (the
 * control plane is rendered for all of them); a failed batch read falls back to one read each.
 * A batch read cut off at the deadline is what each data plane not started reports.
 */
async function readStore(deps: SyncDeps): Promise<RunStore> {
  if (!deps.store.batch) return { view: deps.store };
  let cutOff: string | undefined;
  const view = await deps.store.batch(
    deps.config.dataPlanes.map((d) => d.id),
    (err) => {
      if (errorCode(err) === 'DEADLINE') cutOff = describeError(err);
      deps.log.warn('batch read of the store failed; reading entries one by one', { code: errorCode(err), reason: describeError(err) });
    },
  );
  return { view, ...(cutOff ? { cutOff } : {}) };
}

/**
 * Reads, verifies and stores each selected data plane, at most `concurrency` at once: a rotating
 * one through rotation's step (./rotation.ts), the others by {@link syncDataPlane}. A data plane
 * not started by the deadline fails with DEADLINE. Tells `onProgress` after each.
 */
async function syncDataPlanes(deps: SyncDeps, run: Run, store: RunStore): Promise<DataPlaneOutcome[]> {
  const { config: cfg, log } = deps;
  const runDeps: SyncDeps = { ...deps, store: store.view };
  const progress = { done: 0, total: run.selected.length, failed: 0 };
  return mapBounded(run.selected, cfg.concurrency, async (dp): Promise<DataPlaneOutcome> => {
    let outcome: DataPlaneOutcome;
    if (timeLeft() <= 0) {
      const reason = store.cutOff ?? `data plane ${dp.id}: not started, the invocation's deadline was reached`;
      log.warn('data plane not started: deadline', { cluster: dp.id });
      outcome = { report: { id: dp.id, status: 'failed', code: 'DEADLINE', reason } };
    } else {
      const rotation = settingsFor(cfg, dp);
      outcome = rotation ? await rotationStep(deps, dp, rotation, { dryRun: run.dryRun, force: run.opts.rotateNow ?? false }) : await syncDataPlane(runDeps, dp, run.dryRun);
    }
    progress.done++;
    if (outcome.report.status === 'failed') progress.failed++;
    deps.onProgress?.({ ...progress });
    return outcome;
  });
}

/**
 * Every configured data plane's current stored credential (retiring ones left out), which the
 * control plane is rendered from. A successful put has just made (or confirmed) the store's
 * current value equal to its record, so that record is used as is; every other data plane is read
 * back from the store. In a dry run nothing was stored, so this run's verified credentials overlay
 * the store. A data plane whose entry cannot be read fails (unless it failed already).
 */
async function storedRecords(deps: SyncDeps, run: Run, view: SecretStore, outcomes: DataPlaneOutcome[]): Promise<Map<string, CredentialRecord>> {
  const { config: cfg, log } = deps;
  const verified = new Map(outcomes.flatMap((o) => (o.record ? [[o.report.id, o.record] as const] : [])));
  const byId = new Map(outcomes.map((o) => [o.report.id, o.report]));
  const records = new Map<string, CredentialRecord>();
  await mapBounded(cfg.dataPlanes.filter((d) => !run.lifecycle.retiring.has(d.id)), cfg.concurrency, async (dp) => {
    const current = verified.get(dp.id);
    if (current) return void records.set(dp.id, current);
    try {
      // A rotated data plane's entry may have changed during this run (staged, promoted): read it
      // again; every other one is as the run's batch read found it or as its put left it.
      const stored = await (settingsFor(cfg, dp) ? deps.store : view).get(dp.id);
      if (stored) records.set(dp.id, stored.record);
    } catch (err) {
      log.warn('cannot read stored credential', { cluster: dp.id, reason: describeError(err) });
      const r = byId.get(dp.id);
      if (r && r.status !== 'failed') Object.assign(r, { status: 'failed', code: errorCode(err), reason: describeError(err) });
    }
  });
  return records;
}

/** What the control-plane step did: its report, or why it did not write, and the audit Events. */
interface Applied {
  controlPlane?: ControlPlaneReport;
  controlPlaneError?: SyncReport['controlPlaneError'];
  audit?: AuditReport;
}

/**
 * Applies the control plane from `records` (lib/controlplane/apply.ts): nothing after the
 * deadline, the labels' routing guard on every clusters.yaml written, drains and retirements,
 * Deployments restarted after a rotation's publication; logs what the apply found (a contest,
 * data planes that left, drift, other owners), then records the audit Events. Never throws: a
 * failure is `controlPlaneError`.
 */
async function applyStep(deps: SyncDeps, run: Run, outcomes: DataPlaneOutcome[], records: ReadonlyMap<string, CredentialRecord>, labels: LabelsStep): Promise<Applied> {
  const { config: cfg, log } = deps;
  const { opts, lifecycle } = run;
  try {
    if (!run.dryRun && timeLeft() <= 0)
      throw new CredsyncError('DEADLINE', "control plane not written: the invocation's deadline was reached (the next run will)");
    const api = await run.controlPlane();
    const rejected = new Set(outcomes.filter((o) => o.rejected).map((o) => o.report.id));
    const verified = new Set(outcomes.filter((o) => o.record || o.report.publishedStillVerifies).map((o) => o.report.id));
    // A rotation published (now or by a run that did not finish it) needs every Deployment started
    // after its publication: the apply restarts those that were not, with the checksum.
    const published = outcomes.flatMap((o) => (o.prepared?.state.phase === 'published' && o.prepared.state.publishedAt ? [Date.parse(o.prepared.state.publishedAt)] : []));
    const drain = opts.drain?.length ? { drain: new Set(opts.drain) } : {};
    const undrain = opts.undrain?.length ? { undrain: new Set(opts.undrain) } : {};
    const retired = lifecycle.retiring.size ? { retired: new Set(lifecycle.retiring.keys()) } : {};
    const deleted = lifecycle.deleted.size ? { deleted: lifecycle.deleted } : {};
    const controlPlane = await applyControlPlane(api, cfg, { records, rejected, verified, ...drain, ...undrain, ...retired, ...deleted }, {
      dryRun: run.dryRun,
      now: run.now,
      log,
      guard: labels.guard,
      ...(published.length ? { restartedSince: new Date(Math.max(...published)) } : {}),
    });
    if (controlPlane.contested) log.error('control plane contested: another writer keeps reverting clusters.yaml', { ...controlPlane.contested });
    for (const c of controlPlane.configMaps)
      if (c.disabledClusters.length) log.warn('data planes left the configuration; kept disabled', { configMap: c.name, clusterCount: c.disabledClusters.length, clusters: loggedIds(c.disabledClusters) });
    if (controlPlane.drift)
      log.error('clusters.yaml drifted from the configuration (mode gitops): commit the values below', { code: controlPlane.drift.code, drift: controlPlane.drift.items, values: controlPlane.drift.values });
    for (const o of controlPlane.owners ?? [])
      if (o.severity !== 'ok') log.warn('object managed by another tool', { object: o.object, owners: o.owners.map((x) => x.name), consequence: o.consequence, ...(o.advice ? { advice: o.advice } : {}) });
    const audit = run.dryRun ? undefined : await recordAudit(deps, api, controlPlane, records, run.id, run.now());
    return { controlPlane, ...(audit ? { audit } : {}) };
  } catch (err) {
    const controlPlaneError = { code: errorCode(err), reason: describeError(err), ...(err instanceof LabelRoutingError ? { refusedAssignments: err.problems.length } : {}) };
    log.error('control plane not updated', controlPlaneError);
    return { controlPlaneError };
  }
}

/**
 * The run's report: each data plane (retiring ones asked for included) with its drain, its
 * retirement and what the control plane holds for it; `ok` when nothing failed (a refused
 * configuration, drift and a contest included); logged and handed to the metrics sink.
 */
function report(
  deps: SyncDeps,
  run: Run,
  outcomes: DataPlaneOutcome[],
  { controlPlane, controlPlaneError, audit }: Applied,
  labelsOutcome: Awaited<ReturnType<LabelsStep['finish']>>,
  rotationError: SyncReport['rotationError'],
): SyncReport {
  const { config: cfg, log } = deps;
  const { opts, lifecycle } = run;
  const retireFailed = [...lifecycle.reports.values()].some((r) => r.error);
  const wanted = new Set((opts.clusters?.length ? opts.clusters : cfg.dataPlanes.map((d) => d.id)));
  // Not synced, reported with their retirement: retiring data planes, and deleted clusters (those
  // no longer configured too, whatever the run was asked).
  const synced = new Set(outcomes.map((o) => o.report.id));
  const configured = new Set(cfg.dataPlanes.map((d) => d.id));
  const clusters: ClusterReport[] = [
    ...outcomes.map((o) => o.report),
    ...[...lifecycle.reports.keys()]
      .filter((id) => !synced.has(id) && (lifecycle.retiring.has(id) || lifecycle.deleted.has(id)) && (wanted.has(id) || !configured.has(id)))
      .sort()
      .map((id): ClusterReport => {
        const retire = lifecycle.reports.get(id)!;
        return { id, status: retire.phase === 'retired' ? 'retired' : 'retiring', retire };
      }),
  ];
  for (const c of clusters) {
    const drain = lifecycle.drains.get(c.id);
    if (drain) c.drain = drain;
    const retire = lifecycle.reports.get(c.id);
    if (retire) c.retire = retire;
    const held = controlPlane?.published[c.id];
    if (!held) continue;
    c.published = held;
    if (c.status === 'failed') c.lastGoodKept = held.credential !== undefined;
    if (held.unrouted && held.keptInLabels.length)
      log.error('credential rejected, but kept in routing as the last enabled member of its labels', { cluster: c.id, labels: held.keptInLabels });
  }
  const ok =
    clusters.every((c) => c.status !== 'failed') &&
    !controlPlaneError &&
    !controlPlane?.drift &&
    (controlPlane?.restartFailures.length ?? 0) === 0 &&
    !controlPlane?.contested &&
    !rotationError &&
    !retireFailed &&
    !opts.configInfo?.refused &&
    !labelsOutcome.error &&
    (labelsOutcome.report?.ok ?? true);
  const out: SyncReport = {
    runId: run.id,
    ok,
    dryRun: run.dryRun,
    startedAt: run.started.toISOString(),
    durationMs: Math.round(performance.now() - run.t0),
    clusters,
    ...(controlPlane ? { controlPlane } : {}),
    ...(controlPlaneError ? { controlPlaneError } : {}),
    ...(audit && (audit.recorded.length || audit.failed.length) ? { audit } : {}),
    ...(labelsOutcome.report ? { labels: labelsOutcome.report } : {}),
    ...(labelsOutcome.error ? { labelsError: labelsOutcome.error } : {}),
    ...(rotationError ? { rotationError } : {}),
    ...(opts.discovery ? { discovery: opts.discovery } : {}),
    ...(opts.configInfo ? { config: opts.configInfo } : {}),
  };
  for (const s of opts.discovery?.skipped ?? []) log.warn('discovered cluster skipped', { ...s });
  const ids = (pick: (c: ClusterReport) => boolean) => clusters.filter(pick).map((c) => c.id);
  const updated = ids((c) => c.status === 'updated');
  const failed = ids((c) => c.status === 'failed');
  const rotating = clusters.filter((c) => c.rotation);
  log.info('sync finished', {
    runId: run.id,
    ok,
    dryRun: run.dryRun,
    counts: { clusters: clusters.length, updated: updated.length, failed: failed.length },
    updated: loggedIds(updated),
    failed: loggedIds(failed),
    restarted: controlPlane?.restarted ?? [],
    ...(rotating.length
      ? { generations: Object.fromEntries(rotating.slice(0, MAX_LOGGED_IDS).map((c) => [c.id, c.rotation!.generation])), rotated: loggedIds(ids((c) => c.rotation?.rotated === true)) }
      : {}),
    durationMs: out.durationMs,
  });
  deps.metrics?.(out);
  return out;
}

/**
 * Records the audit Events of an applied run. A failure is logged and reported (`audit.failed`),
 * not a failed run: the change itself is in place, and failing would only repeat it.
 */
async function recordAudit(
  deps: SyncDeps,
  api: ControlPlaneApi,
  cp: ControlPlaneReport,
  records: ReadonlyMap<string, CredentialRecord>,
  runId: string,
  time: Date,
): Promise<AuditReport> {
  const fps = new Map([...records].map(([id, r]) => [id, shortFingerprint(r.fingerprint)]));
  const out: AuditReport = { recorded: [], failed: [] };
  for (const e of auditEvents(deps.config.controlPlane, cp, fps, { runId, time })) {
    const what = `${e.reason} ${e.regarding.kind}/${e.regarding.name}`;
    try {
      await api.createEvent(e);
      out.recorded.push(what);
    } catch (err) {
      out.failed.push(`${what}: ${describeError(err)}`);
      deps.log.warn('audit Event not recorded', { runId, event: what, reason: describeError(err) });
    }
  }
  return out;
}

interface DataPlaneOutcome {
  report: ClusterReport;
  /** The credential verified and stored this run. */
  record?: CredentialRecord;
  prepared?: PreparedRotation;
  /** The credential the control plane would publish was rejected by its cluster. */
  rejected?: boolean;
}

async function syncDataPlane(
  deps: SyncDeps,
  dp: DataPlane,
  dryRun: boolean,
): Promise<DataPlaneOutcome> {
  const { log, store, config: cfg } = deps;
  let api: DataPlaneApi | undefined;
  let raw: Awaited<ReturnType<typeof readCredential>> | undefined;
  let early: EarlyVerification | undefined;
  try {
    api = await deps.dataPlane(dp);
    // The store's current record (from the run's batch read) may prove the identity of the token
    // read below, sparing its SelfSubjectReview (lib/dataplane/verify.ts). Unreadable: reviewed in
    // full (the put below reports why). Its access reviews are asked while the Secret is read, and
    // count only if the Secret holds the same bytes.
    const stored = await store.get(dp.id).catch(() => undefined);
    early = verifyEarly(deps.verify, dp, api.server, stored?.record);
    raw = await readCredential(dp, api, {
      waitSeconds: cfg.tokenWaitSeconds,
      dryRun,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    });
    if (raw.createdSecret) log.info('created token Secret', { cluster: dp.id, secret: `${dp.namespace}/${dp.tokenSecret}` });
    // The early answer judges the credential only if it could (lib/dataplane/verify.ts resultFor):
    // never one asked while the token Secret did not exist.
    const verifying = early?.resultFor(raw);
    if (!verifying) await early?.cancel();
    const { username, identityReviewed } =
      (await verifying) ?? (await verifyCredential(deps.verify, dp, api.server, raw, stored?.record, undefined, deps.sleep ? { sleep: deps.sleep } : {}));
    const record = makeRecord({
      clusterId: dp.id,
      endpoint: dp.flyteadminEndpoint ?? api.server,
      token: raw.token,
      caCert: raw.caCert,
      source: {
        server: api.server,
        namespace: dp.namespace,
        serviceAccount: dp.serviceAccount,
        secret: dp.tokenSecret,
        ...(raw.secretUid ? { secretUid: raw.secretUid } : {}),
      },
    });
    const put = await store.put(record, { dryRun });
    const report: ClusterReport = {
      id: dp.id,
      status: put.outcome === 'unchanged' ? 'unchanged' : 'updated',
      store: put.outcome,
      storeEntry: store.entryName(dp.id),
      ...(put.versionId ? { versionId: put.versionId } : {}),
      fingerprint: shortFingerprint(record.fingerprint),
      identity: username,
      identityReviewed,
      tokenSecretCreated: raw.createdSecret,
    };
    log.info('data plane synced', { cluster: dp.id, store: put.outcome, fingerprint: report.fingerprint, identity: identityReviewed ? 'reviewed' : 'proven by the stored record' });
    return { report, record };
  } catch (err) {
    await early?.cancel();
    const reason = describeError(err);
    log.error('data plane failed', { cluster: dp.id, code: errorCode(err), reason });
    const report: ClusterReport = { id: dp.id, status: 'failed', code: errorCode(err), reason };
    if (!(err instanceof CredentialRejectedError) || !api) return { report };
    // The credential read now was rejected. Is it the one the control plane publishes? A stored
    // credential that differs (the token Secret was replaced or tampered with) is checked on its
    // own: if it still verifies, it stays published and routed.
    if (await storedStillVerifies(deps, dp, api.server, raw && fingerprint(raw.token, raw.caCert))) {
      log.warn('the published credential still verifies; it stays', { cluster: dp.id });
      return { report: { ...report, publishedStillVerifies: true } };
    }
    return { report, rejected: true };
  }
}

/** Whether the stored credential differs from the one just rejected and verifies by itself. */
async function storedStillVerifies(deps: SyncDeps, dp: DataPlane, server: string, rejectedFingerprint?: string): Promise<boolean> {
  try {
    const stored = await deps.store.get(dp.id);
    if (!stored || stored.record.fingerprint === rejectedFingerprint) return false;
    // The store's current record: its identity was proven when it was made current (no SelfSubjectReview).
    await verifyCredential(deps.verify, dp, server, stored.record, stored.record);
    return true;
  } catch {
    return false; // unreadable, or rejected too (or the cluster stopped answering): treat as rejected
  }
}
