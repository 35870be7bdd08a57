/** Labels as code and the routing guard on their own (pure functions and an in-memory admin). */
import { describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../lib/config/load.ts';
import { ConfigError } from '../../lib/errors.ts';
import type { LabelAttribute, LabelScope } from '../../lib/labels/admin.ts';
import { assignedLabels, checkRouting, unroutable } from '../../lib/labels/guard.ts';
import { applyLabels, planLabels } from '../../lib/labels/plan.ts';
import { emptiedLabels, enabledLabelMembers } from '../../lib/controlplane/labels.ts';

const row = (project: string, domain: string, label: string, workflow = '', launchPlan = ''): LabelAttribute => ({ project, domain, workflow, launchPlan, label });

const clusters = {
  labelClusterMap: {
    team1: [{ id: 'dp1', weight: 1 }, { id: 'dp2', weight: 0.5 }],
    gpu: [{ id: 'dp2', weight: 1 }],
    ghosts: [{ id: 'dp9', weight: 1 }],
  },
  clusterConfigs: [
    { name: 'dp1', enabled: true },
    { name: 'dp2', enabled: false },
  ],
};

describe('routing guard', () => {
  it("says why a label routes nowhere, by flyteadmin's rules", () => {
    expect(unroutable(clusters, 'team1')).toBeUndefined();
    expect(unroutable(clusters, 'gpu')).toBe('no enabled cluster carries it (dp2 disabled)');
    expect(unroutable(clusters, 'ghosts')).toBe('no enabled cluster carries it (dp9 not in clusterConfigs)');
    expect(unroutable(clusters, 'nope')).toBe('clusters.yaml does not define it (labelClusterMap has ghosts, gpu, team1)');
    expect(unroutable(clusters, 'Team1')).toMatch(/upper-case letters/);
  });

  it('decides "routes or not" by the same rule as the never-empty check (enabled: true only, inCluster or not)', () => {
    const withLocal = (local: Record<string, unknown>) => ({
      ...clusters,
      labelClusterMap: { ...clusters.labelClusterMap, onprem: [{ id: 'local', weight: 1 }] },
      clusterConfigs: [...clusters.clusterConfigs, { name: 'local', ...local }],
    });
    // An inCluster entry without enabled: true is not a valid target in flyteadmin.
    const off = withLocal({ inCluster: true });
    expect(unroutable(off, 'onprem')).toBe('no enabled cluster carries it (local disabled)');
    expect(enabledLabelMembers(off).has('onprem')).toBe(false);
    expect(emptiedLabels(withLocal({ inCluster: true, enabled: true }), off)).toEqual(['onprem']);
    const on = withLocal({ inCluster: true, enabled: true });
    expect(unroutable(on, 'onprem')).toBeUndefined();
    // The guard and enabledLabelMembers agree on every defined, lower-case label.
    for (const c of [clusters, off, on])
      for (const label of Object.keys(c.labelClusterMap)) expect([label, unroutable(c, label) === undefined]).toEqual([label, enabledLabelMembers(c).has(label)]);
  });

  it('refuses configured assignments and the default label that do not route', () => {
    const assigned = assignedLabels([
      { project: 'p', domain: 'production', label: 'team1' },
      { project: 'p', domain: 'development', workflow: 'wf', label: 'gpu' },
    ]);
    const r = checkRouting({ ...clusters, defaultExecutionLabel: 'ghosts' }, assigned);
    expect(r.refused.map((p) => [p.scope, p.label, p.source])).toEqual([
      ['p/development/wf', 'gpu', 'configuration'],
      ['defaultExecutionLabel', 'ghosts', 'configuration'],
    ]);
    expect(r.alreadyBroken).toEqual([]);
  });

  it('refuses a write that breaks a label set in FlyteAdmin, and only reports one that was broken already', () => {
    const assigned = assignedLabels([], [row('a', 'production', 'gpu'), row('b', '', 'nope'), row('c', 'staging', 'team1', 'wf', 'lp')]);
    expect(assigned.map((a) => a.scope)).toEqual(['a/production', 'b/*', 'c/staging/wf/lp']);
    const before = { ...clusters, clusterConfigs: [{ name: 'dp1', enabled: true }, { name: 'dp2', enabled: true }] };
    const r = checkRouting(clusters, assigned, before);
    expect(r.refused.map((p) => [p.scope, p.source])).toEqual([['a/production', 'flyteadmin']]);
    expect(r.alreadyBroken.map((p) => p.scope)).toEqual(['b/*']);
  });

  it('a configured assignment wins over the FlyteAdmin row of the same scope', () => {
    const assigned = assignedLabels([{ project: 'p', domain: 'd', label: 'team1' }], [row('p', 'd', 'gpu')]);
    expect(assigned).toEqual([{ scope: 'p/d', label: 'team1', source: 'configuration' }]);
  });
});

describe('labels plan', () => {
  it('creates, updates, leaves equal ones, and reports every row it does not own', () => {
    const plan = planLabels(
      [
        { project: 'p', domain: 'production', label: 'team1' },
        { project: 'p', domain: 'staging', label: 'gpu' },
        { project: 'p', domain: 'staging', workflow: 'wf', label: 'gpu' },
      ],
      [row('p', 'production', 'team1'), row('p', 'staging', 'team1'), row('p', 'development', 'x'), row('q', '', 'y'), row('p', 'staging', 'z', 'wf', 'lp')],
    );
    expect(plan.changes.map((c) => [c.scope, c.action, c.current ?? null])).toEqual([
      ['p/production', 'unchanged', 'team1'],
      ['p/staging', 'update', 'team1'],
      ['p/staging/wf', 'create', null],
    ]);
    expect(plan.foreign).toEqual([
      { scope: 'p/development', label: 'x' },
      { scope: 'p/staging/wf/lp', label: 'z' },
      { scope: 'q/*', label: 'y' },
    ]);
  });

  it('a dry run sets nothing; a failed write is reported for its scope and the others still go', async () => {
    const set: string[] = [];
    const admin = {
      listLabels: async () => [row('p', 'production', 'gpu')],
      setLabel: async (s: LabelScope, label: string) => {
        if (s.domain === 'staging') throw new Error('boom');
        set.push(`${s.project}/${s.domain}=${label}`);
      },
    };
    const assignments = [
      { project: 'p', domain: 'staging', label: 'team1' },
      { project: 'p', domain: 'production', label: 'team1' },
    ];
    const dry = await applyLabels(admin, assignments, { dryRun: true });
    expect(set).toEqual([]);
    expect(dry.ok).toBe(true);
    const real = await applyLabels(admin, assignments, { dryRun: false });
    expect(set).toEqual(['p/production=team1']);
    expect(real.ok).toBe(false);
    expect(real.failures).toEqual([{ scope: 'p/staging', code: 'INTERNAL', reason: 'Error: boom' }]);
  });
});

describe('labels configuration', () => {
  const base = (labels: unknown) => ({
    controlPlane: { access: { type: 'kubeconfig', context: 'control' } },
    store: { aws: { region: 'eu-west-1' } },
    dataPlanes: [{ id: 'dp1', access: { type: 'kubeconfig', context: 'dp1' }, labels: { team1: 1 } }],
    labels,
  });
  const issues = (labels: unknown) => {
    try {
      parseConfig(base(labels));
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    }
    throw new Error('expected a ConfigError');
  };

  it('fills the defaults; accepts flytectl-style dns:/// endpoints', () => {
    const c = parseConfig(base({ flyteadmin: { endpoint: 'dns:///flyte.example.com:443' }, assignments: [{ project: 'p', domain: 'production', label: 'team1' }] }));
    expect(c.labels?.flyteadmin).toMatchObject({ insecure: false, timeoutSeconds: 10 });
  });

  it('names every problem: no secret inline, no token over plaintext, lower-case labels, no duplicate scope', () => {
    expect(
      issues({
        flyteadmin: { endpoint: 'https://flyte.example.com', insecure: true, auth: { type: 'clientCredentials', clientId: 'c', clientSecret: 's' } },
        assignments: [
          { project: 'p', domain: 'production', label: 'Team1' },
          { project: 'p', domain: 'production', label: 'team1' },
          { project: 'p', domain: 'production', label: 'team1' },
        ],
      }),
    ).toEqual([
      'labels.flyteadmin.endpoint: must be host:port, e.g. flyte.example.com:443',
      'labels.flyteadmin.auth.clientSecretName: required but missing (a string)',
      'labels.flyteadmin.auth: unknown key(s): labels.flyteadmin.auth.clientSecret',
      'labels.assignments[0].label: labels must be lower-case alphanumerics, -, _ or .',
    ]);
    expect(issues({ flyteadmin: { endpoint: 'a:1', insecure: true, auth: { type: 'clientCredentials', clientId: 'c', clientSecretName: 's' } }, assignments: [{ project: 'p', domain: 'd', label: 'x' }, { project: 'p', domain: 'd', label: 'y' }] })).toEqual([
      'labels.flyteadmin.auth: auth needs TLS: insecure: true would send the access token in clear',
      'labels.assignments[1]: duplicate assignment for p/d (also assignments.0)',
    ]);
  });
});
