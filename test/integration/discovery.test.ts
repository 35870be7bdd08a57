/** EKS discovery against moto's EKS API, through the real @aws-sdk/client-eks. */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CreateClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { discoverEks } from '../../lib/discovery/eks.ts';
import { resolveDataPlanes } from '../../lib/discovery/resolve.ts';
import { parseConfig } from '../../lib/config/load.ts';
import { loadTestEnv, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
// A region of its own, so other tests' clusters in moto do not show up here.
const region = 'ap-southeast-2';
const run = randomBytes(3).toString('hex');
const eks = () => new EKSClient({ region, endpoint: env.aws.endpoint, credentials: { accessKeyId: env.aws.accessKeyId, secretAccessKey: env.aws.secretAccessKey } });
const selector = { 'flyte-credsync/data-plane': run };

async function createCluster(name: string, tags: Record<string, string>): Promise<void> {
  await eks().send(
    new CreateClusterCommand({
      name,
      roleArn: 'arn:aws:iam::123456789012:role/eks',
      resourcesVpcConfig: { subnetIds: ['subnet-1'] },
      tags,
    }),
  );
}

beforeAll(async () => {
  env = loadTestEnv();
  await createCluster(`good-${run}`, { ...selector, 'flyte-credsync/labels': 'team1=1,gpu=0.5' });
  await createCluster(`bad-${run}`, { ...selector, 'flyte-credsync/labels': 'team1=2' });
  await createCluster(`other-${run}`, { 'flyte-credsync/data-plane': 'someone-else' });
  await createCluster(`dp1-${run}`, { ...selector, 'flyte-credsync/id': 'dp1' });
});

describe('EKS discovery (moto)', () => {
  it('finds the clusters whose tags match, skips malformed ones with a reason, ignores the rest', async () => {
    const r = await discoverEks({ regions: [region], tags: selector }, () => eks());
    expect(r.dataPlanes.map((d) => d.id).sort()).toEqual(['dp1', `good-${run}`]);
    expect(r.dataPlanes.find((d) => d.id === `good-${run}`)).toMatchObject({ labels: { team1: 1, gpu: 0.5 }, access: { type: 'eks', clusterName: `good-${run}`, region } });
    expect(r.skipped).toEqual([{ source: `eks:${region}/bad-${run}`, reason: 'tag flyte-credsync/labels: weight must be in [0, 1]' }]);
  });

  it('merges into the written configuration: a written entry wins; an event resolves the same complete list', async () => {
    const cfg = parseConfig({
      controlPlane: { access: { type: 'kubeconfig', context: 'control' } },
      store: { aws: { region: 'us-east-1' } },
      dataPlanes: [{ id: 'dp1', access: { type: 'kubeconfig', context: 'dp1' }, labels: { team1: 1 } }],
      discovery: { eks: { regions: [region], tags: selector } },
    });
    const all = await resolveDataPlanes(cfg, { eksClient: () => eks() });
    expect(all.config.dataPlanes.map((d) => [d.id, d.access.type])).toEqual([['dp1', 'kubeconfig'], [`good-${run}`, 'eks']]);
    expect(all.discovery).toEqual({ added: [`good-${run}`], skipped: [{ source: `eks:${region}/bad-${run}`, reason: 'tag flyte-credsync/labels: weight must be in [0, 1]' }] });
    // A cluster-created event: the control plane is rendered for every data plane resolved, and one
    // left out would count as removed (disabled), so the event resolves the same list.
    const one = await resolveDataPlanes(cfg, { eksClient: () => eks(), onlyEksCluster: { name: `good-${run}`, region } });
    expect(one).toEqual(all);
    const none = await resolveDataPlanes(cfg, { eksClient: () => eks(), onlyEksCluster: { name: `missing-${run}`, region } });
    expect(none).toEqual(all);
  });

  it('a configuration that only discovers is valid; one with neither is not', () => {
    const base = { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, defaultExecutionLabel: 'team1' }, store: { aws: { region: 'us-east-1' } } };
    expect(() => parseConfig({ ...base, discovery: { eks: { regions: [region], tags: selector } } })).not.toThrow();
    expect(() => parseConfig(base)).toThrow('dataPlanes: configure at least one data plane (or discovery)');
    expect(() => parseConfig({ ...base, discovery: { eks: { regions: [region], tags: {} } } })).toThrow('discovery.eks.tags: give at least one tag to select data planes');
  });
});
