/**
 * Execution labels as flyteadmin resolves them, and the guard that no label is ever emptied
 * silently. flyteadmin (v1.16.8) skips a labelClusterMap member that names a disabled or unknown
 * cluster; a label left with no enabled member is dropped, and executions asking for it go to
 * every enabled cluster with equal weight, without any error (Flyte facts, "Checked by running
 * flyteadmin's own code"). So a change that leaves a label that had an enabled member
 * with none is refused unless the label is explicitly retired.
 */
import { CredsyncError } from '../errors.ts';
import { boundedList, echo, MAX_ECHO_ITEMS } from '../util/bounded.ts';

/** The parts of clusters.yaml's `clusters` mapping that routing depends on. */
export interface RoutingView {
  labelClusterMap?: Record<string, Array<{ id?: unknown }>> | unknown;
  clusterConfigs?: unknown;
}

/**
 * Whether flyteadmin counts a clusterConfigs entry as enabled: `enabled: true`, and nothing else
 * (an `inCluster: true` entry too needs it; flyteadmin's NewListTargets keeps a target valid only
 * when its config's Enabled is set, pkg/executioncluster/impl/list_targets.go).
 */
export function isEnabledEntry(e: unknown): boolean {
  if (!e || typeof e !== 'object') return false;
  return (e as { enabled?: unknown }).enabled === true;
}

/**
 * Each label's enabled members (ids, in order), as flyteadmin sees them: members naming an
 * unknown or disabled cluster are left out; a label with none is absent from the map. The one
 * rule of "does this label route" (the routing guard, lib/labels/guard.ts, uses it too).
 */
export function enabledLabelMembers(clusters: RoutingView): Map<string, string[]> {
  const configs = Array.isArray(clusters.clusterConfigs) ? (clusters.clusterConfigs as unknown[]) : [];
  const enabled = new Set(configs.filter(isEnabledEntry).map((e) => (e as { name?: unknown }).name));
  const out = new Map<string, string[]>();
  const map = clusters.labelClusterMap;
  if (!map || typeof map !== 'object') return out;
  for (const [label, members] of Object.entries(map as Record<string, unknown>)) {
    if (!Array.isArray(members)) continue;
    const ids = members.map((m) => (m as { id?: unknown } | null)?.id).filter((id): id is string => typeof id === 'string' && enabled.has(id));
    if (ids.length) out.set(label, ids);
  }
  return out;
}

/** Labels that had at least one enabled member in `before` and have none in `after`, sorted. */
export function emptiedLabels(before: RoutingView, after: RoutingView): string[] {
  const was = enabledLabelMembers(before);
  const now = enabledLabelMembers(after);
  return [...was.keys()].filter((l) => !now.has(l)).sort();
}

/**
 * Refuses a routing change that empties a label (see the module header).
 *
 * @param opts.retired labels the user retired on purpose (`controlPlane.retiredLabels`): allowed to empty
 * @param opts.where what is being changed, for the message (e.g. the ConfigMap)
 * @throws CredsyncError `LABEL_WOULD_EMPTY`, naming each label and the members it had
 */
export function assertNoEmptiedLabels(before: RoutingView, after: RoutingView, opts: { retired?: ReadonlySet<string>; where: string }): void {
  const was = enabledLabelMembers(before);
  const emptied = emptiedLabels(before, after).filter((l) => !opts.retired?.has(l));
  if (!emptied.length) return;
  const detail = emptied.slice(0, MAX_ECHO_ITEMS).map((l) => `"${echo(l, 100)}" (had ${boundedList(was.get(l)!)})`).join('; ') + (emptied.length > MAX_ECHO_ITEMS ? `; and ${emptied.length - MAX_ECHO_ITEMS} more` : '');
  throw new CredsyncError(
    'LABEL_WOULD_EMPTY',
    `${opts.where}: refusing to leave label(s) ${detail} with no enabled cluster: flyteadmin would drop the label and send its executions to every enabled cluster. Keep an enabled data plane in it, or list it in controlPlane.retiredLabels to retire it`,
  );
}
