/**
 * The rules every SecretStore adapter shares, written once: an adapter supplies the backend's
 * three primitives (read an owned entry, create one, add a version) and inherits `get` and `put`:
 * - an entry without our ownership marker is refused (the adapter's `readEntry` throws
 *   {@link StoreOwnershipError});
 * - the same value writes nothing (`unchanged`); a new value adds a version and keeps the
 *   previous one (`updated`); a missing entry, or one without any version yet, is `created`;
 * - a dry run reads and compares, and writes nothing;
 * - an entry created concurrently by another run between our read and our create is re-read
 *   once and then updated like any other (its ownership is checked again on that read).
 *
 * A run reads the store in batches when the adapter can ({@link VersionedStore.readEntries},
 * through {@link VersionedStore.batch}): one snapshot of every data plane's entry in a few calls.
 * Unchanged values are then decided from the snapshot; before it adds a version, a put re-reads
 * the entry itself (ownership and value, as without a snapshot), so a snapshot never writes over
 * what changed since.
 */
import { StoreError } from '../errors.ts';
import { serializeRecord, toStored, type CredentialRecord, type PutResult, type SecretStore, type StoredCredential } from './types.ts';

/** A backend entry as the base sees it: it exists, and maybe has a current value. */
export interface RawEntry {
  current?: { value: string; versionId: string };
}

/**
 * What a batch read learned per cluster id: the entry, `undefined` (there is none), or the error a
 * read of that entry would throw (e.g. {@link StoreOwnershipError}). Ids left out are read one by one.
 */
export type EntrySnapshot = Map<string, RawEntry | undefined | Error>;

export abstract class VersionedStore implements SecretStore {
  abstract readonly kind: string;
  abstract entryName(clusterId: string): string;

  /**
   * The cluster's entry, undefined when there is none.
   * @throws StoreOwnershipError when the entry exists but is not ours; StoreError on other failures
   */
  protected abstract readEntry(clusterId: string): Promise<RawEntry | undefined>;

  /**
   * Creates the cluster's entry holding `value` as its first version.
   * @returns the new version's id, or `'exists'` when another writer created the entry first
   */
  protected abstract createEntry(record: CredentialRecord, value: string): Promise<{ versionId?: string } | 'exists'>;

  /** Adds `value` as the entry's new current version; returns its id. */
  protected abstract addVersion(clusterId: string, value: string): Promise<string | undefined>;

  /**
   * Reads many entries in few backend calls. Adapters that cannot leave it undefined.
   * @throws StoreError when the batch read fails as a whole
   */
  protected readEntries?(clusterIds: readonly string[]): Promise<EntrySnapshot>;

  /**
   * This store for one run over `clusterIds`: their entries read in batches up front, when the
   * adapter can (else the store itself). Use it for one run only: it answers from what it read.
   *
   * @param onFallback called when the batch read failed and entries will be read one by one
   */
  async batch(clusterIds: readonly string[], onFallback?: (err: unknown) => void): Promise<SecretStore> {
    if (!this.readEntries || clusterIds.length === 0) return this;
    let snapshot: EntrySnapshot;
    try {
      snapshot = await this.readEntries(clusterIds);
    } catch (err) {
      onFallback?.(err);
      return this;
    }
    const self: SecretStore = this;
    const known = (id: string): { entry: RawEntry | undefined } | undefined => {
      if (!snapshot.has(id)) return undefined;
      const e = snapshot.get(id);
      if (e instanceof Error) throw e;
      return { entry: e };
    };
    return {
      kind: this.kind,
      entryName: (id) => this.entryName(id),
      get: async (id) => {
        const k = known(id);
        return k ? toStored(this.kind, this.entryName(id), k.entry?.current) : this.get(id);
      },
      put: async (record, opts) => this.putKnown(record, opts, known(record.clusterId)),
      ...(self.readSecret ? { readSecret: (name: string) => self.readSecret!(name) } : {}),
    };
  }

  /** The current version, or undefined when there is none. Refuses entries it does not own. */
  async get(clusterId: string): Promise<StoredCredential | undefined> {
    const entry = await this.readEntry(clusterId);
    return toStored(this.kind, this.entryName(clusterId), entry?.current);
  }

  /** Stores a record by the rules above; with `dryRun`, says what it would do and writes nothing. */
  put(record: CredentialRecord, opts: { dryRun?: boolean } = {}): Promise<PutResult> {
    return this.putKnown(record, opts);
  }

  /** {@link put}, starting from an entry a batch read already returned (`known`), if any. */
  private async putKnown(record: CredentialRecord, opts: { dryRun?: boolean } = {}, known?: { entry: RawEntry | undefined }): Promise<PutResult> {
    const value = serializeRecord(record);
    for (let attempt = 1; ; attempt++) {
      let entry = attempt === 1 && known ? known.entry : await this.readEntry(record.clusterId);
      if (entry?.current?.value === value) return { outcome: 'unchanged', versionId: entry.current.versionId };
      // About to add a version on the word of a snapshot: read the entry itself first.
      if (attempt === 1 && known && entry && !opts.dryRun) {
        entry = await this.readEntry(record.clusterId);
        if (entry?.current?.value === value) return { outcome: 'unchanged', versionId: entry.current.versionId };
      }
      const outcome = entry?.current ? 'updated' : 'created';
      if (opts.dryRun) return { outcome };
      if (entry) {
        const versionId = await this.addVersion(record.clusterId, value);
        return { outcome, ...(versionId ? { versionId } : {}) };
      }
      const created = await this.createEntry(record, value);
      if (created !== 'exists') return { outcome: 'created', ...(created.versionId ? { versionId: created.versionId } : {}) };
      if (attempt >= 2)
        throw new StoreError(this.kind, `secret ${this.entryName(record.clusterId)} was created and then could not be read: try again`);
    }
  }
}
