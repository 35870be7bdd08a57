import { describe, expect, it } from '@jest/globals';
import { dataPlaneFromTags } from '../../lib/discovery/eks.ts';
import { mergeDiscovered } from '../../lib/discovery/merge.ts';
import { testConfig } from './fakes.ts';

describe('EKS discovery: tags to data planes', () => {
  it('reads id, labels, enabled and flyteadmin endpoint from the documented tags, with defaults', () => {
    const dp = dataPlaneFromTags('prod-west', 'us-west-2', {
      'flyte-credsync/labels': 'team1=1, gpu=0.25',
      'flyte-credsync/enabled': 'false',
      'flyte-credsync/flyteadmin-endpoint': 'https://prod-west.internal',
    }, {});
    expect(dp).toMatchObject({
      id: 'prod-west',
      access: { type: 'eks', clusterName: 'prod-west', region: 'us-west-2' },
      labels: { team1: 1, gpu: 0.25 },
      enabled: false,
      flyteadminEndpoint: 'https://prod-west.internal',
      eksClusterName: 'prod-west',
      namespace: 'flyte',
      serviceAccount: 'flyteadmin',
      tokenSecret: 'flyteadmin-token',
    });
    expect(dataPlaneFromTags('Prod', 'us-west-2', { 'flyte-credsync/id': 'prod' }, {})).toMatchObject({ id: 'prod', eksClusterName: 'Prod' });
  });

  it('says what is wrong with malformed tags, validated like written configuration', () => {
    expect(dataPlaneFromTags('c', 'us-east-1', { 'flyte-credsync/labels': 'team1:1' }, {})).toBe('tag flyte-credsync/labels: "team1:1" is not label=weight');
    expect(dataPlaneFromTags('c', 'us-east-1', { 'flyte-credsync/labels': 'team1=3' }, {})).toBe('tag flyte-credsync/labels: weight must be in [0, 1]');
    expect(dataPlaneFromTags('c', 'us-east-1', { 'flyte-credsync/labels': 'Team1=1' }, {})).toBe('tag flyte-credsync/labels: labels must be lower-case alphanumerics, -, _ or .');
    expect(dataPlaneFromTags('Prod.West', 'us-east-1', {}, {})).toMatch(/^tag flyte-credsync\/id \(or the cluster name\): must be lower-case/);
    expect(dataPlaneFromTags('c', 'us-east-1', { 'flyte-credsync/enabled': 'yes' }, {})).toBe('tag flyte-credsync/enabled: must be true or false, not "yes"');
  });

  it('a written entry overrides a discovered one with the same id; two discovered with one id are both skipped', () => {
    const written = testConfig(['dp1']).dataPlanes;
    const d = (name: string, id?: string) => dataPlaneFromTags(name, 'us-east-1', id ? { 'flyte-credsync/id': id } : {}, {}) as never;
    const r = mergeDiscovered(written, { dataPlanes: [d('dp1'), d('a', 'twin'), d('b', 'twin'), d('fresh')], skipped: [] });
    expect(r.dataPlanes.map((x) => [x.id, x.access.type])).toEqual([['dp1', 'kubeconfig'], ['fresh', 'eks']]);
    expect(r.skipped.map((s) => s.reason)).toEqual(['id "twin" is claimed by more than one discovered cluster', 'id "twin" is claimed by more than one discovered cluster']);
  });
});
