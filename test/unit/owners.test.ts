/** Ownership markers of Helm, Argo CD and Flux, and what each means for credsync (lib/controlplane/owners.ts). */
import { describe, expect, it } from '@jest/globals';
import { assessOwnership, detectOwners, formatOwnership } from '../../lib/controlplane/owners.ts';

// What `helm install flyte flyte-core -n flyte` leaves on the chart's ConfigMaps and Deployments.
const helmRelease = {
  labels: { 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'flyte', 'helm.sh/chart': 'flyte-core-v1.16.8' },
  annotations: { 'meta.helm.sh/release-name': 'flyte', 'meta.helm.sh/release-namespace': 'flyte' },
};

describe('detectOwners', () => {
  it('a Helm release: named by its release annotations; its instance label is the chart\'s, not Argo CD\'s', () => {
    expect(detectOwners(helmRelease)).toEqual([{ tool: 'helm', name: 'Helm release flyte/flyte', marker: 'meta.helm.sh/release-name' }]);
  });

  it('Argo CD by its tracking annotation (annotation tracking), the application before the first colon', () => {
    const meta = { labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'argocd.argoproj.io/tracking-id': 'flyte-prod:/ConfigMap:flyte/flyte-admin-clusters-config' } };
    expect(detectOwners(meta)).toEqual([{ tool: 'argocd', name: 'Argo CD application flyte-prod', marker: 'argocd.argoproj.io/tracking-id' }]);
  });

  it('Argo CD by its instance label (label tracking) when no Helm release marks the object, custom label too', () => {
    // A chart Argo CD renders with `helm template`: managed-by Helm, but no release annotations.
    expect(detectOwners({ labels: { 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'flyte' } })).toEqual([
      { tool: 'argocd', name: 'Argo CD application flyte (label tracking)', marker: 'app.kubernetes.io/instance' },
    ]);
    expect(detectOwners({ labels: { 'argocd.argoproj.io/instance': 'cp' } })[0]!.name).toBe('Argo CD application cp (label tracking)');
    // The recommended label on objects another tool declares it manages, or a Flux object: not Argo CD's.
    expect(detectOwners({ labels: { 'app.kubernetes.io/instance': 'flyte', 'app.kubernetes.io/managed-by': 'kustomize' } })).toEqual([]);
    expect(detectOwners({ labels: { 'app.kubernetes.io/instance': 'flyte', 'kustomize.toolkit.fluxcd.io/name': 'apps' } }).map((o) => o.tool)).toEqual(['flux']);
  });

  it('Flux: a HelmRelease (before the Helm release it runs) and a Kustomization', () => {
    const hr = {
      labels: { ...helmRelease.labels, 'helm.toolkit.fluxcd.io/name': 'flyte', 'helm.toolkit.fluxcd.io/namespace': 'flux-system' },
      annotations: helmRelease.annotations,
    };
    expect(detectOwners(hr).map((o) => [o.tool, o.name])).toEqual([
      ['flux', 'Flux HelmRelease flux-system/flyte'],
      ['helm', 'Helm release flyte/flyte'],
    ]);
    const ks = { labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' } };
    expect(detectOwners(ks)).toEqual([{ tool: 'flux', name: 'Flux Kustomization flux-system/apps', marker: 'kustomize.toolkit.fluxcd.io/name' }]);
  });

  it('no marker (credsync\'s own Secret, a hand-made ConfigMap): nobody; a bare managed-by Helm label: a rendered chart', () => {
    expect(detectOwners({ labels: { 'app.kubernetes.io/managed-by': 'flyte-credsync' } })).toEqual([]);
    expect(detectOwners({})).toEqual([]);
    expect(detectOwners({ labels: { 'app.kubernetes.io/managed-by': 'Helm' } })[0]!.tool).toBe('helm');
  });

  it('a long annotation value is shown cut and on one line', () => {
    const o = detectOwners({ annotations: { 'meta.helm.sh/release-name': 'x'.repeat(500) + '\nevil' } })[0]!;
    expect(o.name.length).toBeLessThan(140);
    expect(o.name).not.toContain('\n');
  });
});

describe('assessOwnership', () => {
  it('a Helm-owned ConfigMap in mode owner: helm upgrade writes clusters.yaml back, the next sync repairs and restarts; choose gitops', () => {
    const a = assessOwnership('ConfigMap flyte/flyte-admin-clusters-config', 'configmap', helmRelease, 'owner');
    expect(a.severity).toBe('warn');
    expect(a.consequence).toBe(
      "managed by Helm release flyte/flyte: `helm upgrade` of release flyte/flyte writes the chart's clusters.yaml (configmap.clusters) back; the next sync repairs it and restarts flyteadmin and syncresources, and the two writers keep undoing each other",
    );
    expect(a.advice).toContain('controlPlane.mode: gitops');
    expect(formatOwnership([a])).toEqual([`! ConfigMap flyte/flyte-admin-clusters-config: ${a.consequence}; ${a.advice}`]);
  });

  it('the same ConfigMap in mode gitops is fine; an unmanaged one in mode gitops is a warning (nobody writes it)', () => {
    const ok = assessOwnership('ConfigMap flyte/x', 'configmap', helmRelease, 'gitops');
    expect([ok.severity, ok.advice]).toEqual(['ok', undefined]);
    expect(assessOwnership('ConfigMap flyte/x', 'configmap', {}, 'gitops')).toMatchObject({ severity: 'warn', advice: expect.stringContaining('controlPlane.mode: owner') });
    expect(assessOwnership('ConfigMap flyte/x', 'configmap', {}, 'owner')).toMatchObject({ severity: 'ok', owners: [] });
  });

  it('Argo CD and Flux revert clusters.yaml on their own schedule: named in the consequence', () => {
    const argo = assessOwnership('ConfigMap flyte/x', 'configmap', { annotations: { 'argocd.argoproj.io/tracking-id': 'cp:/ConfigMap:flyte/x' } }, 'owner');
    expect(argo.consequence).toContain('Argo CD application cp reverts clusters.yaml to the chart\'s on its next sync (at once with self-heal)');
    const flux = assessOwnership('ConfigMap flyte/x', 'configmap', { labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps' } }, 'owner');
    expect(flux.consequence).toContain('Flux Kustomization apps reverts clusters.yaml to the chart\'s on every reconciliation');
  });

  it('a credentials Secret another tool manages is a problem in every mode; a Deployment is fine (only restart annotations)', () => {
    for (const mode of ['owner', 'gitops'] as const) expect(assessOwnership('Secret flyte/cluster-credentials', 'secret', helmRelease, mode).severity).toBe('problem');
    expect(assessOwnership('Secret flyte/cluster-credentials', 'secret', { labels: { 'app.kubernetes.io/managed-by': 'flyte-credsync' } }, 'gitops').severity).toBe('ok');
    const d = assessOwnership('Deployment flyte/flyteadmin', 'deployment', helmRelease, 'owner');
    expect(d).toMatchObject({ severity: 'ok', consequence: expect.stringContaining("helm upgrade's three-way merge leaves in place") });
    expect(formatOwnership([d])).toEqual([]);
    expect(formatOwnership([d], { all: true })[0]).toMatch(/^✓ Deployment flyte\/flyteadmin: managed by Helm release flyte\/flyte/);
  });
});
