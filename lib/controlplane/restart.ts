/**
 * Restart intent derived from state, the way Helm charts use a config checksum annotation: a
 * hash of everything Flyte reads at start-up (the credentials Secret's data and each ConfigMap's
 * clusters.yaml) is recorded on each Deployment's pod template. A Deployment whose annotation
 * differs from the hash of what the control plane holds is behind and is restarted, whichever
 * run wrote the change: a run killed after its writes and before its restarts is completed by
 * the next one. A Deployment already at the hash is left alone, so a no-op run restarts nothing.
 *
 * A credential rotation adds one more reason (lib/rotation): a Deployment started before the
 * new credential was published is behind too, whatever its hash.
 *
 * The checksum says what the pod template was last restarted for, not what its pods loaded: Helm
 * rolls flyteadmin out with its own ConfigMaps and leaves the annotation alone, and a stale run's
 * restart could stamp a checksum its pods never saw. So a third reason looks at the pods
 * themselves: a current pod created while the control plane held other content (./content.ts)
 * is behind, whoever wrote that content. All go through {@link restartBehind}, so every restart
 * sets the checksum and the ids of the writes it follows (./content.ts: whole-second times cannot
 * order a pod and a write of the same second, the ids can), and the next run, seeing every pod
 * created after the content, restarts nothing.
 */
import { createHash } from 'node:crypto';
import { describeError, errorCode, type ErrorCode } from '../errors.ts';
import { ConflictError } from '../kube/errors.ts';
import type { ControlPlaneApi, CurrentPods, DeploymentObject } from '../kube/ports.ts';
import { createdWhileStale, parseRestartedAfter, restartedAfterValue, RESTARTED_AFTER_ANNOTATION, type StaleTimes } from './content.ts';

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
  /** Why each restarted Deployment was behind (no secrets: names, counts and times). */
  reasons: Record<string, string>;
  /** Deployments already at the checksum. */
  upToDate: string[];
  /** Deployments that could not be read or restarted, with a stable code and a secret-free reason. */
  failures: RestartFailure[];
}

/** What the rule reads of one Deployment: its pod template and its current pods. */
export interface DeploymentRead {
  template: DeploymentObject | undefined;
  /** Undefined when not read (no content times to compare with). */
  pods?: CurrentPods | undefined;
}

/** Each Deployment as read, in the order of `deployments` (a failed read is kept as its error). */
export type DeploymentReads = PromiseSettledResult<DeploymentRead>[];

export interface RestartOptions {
  at: string;
  dryRun?: boolean;
  /** Awaited before each patch (the apply renews its Lease there); if it throws, nothing more is patched. */
  beforeWrite?: () => Promise<void>;
  /** A Deployment whose `kubectl.kubernetes.io/restartedAt` is earlier (or missing) is behind too (a rotation's publication time). */
  restartedSince?: Date;
  /** When the control plane's content differed from the live one (./content.ts): a current pod created then is behind. */
  stale?: readonly StaleTimes[];
  /** Contested (./content.ts): pods created while a reverted content was live do not count. */
  ignoreIntervals?: boolean;
  /** The reads, when the caller started them already ({@link readDeployments}). */
  templates?: DeploymentReads;
  /** Told of each restart as it is made (a caller that retries after a throw still knows what was restarted). */
  onRestart?: (name: string, reason: string) => void;
}

/** Why a Deployment is behind `checksum`, or undefined when it is not. */
export function behindReason(read: DeploymentRead & { template: DeploymentObject }, checksum: string, o: Pick<RestartOptions, 'restartedSince' | 'stale' | 'ignoreIntervals'>): string | undefined {
  const a = read.template.templateAnnotations;
  if (a[CONFIG_CHECKSUM_ANNOTATION] !== checksum) return a[CONFIG_CHECKSUM_ANNOTATION] ? 'started with another configuration checksum' : 'no configuration checksum';
  if (startedBefore(a[RESTARTED_AT_ANNOTATION], o.restartedSince)) return 'started before the new credential was published';
  const pods = read.pods;
  if (o.stale?.length && pods?.observed) {
    const restartedAfter = parseRestartedAfter(pods.templateAnnotations?.[RESTARTED_AFTER_ANNOTATION]);
    const stale = pods.created.filter((c) => createdWhileStale(c, o.stale!, { restartedAfter, ...(o.ignoreIntervals ? { ignoreIntervals: true } : {}) }));
    if (stale.length) return `${stale.length} pod(s) started while the control plane held other content (created ${stale.sort()[0]})`;
  }
  return undefined;
}

/**
 * Restarts every Deployment that is behind (see {@link behindReason}): its
 * {@link CONFIG_CHECKSUM_ANNOTATION} differs from `checksum` or is missing, it was started before a
 * rotation's publication, or one of its current pods was created while the control plane held
 * other content (opts.stale). One merge patch sets the checksum, the write ids of the live content
 * (RESTARTED_AFTER_ANNOTATION) and `kubectl.kubernetes.io/restartedAt`, with the Deployment's
 * resourceVersion as read as a precondition: a Deployment changed since (a
 * run that took the Lease over restarted it) is read again and decided again, after `beforeWrite`
 * (the Lease renewal, which fails if the Lease was lost). Deployments are handled one by one; a
 * failure of one is reported and does not stop the others.
 *
 * @returns what was restarted and why, what was already up to date, and what failed (a missing
 *   Deployment is a failure: Flyte would keep running on its old configuration)
 * @throws whatever `beforeWrite` throws; ConflictError when a Deployment kept changing (3 reads)
 */
export async function restartBehind(
  api: ControlPlaneApi,
  namespace: string,
  deployments: readonly string[],
  checksum: string,
  opts: RestartOptions,
): Promise<RestartOutcome> {
  const out: RestartOutcome = { restarted: [], reasons: {}, upToDate: [], failures: [] };
  const withPods = !!opts.stale?.length;
  // The checksum, and the write ids of the content restarted for (./content.ts): the next run
  // knows these pods were created after those writes, even within the same second.
  const after = opts.stale && restartedAfterValue(opts.stale);
  const restartAnnotations = { [CONFIG_CHECKSUM_ANNOTATION]: checksum, ...(after ? { [RESTARTED_AFTER_ANNOTATION]: after } : {}) };
  // The reads are independent: asked at once, then decided in order.
  const reads = opts.templates ?? (await readDeployments(api, namespace, deployments, withPods));
  for (const [i, name] of deployments.entries()) {
    let read: DeploymentRead = reads[i]!.status === 'fulfilled' ? (reads[i] as PromiseFulfilledResult<DeploymentRead>).value : { template: undefined };
    if (reads[i]!.status === 'rejected') {
      const err = (reads[i] as PromiseRejectedResult).reason;
      out.failures.push({ name, code: errorCode(err), reason: describeError(err) });
      continue;
    }
    for (let attempt = 1; ; attempt++) {
      const d = read.template;
      if (!d) {
        out.failures.push({ name, code: 'KUBERNETES_API', reason: `Deployment ${namespace}/${name} does not exist` });
        break;
      }
      const reason = behindReason({ ...read, template: d }, checksum, opts);
      if (!reason) {
        out.upToDate.push(name);
        break;
      }
      if (opts.dryRun) {
        out.restarted.push(name);
        out.reasons[name] = reason;
        break;
      }
      await opts.beforeWrite?.();
      try {
        await api.restartDeployment(namespace, name, opts.at, restartAnnotations, d.resourceVersion);
        out.restarted.push(name);
        out.reasons[name] = reason;
        opts.onRestart?.(name, reason);
        break;
      } catch (err) {
        if (!(err instanceof ConflictError)) {
          out.failures.push({ name, code: errorCode(err), reason: describeError(err) });
          break;
        }
        // Changed since it was read (a rollout's status, or another run's restart): decide again.
        if (attempt >= 3) throw err;
        try {
          read = await readDeployment(api, namespace, name, withPods);
        } catch (e) {
          out.failures.push({ name, code: errorCode(e), reason: describeError(e) });
          break;
        }
      }
    }
  }
  return out;
}

async function readDeployment(api: ControlPlaneApi, namespace: string, name: string, withPods: boolean): Promise<DeploymentRead> {
  const [template, pods] = await Promise.all([api.getDeploymentTemplate(namespace, name), withPods ? api.currentPods(namespace, name) : undefined]);
  return { template, ...(withPods ? { pods } : {}) };
}

/**
 * Reads the Deployments' templates (and, with `withPods`, their current pods) at once; a caller
 * may start this alongside other reads and hand the result to {@link restartBehind} (`templates`).
 */
export function readDeployments(api: ControlPlaneApi, namespace: string, deployments: readonly string[], withPods = true): Promise<DeploymentReads> {
  return Promise.allSettled(deployments.map((name) => readDeployment(api, namespace, name, withPods)));
}

/** Whether a Deployment restarted at `restartedAt` (missing: never) was started before `since` (undefined: no such bound). */
export function startedBefore(restartedAt: string | undefined, since: Date | undefined): boolean {
  if (!since) return false;
  const at = restartedAt ? Date.parse(restartedAt) : NaN;
  return !(at >= since.getTime());
}
