/**
 * The GitOps mode's check (`controlPlane.mode: gitops`): the chart (Helm, Argo CD, Flux) owns
 * clusters.yaml, credsync owns the credentials Secret and never writes the ConfigMaps. Each run
 * reads them and compares them with its own rendering (lib/controlplane/render.ts, the same one
 * `credsync export-values` writes): whatever differs is **drift**, a failed run with code
 * `CONTROL_PLANE_DRIFT` and the values to commit. Pure functions, no I/O.
 *
 * Drift is:
 * - a configured data plane missing from clusterConfigs, or listed with another endpoint, enabled
 *   flag, token or CA path, or kubeClientConfig;
 * - a configured data plane missing from one of its labels, in a label it is not configured for,
 *   or with another weight; another `defaultExecutionLabel` than the configured one;
 * - any clusterConfigs entry whose tokenPath or certPath, under the mount path, names a key the
 *   Secret does not hold (flyteadmin reads every entry's files at start-up and stops on a missing one);
 * - an assigned execution-cluster label that routes nowhere in the live clusters.yaml (the
 *   routing guard, run on what the ConfigMaps hold);
 * - a clusters.yaml that cannot be read, or that the configuration cannot be merged into.
 *
 * Entries and labels members the configuration does not name are the chart's own and left alone.
 */
import { isDeepStrictEqual } from 'node:util';
import { stringify as toYaml } from 'yaml';
import type { Config } from '../config/schema.ts';
import { describeError, errorCode } from '../errors.ts';
import { mergeClustersYaml, yamlParses, type ClusterConfigEntry, type ClustersGuard, type DataPlaneRouting, type YamlParse } from './render.ts';
import type { CredentialRecord } from '../stores/types.ts';

/**
 * The `clusters` mapping of a clusters.yaml text ({} when absent or not a mapping).
 * @throws what `parse` throws
 */
export function clustersMapping(text: string | undefined, parse: YamlParse): Record<string, unknown> {
  const doc = text ? (parse(text) as { clusters?: unknown } | null) : undefined;
  const c = doc?.clusters;
  return c && typeof c === 'object' && !Array.isArray(c) ? (c as Record<string, unknown>) : {};
}

/** What the routing guard's refusal carries (lib/labels/errors.ts LabelRoutingError; not imported: labels builds on this room). */
interface RefusedAssignment {
  scope: string;
  label: string;
  source: string;
  reason: string;
}

/** How many drift lines a report carries (then "and N more"). */
export const MAX_DRIFT_ITEMS = 20;
/** How much of the values to commit a report carries (the whole: `credsync export-values`). */
export const MAX_VALUES_CHARS = 4000;

export interface DriftReport {
  code: 'CONTROL_PLANE_DRIFT';
  /** What differs, one line each, at most {@link MAX_DRIFT_ITEMS} (then `and N more`). */
  items: string[];
  /** How many differences there are in all. */
  count: number;
  /** The flyte-core values to commit (`configmap.clusters`), at most {@link MAX_VALUES_CHARS} characters. */
  values: string;
  /** Whether {@link values} was cut (the whole: `credsync export-values`). */
  valuesTruncated: boolean;
  /** Some drift is an assigned label that routes nowhere: labels-as-code is not applied this run. */
  routing: boolean;
}

/** One ConfigMap as read. */
export interface LiveClustersYaml {
  name: string;
  /** Its clusters.yaml text; undefined when the key is absent. */
  text: string | undefined;
}

export interface DriftInput {
  cfg: Config;
  /** Every configured data plane's current credential (its endpoint). */
  records: ReadonlyMap<string, CredentialRecord>;
  configMaps: readonly LiveClustersYaml[];
  /** The keys the credentials Secret holds (after this run's write). */
  secretKeys: ReadonlySet<string>;
  /** The routing guard (lib/labels/run.ts), run on each live text. */
  guard?: ClustersGuard;
  parse?: YamlParse;
}

type Clusters = Record<string, unknown>;
interface LabelMember {
  id?: unknown;
  weight?: unknown;
}

const entriesOf = (c: Clusters): ClusterConfigEntry[] =>
  (Array.isArray(c['clusterConfigs']) ? (c['clusterConfigs'] as unknown[]) : []).filter((e): e is ClusterConfigEntry => !!e && typeof e === 'object' && typeof (e as { name?: unknown }).name === 'string');
const labelsOf = (c: Clusters): Record<string, LabelMember[]> => {
  const m = c['labelClusterMap'];
  if (!m || typeof m !== 'object' || Array.isArray(m)) return {};
  return Object.fromEntries(Object.entries(m as Record<string, unknown>).map(([k, v]) => [k, Array.isArray(v) ? (v as LabelMember[]) : []]));
};
const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));

/** The differences of one live `clusters` mapping from the configured rendering `want` (see the module header). */
export function clustersDrift(live: Clusters, want: Clusters, cfg: Config, secretKeys: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const configured = new Set(cfg.dataPlanes.map((d) => d.id));
  const liveEntries = new Map(entriesOf(live).map((e) => [e.name, e]));
  for (const w of entriesOf(want)) {
    if (!configured.has(w.name)) continue;
    const l = liveEntries.get(w.name);
    if (!l) {
      out.push(`data plane ${w.name}: missing from clusterConfigs`);
      continue;
    }
    const fields: Array<[string, unknown, unknown]> = [
      ['endpoint', l.endpoint, w.endpoint],
      ['enabled', l.enabled, w.enabled],
      ['auth.tokenPath', l.auth?.tokenPath, w.auth?.tokenPath],
      ['auth.certPath', l.auth?.certPath, w.auth?.certPath],
      ['kubeClientConfig', l.kubeClientConfig, w.kubeClientConfig],
    ];
    const differ = fields.filter(([, a, b]) => !isDeepStrictEqual(a, b));
    for (const [f, a, b] of differ) out.push(`data plane ${w.name}: ${f} is ${show(a)}, configured ${show(b)}`);
  }
  // Labels: the members that are configured data planes.
  const liveLabels = labelsOf(live), wantLabels = labelsOf(want);
  for (const label of [...new Set([...Object.keys(liveLabels), ...Object.keys(wantLabels)])].sort()) {
    const have = new Map((liveLabels[label] ?? []).filter((m) => configured.has(String(m?.id))).map((m) => [String(m.id), m.weight]));
    const need = new Map((wantLabels[label] ?? []).filter((m) => configured.has(String(m?.id))).map((m) => [String(m.id), m.weight]));
    for (const [id, weight] of need) {
      if (!have.has(id)) out.push(`label ${label}: data plane ${id} missing (configured weight ${show(weight)})`);
      else if (!isDeepStrictEqual(have.get(id), weight)) out.push(`label ${label}: data plane ${id} has weight ${show(have.get(id))}, configured ${show(weight)}`);
    }
    for (const id of have.keys()) if (!need.has(id)) out.push(`label ${label}: data plane ${id} is a member, not configured in this label`);
  }
  if (cfg.controlPlane.defaultExecutionLabel !== undefined && live['defaultExecutionLabel'] !== cfg.controlPlane.defaultExecutionLabel)
    out.push(`defaultExecutionLabel is ${show(live['defaultExecutionLabel'])}, configured ${show(cfg.controlPlane.defaultExecutionLabel)}`);
  // Every entry's files must be in the Secret, configured or not: flyteadmin reads them all at start-up.
  const mount = cfg.controlPlane.mountPath === '/' ? '' : cfg.controlPlane.mountPath;
  for (const e of liveEntries.values()) {
    for (const [f, path] of [['tokenPath', e.auth?.tokenPath], ['certPath', e.auth?.certPath]] as const) {
      if (typeof path !== 'string' || !path.startsWith(`${mount}/`)) continue;
      const key = path.slice(mount.length + 1);
      if (!secretKeys.has(key))
        out.push(`cluster ${e.name}: auth.${f} ${path} names key ${key}, which Secret ${cfg.controlPlane.credentialsSecret} does not hold (flyteadmin stops at start-up)`);
    }
  }
  return out;
}

/** Where each configured data plane stands in a live `clusters` mapping (the report's `published`). */
export function routingOf(clusters: Clusters, ids: readonly string[]): Map<string, DataPlaneRouting> {
  const entries = new Map(entriesOf(clusters).map((e) => [e.name, e]));
  const labels = labelsOf(clusters);
  const out = new Map<string, DataPlaneRouting>();
  for (const id of ids) {
    const e = entries.get(id);
    out.set(id, {
      listed: !!e,
      enabled: e?.enabled === true,
      labels: Object.entries(labels).filter(([, ms]) => ms.some((m) => m?.id === id)).map(([l]) => l).sort(),
      keptInLabels: [],
    });
  }
  return out;
}

/** `configmap.clusters` as flyte-core values: what to commit. */
export function valuesText(clusters: Clusters): string {
  return toYaml({ configmap: { clusters } }, { lineWidth: 0 });
}

/**
 * Compares every live ConfigMap with the configured rendering (see the module header).
 *
 * @returns the drift, or undefined when there is none
 */
export function checkDrift(input: DriftInput): DriftReport | undefined {
  const { cfg } = input;
  const parse = input.parse ?? yamlParses();
  const found = new Map<string, string[]>(); // drift line -> the ConfigMaps it was found in
  const add = (line: string, cm: string) => found.set(line, [...(found.get(line) ?? []), cm]);
  let values: string | undefined;
  let routing = false;
  for (const cm of input.configMaps) {
    const where = `ConfigMap ${cfg.controlPlane.namespace}/${cm.name} key ${cfg.controlPlane.configKey}`;
    if (cm.text === undefined) add(`${cfg.controlPlane.configKey} is missing`, cm.name);
    let live: Clusters;
    try {
      live = clustersMapping(cm.text, parse);
    } catch (err) {
      add(`${cfg.controlPlane.configKey} is not valid YAML (${describeError(err).replace(/\s+/g, ' ').slice(0, 200)})`, cm.name);
      live = {};
    }
    // The rendering: the configured data planes merged into what is there (the chart's own entries kept).
    let want: Clusters;
    try {
      want = clustersMapping(mergeClustersYaml(cm.text, new Set(), cfg, { records: input.records, parse }, where).text, parse);
    } catch (err) {
      add(`the configuration cannot be merged into it: ${describeError(err).replace(/\s+/g, ' ').slice(0, 300)}`, cm.name);
      try {
        want = clustersMapping(mergeClustersYaml(undefined, new Set(), cfg, { records: input.records }, 'the configured rendering').text, yamlParses());
      } catch {
        want = {};
      }
    }
    values ??= valuesText(want);
    for (const line of clustersDrift(live, want, cfg, input.secretKeys)) add(line, cm.name);
    try {
      if (cm.text !== undefined) input.guard?.(cm.text, cm.text, where, parse);
    } catch (err) {
      const problems = (err as { problems?: RefusedAssignment[] } | undefined)?.problems;
      if (errorCode(err) !== 'LABEL_ROUTING' || !Array.isArray(problems)) throw err;
      routing = true;
      for (const p of problems) add(`label routing: ${p.scope} -> "${p.label}" (${p.source}) routes nowhere: ${p.reason.replace(/ \[ConfigMap [^\]]*\]$/, '')}`, cm.name);
    }
  }
  if (!found.size) return undefined;
  const all = input.configMaps.length;
  const lines = [...found].map(([line, cms]) => (cms.length === all ? line : `${line} [${cms.join(', ')}]`));
  const items = lines.slice(0, MAX_DRIFT_ITEMS);
  if (lines.length > MAX_DRIFT_ITEMS) items.push(`and ${lines.length - MAX_DRIFT_ITEMS} more`);
  const text = values ?? valuesText({});
  return {
    code: 'CONTROL_PLANE_DRIFT',
    items,
    count: lines.length,
    values: text.length > MAX_VALUES_CHARS ? text.slice(0, text.lastIndexOf('\n', MAX_VALUES_CHARS) + 1) : text,
    valuesTruncated: text.length > MAX_VALUES_CHARS,
    routing,
  };
}
