/**
 * Plans and applies the control plane: reads the credentials Secret and the ConfigMaps,
 * renders the merge, validates it, and writes only what changed, with optimistic concurrency
 * (resourceVersion; on a 409 everything is re-read, re-merged and retried). When anything
 * changed, the configured Deployments are restarted; when nothing did, nothing is written.
 */
import { createTwoFilesPatch } from 'diff';
import type { Config } from '../config/schema.ts';
import { CredsyncError, describeError } from '../errors.ts';
import { ConflictError } from '../kube/errors.ts';
import type { ConfigMapObject, ControlPlaneApi, SecretObject } from '../kube/ports.ts';
import type { CredentialRecord } from '../stores/types.ts';
import { MANAGED_ANNOTATION, mergeClustersYaml, parseManaged, renderSecretData } from './render.ts';

export interface SecretChange {
  name: string;
  action: 'create' | 'update' | 'none';
  /** Data keys added / changed (names only, never values). */
  added: string[];
  changed: string[];
}

export interface ConfigMapChange {
  name: string;
  action: 'update' | 'none';
  /** Unified diff of the data key (clusters.yaml holds no secret). */
  diff: string;
  disabledClusters: string[];
}

export interface ControlPlaneReport {
  secret: SecretChange;
  configMaps: ConfigMapChange[];
  /** Deployments restarted (or that would be, in a dry run). */
  restarted: string[];
  /** Deployments whose restart failed, with the reason. */
  restartFailures: Array<{ name: string; reason: string }>;
  applied: boolean;
  attempts: number;
}

interface Plan {
  secret: { object: SecretObject; change: SecretChange };
  configMaps: Array<{ object: ConfigMapObject; change: ConfigMapChange }>;
}

const MAX_ATTEMPTS = 5;

/**
 * Called with each clusters.yaml about to be written (and the one there now), before any write and
 * in a dry run too; throws to refuse the whole write (the routing guard, lib/labels/run.ts).
 */
export type ClustersGuard = (next: string, before: string | undefined, where: string) => void;

/**
 * Kubernetes refuses a Secret whose data values add up to more than 1 MiB (MaxSecretSize,
 * pkg/apis/core/validation ValidateSecret), and a ConfigMap whose keys and values do.
 */
export const MAX_OBJECT_DATA_BYTES = 1024 * 1024;

/**
 * Refuses, before anything is written, a credentials Secret or ConfigMap the API server would
 * reject for its size: the error names the limit, the size and the data planes it would hold.
 *
 * @throws CredsyncError `CONTROL_PLANE_TOO_LARGE`
 */
export function checkObjectSizes(p: Pick<Plan, 'secret' | 'configMaps'>, records: ReadonlyMap<string, CredentialRecord>): void {
  const secret = p.secret.object;
  const secretBytes = Object.values(secret.data).reduce((a, v) => a + v.length, 0);
  const tooBig: string[] = [];
  if (secretBytes > MAX_OBJECT_DATA_BYTES) tooBig.push(`the credentials Secret ${secret.namespace}/${secret.name} would hold ${secretBytes} bytes of data`);
  for (const { object: cm } of p.configMaps) {
    const bytes = Object.entries(cm.data).reduce((a, [k, v]) => a + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    if (bytes > MAX_OBJECT_DATA_BYTES) tooBig.push(`ConfigMap ${cm.namespace}/${cm.name} would hold ${bytes} bytes of data`);
  }
  if (!tooBig.length) return;
  const ids = [...records.keys()].sort();
  const shown = ids.slice(0, 10).join(', ') + (ids.length > 10 ? `, and ${ids.length - 10} more` : '');
  const perPlane = records.size ? Math.round(secretBytes / records.size) : 0;
  throw new CredsyncError(
    'CONTROL_PLANE_TOO_LARGE',
    `control plane: ${tooBig.join('; ')}, over Kubernetes' limit of ${MAX_OBJECT_DATA_BYTES} bytes (1 MiB) per object, ` +
      `for ${records.size} data planes (${shown}; about ${perPlane} bytes each). Nothing was written. ` +
      'Serve fewer data planes from this control plane (README "Limits").',
  );
}

async function plan(api: ControlPlaneApi, cfg: Config, records: ReadonlyMap<string, CredentialRecord>, guard?: ClustersGuard): Promise<Plan> {
  const cp = cfg.controlPlane;
  const [existingSecret, ...cms] = await Promise.all([
    api.getSecret(cp.namespace, cp.credentialsSecret),
    ...cp.configMaps.map((n) => api.getConfigMap(cp.namespace, n)),
  ]);
  const configMaps: Plan['configMaps'] = [];
  cms.forEach((cm, i) => {
    const name = cp.configMaps[i]!;
    if (!cm)
      throw new CredsyncError(
        'CONTROL_PLANE_INVALID',
        `control plane: ConfigMap ${cp.namespace}/${name} does not exist (it comes with the flyte-core chart; check controlPlane.configMaps)`,
      );
    const where = `ConfigMap ${cp.namespace}/${name} key ${cp.configKey}`;
    const managedBefore = parseManaged(cm.annotations);
    const oldText = cm.data[cp.configKey];
    const merged = mergeClustersYaml(oldText, managedBefore, cfg, records, where);
    guard?.(merged.text, oldText, where);
    const managedValue = [...merged.managed].sort().join(',');
    const annotationsChanged = (cm.annotations[MANAGED_ANNOTATION] ?? '') !== managedValue;
    const changed = merged.changed || annotationsChanged;
    configMaps.push({
      object: {
        ...cm,
        annotations: { ...cm.annotations, [MANAGED_ANNOTATION]: managedValue },
        data: { ...cm.data, [cp.configKey]: merged.text },
      },
      change: {
        name,
        action: changed ? 'update' : 'none',
        diff: merged.changed ? createTwoFilesPatch(`${name}/${cp.configKey}`, `${name}/${cp.configKey}`, oldText ?? '', merged.text, 'current', 'desired') : '',
        disabledClusters: merged.disabled,
      },
    });
  });
  const secretData = renderSecretData(existingSecret?.data ?? {}, records);
  const secretChanged = !existingSecret || secretData.added.length + secretData.changed.length > 0;
  const object: SecretObject = existingSecret
    ? { ...existingSecret, data: secretData.data }
    : {
        name: cp.credentialsSecret,
        namespace: cp.namespace,
        type: 'Opaque',
        labels: { 'app.kubernetes.io/managed-by': 'flyte-credsync' },
        annotations: {},
        data: secretData.data,
      };
  const planned: Plan = {
    secret: {
      object,
      change: {
        name: cp.credentialsSecret,
        action: !existingSecret ? 'create' : secretChanged ? 'update' : 'none',
        added: secretData.added,
        changed: secretData.changed,
      },
    },
    configMaps,
  };
  checkObjectSizes(planned, records);
  return planned;
}

/** Data keys only hold what Flyte mounts; a restart is needed when any mounted byte or clusters.yaml changed. */
function needsRestart(p: Plan): boolean {
  return p.secret.change.action !== 'none' || p.configMaps.some((c) => c.change.diff !== '');
}

/**
 * Plans and applies the control plane for these stored credentials (see the module header).
 *
 * @param records every configured data plane's current credential (those without one are rendered
 *   without credentials and keep what the Secret holds)
 * @param opts.dryRun plan only: the report says what would be written and restarted
 * @param opts.now the restart timestamp's clock
 * @returns what was written (or would be), what was restarted, and the restarts that failed
 * @throws CredsyncError `CONTROL_PLANE_INVALID` (a ConfigMap is missing, or the merge would stop
 *   flyteadmin), `CONTROL_PLANE_TOO_LARGE` (the Secret or a ConfigMap would exceed Kubernetes'
 *   1 MiB per object; nothing is written), `CONTROL_PLANE_CONFLICT` after 5 conflicting attempts,
 *   Kubernetes API errors
 */
export async function applyControlPlane(
  api: ControlPlaneApi,
  cfg: Config,
  records: ReadonlyMap<string, CredentialRecord>,
  opts: { dryRun: boolean; now: () => Date; guard?: ClustersGuard },
): Promise<ControlPlaneReport> {
  const cp = cfg.controlPlane;
  // What has been written so far, across conflict retries: the report, `applied` and the restart
  // all come from it, so a change written before a 409 still restarts what must re-read it.
  let writtenSecret: SecretChange | undefined;
  const writtenMaps = new Map<string, ConfigMapChange>();
  for (let attempt = 1; ; attempt++) {
    const p = await plan(api, cfg, records, opts.guard);
    if (opts.dryRun) return report(p, needsRestart(p) ? cp.deployments : [], [], false, attempt);
    try {
      const s = p.secret;
      if (s.change.action === 'create') await api.createSecret(s.object);
      else if (s.change.action === 'update') await api.replaceSecret(s.object);
      if (s.change.action !== 'none') writtenSecret = s.change;
      for (const c of p.configMaps) {
        if (c.change.action !== 'update') continue;
        await api.replaceConfigMap(c.object);
        writtenMaps.set(c.change.name, c.change);
      }
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      if (attempt < MAX_ATTEMPTS) continue;
      throw new CredsyncError('CONTROL_PLANE_CONFLICT', `control plane: still conflicting after ${MAX_ATTEMPTS} attempts: ${err.message}`);
    }
    const written: Plan = {
      secret: { ...p.secret, change: writtenSecret ?? p.secret.change },
      configMaps: p.configMaps.map((c) => ({ ...c, change: writtenMaps.get(c.change.name) ?? c.change })),
    };
    const restarted: string[] = [];
    const failures: Array<{ name: string; reason: string }> = [];
    if (needsRestart(written)) {
      const at = opts.now().toISOString();
      for (const d of cp.deployments) {
        try {
          await api.restartDeployment(cp.namespace, d, at);
          restarted.push(d);
        } catch (err) {
          failures.push({ name: d, reason: describeError(err) });
        }
      }
    }
    return report(written, restarted, failures, writtenSecret !== undefined || writtenMaps.size > 0, attempt);
  }
}

function report(p: Plan, restarted: string[], failures: Array<{ name: string; reason: string }>, applied: boolean, attempts: number): ControlPlaneReport {
  return {
    secret: p.secret.change,
    configMaps: p.configMaps.map((c) => c.change),
    restarted,
    restartFailures: failures,
    applied,
    attempts,
  };
}
