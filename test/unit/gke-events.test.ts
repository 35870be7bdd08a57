/** GKE cluster-created events (Cloud Audit Log through Pub/Sub or Eventarc), their matching, and the shared cluster-created path. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { matchDataPlane } from '../../lib/discovery/match.ts';
import { parseGkeAuditEvent } from '../../lib/runtime/gcf/events.ts';
import { parseClusterEvent, unwrapRetryEnvelope } from '../../lib/runtime/lambda/events.ts';
import { ClusterNotReadyError, CredsyncError, EventError, RetryLaterError } from '../../lib/errors.ts';
import { isNotReady, SyncFailedError, syncCreatedCluster, type Prepared } from '../../lib/runtime/invocation.ts';
import { jsonLineLog } from '../../lib/runtime/gcf/log.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import type { SyncDeps } from '../../lib/sync/sync.ts';
import { registerSecret } from '../../lib/util/redact.ts';
import { silentLog } from '../../lib/util/log.ts';
import type { Config } from '../../lib/config/schema.ts';
import { FakeControlPlane, FakeDataPlane, fakeToken, fakeVerifier, testConfig } from './fakes.ts';

const sample = (f: string) => JSON.parse(readFileSync(`events/${f}`, 'utf8'));
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64');

/** The log entry inside the shipped Pub/Sub sample. */
const sampleEntry = () => JSON.parse(Buffer.from(sample('gke-cluster-created-pubsub.json').message.data, 'base64').toString('utf8'));
const pushBody = (entry: unknown) => ({ message: { data: b64(entry), messageId: '1' }, subscription: 'projects/p/subscriptions/s' });
const DP1 = { project: 'flyte-prod', location: 'europe-west1', clusterName: 'dp1' };

describe('parseGkeAuditEvent', () => {
  it('reads the shipped samples: a Pub/Sub push body and an Eventarc audit-log CloudEvent, both the finished create', () => {
    expect(parseGkeAuditEvent(sample('gke-cluster-created-pubsub.json'))).toEqual({ ...DP1, finished: true });
    expect(parseGkeAuditEvent(sample('gke-cluster-created-cloudevent.json'))).toEqual({ ...DP1, finished: true });
  });

  it('reads every shape the functions receive', () => {
    const entry = sampleEntry();
    // Pub/Sub as Cloud Functions delivers it: a messagePublished CloudEvent around the push body's message.
    const published = { specversion: '1.0', type: 'google.cloud.pubsub.topic.v1.messagePublished', id: '1', source: '//pubsub.googleapis.com/projects/p/topics/t', data: pushBody(entry) };
    expect(parseGkeAuditEvent(published)).toEqual({ ...DP1, finished: true });
    // CloudEvent data still as bytes or text (binary mode without a JSON content type).
    const ce = sample('gke-cluster-created-cloudevent.json');
    expect(parseGkeAuditEvent({ ...ce, data: Buffer.from(JSON.stringify(ce.data)) })).toEqual({ ...DP1, finished: true });
    expect(parseGkeAuditEvent({ ...ce, data: JSON.stringify(ce.data) })).toEqual({ ...DP1, finished: true });
    // A bare Pub/Sub message, and the entry itself.
    expect(parseGkeAuditEvent({ data: b64(entry), messageId: '1' })).toEqual({ ...DP1, finished: true });
    expect(parseGkeAuditEvent(entry)).toEqual({ ...DP1, finished: true });
  });

  it('tells the entry that starts the create (operation.first) from the one that ends it (operation.last)', () => {
    const first = sampleEntry();
    first.operation = { id: first.operation.id, producer: 'container.googleapis.com', first: true };
    expect(parseGkeAuditEvent(pushBody(first))).toEqual({ ...DP1, finished: false });
    delete first.operation;
    expect(parseGkeAuditEvent(pushBody(first))).toEqual({ ...DP1, finished: false });
  });

  it('takes the cluster from resourceName (locations or zones), else from resource.labels; v1beta1 too', () => {
    const e = sampleEntry();
    e.protoPayload.methodName = 'google.container.v1beta1.ClusterManager.CreateCluster';
    e.protoPayload.resourceName = 'projects/other-proj/zones/us-central1-a/clusters/gpu-pool';
    expect(parseGkeAuditEvent(e)).toEqual({ project: 'other-proj', location: 'us-central1-a', clusterName: 'gpu-pool', finished: true });
    delete e.protoPayload.resourceName;
    expect(parseGkeAuditEvent(e)).toEqual({ ...DP1, finished: true });
  });

  it('a failed call and other methods are well-formed non-creations (undefined)', () => {
    const failed = sampleEntry();
    failed.protoPayload.status = { code: 8, message: 'Insufficient regional quota' };
    expect(parseGkeAuditEvent(pushBody(failed))).toBeUndefined();
    const del = sampleEntry();
    del.protoPayload.methodName = 'google.container.v1.ClusterManager.DeleteCluster';
    expect(parseGkeAuditEvent(del)).toBeUndefined();
    const ok = sampleEntry();
    ok.protoPayload.status = { code: 0 };
    expect(parseGkeAuditEvent(ok)).toEqual({ ...DP1, finished: true });
  });

  it('rejects malformed events with an EventError that says what was expected', () => {
    const expected = /expected a Pub\/Sub push body or "google\.cloud\.pubsub\.topic\.v1\.messagePublished" CloudEvent/;
    for (const bad of [null, 'x', [], { hello: 'world' }]) {
      expect(() => parseGkeAuditEvent(bad)).toThrow(EventError);
      expect(() => parseGkeAuditEvent(bad)).toThrow(expected);
    }
    expect(() => parseGkeAuditEvent({ message: { data: Buffer.from('not json').toString('base64') } })).toThrow(
      /Pub\/Sub message data is not base64 of a JSON log entry/,
    );
    expect(() => parseGkeAuditEvent({ message: { attributes: {} } })).toThrow(/Pub\/Sub message without a base64 "data" string/);
    expect(() => parseGkeAuditEvent(pushBody({ jsonPayload: {} }))).toThrow(/not a Cloud Audit Log entry: expected an object with protoPayload\.methodName/);
    expect(() => parseGkeAuditEvent({ specversion: '1.0', type: 'google.cloud.storage.object.v1.finalized', data: {} })).toThrow(
      /unsupported CloudEvent type "google\.cloud\.storage\.object\.v1\.finalized"/,
    );
    const nameless = sampleEntry();
    delete nameless.protoPayload.resourceName;
    delete nameless.resource;
    expect(() => parseGkeAuditEvent(nameless)).toThrow(
      'GKE CreateCluster audit entry does not name the cluster: expected protoPayload.resourceName "projects/P/locations/L/clusters/C" or resource.labels project_id, location and cluster_name',
    );
  });
});

describe('matchDataPlane (GKE)', () => {
  const cfg = testConfig(['dp1', 'dp2', 'prod-a'], {}, (id) =>
    id === 'prod-a' ? { access: { type: 'gke', project: 'flyte-prod', location: 'europe-west1', clusterName: 'gke-a' } } : {},
  );
  const id = (c: { project: string; location: string; clusterName: string }) => {
    const m = matchDataPlane(cfg, { cloud: 'gke', ...c });
    return 'dataPlane' in m ? m.dataPlane.id : undefined;
  };

  it('matches gke access on project, location and cluster name, else the id', () => {
    expect(id({ project: 'flyte-prod', location: 'europe-west1', clusterName: 'gke-a' })).toBe('prod-a');
    expect(id({ project: 'flyte-prod', location: 'europe-west1', clusterName: 'dp2' })).toBe('dp2');
  });

  it('does not match another project or location, an unknown cluster, or a gke data plane by its id', () => {
    expect(id({ project: 'flyte-dev', location: 'europe-west1', clusterName: 'gke-a' })).toBeUndefined();
    expect(id({ project: 'flyte-prod', location: 'europe-west4', clusterName: 'gke-a' })).toBeUndefined();
    expect(id({ project: 'flyte-prod', location: 'europe-west1', clusterName: 'analytics' })).toBeUndefined();
    // prod-a names its GKE cluster (gke-a): a cluster that happens to be called prod-a elsewhere is not it.
    expect(id({ project: 'other-proj', location: 'europe-west1', clusterName: 'prod-a' })).toBeUndefined();
  });
});

describe('unwrapRetryEnvelope (the AWS retry queue)', () => {
  const original = sample('eks-create-cluster.json');
  const destination = { version: '1.0', requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 }, requestPayload: original, responsePayload: { errorType: 'RetryLaterError' } };
  const sqs = (...bodies: string[]) => ({ Records: bodies.map((body, i) => ({ eventSource: 'aws:sqs', messageId: String(i), body })) });

  it('returns the original EventBridge event from a Lambda destination record in an SQS message', () => {
    const r = unwrapRetryEnvelope(sqs(JSON.stringify(destination)));
    expect(r).toEqual({ event: original, fromRetryQueue: true });
    expect(parseClusterEvent(r.event)).toEqual({ clusterName: 'dp1', kind: 'CreateCluster', region: 'us-east-1' });
    expect(unwrapRetryEnvelope(sqs(JSON.stringify(original)))).toEqual({ event: original, fromRetryQueue: true });
  });

  it('leaves any other event as it is, and rejects batches and bodies it cannot read', () => {
    expect(unwrapRetryEnvelope(original)).toEqual({ event: original, fromRetryQueue: false });
    expect(() => unwrapRetryEnvelope(sqs('{}', '{}'))).toThrow('expected one SQS record per invocation (batchSize 1), got 2');
    expect(() => unwrapRetryEnvelope(sqs('nope'))).toThrow(/SQS record body is not JSON/);
  });
});

describe('syncCreatedCluster (the shared cluster-created path)', () => {
  function world(opts: { notRunning?: Set<string> } = {}) {
    const cfg: Config = testConfig(['dp1', 'dp2']);
    const dps = new Map(['dp1', 'dp2'].map((id) => [id, new FakeDataPlane(id)]));
    const cp = new FakeControlPlane();
    const store = new MemoryStore();
    const calls: string[] = [];
    const deps: SyncDeps = {
      config: cfg,
      log: silentLog,
      store,
      verify: fakeVerifier(new Set(['dp1', 'dp2'].map((id) => fakeToken(id)))),
      dataPlane: async (dp) => {
        calls.push(dp.id);
        if (opts.notRunning?.has(dp.id))
          throw new ClusterNotReadyError(`GKE cluster projects/p/locations/l/clusters/${dp.id} is not RUNNING yet (status PROVISIONING)`);
        return dps.get(dp.id)!;
      },
      controlPlane: async () => cp,
      sleep: async () => {},
    };
    const prepare = async (): Promise<Prepared> => ({ config: cfg, deps });
    return { cp, store, calls, d: { log: silentLog, prepare } };
  }
  const gke = (clusterName: string, finished: boolean) => ({ cloud: 'gke' as const, project: 'flyte-prod', location: 'europe-west1', clusterName, finished });

  it('syncs the data plane the event names, and only that one', async () => {
    const w = world();
    const r = await syncCreatedCluster(gke('dp1', true), w.d);
    expect('ignored' in r).toBe(false);
    if ('ignored' in r) return;
    expect(r.clusters.map((c) => [c.id, c.status])).toEqual([['dp1', 'updated']]);
    expect(w.cp.restarts.map((x) => x.name)).toEqual(['flyteadmin', 'syncresources']);
  });

  it('ignores a cluster that is not a data plane, and says so', async () => {
    const w = world();
    await expect(syncCreatedCluster(gke('analytics', true), w.d)).resolves.toEqual({
      ignored: true,
      reason: 'GKE cluster projects/flyte-prod/locations/europe-west1/clusters/analytics is not a configured or discovered data plane',
    });
    await expect(syncCreatedCluster({ cloud: 'eks', clusterName: 'analytics', kind: 'CreateCluster' }, w.d)).resolves.toEqual({
      ignored: true,
      reason: 'EKS cluster analytics is not a configured or discovered data plane',
    });
    expect(w.calls).toEqual([]);
  });

  it('a cluster that discovery skipped is ignored with discovery\'s reason', async () => {
    const w = world();
    const inner = w.d.prepare;
    w.d.prepare = async () => ({ ...(await inner()), discovery: { added: [], skipped: [{ source: 'gke:flyte-prod/europe-west1/gpu', reason: 'label flyte-credsync_enabled: must be true or false' }] } });
    await expect(syncCreatedCluster(gke('gpu', true), w.d)).resolves.toEqual({
      ignored: true,
      reason: 'GKE cluster projects/flyte-prod/locations/europe-west1/clusters/gpu matches discovery but was skipped: label flyte-credsync_enabled: must be true or false',
    });
  });

  it('a create that has not finished, on a cluster not serving yet, is RetryLaterError without touching the store or control plane', async () => {
    const w = world({ notRunning: new Set(['dp1']) });
    const err = await syncCreatedCluster(gke('dp1', false), w.d).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryLaterError);
    expect((err as Error).message).toMatch(/^retry later: GKE cluster projects\/flyte-prod\/locations\/europe-west1\/clusters\/dp1 \(data plane dp1\): create not finished: .*not RUNNING yet/);
    expect(w.cp.writes).toEqual([]);
    expect(await w.store.get('dp1')).toBeUndefined();
  });

  it('a redelivered first entry whose cluster now serves is synced', async () => {
    const w = world();
    const r = await syncCreatedCluster(gke('dp1', false), w.d);
    expect('clusters' in r && r.clusters.map((c) => c.status)).toEqual(['updated']);
  });

  it('a finished create whose cluster still reports not RUNNING/ACTIVE is RetryLaterError carrying the report', async () => {
    const w = world({ notRunning: new Set(['dp2']) });
    const err = (await syncCreatedCluster(gke('dp2', true), w.d).catch((e: unknown) => e)) as RetryLaterError;
    expect(err).toBeInstanceOf(RetryLaterError);
    expect(err.message).toBe('retry later: data plane dp2: GKE cluster projects/p/locations/l/clusters/dp2 is not RUNNING yet (status PROVISIONING)');
    expect((err.report as { ok: boolean }).ok).toBe(false);
  });

  it('any other failure is SyncFailedError (not retry later)', async () => {
    const w = world();
    const dps = w.d.prepare;
    w.d.prepare = async () => {
      const p = await dps();
      return { ...p, deps: { ...p.deps, dataPlane: async () => { throw new CredsyncError('CLUSTER_UNREACHABLE', 'cluster dp1: API server https://x unreachable: ECONNREFUSED'); } } };
    };
    await expect(syncCreatedCluster(gke('dp1', true), w.d)).rejects.toThrow(SyncFailedError);
  });

  it('isNotReady goes by the typed error and its code, never by the wording', () => {
    expect(isNotReady(new ClusterNotReadyError('GKE cluster x is still being made'))).toBe(true);
    expect(isNotReady({ code: 'CLUSTER_NOT_READY', reason: 'anything at all' })).toBe(true);
    expect(isNotReady({ code: 'CLUSTER_UNREACHABLE', reason: 'data plane dp1: EKS cluster dp1 is not ACTIVE yet (status CREATING)' })).toBe(false);
    expect(isNotReady(new CredsyncError('CLUSTER_UNREACHABLE', 'GKE cluster x is not RUNNING yet (status PROVISIONING)'))).toBe(false);
    expect(isNotReady(new Error('not ACTIVE yet'))).toBe(false);
  });
});

describe('jsonLineLog (Cloud Logging)', () => {
  it('writes one JSON object per line with severity and message, filtered by level, redacted', () => {
    const lines: Array<[string, string]> = [];
    const secret = fakeToken('gcf-log-test');
    registerSecret(secret);
    const log = jsonLineLog({ level: 'INFO', write: (l, s) => lines.push([s, l]), now: () => new Date('2026-11-23T12:00:00Z') });
    log.debug('hidden');
    log.info('sync started', { clusters: ['dp1'], severity: 'spoofed' });
    log.warn('careful', { token: secret });
    log.error(`failed with ${secret}`);
    expect(lines.map(([s]) => s)).toEqual(['INFO', 'WARNING', 'ERROR']);
    const parsed = lines.map(([, l]) => JSON.parse(l));
    expect(parsed[0]).toEqual({ clusters: ['dp1'], severity: 'INFO', message: 'sync started', time: '2026-11-23T12:00:00.000Z', component: 'flyte-credsync' });
    expect(lines.map(([, l]) => l).join('\n')).not.toContain(secret);
    expect(lines.every(([, l]) => !l.includes('\n'))).toBe(true);
  });
});
