/**
 * AWS Secrets Manager adapter of the SecretStore port. One secret per cluster named
 * `<prefix><clusterId>`, tagged `managed-by=flyte-credsync`; a secret of that name without
 * the tag is refused. Same value: nothing written. New value: PutSecretValue adds a version,
 * Secrets Manager moves AWSCURRENT to it and AWSPREVIOUS to the one before.
 *
 * A run reads every entry in batches ({@link AwsSecretsManagerStore.readEntries}): ListSecrets
 * filtered by the name prefix (names, tags and deletion dates, 100 a page) gives ownership, and
 * BatchGetSecretValue (20 a call) the current values.
 *
 * Rotation markers ({@link RotationMarkers}): the staging labels AWSPENDING / AWSCURRENT /
 * AWSPREVIOUS and the tag `flyte-credsync-rotation`; the adapter also answers Secrets Manager's own
 * rotation protocol ({@link RotationProtocol}). A write given what the run saw of the entry
 * ({@link SeenMarkers}, from its view) sends no DescribeSecret of its own: one rotation of an entry
 * is 7 requests (DescribeSecret and GetSecretValue, PutSecretValue, two UpdateSecretVersionStage,
 * two TagResource).
 */
import { createHash } from 'node:crypto';
import {
  BatchGetSecretValueCommand,
  DeleteSecretCommand,
  ListSecretsCommand,
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  TagResourceCommand,
  UpdateSecretVersionStageCommand,
  type DescribeSecretCommandOutput,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CredsyncError, StoreError, StoreOwnershipError } from '../errors.ts';
import { mapBounded } from '../util/log.ts';
import { registerSecret } from '../util/redact.ts';
import { CALL_TIMEOUT_MS, callSignal, deadlineError } from '../util/abort.ts';
import { VersionedStore, type EntrySnapshot, type RawEntry } from './base.ts';
import { decodeState, encodeState, STATE_KEY, type RotationState } from './rotation.ts';
import {
  CLUSTER_KEY,
  MANAGED_BY_KEY,
  MANAGED_BY_VALUE,
  serializeRecord,
  toStored,
  type CredentialRecord,
  type RotationMarkers,
  type RotationProtocol,
  type RotationView,
  type SeenMarkers,
  type StoredCredential,
} from './types.ts';
import { decodeRetire, encodeRetire, LIFECYCLE_KEY, type LifecycleStore, type LifecycleView, type RetireState } from './lifecycle.ts';

export interface AwsStoreOptions {
  /** Prepended to the cluster id to name each secret. @default "flyte-credsync/" */
  prefix: string;
  kmsKeyId?: string;
  /** Extra tags on every secret the store creates. */
  tags?: Record<string, string>;
}

/** BatchGetSecretValue takes at most 20 secret ids per call; ListSecrets returns at most 100 a page. */
const BATCH_GET_MAX = 20;
const LIST_PAGE = 100;
/** Batch calls in flight at once (Secrets Manager's read quotas are per second; the SDK backs off on throttling). */
const BATCH_PARALLEL = 4;

/** AWS secret names: 1-512 of A-Z a-z 0-9 / _ + = . @ - */
const AWS_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

/** A ClientRequestToken (32-64 characters) that is the same for the same value. */
function requestToken(value: string): string {
  return `credsync-${createHash('sha256').update(value).digest('hex').slice(0, 40)}`;
}

export class AwsSecretsManagerStore extends VersionedStore implements RotationMarkers, RotationProtocol, LifecycleStore {
  readonly kind = 'aws-secrets-manager';
  protected readonly client: SecretsManagerClient;
  protected readonly opts: AwsStoreOptions;

  constructor(client: SecretsManagerClient, opts: AwsStoreOptions) {
    super();
    this.client = client;
    this.opts = opts;
  }

  entryName(clusterId: string): string {
    const name = this.opts.prefix + clusterId;
    if (!AWS_NAME.test(name)) throw new StoreError(this.kind, `"${name}" is not a valid secret name`);
    return name;
  }

  /**
   * One SDK call: `fn` passes `abortSignal` to `send`, which aborts the request after
   * CALL_TIMEOUT_MS or at the invocation's deadline (lib/util/abort.ts).
   */
  protected async call<T>(op: string, name: string, fn: (o: { abortSignal: AbortSignal }) => Promise<T>): Promise<T> {
    const abortSignal = callSignal();
    try {
      return await fn({ abortSignal });
    } catch (err) {
      if (err instanceof CredsyncError || err instanceof ResourceNotFoundException || err instanceof ResourceExistsException)
        throw err;
      if (abortSignal.aborted)
        throw deadlineError(`${this.kind}: ${op} ${name}`) ?? new StoreError(this.kind, `${op} ${name}: timed out after ${CALL_TIMEOUT_MS} ms`, { cause: err });
      const e = err as Error;
      throw new StoreError(this.kind, `${op} ${name}: ${e.name}: ${e.message}`, { cause: err });
    }
  }

  /** Why a secret of ours cannot be used (not tagged as ours, or pending deletion), if so. */
  private problem(name: string, tags: { Key?: string; Value?: string }[] | undefined, deleted: Date | undefined): Error | undefined {
    const owned = (tags ?? []).some((t) => t.Key === MANAGED_BY_KEY && t.Value === MANAGED_BY_VALUE);
    if (!owned) return new StoreOwnershipError(this.kind, name, `tag ${MANAGED_BY_KEY}=${MANAGED_BY_VALUE}`);
    if (deleted) return new StoreError(this.kind, `secret ${name} is scheduled for deletion; restore it (RestoreSecret) or delete it for good first`);
    return undefined;
  }

  /** The secret's metadata if it exists; refuses secrets we do not own or that are pending deletion. */
  protected async describeOwned(name: string): Promise<DescribeSecretCommandOutput | undefined> {
    const d = await this.describe(name);
    const problem = d && this.problem(name, d.Tags, d.DeletedDate);
    if (problem) throw problem;
    return d;
  }

  /** DescribeSecret; undefined when the secret does not exist. */
  private async describe(name: string): Promise<DescribeSecretCommandOutput | undefined> {
    try {
      return await this.call('DescribeSecret', name, (o) => this.client.send(new DescribeSecretCommand({ SecretId: name }), o));
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw err;
    }
  }

  /**
   * Every asked entry in ceil(n/100) ListSecrets pages (name-prefix filter; tags and deletion dates
   * give ownership) plus ceil(owned/20) BatchGetSecretValue calls. A secret the listing does not
   * show is taken as absent (a create that finds it existing re-reads it); one whose value the
   * batch could not return is left out, so it is read on its own.
   */
  protected override async readEntries(clusterIds: readonly string[]): Promise<EntrySnapshot> {
    const idOf = new Map(clusterIds.map((id) => [this.entryName(id), id]));
    const out: EntrySnapshot = new Map(clusterIds.map((id) => [id, undefined]));
    const owned: string[] = [];
    let NextToken: string | undefined;
    do {
      const page = await this.call('ListSecrets', `${this.opts.prefix}*`, (o) =>
        this.client.send(
          new ListSecretsCommand({
            ...(this.opts.prefix ? { Filters: [{ Key: 'name', Values: [this.opts.prefix] }] } : {}),
            IncludePlannedDeletion: true,
            MaxResults: LIST_PAGE,
            ...(NextToken ? { NextToken } : {}),
          }),
          o,
        ),
      );
      for (const s of page.SecretList ?? []) {
        const id = s.Name === undefined ? undefined : idOf.get(s.Name); // the filter is a case-insensitive prefix
        if (id === undefined) continue;
        const problem = this.problem(s.Name!, s.Tags, s.DeletedDate);
        if (problem) out.set(id, problem);
        else {
          out.set(id, {});
          owned.push(s.Name!);
        }
      }
      NextToken = page.NextToken;
    } while (NextToken);
    const chunks = Array.from({ length: Math.ceil(owned.length / BATCH_GET_MAX) }, (_, i) => owned.slice(i * BATCH_GET_MAX, (i + 1) * BATCH_GET_MAX));
    await mapBounded(chunks, BATCH_PARALLEL, async (names) => {
      const r = await this.call('BatchGetSecretValue', `${names.length} secrets`, (o) =>
        this.client.send(new BatchGetSecretValueCommand({ SecretIdList: names }), o),
      );
      for (const v of r.SecretValues ?? []) {
        const id = v.Name === undefined ? undefined : idOf.get(v.Name);
        if (id !== undefined && v.SecretString !== undefined && v.VersionId) out.set(id, { current: { value: v.SecretString, versionId: v.VersionId } });
      }
      for (const e of r.Errors ?? []) {
        const id = e.SecretId === undefined ? undefined : idOf.get(e.SecretId);
        if (id !== undefined) out.delete(id);
      }
    });
    return out;
  }

  private async current(name: string): Promise<{ value: string; versionId: string } | undefined> {
    try {
      const v = await this.call('GetSecretValue', name, (o) =>
        this.client.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }), o),
      );
      if (v.SecretString === undefined || !v.VersionId) return undefined;
      return { value: v.SecretString, versionId: v.VersionId };
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw err;
    }
  }

  async readSecret(name: string): Promise<string | undefined> {
    if (!AWS_NAME.test(name)) throw new StoreError(this.kind, `"${name}" is not a valid secret name`);
    const value = (await this.current(name))?.value;
    registerSecret(value);
    return value;
  }

  protected async readEntry(clusterId: string): Promise<RawEntry | undefined> {
    const name = this.entryName(clusterId);
    if (!(await this.describeOwned(name))) return undefined;
    const current = await this.current(name);
    return current ? { current } : {};
  }

  protected createEntry(record: CredentialRecord, value: string): Promise<{ versionId?: string } | 'exists'> {
    return this.createOwned(record, value);
  }

  /** CreateSecret with our tags (plus `extraTags`), and optionally the first version's id. */
  protected async createOwned(record: CredentialRecord, value: string, opts: { extraTags?: Record<string, string>; versionId?: string } = {}): Promise<{ versionId?: string } | 'exists'> {
    const name = this.entryName(record.clusterId);
    const tags = { ...this.opts.tags, ...opts.extraTags, [MANAGED_BY_KEY]: MANAGED_BY_VALUE, [CLUSTER_KEY]: record.clusterId };
    try {
      const out = await this.call('CreateSecret', name, (o) =>
        this.client.send(
          new CreateSecretCommand({
            Name: name,
            Description: `Flyte data-plane credential of cluster ${record.clusterId}, managed by flyte-credsync`,
            SecretString: value,
            ...(opts.versionId ? { ClientRequestToken: opts.versionId } : {}),
            KmsKeyId: this.opts.kmsKeyId,
            Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
          }),
          o,
        ),
      );
      return { ...(out.VersionId ? { versionId: out.VersionId } : {}) };
    } catch (err) {
      if (err instanceof ResourceExistsException) return 'exists';
      throw err;
    }
  }

  protected async addVersion(clusterId: string, value: string): Promise<string | undefined> {
    const name = this.entryName(clusterId);
    const out = await this.call('PutSecretValue', name, (o) => this.client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }), o));
    return out.VersionId;
  }

  // Rotation markers (see RotationMarkers in ./types.ts): staging labels and the state tag.

  private async versionValue(name: string, versionId: string): Promise<{ value: string; versionId: string } | undefined> {
    const v = await this.call('GetSecretValue', name, (o) => this.client.send(new GetSecretValueCommand({ SecretId: name, VersionId: versionId }), o));
    return v.SecretString === undefined ? undefined : { value: v.SecretString, versionId };
  }

  async view(clusterId: string, opts: { previous?: boolean } = {}): Promise<RotationView | undefined> {
    const name = this.entryName(clusterId);
    const d = await this.describeOwned(name);
    if (!d) return undefined;
    const byStage = (stage: string) => Object.entries(d.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(stage))?.[0];
    const read = async (stage: string): Promise<StoredCredential | undefined> => {
      const id = byStage(stage);
      return id ? toStored(this.kind, name, await this.versionValue(name, id)) : undefined;
    };
    // RotateSecret labels its ClientRequestToken AWSPENDING before the rotation function's
    // createSecret has put a value there: such a version is not staged yet.
    const pendingValue = read('AWSPENDING').catch((err: unknown) => {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw err;
    });
    const [current, pending, previous] = await Promise.all([read('AWSCURRENT'), pendingValue, opts.previous === false ? undefined : read('AWSPREVIOUS')]);
    const tag = d.Tags?.find((t) => t.Key === STATE_KEY)?.Value;
    return {
      ...(current ? { current } : {}),
      ...(pending ? { pending } : {}),
      ...(previous ? { previous } : {}),
      ...(tag ? { state: decodeState(this.kind, name, tag) } : {}),
    };
  }

  /**
   * What Secrets Manager's rotation protocol needs of a secret of ours, by ARN or name (one
   * DescribeSecret): the data plane it belongs to (its `flyte-credsync-cluster` tag), whether
   * rotation is enabled on it, and the staging labels of each version.
   * @returns undefined when the secret does not exist
   * @throws StoreOwnershipError when it is not ours
   */
  async rotationInfo(secretId: string): Promise<{ clusterId?: string; rotationEnabled: boolean; stages: Record<string, string[]> } | undefined> {
    const d = await this.describeOwned(secretId);
    if (!d) return undefined;
    const clusterId = d.Tags?.find((t) => t.Key === CLUSTER_KEY)?.Value;
    return { ...(clusterId ? { clusterId } : {}), rotationEnabled: d.RotationEnabled === true, stages: d.VersionIdsToStages ?? {} };
  }

  /**
   * The version ids under AWSCURRENT and AWSPENDING: as the caller saw them in this run (`seen`),
   * else from one DescribeSecret, which refuses a secret we do not own.
   * @returns undefined when the secret does not exist
   */
  private async markers(name: string, seen: SeenMarkers | undefined): Promise<SeenMarkers | undefined> {
    if (seen) return seen;
    const d = await this.describeOwned(name);
    if (!d) return undefined;
    const byStage = (stage: string) => Object.entries(d.VersionIdsToStages ?? {}).find(([, s]) => s.includes(stage))?.[0];
    const current = byStage('AWSCURRENT');
    const pending = byStage('AWSPENDING');
    return { ...(current ? { current } : {}), ...(pending ? { pending } : {}) };
  }

  /** @param opts.versionId the version id to use (Secrets Manager's ClientRequestToken); default: derived from the value */
  async stage(record: CredentialRecord, opts: { seen?: SeenMarkers; versionId?: string } = {}): Promise<string> {
    const name = this.entryName(record.clusterId);
    const value = serializeRecord(record);
    const token = opts.versionId ?? requestToken(value);
    if (!(await this.markers(name, opts.seen))) throw new StoreError(this.kind, `secret ${name} does not exist: nothing to stage a pending version on`);
    const out = await this.call('PutSecretValue', name, (o) =>
      this.client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value, ClientRequestToken: token, VersionStages: ['AWSPENDING'] }), o),
    );
    return out.VersionId ?? token;
  }

  async putFirst(record: CredentialRecord, state: RotationState): Promise<string> {
    const value = serializeRecord(record);
    const created = await this.createOwned(record, value, { extraTags: { [STATE_KEY]: encodeState(state) }, versionId: requestToken(value) });
    if (created !== 'exists' && created.versionId) return created.versionId;
    // Created meanwhile (another run): a plain put, then the state.
    const put = await this.put(record);
    await this.setState(record.clusterId, state);
    return put.versionId!;
  }

  /**
   * At most three writes and one read (none with `seen`): AWSCURRENT moved from the version that has
   * it (named, so a version made current meanwhile fails the call), the state tag, AWSPENDING
   * removed from the version if it has it.
   */
  async promote(clusterId: string, versionId: string, state: RotationState, seen?: SeenMarkers): Promise<void> {
    const name = this.entryName(clusterId);
    const m = (await this.markers(name, seen)) ?? {};
    if (m.current !== versionId) {
      // Secrets Manager moves AWSPREVIOUS to the version that loses AWSCURRENT.
      await this.call('UpdateSecretVersionStage', name, (o) =>
        this.client.send(
          new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSCURRENT', MoveToVersionId: versionId, ...(m.current ? { RemoveFromVersionId: m.current } : {}) }),
          o,
        ),
      );
    }
    await this.tagState(name, state);
    if (m.pending === versionId) await this.removePending(name, versionId);
  }

  async discard(clusterId: string, versionId: string, seen?: SeenMarkers): Promise<void> {
    const name = this.entryName(clusterId);
    if ((await this.markers(name, seen))?.pending === versionId) await this.removePending(name, versionId);
  }

  private async removePending(name: string, versionId: string): Promise<void> {
    await this.call('UpdateSecretVersionStage', name, (o) =>
      this.client.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSPENDING', RemoveFromVersionId: versionId }), o),
    );
  }

  async setState(clusterId: string, state: RotationState, seen?: SeenMarkers): Promise<void> {
    const name = this.entryName(clusterId);
    if (!(await this.markers(name, seen))) throw new StoreError(this.kind, `secret ${name} does not exist: no rotation state to set`);
    await this.tagState(name, state);
  }

  private async tagState(name: string, state: RotationState): Promise<void> {
    await this.call('TagResource', name, (o) => this.client.send(new TagResourceCommand({ SecretId: name, Tags: [{ Key: STATE_KEY, Value: encodeState(state) }] }), o));
  }

  /** DescribeSecret of an owned secret, pending deletion or not (retirement reads both). */
  private async describeAny(name: string): Promise<DescribeSecretCommandOutput | undefined> {
    const d = await this.describe(name);
    const problem = d && this.problem(name, d.Tags, undefined);
    if (problem) throw problem;
    return d;
  }

  async lifecycle(clusterId: string): Promise<LifecycleView | undefined> {
    const name = this.entryName(clusterId);
    const d = await this.describeAny(name);
    if (!d) return undefined;
    const tag = d.Tags?.find((t) => t.Key === LIFECYCLE_KEY)?.Value;
    return { ...(tag ? { state: decodeRetire(this.kind, name, tag) } : {}), ...(d.DeletedDate ? { scheduledDeletion: new Date(d.DeletedDate).toISOString() } : {}) };
  }

  async setLifecycle(clusterId: string, state: RetireState): Promise<void> {
    const name = this.entryName(clusterId);
    if (!(await this.describeAny(name))) throw new StoreError(this.kind, `secret ${name} does not exist: no lifecycle state to set`);
    await this.call('TagResource', name, (o) => this.client.send(new TagResourceCommand({ SecretId: name, Tags: [{ Key: LIFECYCLE_KEY, Value: encodeRetire(state) }] }), o));
  }

  async scheduleDeletion(clusterId: string, recoveryDays: number, now: Date): Promise<string> {
    const name = this.entryName(clusterId);
    const d = await this.describeAny(name);
    if (!d) return now.toISOString();
    // Already scheduled (a run killed after the call): DescribeSecret's DeletedDate is when it goes.
    if (d.DeletedDate) return new Date(d.DeletedDate).toISOString();
    const out = await this.call('DeleteSecret', name, (o) => this.client.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: recoveryDays }), o));
    return (out.DeletionDate ? new Date(out.DeletionDate) : new Date(now.getTime() + recoveryDays * 86_400_000)).toISOString();
  }
}
