/**
 * GCP Secret Manager adapter of the SecretStore port, with the same rules as the AWS one:
 * one secret per cluster named `<prefix><clusterId>`, labelled `managed-by=flyte-credsync`
 * (a secret of that name without the label is refused), no new version when the value is
 * unchanged, and earlier versions kept (Secret Manager never drops a version by itself).
 * Rotation markers ({@link RotationMarkers}): version aliases `current`, `pending`, `previous` and
 * the annotation `flyte-credsync-rotation`.
 */
import type { protos, SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { CredsyncError, StoreError, StoreOwnershipError } from '../errors.ts';
import { mapBounded } from '../util/log.ts';
import { registerSecret } from '../util/redact.ts';
import { CALL_TIMEOUT_MS, deadlineError, gaxCall } from '../util/abort.ts';
import { VersionedStore, type EntrySnapshot, type RawEntry } from './base.ts';
import { decodeState, encodeState, STATE_KEY, type RotationState } from './rotation.ts';
import { CLUSTER_KEY, MANAGED_BY_KEY, MANAGED_BY_VALUE, serializeRecord, toStored, type CredentialRecord, type RotationMarkers, type RotationView } from './types.ts';
import { decodeRetire, encodeRetire, LIFECYCLE_KEY, type LifecycleStore, type LifecycleView, type RetireState } from './lifecycle.ts';

export interface GcpStoreOptions {
  project: string;
  /** Prepended to the cluster id to make each secret id. @default "flyte-credsync-" */
  prefix: string;
  /** Extra labels on every secret the store creates. */
  labels?: Record<string, string>;
}

/** Secret ids: 1-255 of A-Z a-z 0-9 _ - */
export const GCP_SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;

/** The subset of the generated client the adapter calls (so a fake is a handful of functions). */
export type GcpSecretManagerApi = Pick<SecretManagerServiceClient, 'getSecret' | 'createSecret' | 'addSecretVersion' | 'accessSecretVersion' | 'updateSecret'> &
  /** Optional: the batch read of a run (without it, each entry is read on its own). */
  Partial<Pick<SecretManagerServiceClient, 'listSecrets'>> &
  /** Optional: retirement's scheduled deletion (lib/stores/lifecycle.ts). */
  Partial<Pick<SecretManagerServiceClient, 'listSecretVersions' | 'disableSecretVersion'>>;

/** The secret's metadata as the adapter reads it. */
export type GcpSecret = protos.google.cloud.secretmanager.v1.ISecret;

/**
 * Version alias of the version in use, set once a data plane rotates (lib/rotation): a pending
 * version is the newest one but not in use, so `latest` is read only while there is no alias.
 */
export const CURRENT_ALIAS = 'current';
const PENDING_ALIAS = 'pending';
const PREVIOUS_ALIAS = 'previous';

/** Secrets read at once by a batch read (Secret Manager has no batch access of values). */
const ACCESS_PARALLEL = 16;

const CANCELLED = 1;
const DEADLINE_EXCEEDED = 4;
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const grpcCode = (err: unknown) => (err as { code?: unknown })?.code;

export class GcpSecretManagerStore extends VersionedStore implements RotationMarkers, LifecycleStore {
  readonly kind = 'gcp-secret-manager';
  private readonly connect: () => Promise<GcpSecretManagerApi>;
  private client: Promise<GcpSecretManagerApi> | undefined;
  protected readonly opts: GcpStoreOptions;

  /** @param client the client, or a factory called on first use (the GCP library is heavy to load). */
  constructor(client: GcpSecretManagerApi | (() => Promise<GcpSecretManagerApi>), opts: GcpStoreOptions) {
    super();
    this.connect = typeof client === 'function' ? client : async () => client;
    this.opts = opts;
  }

  protected api(): Promise<GcpSecretManagerApi> {
    return (this.client ??= this.connect());
  }

  entryName(clusterId: string): string {
    const id = this.opts.prefix + clusterId;
    if (!GCP_SECRET_ID.test(id)) throw new StoreError(this.kind, `"${id}" is not a valid secret id (A-Z a-z 0-9 _ -, at most 255)`);
    return id;
  }

  protected path(clusterId: string): string {
    return `projects/${this.opts.project}/secrets/${this.entryName(clusterId)}`;
  }

  /**
   * One client call: `fn` passes the call options (a gRPC deadline of CALL_TIMEOUT_MS) on, and the
   * call is cancelled at the invocation's deadline (lib/util/abort.ts).
   */
  protected async call<T>(op: string, name: string, fn: (api: GcpSecretManagerApi, o: { timeout: number }) => Promise<T>): Promise<T> {
    try {
      const api = await this.api();
      return await gaxCall((o) => fn(api, o), CALL_TIMEOUT_MS, `${this.kind}: ${op} ${name}`);
    } catch (err) {
      if (err instanceof CredsyncError) throw err;
      const code = grpcCode(err);
      if (code === NOT_FOUND || code === ALREADY_EXISTS) throw err;
      if (code === DEADLINE_EXCEEDED || code === CANCELLED)
        throw deadlineError(`${this.kind}: ${op} ${name}`) ?? new StoreError(this.kind, `${op} ${name}: timed out after ${CALL_TIMEOUT_MS} ms`, { cause: err });
      const e = err as Error;
      throw new StoreError(this.kind, `${op} ${name}: ${e.message}`, { cause: err });
    }
  }

  /** The secret if it exists; refuses one we do not own. */
  protected async ownedSecret(name: string): Promise<GcpSecret | undefined> {
    try {
      const [secret] = await this.call('GetSecret', name, (api, o) => api.getSecret({ name }, o));
      if (secret.labels?.[MANAGED_BY_KEY] !== MANAGED_BY_VALUE)
        throw new StoreOwnershipError(this.kind, name, `label ${MANAGED_BY_KEY}=${MANAGED_BY_VALUE}`);
      return secret;
    } catch (err) {
      if (grpcCode(err) === NOT_FOUND) return undefined;
      throw err;
    }
  }

  /** A version's value by number or alias (`latest`, `current`, ...); undefined when there is none. */
  protected async access(name: string, version: string): Promise<{ value: string; versionId: string } | undefined> {
    try {
      const [v] = await this.call('AccessSecretVersion', name, (api, o) => api.accessSecretVersion({ name: `${name}/versions/${version}` }, o));
      const data = v.payload?.data;
      if (!data || !v.name) return undefined;
      return { value: Buffer.from(data as Uint8Array).toString('utf8'), versionId: v.name.split('/').at(-1)! };
    } catch (err) {
      if (grpcCode(err) === NOT_FOUND) return undefined;
      throw err;
    }
  }

  /** `name`: a secret id of the configured project, or a full `projects/<p>/secrets/<id>` path. */
  async readSecret(name: string): Promise<string | undefined> {
    const full = name.startsWith('projects/') ? name : `projects/${this.opts.project}/secrets/${name}`;
    if (!/^projects\/[^/]+\/secrets\/[A-Za-z0-9_-]{1,255}$/.test(full)) throw new StoreError(this.kind, `"${name}" is not a valid secret id`);
    const value = (await this.access(full, 'latest'))?.value;
    registerSecret(value);
    return value;
  }

  protected async readEntry(clusterId: string): Promise<RawEntry | undefined> {
    const name = this.path(clusterId);
    const secret = await this.ownedSecret(name);
    if (!secret) return undefined;
    const current = await this.access(name, secret.versionAliases?.[CURRENT_ALIAS] !== undefined ? CURRENT_ALIAS : 'latest');
    return current ? { current } : {};
  }

  /**
   * Every asked entry: ListSecrets filtered by the name prefix (labels give ownership; 250 a page)
   * instead of one GetSecret each, then the owned entries' latest versions (Secret Manager has no
   * batch access, so one AccessSecretVersion each, 16 at once): about 1 call per data plane instead
   * of 2. A secret the listing does not show is taken as absent (a create that finds it existing
   * re-reads it).
   */
  protected override async readEntries(clusterIds: readonly string[]): Promise<EntrySnapshot> {
    const api = await this.api();
    if (!api.listSecrets) return new Map(); // every entry read on its own
    // Matched on the secret id: GCP may name the project by its number in what it lists.
    const idOf = new Map(clusterIds.map((id) => [this.entryName(id), id]));
    const idIn = (name: string | null | undefined) => (name ? idOf.get(name.split('/').at(-1)!) : undefined);
    const out: EntrySnapshot = new Map(clusterIds.map((id) => [id, undefined]));
    const [secrets] = await this.call('ListSecrets', `${this.opts.prefix}*`, (gcp, o) =>
      gcp.listSecrets!({ parent: `projects/${this.opts.project}`, filter: `name:${this.opts.prefix}`, pageSize: 250 }, o),
    );
    const owned: GcpSecret[] = [];
    for (const sec of secrets ?? []) {
      const id = idIn(sec.name);
      if (id === undefined) continue;
      if (sec.labels?.[MANAGED_BY_KEY] !== MANAGED_BY_VALUE) out.set(id, new StoreOwnershipError(this.kind, sec.name!, `label ${MANAGED_BY_KEY}=${MANAGED_BY_VALUE}`));
      else owned.push(sec);
    }
    // The version in use, as readEntry reads it: the `current` alias once rotation set one, else latest.
    await mapBounded(owned, ACCESS_PARALLEL, async (sec) => {
      const current = await this.access(sec.name!, sec.versionAliases?.[CURRENT_ALIAS] !== undefined ? CURRENT_ALIAS : 'latest');
      out.set(idIn(sec.name)!, current ? { current } : {});
    });
    return out;
  }

  protected async createEntry(record: CredentialRecord, value: string): Promise<{ versionId?: string } | 'exists'> {
    const name = this.path(record.clusterId);
    try {
      await this.call('CreateSecret', name, (api, o) =>
        api.createSecret({
          parent: `projects/${this.opts.project}`,
          secretId: this.entryName(record.clusterId),
          secret: {
            replication: { automatic: {} },
            labels: { ...this.opts.labels, [MANAGED_BY_KEY]: MANAGED_BY_VALUE, [CLUSTER_KEY]: record.clusterId },
          },
        }, o),
      );
    } catch (err) {
      if (grpcCode(err) === ALREADY_EXISTS) return 'exists';
      throw err;
    }
    const versionId = await this.addVersion(record.clusterId, value);
    return versionId ? { versionId } : {};
  }

  protected async addVersion(clusterId: string, value: string): Promise<string | undefined> {
    const name = this.path(clusterId);
    const [v] = await this.call('AddSecretVersion', name, (api, o) =>
      api.addSecretVersion({ parent: name, payload: { data: Buffer.from(value, 'utf8') } }, o),
    );
    const versionId = v.name?.split('/').at(-1);
    // A secret that rotated once reads `current`: a plain put must move it, or it would not count.
    const secret = await this.ownedSecret(name);
    const aliases = secret?.versionAliases ?? {};
    if (versionId && aliases[CURRENT_ALIAS] !== undefined)
      await this.setAliases(name, { ...aliases, previous: aliases[CURRENT_ALIAS], [CURRENT_ALIAS]: versionId });
    return versionId;
  }

  /** Replaces the secret's version aliases (alias -> version number). */
  protected async setAliases(name: string, aliases: Record<string, unknown>, annotations?: Record<string, string>): Promise<void> {
    const versionAliases = Object.fromEntries(Object.entries(aliases).map(([k, v]) => [k, Number(v)]));
    await this.call('UpdateSecret', name, (api, o) =>
      api.updateSecret(
        {
          secret: { name, versionAliases, ...(annotations ? { annotations } : {}) },
          updateMask: { paths: ['version_aliases', ...(annotations ? ['annotations'] : [])] },
        },
        o,
      ),
    );
  }

  // Rotation markers (see RotationMarkers in ./types.ts): version aliases and the state annotation.

  async view(clusterId: string, opts: { previous?: boolean } = {}): Promise<RotationView | undefined> {
    const name = this.path(clusterId);
    const secret = await this.ownedSecret(name);
    if (!secret) return undefined;
    const aliases = secret.versionAliases ?? {};
    const read = async (alias: string) => (aliases[alias] !== undefined ? toStored(this.kind, name, await this.access(name, String(aliases[alias]))) : undefined);
    const [current, pending, previous] = await Promise.all([
      aliases[CURRENT_ALIAS] !== undefined ? read(CURRENT_ALIAS) : toStored(this.kind, name, await this.access(name, 'latest')),
      read(PENDING_ALIAS),
      opts.previous === false ? undefined : read(PREVIOUS_ALIAS),
    ]);
    const text = secret.annotations?.[STATE_KEY];
    return {
      ...(current ? { current } : {}),
      ...(pending ? { pending } : {}),
      ...(previous ? { previous } : {}),
      ...(text ? { state: decodeState(this.kind, name, text) } : {}),
    };
  }

  async stage(record: CredentialRecord): Promise<string> {
    const name = this.path(record.clusterId);
    const value = serializeRecord(record);
    const secret = await this.ownedSecret(name);
    const aliases: Record<string, unknown> = { ...(secret?.versionAliases ?? {}) };
    const pendingId = aliases[PENDING_ALIAS];
    if (pendingId !== undefined && (await this.access(name, String(pendingId)))?.value === value) return String(pendingId);
    // Pin `current` before adding: the new version becomes `latest`, which must not count.
    if (aliases[CURRENT_ALIAS] === undefined) {
      const latest = await this.access(name, 'latest');
      if (latest) await this.setAliases(name, { ...aliases, [CURRENT_ALIAS]: latest.versionId });
      if (latest) aliases[CURRENT_ALIAS] = latest.versionId;
    }
    const [v] = await this.call('AddSecretVersion', name, (api, o) => api.addSecretVersion({ parent: name, payload: { data: Buffer.from(value, 'utf8') } }, o));
    const versionId = v.name!.split('/').at(-1)!;
    await this.setAliases(name, { ...aliases, [PENDING_ALIAS]: versionId });
    return versionId;
  }

  async putFirst(record: CredentialRecord, state: RotationState): Promise<string> {
    const put = await this.put(record);
    const name = this.path(record.clusterId);
    const secret = await this.ownedSecret(name);
    await this.setAliases(name, { ...(secret?.versionAliases ?? {}), [CURRENT_ALIAS]: put.versionId }, { ...(secret?.annotations ?? {}), [STATE_KEY]: encodeState(state) });
    return put.versionId!;
  }

  async promote(clusterId: string, versionId: string, state: RotationState): Promise<void> {
    const name = this.path(clusterId);
    const secret = await this.ownedSecret(name);
    const aliases: Record<string, unknown> = { ...(secret?.versionAliases ?? {}) };
    const current = aliases[CURRENT_ALIAS] ?? (await this.access(name, 'latest'))?.versionId;
    if (current !== undefined && String(current) !== versionId) aliases[PREVIOUS_ALIAS] = current;
    aliases[CURRENT_ALIAS] = versionId;
    if (String(aliases[PENDING_ALIAS]) === versionId) delete aliases[PENDING_ALIAS];
    await this.setAliases(name, aliases, { ...(secret?.annotations ?? {}), [STATE_KEY]: encodeState(state) });
  }

  async discard(clusterId: string, versionId: string): Promise<void> {
    const name = this.path(clusterId);
    const secret = await this.ownedSecret(name);
    const aliases: Record<string, unknown> = { ...(secret?.versionAliases ?? {}) };
    if (String(aliases[PENDING_ALIAS]) !== versionId) return;
    delete aliases[PENDING_ALIAS];
    await this.setAliases(name, aliases);
  }

  async setState(clusterId: string, state: RotationState): Promise<void> {
    const name = this.path(clusterId);
    const secret = await this.ownedSecret(name);
    await this.call('UpdateSecret', name, (api, o) =>
      api.updateSecret({ secret: { name, annotations: { ...(secret?.annotations ?? {}), [STATE_KEY]: encodeState(state) } }, updateMask: { paths: ['annotations'] } }, o),
    );
  }

  /** The entry's versions that are still enabled (names). */
  private async enabledVersions(name: string): Promise<string[]> {
    const [versions] = await this.call('ListSecretVersions', name, (api, o) => {
      if (!api.listSecretVersions) throw new StoreError(this.kind, 'this client cannot list secret versions');
      return api.listSecretVersions({ parent: name }, o);
    });
    return versions.filter((v) => v.state === 'ENABLED' || v.state === 1).flatMap((v) => (v.name ? [v.name] : []));
  }

  async lifecycle(clusterId: string): Promise<LifecycleView | undefined> {
    const name = this.path(clusterId);
    const secret = await this.ownedSecret(name);
    if (!secret) return undefined;
    const text = secret.annotations?.[LIFECYCLE_KEY];
    const state = text ? decodeRetire(this.kind, name, text) : undefined;
    // Scheduled: the marker says so and no version is enabled any more.
    const scheduled = state?.phase === 'deleting' && state.deleteAfter && (await this.enabledVersions(name)).length === 0;
    return { ...(state ? { state } : {}), ...(scheduled ? { scheduledDeletion: state.deleteAfter! } : {}) };
  }

  async setLifecycle(clusterId: string, state: RetireState): Promise<void> {
    const name = this.path(clusterId);
    const secret = await this.ownedSecret(name);
    if (!secret) throw new StoreError(this.kind, `secret ${name} does not exist: no lifecycle state to set`);
    await this.call('UpdateSecret', name, (api, o) =>
      api.updateSecret({ secret: { name, annotations: { ...(secret.annotations ?? {}), [LIFECYCLE_KEY]: encodeRetire(state) } }, updateMask: { paths: ['annotations'] } }, o),
    );
  }

  /**
   * Secret Manager has no recovery window for a deleted secret: every version is disabled instead
   * (nothing can read the credential; `gcloud secrets versions enable` undoes it) and the marker's
   * `deleteAfter` (set by the caller) says from when it may be deleted for good.
   */
  async scheduleDeletion(clusterId: string, recoveryDays: number, now: Date): Promise<string> {
    const name = this.path(clusterId);
    // Only an entry of ours: another tool's secret under the same name keeps its versions.
    if (!(await this.ownedSecret(name))) return now.toISOString();
    for (const v of await this.enabledVersions(name))
      await this.call('DisableSecretVersion', v, (api, o) => {
        if (!api.disableSecretVersion) throw new StoreError(this.kind, 'this client cannot disable secret versions');
        return api.disableSecretVersion({ name: v }, o);
      });
    return new Date(now.getTime() + recoveryDays * 86_400_000).toISOString();
  }
}
