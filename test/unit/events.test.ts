import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dataPlaneForCluster, parseClusterEvent, parseResyncEvent } from '../../lib/sync/events.ts';
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
    expect(dataPlaneForCluster(cfg, 'dp1')).toBe('dp1');
    expect(dataPlaneForCluster(cfg, 'prod-west-2')).toBe('dp2');
    expect(dataPlaneForCluster(cfg, 'dp2')).toBeUndefined();
    expect(dataPlaneForCluster(cfg, 'other')).toBeUndefined();
  });
});
