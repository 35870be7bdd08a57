/**
 * Labels as code: compares the configured assignments with the EXECUTION_CLUSTER_LABEL rows in
 * FlyteAdmin and sets what differs. flyte-credsync owns exactly the scopes the configuration lists:
 * every other row (a label someone set by hand, a project-level or launch-plan one) is left alone
 * and reported as foreign; nothing is ever deleted. A dry run reads and writes nothing.
 */
import { describeError, errorCode } from '../errors.ts';
import type { LabelAttribute, LabelScope } from './admin.ts';
import { rowScope } from './guard.ts';
import { scopeKey, type LabelAssignment } from '../config/labels.ts';
import { boundedLines, countedRest, echo, MAX_ECHO_ITEMS, MAX_REPORT_ROWS, pickRows } from '../util/bounded.ts';

/** The FlyteAdmin calls labels-as-code needs (FlyteAdminClient; a fake in unit tests). */
export interface LabelsAdmin {
  listLabels(): Promise<LabelAttribute[]>;
  setLabel(scope: LabelScope, label: string): Promise<void>;
}

export interface LabelChange {
  /** project/domain or project/domain/workflow */
  scope: string;
  project: string;
  domain: string;
  workflow?: string;
  label: string;
  /** The label FlyteAdmin has at exactly this scope now, if any. */
  current?: string;
  action: 'create' | 'update' | 'unchanged';
}

export interface ForeignLabel {
  scope: string;
  label: string;
}

export interface LabelsPlan {
  changes: LabelChange[];
  /** Rows in FlyteAdmin the configuration does not list: kept as they are. */
  foreign: ForeignLabel[];
}

export interface LabelsReport extends LabelsPlan {
  ok: boolean;
  dryRun: boolean;
  /** Scopes written in this run (none in a dry run). */
  written: string[];
  failures: Array<{ scope: string; code: string; reason: string }>;
}

/** The exact row of a scope: project-domain rows have no workflow and no launch plan. */
function exactKey(r: LabelAttribute): string | undefined {
  if (!r.project || !r.domain || r.launchPlan) return undefined;
  return scopeKey({ project: r.project, domain: r.domain, workflow: r.workflow || undefined });
}

/** What has to change in FlyteAdmin for the assignments to hold (pure). */
export function planLabels(assignments: readonly LabelAssignment[], current: readonly LabelAttribute[]): LabelsPlan {
  const byScope = new Map<string, string>();
  for (const r of current) {
    const k = exactKey(r);
    if (k) byScope.set(k, r.label);
  }
  const owned = new Set<string>();
  const changes = assignments.map((a): LabelChange => {
    const scope = scopeKey(a);
    owned.add(scope);
    const cur = byScope.get(scope);
    return {
      scope,
      project: a.project,
      domain: a.domain,
      ...(a.workflow ? { workflow: a.workflow } : {}),
      label: a.label,
      ...(cur !== undefined ? { current: cur } : {}),
      action: cur === undefined ? 'create' : cur === a.label ? 'unchanged' : 'update',
    };
  });
  const foreign = current
    .filter((r) => {
      const k = exactKey(r);
      return k === undefined || !owned.has(k);
    })
    .map((r) => ({ scope: rowScope(r), label: r.label }))
    .sort((x, y) => x.scope.localeCompare(y.scope));
  return { changes, foreign };
}

/**
 * Reads FlyteAdmin's rows, plans, and (unless `dryRun`) sets every label that differs. A failed
 * write is reported for its scope and the others still go ahead; the next run retries it.
 *
 * @param before called with the plan before anything is written (the routing guard); throw to refuse
 * @throws FlyteAdminError when the rows cannot be read
 */
export async function applyLabels(
  admin: LabelsAdmin,
  assignments: readonly LabelAssignment[],
  opts: { dryRun: boolean; current?: readonly LabelAttribute[]; before?: (plan: LabelsPlan) => void },
): Promise<LabelsReport> {
  const plan = planLabels(assignments, opts.current ?? (await admin.listLabels()));
  opts.before?.(plan);
  const written: string[] = [];
  const failures: LabelsReport['failures'] = [];
  if (!opts.dryRun) {
    for (const c of plan.changes) {
      if (c.action === 'unchanged') continue;
      try {
        await admin.setLabel({ project: c.project, domain: c.domain, workflow: c.workflow }, c.label);
        written.push(c.scope);
      } catch (err) {
        failures.push({ scope: c.scope, code: errorCode(err), reason: describeError(err) });
      }
    }
  }
  return { ...plan, ok: failures.length === 0, dryRun: opts.dryRun, written, failures };
}

/** The plan as a person reads it: one line per assignment, then the foreign rows. */
export function formatLabels(r: LabelsReport): string {
  const lines: string[] = [];
  const verb = (c: LabelChange) =>
    c.action === 'unchanged' ? 'unchanged' : r.dryRun ? (c.action === 'create' ? 'would create' : 'would update') : r.written.includes(c.scope) ? (c.action === 'create' ? 'created' : 'updated') : 'FAILED';
  // Bounded: the first 50 that change (and 10 unchanged) when there are more, the rest counted.
  const rows = pickRows(r.changes, (c) => (verb(c) === 'FAILED' ? 0 : c.action !== 'unchanged' ? 1 : 2));
  for (const c of rows.shown) {
    const from = c.action === 'update' ? `${echo(c.current, 100)} -> ` : '';
    lines.push(`  ${c.scope}: ${from}${c.label} (${verb(c)})`);
  }
  lines.push(...countedRest(rows.left, 'assignments', verb, '  '));
  lines.push(...boundedLines(r.failures.map((f) => `  ${f.scope}: ${f.code}: ${f.reason}`), MAX_REPORT_ROWS, '  ', 'failures'));
  if (r.foreign.length) {
    lines.push('  not managed by flyte-credsync (left as they are):');
    lines.push(...boundedLines(r.foreign.map((f) => `    ${echo(f.scope, 100)}: ${echo(f.label, 100)}`), MAX_ECHO_ITEMS, '    ', 'assignments not managed by flyte-credsync'));
  }
  return lines.join('\n');
}
