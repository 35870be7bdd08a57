/**
 * Restart intent derived from state, the way Helm charts use a config checksum annotation: a
 * hash of everything Flyte reads at start-up (the credentials Secret's data and each ConfigMap's
 * clusters.yaml) is recorded on each Deployment's pod template. A Deployment whose annotation
 * differs from the hash of what the control plane holds is behind and is restarted, whichever
 * run wrote the change: a run killed after its writes and before its restarts is completed by
 * the next one. A Deployment already at the hash is left alone, so a no-op run restarts nothing.
 *
 * A credential rotation adds one more reason (lib/rotation): a Deployment started before the
 * new credential was published is behind too, whatever its hash. Both go through
 * {@link restartBehind}, so every restart sets the checksum and the next run sees it up to date.
 */
import { createHash } from 'node:crypto';
import { describeError, errorCode, type ErrorCode } from '../errors.ts';
import type { ControlPlaneApi, DeploymentObject } from '../kube/ports.ts';

/** Pod-template annotation holding the checksum of the configuration a Deployment was started with. */
export const CONFIG_CHECKSUM_ANNOTATION = 'flyte-credsync.io/config-checksum';
/** What `kubectl rollout restart` sets; set with the checksum, so a restart shows when it happened. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

/** What Flyte mounts and reads at start-up. */
export interface RenderedConfiguration {
  /** The credentials Secret's whole data (exact bytes; Flyte mounts every key). */
  secretData: Readonly<Record<string, Buffer>>;
  /** ConfigMap name -> its clusters.yaml text. */
  clustersYaml: Readonly<Record<string, string>>;
}

/**
 * The checksum of a rendered configuration: sha256 over every Secret key and value and every
 * ConfigMap's clusters.yaml, in sorted order, each length-prefixed (no two inputs collide by
 * moving bytes between fields).
 *
 * @returns `sha256:<hex>`
 */
export function configChecksum(c: RenderedConfiguration): string {
  const h = createHash('sha256');
  const field = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    h.update(`${buf.length}:`).update(buf);
  };
  field('secret');
  for (const k of Object.keys(c.secretData).sort()) {
    field(k);
    field(c.secretData[k]!);
  }
  field('configmaps');
  for (const k of Object.keys(c.clustersYaml).sort()) {
    field(k);
    field(c.clustersYaml[k]!);
  }
  return 'sha256:' + h.digest('hex');
}

/** A Deployment that could not be read or restarted (`KUBERNETES_API` when it does not exist). */
export interface RestartFailure {
  name: string;
  code: ErrorCode;
  reason: string;
}

export interface RestartOutcome {
  /** Deployments restarted (in a dry run: that would be). */
  restarted: string[];
  /** Deployments already at the checksum. */
  upToDate: string[];
  /** Deployments that could not be read or restarted, with a stable code and a secret-free reason. */
  failures: RestartFailure[];
}

/**
 * Restarts every Deployment whose pod template is behind `checksum` (its
 * {@link CONFIG_CHECKSUM_ANNOTATION} differs or is missing), setting the annotation and
 * `kubectl.kubernetes.io/restartedAt` in one merge patch. Deployments are handled one by one; a
 * failure of one is reported and does not stop the others.
 *
 * @param opts.dryRun read only: `restarted` lists what would be restarted (default false)
 * @param opts.restartedSince a Deployment whose `kubectl.kubernetes.io/restartedAt` is earlier
 *   (or missing) is behind too (a rotation's publication time; default: only the checksum counts)
 * @param opts.beforeWrite awaited before each patch (the apply renews its Lease there); if it
 *   throws, the error propagates and nothing more is patched
 * @returns what was restarted, what was already up to date, and what failed (a missing Deployment
 *   is a failure: Flyte would keep running on its old configuration)
 */
export async function restartBehind(
  api: ControlPlaneApi,
  namespace: string,
  deployments: readonly string[],
  checksum: string,
  opts: { at: string; dryRun?: boolean; beforeWrite?: () => Promise<void>; restartedSince?: Date; templates?: DeploymentReads },
): Promise<RestartOutcome> {
  const out: RestartOutcome = { restarted: [], upToDate: [], failures: [] };
  // The reads are independent: asked at once (one round trip), then decided in order.
  const reads = opts.templates ?? (await readDeployments(api, namespace, deployments));
  for (const [i, name] of deployments.entries()) {
    let current: string | undefined;
    let restartedAt: string | undefined;
    try {
      const read = reads[i]!;
      if (read.status === 'rejected') throw read.reason;
      const d = read.value;
      if (!d) {
        out.failures.push({ name, code: 'KUBERNETES_API', reason: `Deployment ${namespace}/${name} does not exist` });
        continue;
      }
      current = d.templateAnnotations[CONFIG_CHECKSUM_ANNOTATION];
      restartedAt = d.templateAnnotations[RESTARTED_AT_ANNOTATION];
    } catch (err) {
      out.failures.push({ name, code: errorCode(err), reason: describeError(err) });
      continue;
    }
    if (current === checksum && !startedBefore(restartedAt, opts.restartedSince)) {
      out.upToDate.push(name);
      continue;
    }
    if (opts.dryRun) {
      out.restarted.push(name);
      continue;
    }
    await opts.beforeWrite?.();
    try {
      await api.restartDeployment(namespace, name, opts.at, { [CONFIG_CHECKSUM_ANNOTATION]: checksum });
      out.restarted.push(name);
    } catch (err) {
      out.failures.push({ name, code: errorCode(err), reason: describeError(err) });
    }
  }
  return out;
}

/** Each Deployment's template as read, in the order of `deployments` (a failed read is kept as its error). */
export type DeploymentReads = PromiseSettledResult<DeploymentObject | undefined>[];

/**
 * Reads the Deployments' templates at once; a caller may start this alongside other reads and hand
 * the result to {@link restartBehind} (`templates`).
 */
export function readDeployments(api: ControlPlaneApi, namespace: string, deployments: readonly string[]): Promise<DeploymentReads> {
  return Promise.allSettled(deployments.map((name) => api.getDeploymentTemplate(namespace, name)));
}

/** Whether a Deployment restarted at `restartedAt` (missing: never) was started before `since` (undefined: no such bound). */
export function startedBefore(restartedAt: string | undefined, since: Date | undefined): boolean {
  if (!since) return false;
  const at = restartedAt ? Date.parse(restartedAt) : NaN;
  return !(at >= since.getTime());
}
