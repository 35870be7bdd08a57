import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { matchDataPlane } from '../../lib/discovery/match.ts';
import { parseClusterEvent } from '../../lib/runtime/lambda/events.ts';
import { parseResyncEvent } from '../../lib/runtime/requests.ts';
import { EventError } from '../../lib/errors.ts';
import { testConfig } from './fakes.ts';

const sample = (f: string) => JSON.parse(readFileSync(`events/${f}`, 'utf8'));

describe('events', () => {
  it('reads the shipped sample events', () => {
    expect(parseClusterEvent(sample('eks-create-cluster.json'))).toEqual({ clusterName: 'dp1', kind: 'CreateCluster', region: 'us-east-1' });
    expect(parseClusterEvent(sample('eks-cluster-active.json'))).toEqual({ clusterName: 'dp1', kind: 'ACTIVE', region: 'us-east-1' });
    expect(parseResyncEvent(sample('resync.json'))).toEqual({});
    expect(parseResyncEvent(sample('resync-dry-run.json'))).toEqual({ clusters: ['dp1'], dryRun: true });
  });

  it('ignores a failed CreateCluster call and states other than ACTIVE', () => {
    const failed = sample('eks-create-cluster.json');
    failed.detail.errorCode = 'ResourceInUseException';
    expect(parseClusterEvent(failed)).toBeUndefined();
    const creating = sample('eks-cluster-active.json');
    creating.detail.status = 'CREATING';
    expect(parseClusterEvent(creating)).toBeUndefined();
  });

  it('rejects malformed events with a message that says what was expected', () => {
    expect(() => parseClusterEvent({ source: 'aws.ec2' })).toThrow(EventError);
    expect(() => parseClusterEvent({ source: 'aws.ec2' })).toThrow(/not an EKS cluster-created event: expected source "aws.eks"/);
    expect(() => parseResyncEvent({ clusters: 'dp1' })).toThrow('invalid resync event: clusters: Invalid input: expected array, received string (expected {"clusters"?: ["id", ...], "dryRun"?: boolean})');
    expect(() => parseResyncEvent({ dryrun: true })).toThrow('invalid resync event: <root>: unknown key(s) dryrun');
  });

  it('maps an EKS cluster name to a data plane by eksClusterName, else by id', () => {
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { eksClusterName: 'prod-west-2' } : {}));
    const eks = (clusterName: string) => matchDataPlane(cfg, { cloud: 'eks', clusterName });
    expect(eks('dp1')).toEqual({ dataPlane: expect.objectContaining({ id: 'dp1' }) });
    expect(eks('prod-west-2')).toEqual({ dataPlane: expect.objectContaining({ id: 'dp2' }) });
    expect(eks('dp2')).toEqual({ ignored: 'EKS cluster dp2 is not a configured or discovered data plane' });
    expect(eks('other')).toEqual({ ignored: 'EKS cluster other is not a configured or discovered data plane' });
  });

  it('explains a miss with discovery\'s reason when the cluster was discovered but skipped', () => {
    const cfg = testConfig(['dp1']);
    const skipped = [{ source: 'eks:eu-west-1/new', reason: 'tag flyte-credsync/enabled: must be true or false, not "yes"' }];
    expect(matchDataPlane(cfg, { cloud: 'eks', clusterName: 'new', region: 'eu-west-1' }, skipped)).toEqual({
      ignored: 'EKS cluster new matches discovery but was skipped: tag flyte-credsync/enabled: must be true or false, not "yes"',
    });
    // Without a region, a skipped cluster of that name in any region explains it.
    expect(matchDataPlane(cfg, { cloud: 'eks', clusterName: 'new' }, skipped)).toEqual({
      ignored: 'EKS cluster new matches discovery but was skipped: tag flyte-credsync/enabled: must be true or false, not "yes"',
    });
    expect(matchDataPlane(cfg, { cloud: 'eks', clusterName: 'new', region: 'us-east-1' }, skipped)).toEqual({
      ignored: 'EKS cluster new is not a configured or discovered data plane',
    });
  });
});
