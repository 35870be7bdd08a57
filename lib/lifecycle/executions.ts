/**
 * What still runs on a data plane: its unfinished executions, from the FlyteWorkflow objects
 * (`flyteworkflows.flyte.lyft.com`) in every namespace. flytepropeller's `status.phase` is an
 * integer; 3 Success, 5 Failed and 6 Aborted are terminal, every other phase (and an object
 * without a status yet) is unfinished (Flyte facts, flytepropeller v1.16.8).
 */
import type { DataPlaneApi, FlyteWorkflowView } from '../kube/ports.ts';
import { CredsyncError } from '../errors.ts';

/** FlyteWorkflow phases after which nothing more runs. */
export const TERMINAL_PHASES: ReadonlySet<number> = new Set([3, 5, 6]);
/** Execution ids a report lists, oldest first (the count is always exact). */
export const MAX_LISTED_EXECUTIONS = 20;

const PHASE_NAMES = ['Ready', 'Running', 'Succeeding', 'Success', 'Failing', 'Failed', 'Aborted', 'HandlingFailureNode'];

/** One unfinished execution as reports show it. */
export interface UnfinishedExecution {
  executionId: string;
  namespace: string;
  /** flytepropeller's phase name (`Running`), or `phase <n>` for one it does not name. */
  phase: string;
  /** Seconds since the FlyteWorkflow was created (absent when it has no creation time). */
  ageSeconds?: number;
}

export interface ExecutionsSummary {
  /** How many FlyteWorkflows are not in a terminal phase. */
  unfinished: number;
  /** The oldest unfinished ones first, at most MAX_LISTED_EXECUTIONS. */
  executions: UnfinishedExecution[];
}

/** Counts the unfinished executions of a list of FlyteWorkflows, oldest first. */
export function summarizeExecutions(list: readonly FlyteWorkflowView[], now: Date): ExecutionsSummary {
  const open = list.filter((w) => w.phase === undefined || !TERMINAL_PHASES.has(w.phase));
  open.sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? '') || a.executionId.localeCompare(b.executionId));
  return {
    unfinished: open.length,
    executions: open.slice(0, MAX_LISTED_EXECUTIONS).map((w) => ({
      executionId: w.executionId,
      namespace: w.namespace,
      phase: w.phase === undefined ? PHASE_NAMES[0]! : (PHASE_NAMES[w.phase] ?? `phase ${w.phase}`),
      ...(w.createdAt ? { ageSeconds: Math.max(0, Math.floor((now.getTime() - Date.parse(w.createdAt)) / 1000)) } : {}),
    })),
  };
}

/**
 * The unfinished executions on a data plane, as the sync's identity there.
 * @throws CredsyncError `UNSUPPORTED` when the adapter cannot list FlyteWorkflows; the API's errors
 *   (`CLUSTER_UNREACHABLE`, `CLUSTER_ACCESS_DENIED` without `list flyteworkflows`, ...)
 */
export async function unfinishedExecutions(api: DataPlaneApi, now: Date): Promise<ExecutionsSummary> {
  if (!api.listFlyteWorkflows) throw new CredsyncError('UNSUPPORTED', 'this data-plane connection cannot list FlyteWorkflows');
  return summarizeExecutions(await api.listFlyteWorkflows(), now);
}
