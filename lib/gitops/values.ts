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
import { mergeClustersYaml } from '../controlplane/render.ts';
import { LabelRoutingError } from '../labels/errors.ts';
import { assignedLabels, checkRouting, clustersOf } from '../labels/guard.ts';
import type { CredentialRecord, SecretStore } from '../stores/types.ts';
import { mapBounded } from '../util/log.ts';

export interface ValuesExport {
  /** The values file (YAML). */
  text: string;
  /** Configured data planes without a stored credential yet: left out (run a sync first). */
  missing: string[];
}

/** What the chart hard-codes for syncresources (charts/flyte-core/templates/clusterresourcesync/deployment.yaml). */
const CHART_SECRET = 'cluster-credentials';
const CHART_MOUNT = '/var/run/credentials';

/**
 * Renders the values override from the configuration and the store.
 *
 * @throws LabelRoutingError when a configured assignment (or defaultExecutionLabel) names a label
 *   with no enabled cluster; StoreError when the store cannot be read
 */
export async function exportValues(cfg: Config, store: SecretStore): Promise<ValuesExport> {
  const records = new Map<string, CredentialRecord>();
  await mapBounded(cfg.dataPlanes, cfg.concurrency, async (dp) => {
    const stored = await store.get(dp.id);
    if (stored) records.set(dp.id, stored.record);
  });
  const missing = cfg.dataPlanes.filter((d) => !records.has(d.id)).map((d) => d.id);
  const rendered = mergeClustersYaml(undefined, new Set(), cfg, { records }, 'values configmap.clusters');
  const clusters = clustersOf(rendered.text);
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
    ...(missing.length ? [`# Left out (no stored credential yet; run \`credsync sync\` first): ${missing.join(', ')}`] : []),
  ];
  return { text: header.join('\n') + '\n' + toYaml(values, { lineWidth: 0 }), missing };
}
