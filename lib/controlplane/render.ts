/**
 * Renders what the control plane must hold, merged with what is there: the credentials
 * Secret (`<id>_token`, `<id>_cacert`) and `clusters.yaml` (flyteadmin's
 * clusters.labelClusterMap / clusterConfigs / defaultExecutionLabel). Pure functions: no I/O.
 *
 * Ownership: a clusterConfigs entry is ours when its cluster is configured, or when a previous
 * run wrote it (listed in the ConfigMap's MANAGED_ANNOTATION). Everything else (other keys,
 * other entries such as an inCluster one, other labels' members) is kept as it is.
 * A data plane removed from the configuration stays, disabled, with its credentials: removing
 * it would break aborts of executions still running there.
 */
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { Config, DataPlane, KubeClientConfig } from '../config/schema.ts';
import { CredsyncError } from '../errors.ts';
import type { CredentialRecord } from '../stores/types.ts';
import { assertNoEmptiedLabels, enabledLabelMembers, isEnabledEntry } from './labels.ts';
import { echo, MAX_ECHO_ITEMS } from '../util/bounded.ts';

export const MANAGED_ANNOTATION = 'flyte-credsync.io/managed-clusters';
/** ConfigMap annotation: data planes out of routing until their credential verifies again (see RenderInput.unrouted). */
export const UNROUTED_ANNOTATION = 'flyte-credsync.io/unrouted-clusters';
/**
 * ConfigMap annotation: the data planes draining and since when, `<id>@<RFC 3339 time>` comma-separated
 * (see RenderInput.draining). Written with the routing change it causes, so a drain requested from the
 * command line (`credsync drain`) needs no configuration change and survives every later run.
 */
export const DRAINING_ANNOTATION = 'flyte-credsync.io/draining-clusters';

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/**
 * The DRAINING_ANNOTATION of a ConfigMap: id -> since. An id whose time is missing or not a time
 * (a hand edit) is draining with an unknown start (`''`): the next write records the run's time.
 */
export function parseDrainList(annotations: Record<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of (annotations[DRAINING_ANNOTATION] ?? '').split(',')) {
    const s = item.trim();
    if (!s) continue;
    const at = s.indexOf('@');
    const id = at < 0 ? s : s.slice(0, at);
    const since = at < 0 ? '' : s.slice(at + 1);
    if (id) out.set(id, ISO_TIME.test(since) ? since : '');
  }
  return out;
}

/** The DRAINING_ANNOTATION value for `since` (id -> time), sorted by id; '' when none drains. */
export function formatDrainList(since: ReadonlyMap<string, string>): string {
  return [...since].sort(([a], [b]) => a.localeCompare(b)).map(([id, t]) => `${id}@${t}`).join(',');
}

export interface ClusterConfigEntry {
  name: string;
  endpoint?: string;
  enabled?: boolean;
  inCluster?: boolean;
  auth?: { tokenPath?: string; certPath?: string; [k: string]: unknown };
  kubeClientConfig?: KubeClientConfig;
  [k: string]: unknown;
}
interface LabelEntry {
  id: string;
  weight?: number;
  [k: string]: unknown;
}

export const tokenKey = (id: string) => `${id}_token`;
export const caKey = (id: string) => `${id}_cacert`;

/** A comma-separated id list annotation (MANAGED_ANNOTATION, UNROUTED_ANNOTATION) as a set. */
export function parseIdList(annotations: Record<string, string>, key: string): Set<string> {
  return new Set((annotations[key] ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}

/** The cluster ids a ConfigMap's `flyte-credsync.io/managed-clusters` annotation says the sync wrote earlier. */
export const parseManaged = (annotations: Record<string, string>) => parseIdList(annotations, MANAGED_ANNOTATION);

/** Desired Secret data: the existing data with every rendered cluster's token and CA (exact bytes). */
export function renderSecretData(
  existing: Record<string, Buffer>,
  records: ReadonlyMap<string, CredentialRecord>,
  /** Data planes retiring: their keys are removed (lib/stores/lifecycle.ts). */
  retired: ReadonlySet<string> = new Set(),
): { data: Record<string, Buffer>; added: string[]; changed: string[]; removed: string[] } {
  const data: Record<string, Buffer> = { ...existing };
  const added: string[] = [];
  const changed: string[] = [];
  const removed: string[] = [];
  for (const id of [...retired].sort())
    for (const key of [tokenKey(id), caKey(id)])
      if (key in data) {
        delete data[key];
        removed.push(key);
      }
  for (const [id, r] of [...records].sort(([a], [b]) => a.localeCompare(b))) {
    for (const [key, value] of [
      [tokenKey(id), Buffer.from(r.token, 'utf8')],
      [caKey(id), Buffer.from(r.caCert, 'utf8')],
    ] as const) {
      const cur = existing[key];
      if (!cur) added.push(key);
      else if (!cur.equals(value)) changed.push(key);
      data[key] = value;
    }
  }
  return { data, added, changed, removed };
}

function desiredEntry(dp: DataPlane, endpoint: string, mountPath: string): ClusterConfigEntry {
  const base = mountPath === '/' ? '' : mountPath;
  const e: ClusterConfigEntry = {
    name: dp.id,
    endpoint,
    enabled: dp.enabled,
    auth: { tokenPath: `${base}/${tokenKey(dp.id)}`, certPath: `${base}/${caKey(dp.id)}` },
  };
  if (dp.kubeClientConfig && Object.keys(dp.kubeClientConfig).length) e.kubeClientConfig = { ...dp.kubeClientConfig };
  return e;
}

/** What the control plane is rendered from, besides the configuration. */
export interface RenderInput {
  /** The stored credential of every configured data plane that has one (read this run). */
  records: ReadonlyMap<string, CredentialRecord>;
  /**
   * Data planes taken out of routing (their credential was rejected and has not verified since):
   * kept in clusterConfigs with their credentials (aborts still work) but disabled and in no
   * label, unless a label would be left without an enabled member (then kept there; see keptInLabels).
   */
  unrouted?: ReadonlySet<string>;
  /**
   * Data planes draining: kept in clusterConfigs with their credentials (aborts of their running
   * executions still work) but disabled and in no label, never kept in one (unlike `unrouted`):
   * a drain that would empty a label is refused like any other change that does.
   */
  draining?: ReadonlySet<string>;
  /**
   * Data planes retiring (lib/stores/lifecycle.ts): their clusterConfigs entry and label
   * memberships are removed, and they are no longer ours (not in MANAGED_ANNOTATION).
   */
  retired?: ReadonlySet<string>;
  /** Checks the text about to be written (and the one there now); throws to refuse the write. */
  guard?: ClustersGuard;
  /** Parses a clusters.yaml text (default: a new {@link yamlParses}); see there. */
  parse?: YamlParse;
}

/**
 * Parses YAML text as `yaml`'s parse does; the tree it returns may be shared and must not be changed.
 * @throws what `yaml`'s parse throws
 */
export type YamlParse = (text: string) => unknown;

/**
 * A parse of clusters.yaml texts that parses each distinct text once and hands out the same tree
 * (which no caller changes) for it again. One control-plane plan parses the same text up to eight
 * times otherwise (each ConfigMap's text for the merge and for the comparison, and again in the
 * routing guard for the text written and the text there now; a no-op writes the same text, and
 * both ConfigMaps usually hold the same one): at 50 data planes that was a third of a no-op
 * run's CPU. Keep one per plan: it holds the trees.
 *
 * @param parse the parse it remembers (default: `yaml`'s); a text that fails is not remembered
 */
export function yamlParses(parse: YamlParse = parseYaml): YamlParse {
  const trees = new Map<string, unknown>();
  return (text) => {
    if (trees.has(text)) return trees.get(text);
    const tree: unknown = parse(text);
    trees.set(text, tree);
    return tree;
  };
}

/**
 * A deep copy of a parsed YAML tree: arrays and objects are copied (with their prototype, keys as
 * own properties, shared nodes and cycles kept shared), scalars and any other object (none in a
 * YAML 1.2 core tree) are kept.
 */
export function cloneTree(value: unknown, seen = new Map<object, unknown>()): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const v of value) out.push(cloneTree(v, seen));
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== null && Object.getPrototypeOf(proto) !== null) return value; // not a plain object
  const out = Object.create(proto as object | null) as Record<string, unknown>;
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: cloneTree(v, seen), writable: true, enumerable: true, configurable: true });
  return out;
}

/**
 * Called with each clusters.yaml about to be written (and the one there now), before any write and
 * in a dry run too; throws to refuse the whole write (the routing guard, lib/labels/run.ts).
 * `parse` is the plan's (the texts were parsed by it already).
 */
export type ClustersGuard = (next: string, before: string | undefined, where: string, parse?: YamlParse) => void;

/** Where one configured data plane ends up in the rendered clusters.yaml. */
export interface DataPlaneRouting {
  /** It has a clusterConfigs entry. */
  listed: boolean;
  enabled: boolean;
  /** Labels it is a member of. */
  labels: string[];
  /** Labels an unrouted data plane was kept in because it is their last enabled member. */
  keptInLabels: string[];
}

export interface ClustersYamlResult {
  /** The text to write; equal to the input text when nothing changed semantically. */
  text: string;
  changed: boolean;
  managed: Set<string>;
  /** Clusters kept in clusterConfigs as disabled because they left the configuration. */
  disabled: string[];
  /** Every configured data plane's place in the result. */
  routing: Map<string, DataPlaneRouting>;
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw new CredsyncError('CONTROL_PLANE_INVALID', `${what} is not a mapping`);
  return v as Record<string, unknown>;
}

/**
 * Merges the desired clusters into an existing clusters.yaml.
 *
 * Configuration (labels, weights, enabled, kubeClientConfig) applies to every configured data
 * plane that is listed, whether or not its credential could be read this run: one without a
 * stored record keeps the endpoint of its existing entry. One with neither is not listed yet.
 *
 * @throws CredsyncError `CONTROL_PLANE_INVALID` (the text is not a clusters.yaml this can merge,
 *   or the result would stop flyteadmin), `LABEL_WOULD_EMPTY` (a label that had an enabled
 *   member would have none, and is not in controlPlane.retiredLabels)
 */
export function mergeClustersYaml(
  existingText: string | undefined,
  managedBefore: ReadonlySet<string>,
  cfg: Config,
  input: RenderInput,
  where: string,
): ClustersYamlResult {
  const parse = input.parse ?? yamlParses();
  let doc: Record<string, unknown>;
  let before: unknown;
  try {
    // `before` is the parse, untouched, to compare against; `doc` a copy that is merged into (no
    // structuredClone: it changes prototypes across realms).
    before = existingText ? parse(existingText) : undefined;
    doc = asObject(cloneTree(before), where);
  } catch (err) {
    if (err instanceof CredsyncError) throw err;
    throw new CredsyncError('CONTROL_PLANE_INVALID', `${where} is not valid YAML: ${(err as Error).message}`);
  }
  before ??= {};
  const clusters = asObject(doc['clusters'], `${where}: clusters`);
  const configs = (clusters['clusterConfigs'] ?? []) as unknown;
  if (!Array.isArray(configs)) throw new CredsyncError('CONTROL_PLANE_INVALID', `${where}: clusters.clusterConfigs is not a list`);
  const labelMap = asObject(clusters['labelClusterMap'], `${where}: clusters.labelClusterMap`);
  const unrouted = input.unrouted ?? new Set<string>();
  const draining = input.draining ?? new Set<string>();
  const retired = input.retired ?? new Set<string>();

  const existingEntries = new Map<string, ClusterConfigEntry>();
  for (const raw of configs as unknown[]) {
    const e = asObject(raw, `${where}: a clusterConfigs entry`) as ClusterConfigEntry;
    if (typeof e.name === 'string' && !existingEntries.has(e.name)) existingEntries.set(e.name, e);
  }
  const configured = new Map(cfg.dataPlanes.map((d) => [d.id, d]));
  const desired = new Map<string, ClusterConfigEntry>();
  for (const dp of cfg.dataPlanes) {
    if (retired.has(dp.id)) continue;
    const endpoint = dp.flyteadminEndpoint ?? input.records.get(dp.id)?.endpoint ?? existingEntries.get(dp.id)?.endpoint;
    if (typeof endpoint !== 'string') continue; // no credential ever: not listed yet
    const e = desiredEntry(dp, endpoint, cfg.controlPlane.mountPath);
    if (unrouted.has(dp.id) || draining.has(dp.id)) e.enabled = false;
    desired.set(dp.id, e);
  }
  const removed = new Set([...managedBefore].filter((id) => !configured.has(id)));

  const out: ClusterConfigEntry[] = [];
  const placed = new Set<string>();
  const disabled: string[] = [];
  for (const raw of configs as unknown[]) {
    const entry = raw as ClusterConfigEntry;
    const d = desired.get(entry.name);
    // Retiring: removed (a configured one, or one of ours that left the configuration: a deleted cluster).
    if (retired.has(entry.name) && (configured.has(entry.name) || managedBefore.has(entry.name))) continue;
    if (d && !placed.has(entry.name)) {
      out.push(d);
      placed.add(entry.name);
    } else if (removed.has(entry.name)) {
      out.push({ ...entry, enabled: false });
      if (entry.enabled !== false) disabled.push(entry.name);
    } else out.push(entry); // not ours: keep as it is
  }
  for (const id of [...desired.keys()].sort()) if (!placed.has(id)) out.push(desired.get(id)!);

  // Labels: members that are ours (every configured data plane, and those that left) are
  // re-rendered from the configuration; others are kept.
  const ours = new Set([...configured.keys(), ...removed]);
  const desiredLabels = new Map<string, LabelEntry[]>();
  for (const id of [...desired.keys()].sort()) {
    const dp = configured.get(id)!;
    if (!dp.enabled || unrouted.has(id) || draining.has(id)) continue;
    for (const [label, weight] of Object.entries(dp.labels)) {
      const list = desiredLabels.get(label) ?? [];
      list.push({ id, weight });
      desiredLabels.set(label, list);
    }
  }
  const newLabels: Record<string, LabelEntry[]> = {};
  for (const [label, members] of Object.entries(labelMap)) {
    if (!Array.isArray(members)) throw new CredsyncError('CONTROL_PLANE_INVALID', `${where}: labelClusterMap.${label} is not a list`);
    const kept = (members as LabelEntry[]).filter((m) => !ours.has(m?.id));
    const merged = [...kept, ...(desiredLabels.get(label) ?? [])];
    desiredLabels.delete(label);
    if (merged.length) newLabels[label] = merged;
  }
  for (const label of [...desiredLabels.keys()].sort()) newLabels[label] = desiredLabels.get(label)!;

  // An unrouted data plane that is the last enabled member of one of its labels stays there
  // (and enabled): taking it out would silently send that label's executions everywhere.
  const keptInLabels = new Map<string, string[]>();
  for (const id of [...unrouted].sort()) {
    const dp = configured.get(id);
    const entry = desired.get(id);
    if (!dp || !entry || !dp.enabled || draining.has(id)) continue;
    for (const [label, weight] of Object.entries(dp.labels).sort(([a], [b]) => a.localeCompare(b))) {
      if (enabledLabelMembers({ labelClusterMap: { [label]: newLabels[label] ?? [] }, clusterConfigs: out }).has(label)) continue;
      newLabels[label] = [...(newLabels[label] ?? []), { id, weight }];
      entry.enabled = true;
      keptInLabels.set(id, [...(keptInLabels.get(id) ?? []), label]);
    }
  }

  const next: Record<string, unknown> = { ...clusters, labelClusterMap: newLabels, clusterConfigs: out };
  if (cfg.controlPlane.defaultExecutionLabel !== undefined) next['defaultExecutionLabel'] = cfg.controlPlane.defaultExecutionLabel;
  doc['clusters'] = next;

  validateClusters(next, where);
  const changed = !isDeepStrictEqual(before, doc);
  const text = changed || existingText === undefined ? stringifyYaml(doc, { lineWidth: 0 }) : existingText;
  // The routing guard first (it names the FlyteAdmin assignments a label change breaks), then the
  // rule that no label that had an enabled member is left with none.
  input.guard?.(text, existingText, where, parse);
  assertNoEmptiedLabels(asObject((before as Record<string, unknown>)['clusters'], `${where}: clusters`), next, {
    retired: new Set(cfg.controlPlane.retiredLabels),
    where,
  });

  const managed = new Set<string>();
  for (const e of out) if ((configured.has(e.name) && !retired.has(e.name)) || managedBefore.has(e.name)) managed.add(e.name);

  const routing = new Map<string, DataPlaneRouting>();
  for (const id of configured.keys()) {
    const e = desired.get(id);
    routing.set(id, {
      listed: !!e,
      enabled: e?.enabled === true,
      labels: Object.entries(newLabels).filter(([, ms]) => ms.some((m) => m.id === id)).map(([l]) => l).sort(),
      keptInLabels: keptInLabels.get(id) ?? [],
    });
  }

  return { text, changed: changed || existingText === undefined, managed, disabled, routing };
}

/** The checks flyteadmin makes at start-up (a failure there is a crash loop): made before any write. */
export function validateClusters(clusters: Record<string, unknown>, where: string): void {
  const problems: string[] = [];
  const configs = clusters['clusterConfigs'] as ClusterConfigEntry[];
  const names = new Set<string>();
  for (const e of configs) {
    if (typeof e.name !== 'string' || !e.name) problems.push('a clusterConfigs entry has no name');
    else if (names.has(e.name)) problems.push(`duplicate cluster name "${echo(e.name, 100)}" in clusterConfigs`);
    names.add(e.name);
    const k = e.kubeClientConfig;
    if (k && (k.qps ?? 0) > 0 && (k.burst ?? 0) <= 0) problems.push(`cluster ${echo(e.name, 100)}: kubeClientConfig.qps > 0 needs burst > 0`);
  }
  if (!configs.some(isEnabledEntry)) problems.push('no enabled cluster');
  const labels = clusters['labelClusterMap'] as Record<string, LabelEntry[]>;
  for (const [label, members] of Object.entries(labels)) {
    for (const m of members) {
      if (!names.has(m.id)) problems.push(`label "${echo(label, 100)}" names unknown cluster "${echo(m.id, 100)}"`);
      if (typeof m.weight === 'number' && (m.weight < 0 || m.weight > 1))
        problems.push(`label "${echo(label, 100)}": weight of "${echo(m.id, 100)}" is outside [0, 1]`);
    }
  }
  const def = clusters['defaultExecutionLabel'];
  if (typeof def === 'string' && def && !(def in labels)) problems.push(`defaultExecutionLabel "${echo(def, 100)}" is not in labelClusterMap`);
  if (problems.length)
    throw new CredsyncError(
      'CONTROL_PLANE_INVALID',
      `${where}: the merged clusters.yaml would stop flyteadmin: ${problems.slice(0, MAX_ECHO_ITEMS).join('; ')}${problems.length > MAX_ECHO_ITEMS ? `; and ${problems.length - MAX_ECHO_ITEMS} more` : ''}`,
    );
}
