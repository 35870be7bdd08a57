/**
 * The routing guard: flyteadmin silently sends executions whose execution-cluster label has no
 * enabled cluster (undefined in labelClusterMap, every member disabled or missing from
 * clusterConfigs, or a label with upper-case letters, which viper lower-cases away) to EVERY enabled
 * cluster. The guard finds such labels before anything is written. Pure functions, no I/O.
 */
import { parse as parseYaml } from 'yaml';
import type { RoutingProblem } from './errors.ts';
import type { LabelAttribute } from './admin.ts';
import type { LabelAssignment } from '../config/labels.ts';
import { scopeKey } from '../config/labels.ts';
import { enabledLabelMembers } from '../controlplane/labels.ts';
import type { YamlParse } from '../controlplane/render.ts';
import { boundedList } from '../util/bounded.ts';

/** A label in use somewhere, and where. */
export interface AssignedLabel {
  scope: string;
  label: string;
  source: RoutingProblem['source'];
}

/** The assignments of the configuration and the rows found in FlyteAdmin, as the guard sees them. */
export function assignedLabels(configured: readonly LabelAssignment[], found: readonly LabelAttribute[] = []): AssignedLabel[] {
  const out: AssignedLabel[] = configured.map((a) => ({ scope: scopeKey(a), label: a.label, source: 'configuration' }));
  const mine = new Set(out.map((a) => a.scope));
  for (const r of found) {
    const scope = rowScope(r);
    if (!mine.has(scope)) out.push({ scope, label: r.label, source: 'flyteadmin' });
  }
  return out;
}

/** A FlyteAdmin row's scope: project[/domain][/workflow][/launch plan], `*` for an unset level. */
export function rowScope(r: LabelAttribute): string {
  const parts = [r.project || '*', r.domain || '*'];
  if (r.workflow) parts.push(r.workflow);
  if (r.launchPlan) parts.push(r.launchPlan);
  return parts.join('/');
}

/**
 * The `clusters` mapping of a clusters.yaml text ({} when absent or unreadable: then nothing routes).
 *
 * @param parse parses the text (default: `yaml`'s parse; a control-plane plan passes its own, which
 *   parses each text once: the result is only read)
 */
export function clustersOf(text: string | undefined, parse: YamlParse = parseYaml): Record<string, unknown> {
  try {
    const doc = text ? (parse(text) as { clusters?: unknown }) : undefined;
    const c = doc?.clusters;
    return c && typeof c === 'object' && !Array.isArray(c) ? (c as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Why `label` routes nowhere in `clusters` (flyteadmin's own rules), or undefined when it routes.
 * Whether a label has an enabled member is decided by lib/controlplane/labels.ts
 * (enabledLabelMembers), the same rule the "never empty a label" check uses.
 */
export function unroutable(clusters: Record<string, unknown>, label: string): string | undefined {
  if (label !== label.toLowerCase())
    return 'it has upper-case letters: flyteadmin reads labelClusterMap keys lower-cased, so it can never match';
  const map = (clusters['labelClusterMap'] ?? {}) as Record<string, unknown>;
  const members = map[label];
  if (!Array.isArray(members)) {
    const defined = Object.keys(map).sort();
    return `clusters.yaml does not define it (labelClusterMap has ${defined.length ? boundedList(defined) : 'no labels'})`;
  }
  if (enabledLabelMembers(clusters).has(label)) return undefined;
  // Why not, member by member.
  const configs = Array.isArray(clusters['clusterConfigs']) ? (clusters['clusterConfigs'] as Array<{ name?: unknown }>) : [];
  const known = new Set(configs.map((c) => String(c?.name)));
  const ids = members.map((m) => String((m as { id?: unknown })?.id));
  const why = ids.map((id) => `${id} ${known.has(id) ? 'disabled' : 'not in clusterConfigs'}`);
  return `no enabled cluster carries it (${why.length ? boundedList(why) : 'no members'})`;
}

export interface GuardResult {
  /** Assignments this clusters.yaml would break: the write must be refused. */
  refused: RoutingProblem[];
  /** Assignments found in FlyteAdmin that were already unroutable before this write (reported only). */
  alreadyBroken: RoutingProblem[];
}

/**
 * Checks every assigned label, and `defaultExecutionLabel`, against the clusters.yaml about to be
 * written. A configured assignment that does not route is refused. A label found in FlyteAdmin is
 * refused when this write breaks it; when it did not route before either (`before`), it is only
 * reported: refusing would stop credential rotation over a problem the write does not cause.
 *
 * @param next the `clusters` mapping about to be written
 * @param before the `clusters` mapping there now (undefined: none)
 */
export function checkRouting(next: Record<string, unknown>, assigned: readonly AssignedLabel[], before?: Record<string, unknown>): GuardResult {
  const refused: RoutingProblem[] = [];
  const alreadyBroken: RoutingProblem[] = [];
  const def = next['defaultExecutionLabel'];
  const all: AssignedLabel[] = [...assigned];
  if (typeof def === 'string' && def) all.push({ scope: 'defaultExecutionLabel', label: def, source: 'configuration' });
  for (const a of all) {
    const reason = unroutable(next, a.label);
    if (!reason) continue;
    const problem: RoutingProblem = { scope: a.scope, label: a.label, source: a.source, reason };
    if (a.source === 'flyteadmin' && (!before || unroutable(before, a.label))) alreadyBroken.push(problem);
    else refused.push(problem);
  }
  return { refused, alreadyBroken };
}
