/**
 * Waits for the control plane's Deployments to finish rolling out, the way `kubectl rollout
 * status` decides it, plus what a credential rotation needs on top: every Deployment was
 * restarted at or after a given time (the publication of the new credential), and no pod of an
 * older ReplicaSet is left (terminating ones included: they may still use the old token).
 */
import { startedBefore } from '../controlplane/restart.ts';
import type { RolloutApi } from '../kube/ports.ts';

export interface DeploymentRollout {
  name: string;
  complete: boolean;
  /** What is still missing, when not complete (no secrets: names and counts). */
  waitingFor?: string;
}

export interface RolloutResult {
  complete: boolean;
  deployments: DeploymentRollout[];
  waitedMs: number;
}

/** Why one Deployment's rollout is not complete yet (undefined: it is). */
export async function rolloutGap(api: RolloutApi, namespace: string, name: string, restartedSince?: Date): Promise<string | undefined> {
  const d = await api.getDeployment(namespace, name);
  if (!d) return `Deployment ${namespace}/${name} does not exist`;
  if (startedBefore(d.restartedAt, restartedSince)) return 'a restart after the new credential was published';
  if (d.observedGeneration < d.generation) return `the controller to observe generation ${d.generation}`;
  if (d.updatedReplicas < d.replicas) return `${d.updatedReplicas} of ${d.replicas} replicas updated`;
  if (d.statusReplicas > d.updatedReplicas) return `${d.statusReplicas - d.updatedReplicas} old replicas to terminate`;
  if (d.readyReplicas < d.replicas) return `${d.readyReplicas} of ${d.replicas} replicas ready`;
  if (d.availableReplicas < d.replicas) return `${d.availableReplicas} of ${d.replicas} replicas available`;
  // Status counts no terminating pod; a pod of an older ReplicaSet may still run with the old token.
  const sets = await api.listReplicaSets(namespace, d.selector);
  const current = sets.find((r) => r.revision !== undefined && r.revision === d.revision);
  if (!current?.templateHash) return `the ReplicaSet of revision ${d.revision ?? '?'}`;
  const old = (await api.listPods(namespace, d.selector)).filter((p) => p.templateHash !== current.templateHash);
  if (old.length) return `${old.length} pod(s) of an older ReplicaSet to be gone`;
  return undefined;
}

export interface WaitOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** Each Deployment must have been restarted at or after this time. */
  restartedSince?: Date;
  /** @default 1000 */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/**
 * Polls until every Deployment's rollout is complete or the timeout passes; never throws for
 * "not yet" (the result says what is missing), only for failed reads.
 */
export async function waitForRollouts(api: RolloutApi, namespace: string, names: string[], opts: WaitOptions): Promise<RolloutResult> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const start = now();
  const done = new Set<string>();
  for (;;) {
    const gaps = new Map<string, string>();
    for (const name of names) {
      if (done.has(name)) continue;
      const gap = await rolloutGap(api, namespace, name, opts.restartedSince);
      if (gap === undefined) done.add(name);
      else gaps.set(name, gap);
    }
    const waited = now() - start;
    if (gaps.size === 0 || waited >= opts.timeoutMs) {
      return {
        complete: gaps.size === 0,
        deployments: names.map((name) => ({ name, complete: !gaps.has(name), ...(gaps.has(name) ? { waitingFor: gaps.get(name)! } : {}) })),
        waitedMs: waited,
      };
    }
    await sleep(Math.min(opts.pollMs ?? 1000, Math.max(0, opts.timeoutMs - waited)));
  }
}
