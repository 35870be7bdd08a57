/**
 * An in-memory SecretStore with the same rules as the cloud adapters, for unit tests of the
 * core and dry runs. Versions are kept; `foreign` entries simulate secrets someone else owns.
 */
import { StoreOwnershipError } from '../errors.ts';
import {
  MANAGED_BY_KEY,
  MANAGED_BY_VALUE,
  toStored,
  serializeRecord,
  type CredentialRecord,
  type PutResult,
  type SecretStore,
  type StoredCredential,
} from './types.ts';

interface Entry {
  tags: Record<string, string>;
  versions: Array<{ id: string; value: string }>;
}

export class MemoryStore implements SecretStore {
  readonly kind = 'memory';
  readonly entries = new Map<string, Entry>();
  writes = 0;
  private readonly prefix: string;

  constructor(prefix = 'flyte-credsync/') {
    this.prefix = prefix;
  }

  entryName(clusterId: string): string {
    return this.prefix + clusterId;
  }

  /** Test helper: an entry of that name that flyte-credsync does not own. */
  addForeign(clusterId: string, value = 'not ours'): void {
    this.entries.set(this.entryName(clusterId), { tags: { owner: 'someone-else' }, versions: [{ id: 'v1', value }] });
  }

  private owned(name: string): Entry | undefined {
    const e = this.entries.get(name);
    if (e && e.tags[MANAGED_BY_KEY] !== MANAGED_BY_VALUE)
      throw new StoreOwnershipError(this.kind, name, `tag ${MANAGED_BY_KEY}=${MANAGED_BY_VALUE}`);
    return e;
  }

  async get(clusterId: string): Promise<StoredCredential | undefined> {
    const name = this.entryName(clusterId);
    const e = this.owned(name);
    const cur = e?.versions.at(-1);
    return toStored(this.kind, name, cur && { value: cur.value, versionId: cur.id });
  }

  /** All versions' values, oldest first (for tests of "previous version kept"). */
  history(clusterId: string): string[] {
    return this.entries.get(this.entryName(clusterId))?.versions.map((v) => v.value) ?? [];
  }

  async put(record: CredentialRecord, opts: { dryRun?: boolean } = {}): Promise<PutResult> {
    const name = this.entryName(record.clusterId);
    const e = this.owned(name);
    const value = serializeRecord(record);
    const cur = e?.versions.at(-1);
    if (cur && cur.value === value) return { outcome: 'unchanged', versionId: cur.id };
    if (opts.dryRun) return { outcome: e ? 'updated' : 'created' };
    this.writes++;
    const id = `v${(e?.versions.length ?? 0) + 1}`;
    if (e) {
      e.versions.push({ id, value });
      return { outcome: 'updated', versionId: id };
    }
    this.entries.set(name, { tags: { [MANAGED_BY_KEY]: MANAGED_BY_VALUE }, versions: [{ id, value }] });
    return { outcome: 'created', versionId: id };
  }
}
