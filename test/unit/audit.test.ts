/** The audit trail: which Events a run records on the control plane, and that a no-op records none. */
import { describe, expect, it } from '@jest/globals';
import { auditEvents, boundedList } from '../../lib/controlplane/audit.ts';
import { runSync, type SyncDeps } from '../../lib/sync/sync.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { shortFingerprint, fingerprint } from '../../lib/stores/types.ts';
import { silentLog } from '../../lib/util/log.ts';
import { FakeControlPlane, FakeDataPlane, fakeToken, fakeVerifier, testCa, testConfig } from './fakes.ts';

function deps(ids: string[]): { deps: SyncDeps; cp: FakeControlPlane; dps: Map<string, FakeDataPlane>; valid: Set<string> } {
  const dps = new Map(ids.map((id) => [id, new FakeDataPlane(id)]));
  const cp = new FakeControlPlane();
  const valid = new Set(ids.map((id) => fakeToken(id)));
  return {
    cp,
    dps,
    valid,
    deps: {
      config: testConfig(ids),
      log: silentLog,
      store: new MemoryStore(),
      verify: fakeVerifier(valid),
      dataPlane: async (dp) => dps.get(dp.id)!,
      controlPlane: async () => cp,
      now: () => new Date('2026-11-23T12:00:00Z'),
      sleep: async () => {},
    },
  };
}

describe('audit Events', () => {
  it('a first sync records CredentialsUpdated on the Secret, ClusterConfigUpdated on each ConfigMap, RolloutRestarted on each Deployment', async () => {
    // Prepare
    const w = deps(['dp1', 'dp2']);
    // Act
    const r = await runSync(w.deps);
    // Assess
    expect(r.ok).toBe(true);
    const fp = (id: string) => shortFingerprint(fingerprint(fakeToken(id), testCa()));
    expect(w.cp.events.map((e) => [e.reason, `${e.regarding.kind}/${e.regarding.name}`, e.action, e.type])).toEqual([
      ['CredentialsUpdated', 'Secret/cluster-credentials', 'Create', 'Normal'],
      ['ClusterConfigUpdated', 'ConfigMap/flyte-admin-clusters-config', 'Update', 'Normal'],
      ['ClusterConfigUpdated', 'ConfigMap/flyte-clusterresourcesync-config', 'Update', 'Normal'],
      ['RolloutRestarted', 'Deployment/flyteadmin', 'Restart', 'Normal'],
      ['RolloutRestarted', 'Deployment/syncresources', 'Restart', 'Normal'],
    ]);
    expect(w.cp.events[0]!.note).toBe(`run ${r.runId}: created with credentials of dp1 (fingerprint ${fp('dp1')}), dp2 (fingerprint ${fp('dp2')})`);
    expect(w.cp.events[3]!.note).toBe(
      `run ${r.runId}: restarted to re-read Secret cluster-credentials (dp1, dp2), ConfigMap flyte-admin-clusters-config, ConfigMap flyte-clusterresourcesync-config`,
    );
    expect(new Set(w.cp.events.map((e) => e.runId))).toEqual(new Set([r.runId]));
    expect(r.audit).toEqual({ recorded: w.cp.events.map((e) => `${e.reason} ${e.regarding.kind}/${e.regarding.name}`), failed: [] });
    // Never a secret: no token, no CA.
    const all = JSON.stringify(w.cp.events);
    expect(all).not.toContain(fakeToken('dp1'));
    expect(all).not.toContain('BEGIN CERTIFICATE');
  });

  it('a run with nothing to change records no Event; a changed token records only what changed', async () => {
    const w = deps(['dp1', 'dp2']);
    await runSync(w.deps);
    const before = w.cp.events.length;
    const noop = await runSync(w.deps);
    expect(w.cp.events.length).toBe(before);
    expect(noop.audit).toBeUndefined();
    w.dps.get('dp2')!.seed(fakeToken('dp2', 2));
    w.valid.add(fakeToken('dp2', 2));
    const r = await runSync(w.deps);
    const fresh = w.cp.events.slice(before);
    expect(fresh.map((e) => `${e.reason} ${e.regarding.name}`)).toEqual([
      'CredentialsUpdated cluster-credentials',
      'RolloutRestarted flyteadmin',
      'RolloutRestarted syncresources',
    ]);
    expect(fresh[0]!.note).toBe(`run ${r.runId}: new credentials of dp2 (fingerprint ${shortFingerprint(fingerprint(fakeToken('dp2', 2), testCa()))})`);
  });

  it('a dry run records nothing', async () => {
    const w = deps(['dp1']);
    const r = await runSync(w.deps, { dryRun: true });
    expect(r.controlPlane!.restarted).toEqual(['flyteadmin', 'syncresources']);
    expect(w.cp.events).toEqual([]);
  });

  it('an Event the API refuses is reported and logged, and does not fail the applied run', async () => {
    const w = deps(['dp1']);
    w.cp.createEvent = async () => {
      throw new Error('events.events.k8s.io is forbidden');
    };
    const r = await runSync(w.deps);
    expect(r.ok).toBe(true);
    expect(r.audit!.recorded).toEqual([]);
    expect(r.audit!.failed[0]).toBe('CredentialsUpdated Secret/cluster-credentials: Error: events.events.k8s.io is forbidden');
  });

  it('notes stay under the API server\'s 1 kB limit with 500 data planes', () => {
    const ids = Array.from({ length: 500 }, (_, i) => `data-plane-${i}`);
    const events = auditEvents(
      { namespace: 'flyte', credentialsSecret: 'cluster-credentials' },
      {
        secret: { name: 'cluster-credentials', action: 'update', added: ids.map((i) => `${i}_token`), changed: [] },
        configMaps: [{ name: 'flyte-admin-clusters-config', action: 'update', diff: 'x', disabledClusters: ids }],
        restarted: ['flyteadmin'],
        restartFailures: [],
        checksum: 'sha256:0',
        published: {},
        applied: true,
        attempts: 1,
      },
      new Map(ids.map((i) => [i, 'abcdefabcdef'])),
      { runId: 'r1', time: new Date(0) },
    );
    for (const e of events) expect(e.note.length).toBeLessThanOrEqual(1024);
    expect(events[0]!.note).toMatch(/^run r1: new credentials of data-plane-0 \(fingerprint abcdefabcdef\), .* and \d+ more$/);
  });

  it('boundedList keeps whole items and says how many more', () => {
    expect(boundedList(['a', 'b', 'c'], 100)).toBe('a, b, c');
    expect(boundedList(['alpha', 'beta', 'gamma', 'delta'], 22)).toBe('alpha, beta and 2 more');
    expect(boundedList(['alpha', 'beta', 'gamma', 'delta'], 21)).toBe('alpha and 3 more');
    expect(boundedList([], 10)).toBe('');
  });
});
