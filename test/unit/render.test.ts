import { parse, stringify } from 'yaml';
import { describe, expect, it } from '@jest/globals';
import { mergeClustersYaml } from '../../lib/controlplane/render.ts';
import { makeRecord } from '../../lib/stores/types.ts';
import { testCa, testConfig } from './fakes.ts';

const rec = (id: string) =>
  makeRecord({ clusterId: id, endpoint: `https://${id}:6443`, token: `t-${id}-aaaaaaaa`, caCert: testCa(), source: { server: 's', namespace: 'flyte', serviceAccount: 'flyteadmin', secret: 'flyteadmin-token' } });

describe('mergeClustersYaml', () => {
  it('refuses a result flyteadmin would crash on, before anything is written', () => {
    const cfg = testConfig(['dp1']);
    const dup = 'clusters:\n  clusterConfigs:\n    - {name: x, inCluster: true}\n    - {name: x, inCluster: true}\n';
    expect(() => mergeClustersYaml(dup, new Set(), cfg, { records: new Map([['dp1', rec('dp1')]]) }, 'cm')).toThrow(
      'cm: the merged clusters.yaml would stop flyteadmin: duplicate cluster name "x" in clusterConfigs',
    );
    const orphanLabel = 'clusters:\n  labelClusterMap:\n    team2: [{id: ghost, weight: 1}]\n';
    expect(() => mergeClustersYaml(orphanLabel, new Set(), cfg, { records: new Map([['dp1', rec('dp1')]]) }, 'cm')).toThrow('label "team2" names unknown cluster "ghost"');
    expect(() => mergeClustersYaml(undefined, new Set(), cfg, { records: new Map() }, 'cm')).toThrow('no enabled cluster');
    expect(() => mergeClustersYaml('clusters: [1, 2]', new Set(), cfg, { records: new Map() }, 'cm')).toThrow('cm: clusters is not a mapping');
    expect(() => mergeClustersYaml('clusters: {', new Set(), cfg, { records: new Map() }, 'cm')).toThrow(/cm is not valid YAML/);
  });

  it('keeps the original text when the content is the same, whatever its formatting', () => {
    const cfg = testConfig(['dp1']);
    const first = mergeClustersYaml(undefined, new Set(), cfg, { records: new Map([['dp1', rec('dp1')]]) }, 'cm');
    // Really reformatted: 4-space indentation, flow-style sequences, a comment; the same content.
    const reformatted = '# a comment\n' + stringify(parse(first.text), { indent: 4, collectionStyle: 'flow' });
    expect(reformatted).not.toBe(first.text);
    expect(parse(reformatted)).toEqual(parse(first.text));
    const again = mergeClustersYaml(reformatted, first.managed, cfg, { records: new Map([['dp1', rec('dp1')]]) }, 'cm');
    expect(again.changed).toBe(false);
    expect(again.text).toBe(reformatted);
  });

  it('a disabled data plane keeps its entry and credentials paths but is in no label', () => {
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { enabled: false } : {}));
    const r = mergeClustersYaml(undefined, new Set(), cfg, { records: new Map([['dp1', rec('dp1')], ['dp2', rec('dp2')]]) }, 'cm');
    expect(r.text).toContain('name: dp2');
    expect(r.text).toMatch(/name: dp2\n\s+endpoint: https:\/\/dp2:6443\n\s+enabled: false/);
    expect(r.text).not.toMatch(/id: dp2/);
  });
});
