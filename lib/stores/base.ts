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
 */
import { StoreError } from '../errors.ts';
import { serializeRecord, toStored, type CredentialRecord, type PutResult, type SecretStore, type StoredCredential } from './types.ts';

/** A backend entry as the base sees it: it exists, and maybe has a current value. */
export interface RawEntry {
  current?: { value: string; versionId: string };
}

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

  /** The current version, or undefined when there is none. Refuses entries it does not own. */
  async get(clusterId: string): Promise<StoredCredential | undefined> {
    const entry = await this.readEntry(clusterId);
    return toStored(this.kind, this.entryName(clusterId), entry?.current);
  }

  /** Stores a record by the rules above; with `dryRun`, says what it would do and writes nothing. */
  async put(record: CredentialRecord, opts: { dryRun?: boolean } = {}): Promise<PutResult> {
    const value = serializeRecord(record);
    for (let attempt = 1; ; attempt++) {
      const entry = await this.readEntry(record.clusterId);
      if (entry?.current?.value === value) return { outcome: 'unchanged', versionId: entry.current.versionId };
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
