/**
 * Retiring drained data planes (docs/data-plane-lifecycle.md), in two halves around the sync's
 * control-plane apply. The phase lives on the store entry (./state.ts), so a run killed at any step
 * is finished by the next one.
 *
 * Before the data planes are synced, {@link planLifecycle} reads which data planes drain (the
 * ConfigMaps' draining annotation and the configuration), counts each one's unfinished executions
 * (./drain.ts) and decides to retire one when
 *   - nothing is unfinished there and the drain is in effect (flyteadmin and syncresources rolled
 *     out since it began, so no new execution can have gone there), or
 *   - `credsync retire --force`, or its `maxDrainTime` elapsed: reported as forced, with the count.
 * A decision is the marker `phase=retiring`, written before anything else. A retiring data plane is
 * no longer synced, and the apply renders the control plane without it (entry, labels, Secret keys)
 * and restarts the Deployments.
 *
 * A data plane whose cluster was deleted (the cluster-deleted event wrote `phase=draining
 * reason=deleted` on its store entry first: lib/runtime/clusterDeleted.ts) drains, is no longer
 * synced, and stays draining in the ConfigMaps' annotation even once discovery no longer finds it
 * (then it is not configured: its id and the annotation are all that is left). It retires, reason
 * `deleted`, once the drain is in effect, whatever ran there: its executions went with the cluster.
 *
 * After the apply, {@link finishRetirements} waits for that rollout (every Deployment restarted at
 * or after the decision, no old pod left), then revokes its credential on the data plane (the token
 * Secret, or the current and previous generations' objects of a rotating one; skipped, and said,
 * when the data plane does not answer), then schedules the store entry's deletion with a recovery
 * window. Never a revoke before the rollout: flyteadmin holds the token it read at start-up.
 */
import type { Config, DataPlane } from '../config/schema.ts';
import { drainingSince } from '../controlplane/apply.ts';
import { parseDrainList } from '../controlplane/render.ts';
import { CredsyncError, describeError, errorCode } from '../errors.ts';
import type { ConfigMapObject, ControlPlaneApi, RolloutApi, RotationDataPlaneApi } from '../kube/ports.ts';
import type { ApplyInput } from '../controlplane/apply.ts';
import { configChecksum, CONFIG_CHECKSUM_ANNOTATION } from '../controlplane/restart.ts';
import { isEnabledEntry } from '../controlplane/labels.ts';
import { clustersOf } from '../labels/guard.ts';
import { canRotate } from '../stores/types.ts';
import { rolloutGap, waitForRollouts } from '../rotation/rollout.ts';
import { timeLeft } from '../util/abort.ts';
import { mapBounded, type Log } from '../util/log.ts';
import type { SyncDeps } from './types.ts';
import { drainDeadline, type DrainReport } from '../lifecycle/drain.ts';
import { unfinishedExecutions } from '../lifecycle/executions.ts';
import type { RetireReport, RetireRequest } from '../lifecycle/reports.ts';
import { isDeletedDrain, isLifecycleStore, type LifecycleStore, type LifecycleView, type RetireState } from '../stores/lifecycle.ts';
import { boundedList } from '../util/bounded.ts';

export type { RetireReport, RetireRequest };

export interface LifecyclePlan {
  /** Draining data planes and since when (as the control plane holds it now, with this run's requests). */
  draining: Map<string, string>;
  /** Each draining data plane's executions (not for those already retiring). */
  drains: Map<string, DrainReport>;
  /** Data planes retiring (decided now or earlier), with their state. */
  retiring: Map<string, RetireState>;
  /**
   * Data planes whose cluster was deleted and that are not retired yet (configured or not): kept
   * draining in the annotation; those not retiring yet are not synced either.
   */
  deleted: Set<string>;
  reports: Map<string, RetireReport>;
}

const empty = (): LifecyclePlan => ({ draining: new Map(), drains: new Map(), retiring: new Map(), deleted: new Set(), reports: new Map() });

function hasRollouts(api: unknown): api is RolloutApi {
  return typeof (api as Partial<RolloutApi>)?.getDeployment === 'function' && typeof (api as Partial<RolloutApi>).listPods === 'function';
}

/**
 * The first half (see the module header): which data planes drain and retire this run.
 *
 * @throws CredsyncError `DATA_PLANE_NOT_DRAINING` when `retire` names a data plane that does not
 *   drain (before anything is written)
 */
export async function planLifecycle(
  deps: SyncDeps,
  opts: { dryRun: boolean; drain?: readonly string[]; undrain?: readonly string[]; retire?: RetireRequest; deleted?: readonly string[] },
): Promise<LifecyclePlan> {
  const { config: cfg, log } = deps;
  const now = deps.now ?? (() => new Date());
  const plan = empty();
  const cp = cfg.controlPlane;
  const configDrains = cfg.dataPlanes.some((d) => d.state === 'draining');
  if (cp.mode === 'gitops') {
    // The chart's ConfigMaps hold routing: a drain could not take the data plane out of it.
    if (opts.drain?.length || opts.undrain?.length || opts.retire || opts.deleted?.length || configDrains)
      throw new CredsyncError('UNSUPPORTED', 'controlPlane.mode gitops: draining and retiring a data plane are not supported (the chart owns clusters.yaml); take it out of the chart values instead');
    return plan;
  }
  let cms: ConfigMapObject[];
  let api: Awaited<ReturnType<SyncDeps['controlPlane']>>;
  try {
    api = await deps.controlPlane();
    cms = (await Promise.all(cp.configMaps.map((n) => api.getConfigMap(cp.namespace, n)))).filter((c): c is ConfigMapObject => !!c);
  } catch (err) {
    // The apply reads them again and reports why it could not.
    if (opts.retire || opts.deleted?.length) throw err;
    log.warn('cannot read which data planes drain; none retires this run', { code: errorCode(err), reason: describeError(err) });
    return plan;
  }
  const store = isLifecycleStore(deps.store) ? deps.store : undefined;
  const configured = new Map(cfg.dataPlanes.map((d) => [d.id, d]));
  const annotated = new Set(cms.flatMap((cm) => [...parseDrainList(cm.annotations).keys()]));
  const recorded = new Set(cms.flatMap((cm) => [...parseDrainList(cm.annotations)].filter(([, t]) => t).map(([id]) => id)));
  // Deleted clusters no longer configured (discovery lost them): their store entries say whether
  // they still drain (read only for those the annotation or this run names: a few, and only until retired).
  // (And those asked to stop draining: a deleted cluster's drain cannot be cancelled.)
  const views = new Map<string, LifecycleView | undefined>();
  const unreadable = new Map<string, DrainReport['error']>();
  const ghosts = [...new Set([...annotated, ...(opts.deleted ?? [])])].filter((id) => !configured.has(id));
  if (store)
    await mapBounded([...ghosts, ...(opts.undrain ?? []).filter((id) => configured.has(id))], cfg.concurrency, async (id) => {
      try {
        views.set(id, await store.lifecycle(id));
      } catch (err) {
        // Kept draining (it may be a deleted cluster's), and reported; the next run reads it again.
        if (!configured.has(id)) plan.deleted.add(id);
        unreadable.set(id, { code: errorCode(err), reason: describeError(err) });
      }
    });
  for (const [id, v] of views) if (v?.state?.reason === 'deleted' && !(v.state.phase === 'deleting' && v.scheduledDeletion)) plan.deleted.add(id);
  for (const id of opts.deleted ?? []) if (configured.has(id)) plan.deleted.add(id);
  const drainInput = (extra: Pick<ApplyInput, 'drain' | 'undrain'>): Pick<ApplyInput, 'drain' | 'undrain' | 'deleted'> => ({ ...extra, ...(plan.deleted.size ? { deleted: plan.deleted } : {}) });
  const before = drainingSince(cfg, cms, drainInput({}), '');
  plan.draining = drainingSince(cfg, cms, drainInput({ ...(opts.drain ? { drain: new Set(opts.drain) } : {}), ...(opts.undrain ? { undrain: new Set(opts.undrain) } : {}) }), now().toISOString());
  for (const [id, error] of unreadable) if (plan.draining.has(id)) plan.drains.set(id, { since: plan.draining.get(id)!, ...(error ? { error } : {}) });
  const notDraining = (opts.retire?.clusters ?? []).filter((id) => !before.has(id));
  if (notDraining.length)
    throw new CredsyncError('DATA_PLANE_NOT_DRAINING', `cannot retire ${boundedList(notDraining)}: not draining (drain it first: credsync drain --cluster ID, or state: draining in the configuration)`);
  // A deleted cluster's data plane that has finished retiring: reported, no longer kept.
  for (const [id, v] of views) if (v?.state?.reason === 'deleted' && v.state.phase === 'deleting' && v.scheduledDeletion) {
    plan.retiring.set(id, v.state);
    plan.reports.set(id, reportOf(v.state, v.scheduledDeletion));
  }
  if (!plan.draining.size && !configDrains) return plan;
  const forced = new Set(opts.retire?.force ? opts.retire.clusters : []);

  await mapBounded([...plan.draining.keys()].filter((id) => configured.has(id) || (views.has(id) && !unreadable.has(id))), cfg.concurrency, async (id) => {
    const dp = configured.get(id);
    const since = plan.draining.get(id)!;
    const drain: DrainReport = { since };
    let view: LifecycleView | undefined;
    try {
      view = views.has(id) ? views.get(id) : await store?.lifecycle(id);
      if (view?.state && !isDeletedDrain(view.state)) {
        plan.retiring.set(id, view.state);
        plan.reports.set(id, reportOf(view.state, view.scheduledDeletion));
        return;
      }
    } catch (err) {
      drain.error = { code: errorCode(err), reason: describeError(err) };
      plan.drains.set(id, drain);
      return;
    }
    const at = now().toISOString();
    let decision: RetireState | undefined;
    if (isDeletedDrain(view?.state)) {
      // Its cluster was deleted: nothing to count or wait for but the drain itself.
      const deleted = view!.state!;
      plan.deleted.add(id);
      drain.clusterDeleted = { at: deleted.at, ...(deleted.forced !== undefined ? { unfinished: deleted.forced } : {}) };
      plan.drains.set(id, drain);
      plan.reports.set(id, reportOf(deleted));
      if (!recorded.has(id) || !store) return;
      if (forced.has(id) || (await drainInEffect(api, cfg, id, since, cms, log))) decision = { phase: 'retiring', at, reason: 'deleted', ...(deleted.forced !== undefined ? { forced: deleted.forced } : {}) };
    } else {
      if (!dp) return; // a data plane that left the configuration, its cluster not deleted: kept disabled, as always
      const deadline = drainDeadline(dp, since);
      if (deadline && deadline <= now()) drain.maxDrainTimeElapsed = true;
      try {
        const s = await unfinishedExecutions(await deps.dataPlane(dp), now());
        drain.unfinished = s.unfinished;
        drain.executions = s.executions;
      } catch (err) {
        drain.error = { code: errorCode(err), reason: describeError(err) };
        log.warn('cannot count the executions of a draining data plane', { cluster: id, ...drain.error });
      }
      plan.drains.set(id, drain);
      // Only a drain recorded before this run (on the control plane, with its start) can be in effect.
      if (!recorded.has(id) || !store) return;
      if (forced.has(id)) decision = { phase: 'retiring', at, reason: 'force', ...(drain.unfinished !== undefined ? { forced: drain.unfinished } : {}) };
      else if (drain.maxDrainTimeElapsed && drain.unfinished !== 0) decision = { phase: 'retiring', at, reason: 'maxDrainTime', ...(drain.unfinished !== undefined ? { forced: drain.unfinished } : {}) };
      else if (drain.unfinished === 0 && (await drainInEffect(api, cfg, id, since, cms, log))) decision = { phase: 'retiring', at };
    }
    if (!decision) return;
    if (opts.dryRun) {
      plan.reports.set(id, { ...reportOf(decision), wouldRetire: true });
      return;
    }
    try {
      await store!.setLifecycle(id, decision);
    } catch (err) {
      plan.reports.set(id, { ...reportOf(decision), error: { code: errorCode(err), reason: describeError(err) } });
      return;
    }
    log.info('retiring data plane', { cluster: id, ...(decision.reason ? { forced: decision.reason, unfinished: decision.forced } : {}) });
    plan.retiring.set(id, decision);
    plan.reports.set(id, reportOf(decision));
  });
  return plan;
}

/** Whether flyteadmin and syncresources run on a configuration from after `since` (the drain's start). */
/**
 * Whether no new execution can go to data plane `id`: flyteadmin and syncresources were restarted
 * since the drain began (`since`) and rolled out, or (a drain that changed nothing they read: the
 * data plane was already disabled and in no label) they run what the control plane holds now, in
 * which it is disabled and in no label, rolled out with no older pod left.
 */
async function drainInEffect(api: unknown, cfg: Config, id: string, since: string, cms: readonly ConfigMapObject[], log: Log): Promise<boolean> {
  if (!hasRollouts(api)) return false;
  const cp = cfg.controlPlane;
  const gaps = new Map<string, string>();
  for (const name of cp.deployments) {
    const gap = await rolloutGap(api, cp.namespace, name, new Date(since));
    if (gap) gaps.set(name, gap);
  }
  if (!gaps.size) return true;
  const held = clustersOf(cms[0]?.data[cp.configKey]);
  const entry = (Array.isArray(held['clusterConfigs']) ? (held['clusterConfigs'] as Array<{ name?: unknown }>) : []).find((e) => e?.name === id);
  const routed = isEnabledEntry(entry) || Object.values((held['labelClusterMap'] ?? {}) as Record<string, unknown>).some((ms) => Array.isArray(ms) && ms.some((m) => (m as { id?: unknown } | null)?.id === id));
  if (!routed && cms.length === cp.configMaps.length) {
    const ctl = api as unknown as Pick<ControlPlaneApi, 'getSecret' | 'getDeploymentTemplate'>;
    const secret = await ctl.getSecret(cp.namespace, cp.credentialsSecret);
    const sum = configChecksum({ secretData: secret?.data ?? {}, clustersYaml: Object.fromEntries(cms.map((c) => [c.name, c.data[cp.configKey] ?? ''])) });
    let current = true;
    for (const name of cp.deployments) {
      const t = await ctl.getDeploymentTemplate(cp.namespace, name);
      if (t?.templateAnnotations[CONFIG_CHECKSUM_ANNOTATION] !== sum || (await rolloutGap(api, cp.namespace, name))) current = false;
    }
    if (current) return true;
  }
  log.info('drain not in effect yet', { cluster: id, waitingFor: [...gaps].map(([n, g]) => `${n}: ${g}`).join('; ') });
  return false;
}

function reportOf(s: RetireState, scheduledDeletion?: string): RetireReport {
  return {
    phase: s.phase === 'deleting' && scheduledDeletion ? 'retired' : s.phase,
    decidedAt: s.at,
    ...(s.reason ? { forced: { reason: s.reason, ...(s.forced !== undefined ? { unfinished: s.forced } : {}) } } : {}),
    ...(s.revoke ? { revoke: s.revoke } : {}),
    ...(scheduledDeletion ? { deletionDate: scheduledDeletion } : {}),
  };
}

/** The objects whose deletion revokes a data plane's credentials: the token Secret, and every generation's object the store knows. */
async function revokeObjects(deps: SyncDeps, dp: DataPlane): Promise<string[]> {
  const names = new Set([dp.tokenSecret]);
  if (canRotate(deps.store)) {
    const v = await deps.store.view(dp.id);
    for (const s of [v?.current, v?.previous, v?.pending]) {
      const g = s?.record.generation;
      if (g) names.add(g.object);
    }
  }
  return [...names].sort();
}

function isUnreachable(err: unknown): boolean {
  return errorCode(err) === 'CLUSTER_UNREACHABLE';
}

/**
 * The second half (see the module header), after a successful apply: each retiring data plane's
 * rollout, revoke and scheduled deletion, each step recorded before the next.
 * A step that fails is reported on the data plane; the next run resumes there. The rollout wait
 * ends by the invocation's deadline at the latest.
 */
export async function finishRetirements(deps: SyncDeps, plan: LifecyclePlan): Promise<void> {
  if (!plan.retiring.size) return;
  const { config: cfg, log } = deps;
  const now = deps.now ?? (() => new Date());
  const store = deps.store as unknown as LifecycleStore;
  const cp = cfg.controlPlane;
  const byId = new Map(cfg.dataPlanes.map((d) => [d.id, d]));
  for (const [id, initial] of plan.retiring) {
    const report = plan.reports.get(id)!;
    if (report.phase === 'retired') continue; // nothing left: a later run writes nothing
    let state = initial;
    const dp = byId.get(id);
    try {
      if (state.phase === 'retiring') {
        // flyteadmin must have restarted onto the configuration without it: it holds the token it read at start-up.
        const api = await (deps.rotation?.controlPlane ?? deps.controlPlane)();
        if (!hasRollouts(api)) throw new CredsyncError('UNSUPPORTED', 'the control-plane connection cannot wait for rollouts');
        const timeoutMs = Math.max(0, Math.min(cfg.lifecycle.rolloutTimeoutSeconds * 1000, timeLeft()));
        const r = await waitForRollouts(api, cp.namespace, cp.deployments, { timeoutMs, restartedSince: new Date(state.at), now: () => now().getTime(), ...(deps.sleep ? { sleep: deps.sleep } : {}) });
        if (!r.complete)
          throw new CredsyncError('ROLLOUT_INCOMPLETE', `rollout not complete after ${Math.round(r.waitedMs / 1000)} s (${r.deployments.filter((d) => !d.complete).map((d) => `${d.name}: ${d.waitingFor}`).join('; ')}); nothing revoked, the next run resumes`);
        let revoke: 'done' | 'skipped' = 'done';
        const skip = (why: string) => {
          revoke = 'skipped';
          report.revokeSkipped = why;
          log.warn('retired without revoking', { cluster: id, reason: why });
        };
        if (!dp) skip('its cluster was deleted and is no longer discovered: nothing left to reach');
        else {
          const objects = await revokeObjects(deps, dp);
          try {
            const api: Partial<RotationDataPlaneApi> = await (deps.rotation?.dataPlane ?? deps.dataPlane)(dp);
            if (!api.deleteSecret) throw new CredsyncError('UNSUPPORTED', 'this data-plane connection cannot delete Secrets');
            for (const name of objects) await api.deleteSecret(dp.namespace, name);
            report.revokedObjects = objects.map((n) => `${dp.namespace}/${n}`);
          } catch (err) {
            // A deleted cluster that still answers is revoked; one that does not (in any way) is gone.
            if (!isUnreachable(err) && state.reason !== 'deleted') throw err;
            skip(`the data plane did not answer${state.reason === 'deleted' ? ' (its cluster was deleted)' : ''}: ${describeError(err)}`);
          }
        }
        state = { ...state, phase: 'revoked', revoke };
        await store.setLifecycle(id, state);
        report.revoke = revoke;
        report.phase = 'revoked';
      }
      const days = cfg.lifecycle.recoveryWindowDays;
      if (state.phase === 'revoked') {
        state = { ...state, phase: 'deleting', deleteAfter: new Date(now().getTime() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z') };
        await store.setLifecycle(id, state);
      }
      report.deletionDate = await store.scheduleDeletion(id, days, now());
      report.phase = 'retired';
      log.info('data plane retired', { cluster: id, revoke: state.revoke, deletionDate: report.deletionDate });
    } catch (err) {
      report.error = { code: errorCode(err), reason: describeError(err) };
      log.error('retirement not finished; the next run resumes', { cluster: id, ...report.error });
    }
  }
}

