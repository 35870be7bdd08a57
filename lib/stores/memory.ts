/**
 * An in-memory SecretStore with the same rules as the cloud adapters, for unit tests of the
 * core and dry runs. Versions are kept; `foreign` entries simulate secrets someone else owns.
 */
import { StoreOwnershipError } from '../errors.ts';
import { registerSecret } from '../util/redact.ts';
import { VersionedStore, type RawEntry } from './base.ts';
import { MANAGED_BY_KEY, MANAGED_BY_VALUE, type CredentialRecord } from './types.ts';

interface Entry {
  tags: Record<string, string>;
  versions: Array<{ id: string; value: string }>;
}

export class MemoryStore extends VersionedStore {
  readonly kind = 'memory';
  readonly entries = new Map<string, Entry>();
  writes = 0;
  private readonly prefix: string;

  constructor(prefix = 'flyte-credsync/') {
    super();
    this.prefix = prefix;
  }

  entryName(clusterId: string): string {
    return this.prefix + clusterId;
  }

  /** Test helper: an entry of that name that flyte-credsync does not own. */
  addForeign(clusterId: string, value = 'not ours'): void {
    this.entries.set(this.entryName(clusterId), { tags: { owner: 'someone-else' }, versions: [{ id: 'v1', value }] });
  }

  protected owned(name: string): Entry | undefined {
    const e = this.entries.get(name);
    if (e && e.tags[MANAGED_BY_KEY] !== MANAGED_BY_VALUE)
      throw new StoreOwnershipError(this.kind, name, `tag ${MANAGED_BY_KEY}=${MANAGED_BY_VALUE}`);
    return e;
  }

  /** All versions' values, oldest first (for tests of "previous version kept"). */
  history(clusterId: string): string[] {
    return this.entries.get(this.entryName(clusterId))?.versions.map((v) => v.value) ?? [];
  }

  /** Any entry's current value by full name, owned or not (see SecretStore.readSecret). */
  async readSecret(name: string): Promise<string | undefined> {
    const value = this.entries.get(name)?.versions.at(-1)?.value;
    registerSecret(value);
    return value;
  }

  protected async readEntry(clusterId: string): Promise<RawEntry | undefined> {
    const e = this.owned(this.entryName(clusterId));
    if (!e) return undefined;
    const cur = e.versions.at(-1);
    return cur ? { current: { value: cur.value, versionId: cur.id } } : {};
  }

  protected async createEntry(record: CredentialRecord, value: string): Promise<{ versionId?: string } | 'exists'> {
    const name = this.entryName(record.clusterId);
    if (this.entries.has(name)) return 'exists';
    this.writes++;
    this.entries.set(name, { tags: { [MANAGED_BY_KEY]: MANAGED_BY_VALUE }, versions: [{ id: 'v1', value }] });
    return { versionId: 'v1' };
  }

  protected async addVersion(clusterId: string, value: string): Promise<string | undefined> {
    const e = this.owned(this.entryName(clusterId))!;
    this.writes++;
    const id = `v${e.versions.length + 1}`;
    e.versions.push({ id, value });
    return id;
  }
}
