/**
 * Who else writes the objects credsync writes: the ownership markers Helm, Argo CD and Flux leave
 * on what they apply, and what each means for credsync (the consequence, and the mode to choose).
 * Pure functions, no I/O: `credsync doctor` (lib/doctor) and the sync's report (./apply.ts) use them.
 *
 * The markers (checked against each tool's documentation):
 * - **Helm** (`helm install/upgrade`, and Flux's helm-controller, which runs Helm): the label
 *   `app.kubernetes.io/managed-by: Helm` and the annotations `meta.helm.sh/release-name` /
 *   `meta.helm.sh/release-namespace`. A chart rendered by `helm template` (what Argo CD does) has the
 *   label but not the annotations.
 * - **Argo CD**: the annotation `argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<ns>/<name>`
 *   (tracking method `annotation`, the default since Argo CD 3.0, and `annotation+label`), or the
 *   label `app.kubernetes.io/instance: <app>` (tracking method `label`, the default before 3.0; a
 *   label many charts set too, so it counts only on an object no Helm release or Flux marks and whose
 *   `app.kubernetes.io/managed-by`, if any, is `Helm`: a chart Argo CD rendered). Argo CD can be
 *   told to track with another label; `argocd.argoproj.io/instance` is the one its docs show.
 * - **Flux**: the labels `kustomize.toolkit.fluxcd.io/name` / `namespace` (kustomize-controller) and
 *   `helm.toolkit.fluxcd.io/name` / `namespace` (helm-controller, on every object of the release).
 */

/** The tools whose markers are recognised. */
export type OwnerTool = 'helm' | 'argocd' | 'flux';

/** One tool that manages an object, as its markers say. */
export interface ObjectOwner {
  tool: OwnerTool;
  /** Who, in the tool's terms: `Helm release flyte/flyte`, `Argo CD application flyte`, `Flux Kustomization flux-system/apps`. */
  name: string;
  /** The marker it was recognised by (a label or annotation key). */
  marker: string;
}

/** An object's labels and annotations (what the markers are). */
export interface ObjectMeta {
  labels?: Readonly<Record<string, string>>;
  annotations?: Readonly<Record<string, string>>;
}

export const HELM_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const HELM_RELEASE_NAME = 'meta.helm.sh/release-name';
export const HELM_RELEASE_NAMESPACE = 'meta.helm.sh/release-namespace';
export const ARGOCD_TRACKING_ID = 'argocd.argoproj.io/tracking-id';
export const ARGOCD_INSTANCE_LABELS = ['app.kubernetes.io/instance', 'argocd.argoproj.io/instance'] as const;
export const FLUX_KUSTOMIZE = 'kustomize.toolkit.fluxcd.io';
export const FLUX_HELM = 'helm.toolkit.fluxcd.io';

/** A marker's value as shown: short, one line (a label value is at most 63 characters; an annotation may be longer). */
const shown = (v: string) => {
  const one = v.replace(/\s+/g, ' ').trim();
  return one.length > 100 ? `${one.slice(0, 100)}...` : one;
};
const qualified = (ns: string | undefined, name: string) => shown(ns ? `${ns}/${name}` : name);

/**
 * The tools that manage an object, most specific first (a Flux HelmRelease before the Helm release
 * it runs); empty when no marker is there.
 */
export function detectOwners(meta: ObjectMeta): ObjectOwner[] {
  const labels = meta.labels ?? {};
  const annotations = meta.annotations ?? {};
  const out: ObjectOwner[] = [];
  const fluxHelm = labels[`${FLUX_HELM}/name`];
  if (fluxHelm) out.push({ tool: 'flux', name: `Flux HelmRelease ${qualified(labels[`${FLUX_HELM}/namespace`], fluxHelm)}`, marker: `${FLUX_HELM}/name` });
  const fluxKs = labels[`${FLUX_KUSTOMIZE}/name`];
  if (fluxKs) out.push({ tool: 'flux', name: `Flux Kustomization ${qualified(labels[`${FLUX_KUSTOMIZE}/namespace`], fluxKs)}`, marker: `${FLUX_KUSTOMIZE}/name` });
  const tracking = annotations[ARGOCD_TRACKING_ID];
  if (tracking) {
    // <app>:<group>/<kind>:<namespace>/<name>; an app in another namespace is written <ns>_<app>.
    const app = tracking.split(':')[0] || tracking;
    out.push({ tool: 'argocd', name: `Argo CD application ${shown(app)}`, marker: ARGOCD_TRACKING_ID });
  }
  const release = annotations[HELM_RELEASE_NAME];
  if (release) out.push({ tool: 'helm', name: `Helm release ${qualified(annotations[HELM_RELEASE_NAMESPACE], release)}`, marker: HELM_RELEASE_NAME });
  const managedBy = labels[HELM_MANAGED_BY];
  if (!release && !tracking && !out.length && (managedBy === undefined || managedBy === 'Helm')) {
    // Label tracking: the instance label names the application. The same label is a chart's own
    // (the release name) on an object a Helm release marks, and another tool's when a Flux marker or
    // a managed-by label naming another tool is there: only without those.
    for (const key of ARGOCD_INSTANCE_LABELS) {
      const app = labels[key];
      if (app) {
        out.push({ tool: 'argocd', name: `Argo CD application ${shown(app)} (label tracking)`, marker: key });
        break;
      }
    }
  }
  if (!release && !out.length && labels[HELM_MANAGED_BY] === 'Helm')
    out.push({ tool: 'helm', name: 'a rendered Helm chart (no release annotations: helm template, or a GitOps tool)', marker: HELM_MANAGED_BY });
  return out;
}

/** What credsync does with an object. */
export type ObjectRole =
  /** The credentials Secret: credsync writes it in every mode. */
  | 'secret'
  /** A clusters.yaml ConfigMap: credsync writes it in mode `owner`, only reads it in mode `gitops`. */
  | 'configmap'
  /** flyteadmin / syncresources: credsync only sets pod-template annotations to restart them. */
  | 'deployment';

/** The control-plane modes (config `controlPlane.mode`). */
export type ControlPlaneMode = 'owner' | 'gitops';

/**
 * How well an ownership fits the mode:
 * - `ok`: nothing to do;
 * - `warn`: works, with the consequence named (another writer reverts what credsync repairs, or
 *   nothing manages what credsync no longer writes): choose the mode named;
 * - `problem`: another tool would undo what only credsync can write; fix it outside credsync.
 */
export type OwnershipSeverity = 'ok' | 'warn' | 'problem';

export interface ObjectOwnership {
  /** `Secret flyte/cluster-credentials`, `ConfigMap flyte/flyte-admin-clusters-config`, `Deployment flyte/flyteadmin`. */
  object: string;
  role: ObjectRole;
  /** The tools that manage it (empty: none found; credsync is then the only writer). */
  owners: ObjectOwner[];
  severity: OwnershipSeverity;
  /** What happens, in one sentence. */
  consequence: string;
  /** The mode to choose, or what to change; absent when nothing is to be done. */
  advice?: string;
}

const who = (owners: readonly ObjectOwner[]) => owners.map((o) => o.name).join(' and ');
const reverter = (o: ObjectOwner): string =>
  o.tool === 'helm'
    ? `\`helm upgrade\` of ${o.name.replace(/^Helm release /, 'release ')} writes the chart's clusters.yaml (configmap.clusters) back`
    : o.tool === 'argocd'
      ? `${o.name} reverts clusters.yaml to the chart's on its next sync (at once with self-heal)`
      : `${o.name} reverts clusters.yaml to the chart's on every reconciliation`;

/**
 * What an object's ownership means for credsync in `mode` (see {@link OwnershipSeverity}).
 *
 * @param object how the object is named in the report (`ConfigMap flyte/flyte-admin-clusters-config`)
 */
export function assessOwnership(object: string, role: ObjectRole, meta: ObjectMeta, mode: ControlPlaneMode): ObjectOwnership {
  const owners = detectOwners(meta);
  const base = { object, role, owners };
  if (role === 'secret') {
    if (!owners.length) return { ...base, severity: 'ok', consequence: 'written by credsync only' };
    return {
      ...base,
      severity: 'problem',
      consequence: `managed by ${who(owners)} too: it would write the Secret back without the data planes' keys (or delete it), and flyteadmin would stop on its next start (missing token file)`,
      advice: 'take the Secret out of that chart or repository: credsync writes it in every mode (the chart only mounts it: flyteadmin.additionalVolumes)',
    };
  }
  if (role === 'deployment') {
    if (!owners.length) return { ...base, severity: 'ok', consequence: 'credsync sets only its restart annotations on the pod template' };
    return {
      ...base,
      severity: 'ok',
      consequence: `managed by ${who(owners)}; credsync sets only its restart annotations on the pod template, which ${owners[0]!.tool === 'helm' ? "helm upgrade's three-way merge leaves in place" : 'are not in its manifests and are left in place'}`,
    };
  }
  // A clusters.yaml ConfigMap.
  if (mode === 'gitops') {
    if (owners.length)
      return { ...base, severity: 'ok', consequence: `managed by ${who(owners)}; in mode gitops credsync only reads clusters.yaml and reports drift from its configuration` };
    return {
      ...base,
      severity: 'warn',
      consequence: 'no Helm, Argo CD or Flux marker: in mode gitops credsync does not write clusters.yaml, and nothing else seems to',
      advice: 'render it from your chart (configmap.clusters from `credsync export-values`), or choose controlPlane.mode: owner',
    };
  }
  if (!owners.length) return { ...base, severity: 'ok', consequence: 'written by credsync only (mode owner)' };
  return {
    ...base,
    severity: 'warn',
    consequence: `managed by ${who(owners)}: ${reverter(owners[0]!)}; the next sync repairs it and restarts flyteadmin and syncresources, and the two writers keep undoing each other`,
    advice: 'choose controlPlane.mode: gitops and put `credsync export-values` (configmap.clusters) into the chart\'s values',
  };
}

/** One line per object that is not `ok` (with `all`, every object): `! ConfigMap flyte/x: <consequence>; <advice>`. */
export function formatOwnership(list: readonly ObjectOwnership[], opts: { all?: boolean; indent?: string } = {}): string[] {
  const mark = { ok: '✓', warn: '!', problem: '✗' } as const;
  return list
    .filter((o) => opts.all || o.severity !== 'ok')
    .map((o) => `${opts.indent ?? ''}${mark[o.severity]} ${o.object}: ${o.consequence}${o.advice ? `; ${o.advice}` : ''}`);
}
