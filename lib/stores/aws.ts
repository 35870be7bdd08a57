/**
 * AWS Secrets Manager adapter of the SecretStore port. One secret per cluster named
 * `<prefix><clusterId>`, tagged `managed-by=flyte-credsync`; a secret of that name without
 * the tag is refused. Same value: nothing written. New value: PutSecretValue adds a version,
 * Secrets Manager moves AWSCURRENT to it and AWSPREVIOUS to the one before.
 *
 * A run reads every entry in batches ({@link AwsSecretsManagerStore.readEntries}): ListSecrets
 * filtered by the name prefix (names, tags and deletion dates, 100 a page) gives ownership, and
 * BatchGetSecretValue (20 a call) the current values.
 */
import {
  BatchGetSecretValueCommand,
  ListSecretsCommand,
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  type DescribeSecretCommandOutput,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CredsyncError, StoreError, StoreOwnershipError } from '../errors.ts';
import { mapBounded } from '../util/log.ts';
import { registerSecret } from '../util/redact.ts';
import { CALL_TIMEOUT_MS, callSignal, deadlineError } from '../util/abort.ts';
import { VersionedStore, type EntrySnapshot, type RawEntry } from './base.ts';
import { CLUSTER_KEY, MANAGED_BY_KEY, MANAGED_BY_VALUE, type CredentialRecord } from './types.ts';

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

export class AwsSecretsManagerStore extends VersionedStore {
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
    let d: DescribeSecretCommandOutput;
    try {
      d = await this.call('DescribeSecret', name, (o) => this.client.send(new DescribeSecretCommand({ SecretId: name }), o));
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw err;
    }
    const problem = this.problem(name, d.Tags, d.DeletedDate);
    if (problem) throw problem;
    return d;
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
}
