/**
 * The cluster-deleted use case (lib/runtime/clusterDeleted.ts) on in-memory fakes, for what the
 * real-server tests (test/integration/clusterDeleted.test.ts, gcf.test.ts) do not reach: what it
 * refuses or ignores before anything is written.
 */
import { describe, expect, it } from '@jest/globals';
import { drainDeletedCluster } from '../../lib/runtime/clusterDeleted.ts';
import type { Prepared } from '../../lib/runtime/invocation.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { LIFECYCLE_KEY } from '../../lib/stores/lifecycle.ts';
import { runSync, type SyncDeps } from '../../lib/sync/sync.ts';
import { silentLog } from '../../lib/util/log.ts';
import type { Config } from '../../lib/config/schema.ts';
import { FakeControlPlane, FakeDataPlane, fakeToken, fakeVerifier, testConfig } from './fakes.ts';

function world(cfg: Config = testConfig(['dp1', 'dp2'])) {
  const cp = new FakeControlPlane();
  const store = new MemoryStore();
  const deps: SyncDeps = {
    config: cfg,
    log: silentLog,
    store,
    verify: fakeVerifier(new Set(['dp1', 'dp2'].map((id) => fakeToken(id)))),
    dataPlane: async (dp) => new FakeDataPlane(dp.id),
    controlPlane: async () => cp,
    sleep: async () => {},
  };
  const prepare = async (): Promise<Prepared> => ({ config: cfg, deps });
  return { cp, store, deps, o: { log: silentLog, prepare } };
}
const gke = (clusterName: string) => ({ cloud: 'gke' as const, project: 'flyte-prod', location: 'europe-west1', clusterName });
const markers = (store: MemoryStore) => [...store.entries.values()].map((e) => e.tags[LIFECYCLE_KEY]);

describe('cluster deleted (in-memory)', () => {
  it('mode gitops: refused (UNSUPPORTED) before the marker or anything else is written', async () => {
    const w = world(testConfig(['dp1', 'dp2'], { controlPlane: { access: { type: 'kubeconfig', context: 'control' }, mode: 'gitops' } }));
    await runSync(w.deps);
    const writes = w.cp.writes.length;
    await expect(drainDeletedCluster(gke('dp2'), w.o)).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringContaining('controlPlane.mode gitops') });
    expect(markers(w.store)).toEqual([undefined, undefined]);
    expect(w.cp.writes.length).toBe(writes);
  });

  it('a data plane never synced (no store entry), or a cluster of no data plane with no store entry: ignored, saying why, nothing written', async () => {
    const w = world();
    await expect(drainDeletedCluster(gke('dp2'), w.o)).resolves.toEqual({ ignored: true, reason: 'GKE cluster projects/flyte-prod/locations/europe-west1/clusters/dp2 (data plane dp2) has no store entry: it was never synced, nothing to drain' });
    await expect(drainDeletedCluster(gke('analytics'), w.o)).resolves.toEqual({
      ignored: true,
      reason: 'GKE cluster projects/flyte-prod/locations/europe-west1/clusters/analytics is not a configured or discovered data plane, and the store has no entry for it',
    });
    expect(w.store.entries.size).toBe(0);
    expect(w.cp.writes).toEqual([]);
  });
});
