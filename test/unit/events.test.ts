import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { matchDataPlane } from '../../lib/discovery/match.ts';
import { parseClusterDeletedEvent, parseClusterEvent } from '../../lib/runtime/lambda/events.ts';
import { parseGkeAuditEvent, parseGkeDeleteEvent } from '../../lib/runtime/gcf/events.ts';
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

  it('cluster deleted: reads the shipped EKS and GKE samples; a failed call is ignored; malformed ones are refused naming the field', () => {
    expect(parseClusterDeletedEvent(sample('eks-delete-cluster.json'))).toEqual({ clusterName: 'dp2', region: 'us-east-1' });
    expect(parseGkeDeleteEvent(sample('gke-cluster-deleted-cloudevent.json'))).toEqual({ project: 'flyte-prod', location: 'europe-west1', clusterName: 'dp2', finished: false });
    // Each function reads its own method only.
    expect(parseGkeAuditEvent(sample('gke-cluster-deleted-cloudevent.json'))).toBeUndefined();
    expect(parseGkeDeleteEvent(sample('gke-cluster-created-cloudevent.json'))).toBeUndefined();
    expect(() => parseClusterDeletedEvent(sample('eks-create-cluster.json'))).toThrow(/^not an EKS cluster-deleted event/);
    const failed = sample('eks-delete-cluster.json');
    failed.detail.errorCode = 'ResourceNotFoundException';
    expect(parseClusterDeletedEvent(failed)).toBeUndefined();
    const noName = sample('eks-delete-cluster.json');
    noName.detail.requestParameters = { name: '' };
    expect(() => parseClusterDeletedEvent(noName)).toThrow(EventError);
    expect(() => parseClusterDeletedEvent(noName)).toThrow(/^malformed EKS DeleteCluster CloudTrail event: detail\.requestParameters\.name/);
    expect(() => parseClusterDeletedEvent({ hello: 'world' })).toThrow(/^not an EKS cluster-deleted event: expected source "aws\.eks"/);
    const unnamed = sample('gke-cluster-deleted-cloudevent.json');
    delete unnamed.data.protoPayload.resourceName;
    delete unnamed.data.resource.labels;
    expect(() => parseGkeDeleteEvent(unnamed)).toThrow(/^GKE DeleteCluster audit entry does not name the cluster/);
    expect(() => parseGkeDeleteEvent({ hello: 'world' })).toThrow(/^not a GKE cluster-deleted event/);
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
