/**
 * `credsync export-values`: the control plane's cluster configuration as a values override for the
 * flyte-core Helm chart, for deployments kept in git. Rendered by the same code as the sync
 * (lib/controlplane/render.ts) from the stored credentials, but holding no secret: only endpoints,
 * labels, weights and the paths of the mounted token and CA files.
 *
 * - `configmap.clusters`: what the chart writes under `clusters:` in `clusters.yaml` of
 *   flyte-admin-clusters-config (labelClusterMap, clusterConfigs, defaultExecutionLabel);
 * - `flyteadmin.additionalVolumes` / `additionalVolumeMounts`: the credentials Secret mounted where
 *   clusterConfigs' tokenPath and certPath point (the syncresources Deployment mounts
 *   `cluster-credentials` at `/var/run/credentials` by itself).
 *
 * The Secret itself stays out of git: `credsync sync` writes it.
 */
import { stringify as toYaml } from 'yaml';
import type { Config } from '../config/schema.ts';
import { mergeClustersYaml, tokenKey, type ClusterConfigEntry } from '../controlplane/render.ts';
import { LabelRoutingError } from '../labels/errors.ts';
import { assignedLabels, checkRouting, clustersOf } from '../labels/guard.ts';
import type { CredentialRecord, SecretStore } from '../stores/types.ts';
import { mapBounded } from '../util/log.ts';
import { boundedList } from '../util/bounded.ts';

export interface ValuesExport {
  /** The values file (YAML). */
  text: string;
  /** Configured data planes without a stored credential yet: left out (run a sync first). */
  missing: string[];
  /** Data planes the control plane lists that left the configuration: kept, disabled and in no label. */
  kept: string[];
}

/** What the chart hard-codes for syncresources (charts/flyte-core/templates/clusterresourcesync/deployment.yaml). */
const CHART_SECRET = 'cluster-credentials';
const CHART_MOUNT = '/var/run/credentials';

/**
 * The clusterConfigs entries of `live` (the control plane's clusters.yaml) that credsync rendered
 * (their token path is `<mountPath>/<name>_token`, as {@link mergeClustersYaml} writes it) and
 * that are not configured: data planes that left the configuration.
 */
function leftEntries(cfg: Config, live: string | undefined): ClusterConfigEntry[] {
  if (!live) return [];
  const configured = new Set(cfg.dataPlanes.map((d) => d.id));
  const base = cfg.controlPlane.mountPath === '/' ? '' : cfg.controlPlane.mountPath;
  const entries = clustersOf(live)['clusterConfigs'];
  if (!Array.isArray(entries)) return [];
  return (entries as ClusterConfigEntry[]).filter(
    (e) => e && typeof e.name === 'string' && !configured.has(e.name) && e.auth?.tokenPath === `${base}/${tokenKey(e.name)}`,
  );
}

/**
 * Renders the values override from the configuration and the store.
 *
 * A data plane that left the configuration but that the control plane still lists (`live`, its
 * clusters.yaml) stays in the values, disabled and in no label, as a sync keeps it: flyteadmin
 * looks the cluster of an execution up among all entries to abort it, so dropping the entry would
 * break the abort of its running executions (docs/flyte-facts.md).
 *
 * @throws LabelRoutingError when a configured assignment (or defaultExecutionLabel) names a label
 *   with no enabled cluster; StoreError when the store cannot be read
 */
export async function exportValues(cfg: Config, store: SecretStore, live?: string): Promise<ValuesExport> {
  const records = new Map<string, CredentialRecord>();
  await mapBounded(cfg.dataPlanes, cfg.concurrency, async (dp) => {
    const stored = await store.get(dp.id);
    if (stored) records.set(dp.id, stored.record);
  });
  const missing = cfg.dataPlanes.filter((d) => !records.has(d.id)).map((d) => d.id);
  const rendered = mergeClustersYaml(undefined, new Set(), cfg, { records }, 'values configmap.clusters');
  const clusters = clustersOf(rendered.text);
  const kept = leftEntries(cfg, live);
  if (kept.length) clusters['clusterConfigs'] = [...(clusters['clusterConfigs'] as ClusterConfigEntry[]), ...kept.map((e) => ({ ...e, enabled: false }))];
  const guard = checkRouting(clusters, assignedLabels(cfg.labels?.assignments ?? []));
  if (guard.refused.length) throw new LabelRoutingError(guard.refused);

  const cp = cfg.controlPlane;
  const values = {
    configmap: { clusters },
    flyteadmin: {
      additionalVolumes: [{ name: cp.credentialsSecret, secret: { secretName: cp.credentialsSecret } }],
      additionalVolumeMounts: [{ name: cp.credentialsSecret, mountPath: cp.mountPath }],
    },
  };
  const header = [
    '# flyte-core values override written by `credsync export-values`: no secret in this file.',
    `# The Secret ${cp.namespace}/${cp.credentialsSecret} (<id>_token, <id>_cacert) is written by \`credsync sync\`.`,
    ...(cp.credentialsSecret !== CHART_SECRET || cp.mountPath !== CHART_MOUNT
      ? [`# Note: the chart's syncresources Deployment mounts ${CHART_SECRET} at ${CHART_MOUNT}, whatever these values say.`]
      : []),
    ...(missing.length ? [`# Left out (no stored credential yet; run \`credsync sync\` first): ${boundedList(missing)}`] : []),
    ...(kept.length ? [`# Kept disabled (left the configuration; aborts of their executions need the entry): ${boundedList(kept.map((e) => e.name))}`] : []),
  ];
  return { text: header.join('\n') + '\n' + toYaml(values, { lineWidth: 0 }), missing, kept: kept.map((e) => e.name) };
}
