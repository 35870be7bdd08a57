/**
 * The control plane's safety rules on in-memory fakes: restart intent from the config checksum,
 * the apply Lease, routing of rejected credentials, and the "no empty label" guard. The same
 * behaviours are proven against the real API server in test/integration/controlplane.test.ts
 * and the fault suite (test/faults/).
 */
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { configChecksum, CONFIG_CHECKSUM_ANNOTATION, restartBehind } from '../../lib/controlplane/restart.ts';
import { acquireLease, LeaseLostError } from '../../lib/controlplane/lease.ts';
import { assertNoEmptiedLabels, emptiedLabels } from '../../lib/controlplane/labels.ts';
import { mergeClustersYaml } from '../../lib/controlplane/render.ts';
import { applyControlPlane } from '../../lib/controlplane/apply.ts';
import { makeRecord } from '../../lib/stores/types.ts';
import { silentLog } from '../../lib/util/log.ts';
import { FakeControlPlane, testCa, testConfig } from './fakes.ts';

const rec = (id: string, token = `t-${id}-aaaaaaaa`) =>
  makeRecord({ clusterId: id, endpoint: `https://${id}:6443`, token, caCert: testCa(), source: { server: 's', namespace: 'flyte', serviceAccount: 'flyteadmin', secret: 'flyteadmin-token' } });
const records = (...ids: string[]) => new Map(ids.map((id) => [id, rec(id)]));
const now = () => new Date('2026-12-01T12:00:00Z');

describe('config checksum (restart intent from state)', () => {
  it('changes with any Secret byte, key or clusters.yaml text, and not with key order', () => {
    const base = { secretData: { a_token: Buffer.from('x'), a_cacert: Buffer.from('y') }, clustersYaml: { cm1: 'c: 1\n', cm2: 'c: 1\n' } };
    const sum = configChecksum(base);
    expect(sum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(configChecksum({ secretData: { a_cacert: Buffer.from('y'), a_token: Buffer.from('x') }, clustersYaml: { cm2: 'c: 1\n', cm1: 'c: 1\n' } })).toBe(sum);
    expect(configChecksum({ ...base, secretData: { a_token: Buffer.from('x2'), a_cacert: Buffer.from('y') } })).not.toBe(sum);
    expect(configChecksum({ ...base, clustersYaml: { cm1: 'c: 1\n', cm2: 'c: 2\n' } })).not.toBe(sum);
    // Moving a byte from one field to the next is a different input.
    expect(configChecksum({ secretData: { a: Buffer.from('bc') }, clustersYaml: {} })).not.toBe(configChecksum({ secretData: { ab: Buffer.from('c') }, clustersYaml: {} }));
  });

  it('restarts only the Deployments behind the checksum, records it, and reports a missing one', async () => {
    const cp = new FakeControlPlane();
    cp.deployments.set('flyte/syncresources', { [CONFIG_CHECKSUM_ANNOTATION]: 'sha256:abc' });
    const dry = await restartBehind(cp, 'flyte', ['flyteadmin', 'syncresources', 'ghost'], 'sha256:abc', { at: 'T', dryRun: true });
    expect(dry).toEqual({ restarted: ['flyteadmin'], upToDate: ['syncresources'], failures: [{ name: 'ghost', code: 'KUBERNETES_API', reason: 'Deployment flyte/ghost does not exist' }] });
    expect(cp.restarts).toEqual([]);
    const r = await restartBehind(cp, 'flyte', ['flyteadmin', 'syncresources'], 'sha256:abc', { at: 'T' });
    expect(r.restarted).toEqual(['flyteadmin']);
    expect(cp.deployments.get('flyte/flyteadmin')).toEqual({ [CONFIG_CHECKSUM_ANNOTATION]: 'sha256:abc', 'kubectl.kubernetes.io/restartedAt': 'T' });
    expect((await restartBehind(cp, 'flyte', ['flyteadmin', 'syncresources'], 'sha256:abc', { at: 'T2' })).restarted).toEqual([]);
  });

  it('a run whose restarts never happened (killed) is completed by the next run, which writes nothing', async () => {
    const cp = new FakeControlPlane();
    const cfg = testConfig(['dp1']);
    // The first run writes, then "dies" at its first restart.
    const restart = cp.restartDeployment.bind(cp);
    cp.restartDeployment = async () => {
      throw new Error('killed');
    };
    const first = await applyControlPlane(cp, cfg, { records: records('dp1') }, { dryRun: false, now });
    expect(first.applied).toBe(true);
    expect(first.restartFailures.map((f) => f.name)).toEqual(['flyteadmin', 'syncresources']);
    cp.restartDeployment = restart;
    const writes = cp.writes.length;
    // Act: the next run has nothing to write, but finds the Deployments behind.
    const next = await applyControlPlane(cp, cfg, { records: records('dp1') }, { dryRun: false, now });
    expect(next.applied).toBe(false);
    expect(cp.writes.length).toBe(writes);
    expect(next.restarted).toEqual(['flyteadmin', 'syncresources']);
    expect(cp.deployments.get('flyte/flyteadmin')![CONFIG_CHECKSUM_ANNOTATION]).toBe(next.checksum);
    // And the one after is quiet: it does not even take the Lease (a write).
    const leaseRv = cp.leases.get('flyte/flyte-credsync')!.resourceVersion;
    const quiet = await applyControlPlane(cp, cfg, { records: records('dp1') }, { dryRun: false, now });
    expect(quiet.restarted).toEqual([]);
    expect(cp.writes.length).toBe(writes);
    expect(cp.leases.get('flyte/flyte-credsync')!.resourceVersion).toBe(leaseRv);
  });
});

describe('the control-plane Lease', () => {
  const opts = (over: Record<string, unknown> = {}) => ({ namespace: 'flyte', name: 'flyte-credsync', durationSeconds: 10, waitSeconds: 60, log: silentLog, ...over });

  it('is exclusive: a second run waits, and takes it once the holder releases it', async () => {
    const cp = new FakeControlPlane();
    const a = await acquireLease(cp, opts({ identity: 'a' }));
    let waits = 0;
    const b = acquireLease(cp, opts({ identity: 'b', sleep: async () => void (++waits === 3 && (await a.release())) }));
    const held = await b;
    expect(waits).toBe(3);
    expect(cp.leases.get('flyte/flyte-credsync')).toMatchObject({ holderIdentity: 'b', leaseDurationSeconds: 10, leaseTransitions: 1 });
    await held.release();
    expect(cp.leases.get('flyte/flyte-credsync')!.holderIdentity).toBeUndefined();
  });

  it('takes over a Lease left by a dead run only after seeing it unchanged for its whole duration (own clock)', async () => {
    const cp = new FakeControlPlane();
    await acquireLease(cp, opts({ identity: 'dead' })); // never renewed, never released
    let t = 0;
    const held = await acquireLease(cp, opts({ identity: 'next', monotonic: () => t, sleep: async (ms: number) => void (t += ms) }));
    expect(t).toBeGreaterThanOrEqual(10_000);
    expect(t).toBeLessThan(12_000);
    expect(cp.leases.get('flyte/flyte-credsync')).toMatchObject({ holderIdentity: 'next', leaseTransitions: 1 });
    await held.release();
  });

  it('gives up with CONTROL_PLANE_BUSY while a live holder keeps renewing', async () => {
    const cp = new FakeControlPlane();
    const a = await acquireLease(cp, opts({ identity: 'a' }));
    let t = 0;
    const b = acquireLease(cp, opts({ identity: 'b', waitSeconds: 20, monotonic: () => t, sleep: async (ms: number) => { t += ms; await a.renew(); } }));
    await expect(b).rejects.toMatchObject({ code: 'CONTROL_PLANE_BUSY', message: expect.stringContaining('is held by another sync (a) after waiting 20 s; nothing was written') });
    await a.release();
  });

  it('a holder that lost its Lease learns it at its next renewal, before writing', async () => {
    const cp = new FakeControlPlane();
    const a = await acquireLease(cp, opts({ identity: 'a' }));
    const cur = cp.leases.get('flyte/flyte-credsync')!;
    await cp.replaceLease({ ...cur, holderIdentity: 'b' }); // b took it over while a was paused
    await expect(a.renew()).rejects.toBeInstanceOf(LeaseLostError);
    await expect(a.renew()).rejects.toThrow('lost Lease flyte/flyte-credsync (now held by b)');
    await a.release(); // does not clear b's Lease
    expect(cp.leases.get('flyte/flyte-credsync')!.holderIdentity).toBe('b');
  });
});

describe('routing: configuration always applies, rejected credentials leave routing, labels never empty silently', () => {
  const first = (cfg: ReturnType<typeof testConfig>) => mergeClustersYaml(undefined, new Set(), cfg, { records: records(...cfg.dataPlanes.map((d) => d.id)) }, 'cm');

  it('labels, weights and enabled apply to a data plane whose stored credential could not be read', () => {
    const before = first(testConfig(['dp1', 'dp2']));
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { enabled: false, labels: { team1: 0.3 } } : {}));
    const r = mergeClustersYaml(before.text, before.managed, cfg, { records: records('dp1') }, 'cm');
    const doc = parse(r.text);
    expect(doc.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp2')).toEqual({
      name: 'dp2',
      endpoint: 'https://dp2:6443', // kept from the existing entry
      enabled: false,
      auth: { tokenPath: '/var/run/credentials/dp2_token', certPath: '/var/run/credentials/dp2_cacert' },
    });
    expect(doc.clusters.labelClusterMap.team1).toEqual([{ id: 'dp1', weight: 1 }]);
    expect(r.routing.get('dp2')).toEqual({ listed: true, enabled: false, labels: [], keptInLabels: [] });
  });

  it('an unrouted data plane keeps its entry, disabled and out of its labels', () => {
    const cfg = testConfig(['dp1', 'dp2']);
    const before = first(cfg);
    const r = mergeClustersYaml(before.text, before.managed, cfg, { records: records('dp1', 'dp2'), unrouted: new Set(['dp2']) }, 'cm');
    const doc = parse(r.text);
    expect(doc.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp2')).toMatchObject({ enabled: false, auth: { tokenPath: '/var/run/credentials/dp2_token' } });
    expect(doc.clusters.labelClusterMap.team1).toEqual([{ id: 'dp1', weight: 1 }]);
  });

  it('an unrouted data plane that is the last enabled member of a label stays in it, enabled, and says so', () => {
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { labels: { team1: 1, gpu: 0.5 } } : {}));
    const before = first(cfg);
    const r = mergeClustersYaml(before.text, before.managed, cfg, { records: records('dp1', 'dp2'), unrouted: new Set(['dp2']) }, 'cm');
    const doc = parse(r.text);
    expect(doc.clusters.labelClusterMap).toEqual({ team1: [{ id: 'dp1', weight: 1 }], gpu: [{ id: 'dp2', weight: 0.5 }] });
    expect(doc.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp2')).toMatchObject({ enabled: true });
    expect(r.routing.get('dp2')).toEqual({ listed: true, enabled: true, labels: ['gpu'], keptInLabels: ['gpu'] });
  });

  it('refuses a configuration change that empties a label, unless the label is retired', () => {
    const cfg = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { labels: { team1: 1, gpu: 1 } } : {}));
    const before = first(cfg);
    const without = testConfig(['dp1']);
    expect(() => mergeClustersYaml(before.text, before.managed, without, { records: records('dp1') }, 'cm')).toThrow(
      'cm: refusing to leave label(s) "gpu" (had dp2) with no enabled cluster: flyteadmin would drop the label and send its executions to every enabled cluster. Keep an enabled data plane in it, or list it in controlPlane.retiredLabels to retire it',
    );
    const disabled = testConfig(['dp1', 'dp2'], {}, (id) => (id === 'dp2' ? { labels: { team1: 1, gpu: 1 }, enabled: false } : {}));
    expect(() => mergeClustersYaml(before.text, before.managed, disabled, { records: records('dp1', 'dp2') }, 'cm')).toThrow(/"gpu" \(had dp2\)/);
    const retired = testConfig(['dp1'], { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, retiredLabels: ['gpu'] } });
    const r = mergeClustersYaml(before.text, before.managed, retired, { records: records('dp1') }, 'cm');
    expect(parse(r.text).clusters.labelClusterMap.gpu).toBeUndefined();
  });

  it('emptiedLabels counts only enabled members, as flyteadmin does', () => {
    const before = {
      clusterConfigs: [{ name: 'a', enabled: true }, { name: 'b', enabled: false }, { name: 'c', inCluster: true, enabled: true }],
      labelClusterMap: { x: [{ id: 'a' }], y: [{ id: 'b' }], z: [{ id: 'c' }, { id: 'ghost' }] },
    };
    const after = { clusterConfigs: [{ name: 'a', enabled: false }, { name: 'c', inCluster: true, enabled: true }], labelClusterMap: { x: [{ id: 'a' }], z: [{ id: 'c' }] } };
    expect(emptiedLabels(before, after)).toEqual(['x']); // y had no enabled member to lose
    expect(() => assertNoEmptiedLabels(before, after, { where: 'w', retired: new Set(['x']) })).not.toThrow();
    expect(() => assertNoEmptiedLabels(before, after, { where: 'w' })).toThrow(expect.objectContaining({ code: 'LABEL_WOULD_EMPTY' }));
  });
});
