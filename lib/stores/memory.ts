/**
 * An in-memory SecretStore with the same rules as the cloud adapters, for unit tests of the
 * core and dry runs. Versions are kept; `foreign` entries simulate secrets someone else owns.
 * Rotation markers ({@link RotationMarkers}) and the state are kept beside the versions.
 */
import { StoreError, StoreOwnershipError } from '../errors.ts';
import { registerSecret } from '../util/redact.ts';
import { VersionedStore, type RawEntry } from './base.ts';
import { decodeState, encodeState, type RotationState } from './rotation.ts';
import { MANAGED_BY_KEY, MANAGED_BY_VALUE, serializeRecord, toStored, type CredentialRecord, type RotationMarkers, type RotationView, type StoredCredential } from './types.ts';
import { decodeRetire, encodeRetire, LIFECYCLE_KEY, type LifecycleStore, type LifecycleView, type RetireState } from './lifecycle.ts';

interface Entry {
  tags: Record<string, string>;
  /** Scheduled for deletion (retirement): when it goes for good. */
  deletionDate?: string;
  versions: Array<{ id: string; value: string }>;
}

export class MemoryStore extends VersionedStore implements RotationMarkers, LifecycleStore {
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

  /** Test helper: an entry of that name that flyte-credsync does not own (tags: no ownership marker by default). */
  addForeign(clusterId: string, value = 'not ours', tags: Record<string, string> = { owner: 'someone-else' }): void {
    this.entries.set(this.entryName(clusterId), { tags, versions: [{ id: 'v1', value }] });
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

  /** The current version: the one marked current once rotation marked one, else the latest. */
  protected async readEntry(clusterId: string): Promise<RawEntry | undefined> {
    const m = this.marks(clusterId);
    const e = this.owned(this.entryName(clusterId));
    if (!e) return undefined;
    const id = m.current ?? e.versions.at(-1)?.id;
    const v = e.versions.find((x) => x.id === id);
    return v ? { current: { value: v.value, versionId: v.id } } : {};
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
    const m = this.marks(clusterId);
    if (m.current) Object.assign(m, { previous: m.current, current: id });
    return id;
  }

  // Rotation markers (see RotationMarkers in ./types.ts), by entry name.

  readonly markers = new Map<string, { current?: string; pending?: string; previous?: string; state?: string }>();

  private marks(clusterId: string) {
    const k = this.entryName(clusterId);
    if (!this.markers.has(k)) this.markers.set(k, {});
    return this.markers.get(k)!;
  }

  private value(clusterId: string, id: string | undefined): StoredCredential | undefined {
    const e = this.owned(this.entryName(clusterId));
    const v = id ? e?.versions.find((x) => x.id === id) : undefined;
    return v ? toStored(this.kind, this.entryName(clusterId), { value: v.value, versionId: v.id }) : undefined;
  }

  async view(clusterId: string, opts: { previous?: boolean } = {}): Promise<RotationView | undefined> {
    const e = this.owned(this.entryName(clusterId));
    if (!e) return undefined;
    const m = this.marks(clusterId);
    const current = this.value(clusterId, m.current ?? e.versions.at(-1)?.id);
    const pending = this.value(clusterId, m.pending);
    const previous = opts.previous === false ? undefined : this.value(clusterId, m.previous);
    return {
      ...(current ? { current } : {}),
      ...(pending ? { pending } : {}),
      ...(previous ? { previous } : {}),
      ...(m.state ? { state: decodeState(this.kind, this.entryName(clusterId), m.state) } : {}),
    };
  }

  async stage(record: CredentialRecord): Promise<string> {
    const e = this.owned(this.entryName(record.clusterId));
    if (!e) throw new StoreError(this.kind, `secret ${this.entryName(record.clusterId)} does not exist: nothing to stage a pending version on`);
    const m = this.marks(record.clusterId);
    const value = serializeRecord(record);
    const same = e.versions.find((v) => v.id === m.pending && v.value === value);
    if (same) return same.id;
    m.current ??= e.versions.at(-1)?.id;
    this.writes++;
    const id = `v${e.versions.length + 1}`;
    e.versions.push({ id, value });
    m.pending = id;
    return id;
  }

  async putFirst(record: CredentialRecord, state: RotationState): Promise<string> {
    const put = await this.put(record);
    Object.assign(this.marks(record.clusterId), { current: put.versionId, state: encodeState(state) });
    return put.versionId!;
  }

  async promote(clusterId: string, versionId: string, state: RotationState): Promise<void> {
    const m = this.marks(clusterId);
    const current = m.current ?? this.owned(this.entryName(clusterId))?.versions.at(-1)?.id;
    this.writes++;
    if (current && current !== versionId) m.previous = current;
    m.current = versionId;
    if (m.pending === versionId) delete m.pending;
    m.state = encodeState(state);
  }

  async discard(clusterId: string, versionId: string): Promise<void> {
    const m = this.marks(clusterId);
    if (m.pending === versionId) {
      this.writes++;
      delete m.pending;
    }
  }

  async setState(clusterId: string, state: RotationState): Promise<void> {
    if (!this.owned(this.entryName(clusterId))) throw new StoreError(this.kind, `secret ${this.entryName(clusterId)} does not exist: no rotation state to set`);
    this.writes++;
    this.marks(clusterId).state = encodeState(state);
  }

  async lifecycle(clusterId: string): Promise<LifecycleView | undefined> {
    const name = this.entryName(clusterId);
    const e = this.owned(name);
    if (!e) return undefined;
    const text = e.tags[LIFECYCLE_KEY];
    return { ...(text ? { state: decodeRetire(this.kind, name, text) } : {}), ...(e.deletionDate ? { scheduledDeletion: e.deletionDate } : {}) };
  }

  async setLifecycle(clusterId: string, state: RetireState): Promise<void> {
    const e = this.owned(this.entryName(clusterId));
    if (!e) return;
    this.writes++;
    e.tags[LIFECYCLE_KEY] = encodeRetire(state);
  }

  async scheduleDeletion(clusterId: string, recoveryDays: number, now: Date): Promise<string> {
    const e = this.owned(this.entryName(clusterId));
    if (!e) return now.toISOString();
    if (!e.deletionDate) {
      this.writes++;
      e.deletionDate = new Date(now.getTime() + recoveryDays * 86_400_000).toISOString();
    }
    return e.deletionDate;
  }
}

