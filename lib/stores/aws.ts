/**
 * AWS Secrets Manager adapter of the SecretStore port. One secret per cluster named
 * `<prefix><clusterId>`, tagged `managed-by=flyte-credsync`; a secret of that name without
 * the tag is refused. Same value: nothing written. New value: PutSecretValue adds a version,
 * Secrets Manager moves AWSCURRENT to it and AWSPREVIOUS to the one before.
 */
import {
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
import { registerSecret } from '../util/redact.ts';
import { CALL_TIMEOUT_MS, callSignal, deadlineError } from '../util/abort.ts';
import { VersionedStore, type RawEntry } from './base.ts';
import { CLUSTER_KEY, MANAGED_BY_KEY, MANAGED_BY_VALUE, type CredentialRecord } from './types.ts';

export interface AwsStoreOptions {
  /** Prepended to the cluster id to name each secret. @default "flyte-credsync/" */
  prefix: string;
  kmsKeyId?: string;
  /** Extra tags on every secret the store creates. */
  tags?: Record<string, string>;
}

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

  /** The secret's metadata if it exists; refuses secrets we do not own or that are pending deletion. */
  protected async describeOwned(name: string): Promise<DescribeSecretCommandOutput | undefined> {
    let d: DescribeSecretCommandOutput;
    try {
      d = await this.call('DescribeSecret', name, (o) => this.client.send(new DescribeSecretCommand({ SecretId: name }), o));
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw err;
    }
    const owned = (d.Tags ?? []).some((t) => t.Key === MANAGED_BY_KEY && t.Value === MANAGED_BY_VALUE);
    if (!owned) throw new StoreOwnershipError(this.kind, name, `tag ${MANAGED_BY_KEY}=${MANAGED_BY_VALUE}`);
    if (d.DeletedDate)
      throw new StoreError(this.kind, `secret ${name} is scheduled for deletion; restore it (RestoreSecret) or delete it for good first`);
    return d;
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
