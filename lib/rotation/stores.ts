/**
 * The SecretStore adapters with what rotation adds (the {@link RotationStore} port): a pending
 * version, promotion, and the rotation state, in each backend's own terms (see ./state.ts).
 *
 * - AWS Secrets Manager: the staging labels AWSPENDING / AWSCURRENT / AWSPREVIOUS, moved with
 *   UpdateSecretVersionStage; the state in the tag `flyte-credsync-rotation`. A pending version is
 *   written with a ClientRequestToken derived from its value, so staging the same record twice
 *   writes one version.
 * - GCP Secret Manager: version aliases `current`, `pending`, `previous` (UpdateSecret with the
 *   `version_aliases` mask; the local emulator supports them too) and the annotation
 *   `flyte-credsync-rotation`; promotion sets aliases and state in one UpdateSecret.
 * - In memory: the same, for unit tests.
 *
 * The first credential of a data plane is never staged: there is nothing to protect yet, and
 * Secrets Manager makes a secret's first version AWSCURRENT whatever label it is given. It is
 * verified first and then stored as current ({@link RotationStore.putFirst}).
 */
import { createHash } from 'node:crypto';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  TagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { AwsSecretsManagerStore } from '../stores/aws.ts';
import { CURRENT_ALIAS, GcpSecretManagerStore } from '../stores/gcp.ts';
import { MemoryStore } from '../stores/memory.ts';
import { CLUSTER_KEY, serializeRecord, toStored, type CredentialRecord, type SecretStore, type StoredCredential } from '../stores/types.ts';
import type { RotationStore, RotationView } from './ports.ts';
import { decodeState, encodeState, STATE_KEY, type RotationState } from './state.ts';

/** Whether a store can rotate (every adapter built by the runtime can; a test's plain fake cannot). */
export function isRotationStore(s: SecretStore): s is SecretStore & RotationStore {
  const r = s as Partial<RotationStore>;
  return typeof r.view === 'function' && typeof r.stage === 'function' && typeof r.promote === 'function';
}

/** A ClientRequestToken (32-64 characters) that is the same for the same value. */
function requestToken(value: string): string {
  return `credsync-${createHash('sha256').update(value).digest('hex').slice(0, 40)}`;
}

export class AwsRotationStore extends AwsSecretsManagerStore implements RotationStore {
  private async versionValue(name: string, versionId: string): Promise<{ value: string; versionId: string } | undefined> {
    const v = await this.call('GetSecretValue', name, (o) => this.client.send(new GetSecretValueCommand({ SecretId: name, VersionId: versionId }), o));
    return v.SecretString === undefined ? undefined : { value: v.SecretString, versionId };
  }

  async view(clusterId: string): Promise<RotationView | undefined> {
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
    const [current, pending, previous] = await Promise.all([read('AWSCURRENT'), pendingValue, read('AWSPREVIOUS')]);
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

  /** @param token the version id to use (Secrets Manager's ClientRequestToken); default: derived from the value */
  async stage(record: CredentialRecord, token?: string): Promise<string> {
    const name = this.entryName(record.clusterId);
    const value = serializeRecord(record);
    token ??= requestToken(value);
    const out = await this.call('PutSecretValue', name, (o) =>
      this.client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value, ClientRequestToken: token!, VersionStages: ['AWSPENDING'] }), o),
    );
    return out.VersionId ?? token!;
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

  async promote(clusterId: string, versionId: string, state: RotationState): Promise<void> {
    const name = this.entryName(clusterId);
    const d = await this.describeOwned(name);
    const current = Object.entries(d?.VersionIdsToStages ?? {}).find(([, s]) => s.includes('AWSCURRENT'))?.[0];
    if (current !== versionId) {
      // Secrets Manager moves AWSPREVIOUS to the version that loses AWSCURRENT.
      await this.call('UpdateSecretVersionStage', name, (o) =>
        this.client.send(
          new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSCURRENT', MoveToVersionId: versionId, ...(current ? { RemoveFromVersionId: current } : {}) }),
          o,
        ),
      );
    }
    await this.setState(clusterId, state);
    await this.discard(clusterId, versionId);
  }

  async discard(clusterId: string, versionId: string): Promise<void> {
    const name = this.entryName(clusterId);
    const d = await this.describeOwned(name);
    if (!(d?.VersionIdsToStages?.[versionId] ?? []).includes('AWSPENDING')) return;
    await this.call('UpdateSecretVersionStage', name, (o) =>
      this.client.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSPENDING', RemoveFromVersionId: versionId }), o),
    );
  }

  async setState(clusterId: string, state: RotationState): Promise<void> {
    const name = this.entryName(clusterId);
    await this.call('TagResource', name, (o) => this.client.send(new TagResourceCommand({ SecretId: name, Tags: [{ Key: STATE_KEY, Value: encodeState(state) }] }), o));
  }
}

const PENDING_ALIAS = 'pending';
const PREVIOUS_ALIAS = 'previous';

export class GcpRotationStore extends GcpSecretManagerStore implements RotationStore {
  async view(clusterId: string): Promise<RotationView | undefined> {
    const name = this.path(clusterId);
    const secret = await this.ownedSecret(name);
    if (!secret) return undefined;
    const aliases = secret.versionAliases ?? {};
    const read = async (alias: string) => (aliases[alias] !== undefined ? toStored(this.kind, name, await this.access(name, String(aliases[alias]))) : undefined);
    const [current, pending, previous] = await Promise.all([
      aliases[CURRENT_ALIAS] !== undefined ? read(CURRENT_ALIAS) : toStored(this.kind, name, await this.access(name, 'latest')),
      read(PENDING_ALIAS),
      read(PREVIOUS_ALIAS),
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
}

/** In-memory: markers and state beside the versions. */
export class MemoryRotationStore extends MemoryStore implements RotationStore {
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

  protected override async readEntry(clusterId: string) {
    const m = this.marks(clusterId);
    const e = this.owned(this.entryName(clusterId));
    if (!e) return undefined;
    const id = m.current ?? e.versions.at(-1)?.id;
    const v = e.versions.find((x) => x.id === id);
    return v ? { current: { value: v.value, versionId: v.id } } : {};
  }

  protected override async addVersion(clusterId: string, value: string): Promise<string | undefined> {
    const id = await super.addVersion(clusterId, value);
    const m = this.marks(clusterId);
    if (m.current) Object.assign(m, { previous: m.current, current: id });
    return id;
  }

  async view(clusterId: string): Promise<RotationView | undefined> {
    const e = this.owned(this.entryName(clusterId));
    if (!e) return undefined;
    const m = this.marks(clusterId);
    const current = this.value(clusterId, m.current ?? e.versions.at(-1)?.id);
    const pending = this.value(clusterId, m.pending);
    const previous = this.value(clusterId, m.previous);
    return {
      ...(current ? { current } : {}),
      ...(pending ? { pending } : {}),
      ...(previous ? { previous } : {}),
      ...(m.state ? { state: decodeState(this.kind, this.entryName(clusterId), m.state) } : {}),
    };
  }

  async stage(record: CredentialRecord): Promise<string> {
    const e = this.owned(this.entryName(record.clusterId))!;
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
    this.writes++;
    this.marks(clusterId).state = encodeState(state);
  }
}
