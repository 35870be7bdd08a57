/**
 * One contract every SecretStore adapter must honour, rotation markers included, run against each
 * as the runtime builds it (lib/runtime/wiring.ts buildStore: moto's Secrets Manager, GCP's
 * emulator; the in-memory fake for unit tests). Each harness says how to look behind the adapter
 * (raw values, version counts) and how to plant an entry someone else owns.
 */
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { StoreOwnershipError } from '../../lib/errors.ts';
import type { RotationState } from '../../lib/stores/rotation.ts';
import { canRotate, MANAGED_BY_KEY, MANAGED_BY_VALUE, makeRecord, type CredentialRecord, type SecretStore } from '../../lib/stores/types.ts';

export interface StoreHarness {
  store: SecretStore;
  /** Creates an entry for this cluster that flyte-credsync does not own (no ownership marker at all). */
  addForeign(clusterId: string, value: string): Promise<void>;
  /**
   * Creates an entry for this cluster carrying `marker` (a tag, a label) and our cluster marker, as
   * another tool (or a hand) would: the same key as ours with another value, or a near miss.
   * @returns 'refused' when the backend itself refuses such a marker (then no such entry can exist)
   */
  addMarked(clusterId: string, value: string, marker: { key: string; value: string }): Promise<'created' | 'refused'>;
  /** The raw current value, bypassing the adapter. */
  currentRaw(clusterId: string): Promise<string | undefined>;
  /** The raw previous value (AWSPREVIOUS, the version before the latest, ...). */
  previousRaw(clusterId: string): Promise<string | undefined>;
  versionCount(clusterId: string): Promise<number>;
}

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

/** A credential record for the store tests (a fake CA: the store never parses it); `generation` as rotation mints it. */
export function record(clusterId: string, token: string, generation?: number): CredentialRecord {
  return makeRecord({
    clusterId,
    endpoint: `https://${clusterId}.example:6443`,
    token,
    caCert: CA,
    source: { server: `https://${clusterId}.example:6443`, namespace: 'flyte', serviceAccount: 'flyteadmin', secret: 'flyteadmin-token', secretUid: 'u-1' },
    ...(generation !== undefined
      ? { generation: { generation, mode: 'secret' as const, object: `flyteadmin-token-${generation}`, objectUid: `u-${generation}`, issuedAt: '2026-12-01T00:00:00.000Z' } }
      : {}),
  });
}

/**
 * Ownership markers that are not ours: flyte-credsync owns an entry only when it carries exactly
 * `managed-by=flyte-credsync` (the key and the value byte for byte). Another tool's value under the
 * same key, the same value in another case, with whitespace around it or as a prefix, and our
 * value under a key in another case are someone else's.
 */
export const FOREIGN_MARKERS: ReadonlyArray<{ key: string; value: string; what: string; everywhere: boolean }> = [
  // Valid on every backend (GCP labels: lower-case keys and values, no spaces): each backend must hold them.
  { key: MANAGED_BY_KEY, value: 'terraform', what: "another tool's marker under our key", everywhere: true },
  { key: MANAGED_BY_KEY, value: 'external-secrets', what: "another tool's marker under our key", everywhere: true },
  { key: MANAGED_BY_KEY, value: `${MANAGED_BY_VALUE}-legacy`, what: 'our value as the prefix of another', everywhere: true },
  { key: MANAGED_BY_KEY, value: '', what: 'our key with an empty value', everywhere: true },
  // Near misses that some backends cannot even hold.
  { key: MANAGED_BY_KEY, value: 'Flyte-Credsync', what: 'our value in another case', everywhere: false },
  { key: MANAGED_BY_KEY, value: MANAGED_BY_VALUE.toUpperCase(), what: 'our value in upper case', everywhere: false },
  { key: MANAGED_BY_KEY, value: ` ${MANAGED_BY_VALUE} `, what: 'our value with spaces around it', everywhere: false },
  { key: MANAGED_BY_KEY, value: `${MANAGED_BY_VALUE} `, what: 'our value with a trailing space', everywhere: false },
  { key: 'Managed-By', value: MANAGED_BY_VALUE, what: 'our value under our key in another case', everywhere: false },
];

export function secretStoreContract(name: string, harness: () => Promise<StoreHarness>): void {
  describe(`SecretStore contract: ${name}`, () => {
    const id = () => `c${randomBytes(4).toString('hex')}`;

    it('get of an unknown cluster is undefined', async () => {
      const h = await harness();
      await expect(h.store.get(id())).resolves.toBeUndefined();
    });

    it('put creates, and get returns the same record', async () => {
      const h = await harness();
      const c = id();
      const r = record(c, 'token-one-aaaaaaaa');
      const put = await h.store.put(r);
      expect(put.outcome).toBe('created');
      expect(put.versionId).toBeTruthy();
      const got = await h.store.get(c);
      expect(got?.record).toEqual(r);
      expect(got?.versionId).toBe(put.versionId);
      expect(await h.versionCount(c)).toBe(1);
    });

    it('the same value writes no new version', async () => {
      const h = await harness();
      const c = id();
      await h.store.put(record(c, 'token-one-aaaaaaaa'));
      const again = await h.store.put(record(c, 'token-one-aaaaaaaa'));
      expect(again.outcome).toBe('unchanged');
      expect(await h.versionCount(c)).toBe(1);
    });

    it('a new value adds a version and keeps the previous one reachable', async () => {
      const h = await harness();
      const c = id();
      await h.store.put(record(c, 'token-one-aaaaaaaa'));
      const upd = await h.store.put(record(c, 'token-two-bbbbbbbb'));
      expect(upd.outcome).toBe('updated');
      expect(await h.versionCount(c)).toBe(2);
      expect(JSON.parse((await h.previousRaw(c))!).token).toBe('token-one-aaaaaaaa');
      expect((await h.store.get(c))?.record.token).toBe('token-two-bbbbbbbb');
    });

    it('a dry run reports what it would do and writes nothing', async () => {
      const h = await harness();
      const c = id();
      expect((await h.store.put(record(c, 'token-one-aaaaaaaa'), { dryRun: true })).outcome).toBe('created');
      expect(await h.currentRaw(c)).toBeUndefined();
      await h.store.put(record(c, 'token-one-aaaaaaaa'));
      expect((await h.store.put(record(c, 'token-two-bbbbbbbb'), { dryRun: true })).outcome).toBe('updated');
      expect(await h.versionCount(c)).toBe(1);
    });

    it('refuses an entry it does not own, on read and write, and leaves it untouched', async () => {
      const h = await harness();
      const c = id();
      await h.addForeign(c, 'someone else');
      await expect(h.store.get(c)).rejects.toBeInstanceOf(StoreOwnershipError);
      await expect(h.store.put(record(c, 'token-one-aaaaaaaa'))).rejects.toThrow(/not managed by flyte-credsync/);
      expect(await h.currentRaw(c)).toBe('someone else');
      expect(await h.versionCount(c)).toBe(1);
    });

    it.each(FOREIGN_MARKERS)('refuses an entry marked $key="$value" ($what): read, write, dry run and batch view, and leaves it untouched', async (marker) => {
      // Prepare: an entry under our name, with our cluster marker, and a marker that is not exactly ours.
      const h = await harness();
      const c = id();
      const planted = await h.addMarked(c, 'another tool value', { key: marker.key, value: marker.value });
      if (planted === 'refused') {
        // The backend cannot hold such a marker (GCP label keys and values are lower case, without spaces).
        expect(marker.everywhere).toBe(false);
        expect(await h.currentRaw(c)).toBeUndefined();
        return;
      }
      // Act and Assess: every path refuses it as not ours, and nothing is written.
      await expect(h.store.get(c)).rejects.toBeInstanceOf(StoreOwnershipError);
      await expect(h.store.put(record(c, 'token-one-aaaaaaaa'), { dryRun: true })).rejects.toBeInstanceOf(StoreOwnershipError);
      await expect(h.store.put(record(c, 'token-one-aaaaaaaa'))).rejects.toThrow(/not managed by flyte-credsync/);
      if (h.store.batch) {
        const fallbacks: unknown[] = [];
        const view = await h.store.batch([c], (err) => fallbacks.push(err));
        expect(fallbacks).toEqual([]);
        await expect(view.get(c)).rejects.toBeInstanceOf(StoreOwnershipError);
        await expect(view.put(record(c, 'token-one-aaaaaaaa'))).rejects.toBeInstanceOf(StoreOwnershipError);
      }
      expect(await h.currentRaw(c)).toBe('another tool value');
      expect(await h.versionCount(c)).toBe(1);
    });

    it('readSecret returns an operator-made secret by its name (no ownership needed), undefined when there is none', async () => {
      const h = await harness();
      const c = id();
      await h.addForeign(c, 'client-secret-value');
      expect(await h.store.readSecret!(h.store.entryName(c))).toBe('client-secret-value');
      expect(await h.store.readSecret!(h.store.entryName(id()))).toBeUndefined();
    });

    it('a batch view of a run answers like the store: same values, same refusals, writes only what changed', async () => {
      // Prepare: two entries of ours, one someone else owns, one missing.
      const h = await harness();
      if (!h.store.batch) return; // the adapter reads one entry at a time
      const [same, changed, foreign, missing] = [id(), id(), id(), id()];
      await h.store.put(record(same, 'token-same-aaaaaaaa'));
      await h.store.put(record(changed, 'token-old-aaaaaaaa'));
      await h.addForeign(foreign, 'someone else');
      const fallbacks: unknown[] = [];
      // Act
      const view = await h.store.batch([same, changed, foreign, missing], (err) => fallbacks.push(err));
      // Assess: the batch read worked (no fallback to single reads) and the view keeps every rule.
      expect(fallbacks).toEqual([]);
      expect((await view.get(same))?.record).toEqual(record(same, 'token-same-aaaaaaaa'));
      await expect(view.get(missing)).resolves.toBeUndefined();
      await expect(view.get(foreign)).rejects.toBeInstanceOf(StoreOwnershipError);
      await expect(view.put(record(foreign, 'token-one-aaaaaaaa'))).rejects.toThrow(/not managed by flyte-credsync/);
      expect(await view.put(record(same, 'token-same-aaaaaaaa'))).toMatchObject({ outcome: 'unchanged' });
      expect(await view.put(record(changed, 'token-new-aaaaaaaa'), { dryRun: true })).toEqual({ outcome: 'updated' });
      expect(await view.put(record(changed, 'token-new-aaaaaaaa'))).toMatchObject({ outcome: 'updated' });
      expect(await view.put(record(missing, 'token-mis-aaaaaaaa'))).toMatchObject({ outcome: 'created' });
      expect(await h.versionCount(same)).toBe(1);
      expect(await h.versionCount(changed)).toBe(2);
      expect(JSON.parse((await h.currentRaw(changed))!).token).toBe('token-new-aaaaaaaa');
      expect(JSON.parse((await h.currentRaw(missing))!).token).toBe('token-mis-aaaaaaaa');
      expect(await h.currentRaw(foreign)).toBe('someone else');
    });

    it('a batch view re-reads an entry before adding a version: a value stored meanwhile is not written again', async () => {
      const h = await harness();
      if (!h.store.batch) return;
      const c = id();
      await h.store.put(record(c, 'token-old-aaaaaaaa'));
      const view = await h.store.batch([c]);
      // Another run stores the new value after this run's batch read.
      await h.store.put(record(c, 'token-new-aaaaaaaa'));
      expect(await view.put(record(c, 'token-new-aaaaaaaa'))).toMatchObject({ outcome: 'unchanged' });
      expect(await h.versionCount(c)).toBe(2);
    });
      describe('rotation markers', () => {
      const idle = (generation: number, highest = generation): RotationState => ({ phase: 'idle', generation, highest });
      const published = (generation: number, revoke: number): RotationState => ({ phase: 'published', generation, highest: generation, publishedAt: '2026-12-01T01:00:00.000Z', revoke });
      const rotating = async () => {
        const h = await harness();
        if (!canRotate(h.store)) throw new Error(`${h.store.kind} keeps no rotation markers`);
        return { ...h, store: h.store };
      };

      it('the store keeps them (the capability the core asks for)', async () => {
        expect(canRotate((await harness()).store)).toBe(true);
      });

      it('putFirst stores the first credential as current with its state; view and get agree', async () => {
        const h = await rotating();
        const c = id();
        const first = record(c, 'token-gen1-aaaaaaaa', 1);
        expect(await h.store.view(c)).toBeUndefined();
        const v1 = await h.store.putFirst(first, published(1, 0));
        const view = await h.store.view(c);
        expect(view?.current).toEqual({ record: first, versionId: v1 });
        expect(view?.pending).toBeUndefined();
        expect(view?.state).toEqual(published(1, 0));
        expect((await h.store.get(c))?.versionId).toBe(v1);
      });

      it('stage adds a pending version that is not current; the same record again writes nothing', async () => {
        const h = await rotating();
        const c = id();
        const v1 = await h.store.putFirst(record(c, 'token-gen1-aaaaaaaa', 1), idle(1));
        const v2 = await h.store.stage(record(c, 'token-gen2-bbbbbbbb', 2));
        expect(v2).not.toBe(v1);
        expect(await h.store.stage(record(c, 'token-gen2-bbbbbbbb', 2))).toBe(v2);
        expect(await h.versionCount(c)).toBe(2);
        const view = await h.store.view(c);
        expect(view?.current?.versionId).toBe(v1);
        expect(view?.pending).toEqual({ record: record(c, 'token-gen2-bbbbbbbb', 2), versionId: v2 });
        // The sync's read is the current version, not the newest.
        expect((await h.store.get(c))?.record.token).toBe('token-gen1-aaaaaaaa');
        const batch = await h.store.batch?.([c]);
        if (batch) expect((await batch.get(c))?.versionId).toBe(v1);
      });

      it('promote makes the pending version current and the current one previous, with the state', async () => {
        const h = await rotating();
        const c = id();
        const v1 = await h.store.putFirst(record(c, 'token-gen1-aaaaaaaa', 1), idle(1));
        const v2 = await h.store.stage(record(c, 'token-gen2-bbbbbbbb', 2));
        await h.store.promote(c, v2, published(2, 1));
        const view = await h.store.view(c);
        expect(view?.current?.versionId).toBe(v2);
        expect(view?.previous?.versionId).toBe(v1);
        expect(view?.pending).toBeUndefined();
        expect(view?.state).toEqual(published(2, 1));
        expect((await h.store.get(c))?.record.token).toBe('token-gen2-bbbbbbbb');
        expect(JSON.parse((await h.currentRaw(c))!).token).toBe('token-gen2-bbbbbbbb');
      });

      it('a rollback promotes the previous version back: the one rolled back from becomes previous', async () => {
        const h = await rotating();
        const c = id();
        const v1 = await h.store.putFirst(record(c, 'token-gen1-aaaaaaaa', 1), idle(1));
        const v2 = await h.store.stage(record(c, 'token-gen2-bbbbbbbb', 2));
        await h.store.promote(c, v2, published(2, 1));
        await h.store.promote(c, v1, published(1, 2));
        const view = await h.store.view(c);
        expect(view?.current?.versionId).toBe(v1);
        expect(view?.previous?.versionId).toBe(v2);
        expect((await h.store.get(c))?.record.token).toBe('token-gen1-aaaaaaaa');
        expect(await h.versionCount(c)).toBe(2);
      });

      it('discard drops the pending marker and keeps the version; setState replaces the state', async () => {
        const h = await rotating();
        const c = id();
        const v1 = await h.store.putFirst(record(c, 'token-gen1-aaaaaaaa', 1), idle(1));
        const v2 = await h.store.stage(record(c, 'token-gen2-bbbbbbbb', 2));
        await h.store.discard(c, v2);
        await h.store.setState(c, idle(1, 2));
        const view = await h.store.view(c);
        expect(view?.pending).toBeUndefined();
        expect(view?.current?.versionId).toBe(v1);
        expect(view?.state).toEqual(idle(1, 2));
        expect(await h.versionCount(c)).toBe(2);
        expect((await h.store.get(c))?.versionId).toBe(v1);
      });

      it('refuses the markers of an entry it does not own, and leaves it untouched', async () => {
        const h = await rotating();
        const c = id();
        await h.addForeign(c, 'someone else');
        await expect(h.store.view(c)).rejects.toBeInstanceOf(StoreOwnershipError);
        await expect(h.store.stage(record(c, 'token-gen2-bbbbbbbb', 2))).rejects.toBeInstanceOf(StoreOwnershipError);
        await expect(h.store.setState(c, idle(2))).rejects.toBeInstanceOf(StoreOwnershipError);
        expect(await h.currentRaw(c)).toBe('someone else');
        expect(await h.versionCount(c)).toBe(1);
      });
    });
  });
}
