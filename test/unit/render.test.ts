import { parse, stringify } from 'yaml';
import { describe, expect, it } from '@jest/globals';
import { cloneTree, mergeClustersYaml, yamlParses, type YamlParse } from '../../lib/controlplane/render.ts';
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

  it("parses each distinct text once per plan: the merge's comparison and the guard reuse it, the tree stays untouched", () => {
    const cfg = testConfig(['dp1', 'dp2']);
    const records = new Map([['dp1', rec('dp1')], ['dp2', rec('dp2')]]);
    const current = mergeClustersYaml(undefined, new Set(), cfg, { records }, 'cm').text + 'notOurs: {keep: [1, {deep: true}]}\n';
    const parsed: string[] = [];
    const shared = yamlParses((text) => (parsed.push(text), parse(text)));
    const seen: unknown[] = [];
    const guard = (next: string, before: string | undefined, _where: string, parse?: YamlParse) => void seen.push(parse!(next), parse!(before!));
    // A no-op over two ConfigMaps holding the same text: one parse in all.
    for (const cm of ['cm1', 'cm2']) {
      const r = mergeClustersYaml(current, new Set(['dp1', 'dp2']), cfg, { records, parse: shared, guard }, cm);
      expect([r.changed, r.text]).toEqual([false, current]);
    }
    expect(parsed).toEqual([current]);
    expect(seen.every((t) => t === shared(current))).toBe(true);
    expect(shared(current)).toEqual(parse(current)); // the shared tree was not merged into
    // A change: the written text is parsed (once) for the guard, the current one is not parsed again.
    const cfg3 = testConfig(['dp1', 'dp2', 'dp3']);
    const records3 = new Map([...records, ['dp3', rec('dp3')]]);
    const changed = mergeClustersYaml(current, new Set(['dp1', 'dp2']), cfg3, { records: records3, parse: shared, guard }, 'cm1');
    expect(changed.changed).toBe(true);
    expect(parsed.filter((t) => t === current)).toHaveLength(1);
    expect(parsed.filter((t) => t === changed.text)).toHaveLength(1);
    expect(seen.at(-2)).toEqual(parse(changed.text));
    expect(shared(current)).toEqual(parse(current));
  });

  it('cloneTree copies a parsed tree deeply: equal, nothing shared, prototypes, __proto__ keys, shared nodes and cycles kept', () => {
    const tree = parse('a: &x {b: [1, 2.5, null, true, "s"]}\nc: *x\n"__proto__": {polluted: 1}\nd: .nan\n') as Record<string, unknown>;
    const copy = cloneTree(tree) as Record<string, unknown>;
    expect(copy).toStrictEqual(tree);
    expect(copy).not.toBe(tree);
    expect(copy['a']).not.toBe(tree['a']);
    expect((copy['a'] as { b: unknown }).b).not.toBe((tree['a'] as { b: unknown }).b);
    expect(copy['c']).toBe(copy['a']); // an alias stays one node
    expect(Object.getPrototypeOf(copy)).toBe(Object.getPrototypeOf(tree));
    expect(Object.prototype.hasOwnProperty.call(copy, '__proto__')).toBe(true);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic['self'] = cyclic;
    const c2 = cloneTree(cyclic) as Record<string, unknown>;
    expect(c2['self']).toBe(c2);
    expect(c2).not.toBe(cyclic);
    const date = new Date(0);
    expect(cloneTree({ date })).toEqual({ date });
  });
});
