/**
 * What a run measures, the same on every platform: {@link runMetrics} turns a report into the
 * metrics below; each platform publishes them its own way (Lambda: CloudWatch embedded metric
 * format through Powertools Metrics, ./lambda/metrics.ts; Cloud Functions: one structured log
 * entry, ./gcf/metrics.ts; the CLI: none, its report is the output).
 *
 * | metric                   | unit         | value                                                  |
 * |--------------------------|--------------|--------------------------------------------------------|
 * | `DataPlanesUpdated`      | Count        | data planes whose credential changed (new store version) |
 * | `DataPlanesUnchanged`    | Count        | data planes verified, nothing to change                 |
 * | `DataPlanesFailed`       | Count        | data planes that failed (their last good credential stays) |
 * | `DeploymentsRestarted`   | Count        | Deployments rollout-restarted                           |
 * | `ControlPlaneWritten`    | Count        | 1 when the Secret or a ConfigMap was written            |
 * | `RunFailed`              | Count        | 1 when the run is not ok (any failure), else 0          |
 * | `RunDuration`            | Milliseconds | the run's wall time                                     |
 * | `ControlPlaneRevertsRepaired` | Count   | objects (the Secret, a ConfigMap) whose revert of credsync's content by another writer this run repaired (lib/controlplane/content.ts) |
 * | `ControlPlaneContested`  | Count        | 1 when another writer reverted credsync's content more than `controlPlane.maxRepairsPerHour` times within the hour (the run fails with CONTROL_PLANE_CONTESTED), else 0 |
 * | `DataPlanesRotated`      | Count        | data planes whose credential rotated to a new generation (lib/rotation) |
 * | `RotationsOverdue`       | Count        | rotating data planes whose next rotation was already due when the run ended: a credential older than its schedule allows |
 * | `OldestCredentialAgeSeconds` | Seconds  | age of the oldest live generation among rotating data planes (only when one rotates) |
 * | `LabelRowsApplied`       | Count        | execution-cluster label rows written to FlyteAdmin (lib/labels) |
 * | `LabelRowsUnchanged`     | Count        | configured label rows FlyteAdmin already held                |
 * | `LabelRowsForeign`       | Count        | label rows in FlyteAdmin the configuration does not list (left alone) |
 * | `LabelRoutingRefusals`   | Count        | label assignments the routing guard refused (the control plane was not written) |
 * | `ControlPlaneDrift`      | Count        | mode gitops: differences between the ConfigMaps' clusters.yaml and the configured rendering (0: none) |
 * | `DataPlanesDraining`     | Count        | data planes draining (lib/lifecycle/drain.ts; only when one drains) |
 * | `DrainingUnfinishedExecutions` | Count  | unfinished executions counted on the draining data planes (only when one drains) |
 *
 * The four label metrics are published when labels ran: the labels step reported (or failed), or
 * the routing guard refused the control-plane write.
 *
 * `ControlPlaneDrift` is published in mode gitops only, on every run that read the control plane.
 * `ControlPlaneRevertsRepaired` and `ControlPlaneContested` are published on every run that read
 * the control plane (0 when nothing was reverted), so that an alarm on them sees a steady series.
 *
 * A dry run publishes nothing: it changes nothing and would blur the alarms.
 */
import type { SyncReport } from '../sync/sync.ts';

export type MetricUnit = 'Count' | 'Milliseconds' | 'Seconds';

export interface RunMetric {
  name: string;
  unit: MetricUnit;
  value: number;
}

/** Publishes one run's metrics (a platform's sink). Must not throw. */
export type MetricsSink = (report: SyncReport) => void;

/** The metrics of one run (see the table above); empty for a dry run. */
export function runMetrics(r: SyncReport): RunMetric[] {
  if (r.dryRun) return [];
  const count = (status: string) => r.clusters.filter((c) => c.status === status).length;
  return [
    { name: 'DataPlanesUpdated', unit: 'Count', value: count('updated') },
    { name: 'DataPlanesUnchanged', unit: 'Count', value: count('unchanged') },
    { name: 'DataPlanesFailed', unit: 'Count', value: count('failed') },
    { name: 'DeploymentsRestarted', unit: 'Count', value: r.controlPlane?.restarted.length ?? 0 },
    { name: 'ControlPlaneWritten', unit: 'Count', value: r.controlPlane?.applied ? 1 : 0 },
    { name: 'RunFailed', unit: 'Count', value: r.ok ? 0 : 1 },
    { name: 'RunDuration', unit: 'Milliseconds', value: r.durationMs },
    ...contestMetrics(r),
    ...rotationMetrics(r),
    ...labelMetrics(r),
    ...(r.controlPlane?.mode === 'gitops' ? [{ name: 'ControlPlaneDrift', unit: 'Count' as const, value: r.controlPlane.drift?.count ?? 0 }] : []),
    ...drainMetrics(r),
  ];
}

function contestMetrics(r: SyncReport): RunMetric[] {
  const cp = r.controlPlane;
  if (!cp) return [];
  return [
    { name: 'ControlPlaneRevertsRepaired', unit: 'Count', value: (cp.replaced ?? []).filter((x) => x.repairs !== undefined).length },
    { name: 'ControlPlaneContested', unit: 'Count', value: cp.contested ? 1 : 0 },
  ];
}

function drainMetrics(r: SyncReport): RunMetric[] {
  const drains = r.clusters.flatMap((c) => (c.drain ? [c.drain] : []));
  if (!drains.length) return [];
  return [
    { name: 'DataPlanesDraining', unit: 'Count', value: drains.length },
    { name: 'DrainingUnfinishedExecutions', unit: 'Count', value: drains.reduce((a, d) => a + (d.unfinished ?? 0), 0) },
  ];
}

function labelMetrics(r: SyncReport): RunMetric[] {
  const refused = r.controlPlaneError?.refusedAssignments ?? 0;
  if (!r.labels && !r.labelsError && !refused) return [];
  const changes = r.labels?.changes ?? [];
  return [
    { name: 'LabelRowsApplied', unit: 'Count', value: r.labels?.written.length ?? 0 },
    { name: 'LabelRowsUnchanged', unit: 'Count', value: changes.filter((c) => c.action === 'unchanged').length },
    { name: 'LabelRowsForeign', unit: 'Count', value: r.labels?.foreign.length ?? 0 },
    { name: 'LabelRoutingRefusals', unit: 'Count', value: refused },
  ];
}

function rotationMetrics(r: SyncReport): RunMetric[] {
  const rotating = r.clusters.flatMap((c) => (c.rotation ? [c.rotation] : []));
  if (!rotating.length) return [];
  const end = Date.parse(r.startedAt) + r.durationMs;
  const issued = rotating.flatMap((x) => (x.issuedAt ? [Date.parse(x.issuedAt)] : []));
  return [
    { name: 'DataPlanesRotated', unit: 'Count', value: rotating.filter((x) => x.rotated).length },
    { name: 'RotationsOverdue', unit: 'Count', value: rotating.filter((x) => x.dueAt !== undefined && Date.parse(x.dueAt) <= end).length },
    ...(issued.length ? [{ name: 'OldestCredentialAgeSeconds', unit: 'Seconds' as const, value: Math.max(0, Math.round((end - Math.min(...issued)) / 1000)) }] : []),
  ];
}
