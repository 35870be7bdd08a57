/**
 * The audit trail on the control plane: after a run that changed anything, one Kubernetes Event
 * (events.k8s.io/v1, reporting controller `flyte-credsync.io/sync`) on each object it wrote or
 * restarted, so that `kubectl get events -n flyte` tells an operator what changed and why:
 *
 * | reason                 | on                         | note names                                        |
 * |------------------------|----------------------------|---------------------------------------------------|
 * | `CredentialsUpdated`   | the credentials Secret     | the data planes whose keys changed, with fingerprints |
 * | `ClusterConfigUpdated` | each ConfigMap rewritten   | the data planes now configured, those kept disabled |
 * | `RolloutRestarted`     | each restarted Deployment  | why: which Secret keys / ConfigMaps changed       |
 *
 * Every note carries the run id (also the Event's `flyte-credsync.io/run` annotation) and is at
 * most 1 kB. Never a token or CA: only ids, key names and short fingerprints. A run that changed
 * nothing records nothing.
 */
import type { ControlPlane } from '../config/schema.ts';
import type { AuditEvent } from '../kube/ports.ts';
import type { ControlPlaneReport } from './apply.ts';

/** The API server's limit on an Event's note. */
const NOTE_LIMIT = 1024;

/** `a, b, c and 12 more`, kept under `max` characters. */
export function boundedList(items: readonly string[], max: number): string {
  let out = '';
  for (let i = 0; i < items.length; i++) {
    const more = items.length - i - 1;
    const next = (out ? out + ', ' : '') + items[i];
    const tail = more ? ` and ${more} more` : '';
    if ((next + tail).length > max) return out ? `${out} and ${items.length - i} more` : `${items.length} data planes`;
    out = next;
  }
  return out;
}

function note(text: string): string {
  return text.length <= NOTE_LIMIT ? text : text.slice(0, NOTE_LIMIT - 1) + '…';
}

/** Data-plane ids behind `<id>_token` / `<id>_cacert` keys, in order, once each. */
function idsOfKeys(keys: readonly string[]): string[] {
  return [...new Set(keys.map((k) => k.replace(/_(token|cacert)$/, '')))];
}

/**
 * The audit Events of one applied run (none for a dry run or a run that wrote nothing).
 *
 * @param fingerprints data-plane id -> short fingerprint of the credential now published
 */
export function auditEvents(
  cp: Pick<ControlPlane, 'namespace' | 'credentialsSecret'>,
  report: ControlPlaneReport,
  fingerprints: ReadonlyMap<string, string>,
  run: { runId: string; time: Date },
): AuditEvent[] {
  const base = { namespace: cp.namespace, type: 'Normal' as const, runId: run.runId, time: run.time };
  const events: AuditEvent[] = [];
  const s = report.secret;
  const secretIds = idsOfKeys([...s.added, ...s.changed]);
  const withFp = (id: string) => (fingerprints.has(id) ? `${id} (fingerprint ${fingerprints.get(id)})` : id);
  if (s.action !== 'none') {
    events.push({
      ...base,
      regarding: { apiVersion: 'v1', kind: 'Secret', name: s.name },
      reason: 'CredentialsUpdated',
      action: s.action === 'create' ? 'Create' : 'Update',
      note: note(`run ${run.runId}: ${s.action === 'create' ? 'created with' : 'new'} credentials of ${boundedList(secretIds.map(withFp), 800) || 'no data plane'}`),
    });
  }
  const mapsChanged = report.configMaps.filter((c) => c.action === 'update');
  for (const c of mapsChanged) {
    const disabled = c.disabledClusters.length ? `; kept disabled: ${boundedList(c.disabledClusters, 300)}` : '';
    events.push({
      ...base,
      regarding: { apiVersion: 'v1', kind: 'ConfigMap', name: c.name },
      reason: 'ClusterConfigUpdated',
      action: 'Update',
      note: note(`run ${run.runId}: clusters.yaml updated${disabled}`),
    });
  }
  const why = [
    ...(s.action !== 'none' ? [`Secret ${s.name} (${boundedList(secretIds, 300) || 'keys'})`] : []),
    ...mapsChanged.map((c) => `ConfigMap ${c.name}`),
  ].join(', ');
  for (const d of report.restarted) {
    events.push({
      ...base,
      regarding: { apiVersion: 'apps/v1', kind: 'Deployment', name: d },
      reason: 'RolloutRestarted',
      action: 'Restart',
      note: note(`run ${run.runId}: restarted to re-read ${why || 'the cluster configuration'}`),
    });
  }
  return events;
}
