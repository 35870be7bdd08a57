/**
 * The SecretStore port: where verified credentials are kept, Confidant-style (one entry per
 * cluster, versioned, owned, never overwritten blindly). Every adapter shares these rules:
 * - an entry without our ownership marker is refused ({@link StoreOwnershipError});
 * - the same value writes nothing; a new value adds a version and keeps the previous one;
 * - "not found" is `undefined`, whatever the backend calls it.
 *
 * Rotation (lib/rotation) asks more of an entry: the {@link RotationMarkers} (a pending version,
 * promotion, the rotation state; ./rotation.ts), which every adapter keeps in its backend's terms.
 * A caller asks the store for that capability ({@link canRotate}, {@link hasRotationProtocol}),
 * never for its class.
 */
import { createHash } from 'node:crypto';
import { StoreError } from '../errors.ts';
import { registerSecret } from '../util/redact.ts';
import { parseGeneration, serializeGeneration, type GenerationInfo, type RotationState } from './rotation.ts';

export const MANAGED_BY_KEY = 'managed-by';
export const MANAGED_BY_VALUE = 'flyte-credsync';
export const CLUSTER_KEY = 'flyte-credsync-cluster';
export const RECORD_SCHEMA = 'flyte-credsync/credential/v1';

/** Where a credential was read from (no secret in here). */
export interface CredentialSource {
  /** API server URL the sync read it from. */
  server: string;
  namespace: string;
  serviceAccount: string;
  secret: string;
  secretUid?: string;
}

export interface CredentialRecord {
  clusterId: string;
  /** The API server URL flyteadmin uses. */
  endpoint: string;
  token: string;
  caCert: string;
  /** sha256 over token and CA; safe to show, changes whenever either does. */
  fingerprint: string;
  source: CredentialSource;
  /** Set by rotation (lib/rotation): which generation this credential is, when issued, when it expires. */
  generation?: GenerationInfo;
}

export interface StoredCredential {
  record: CredentialRecord;
  versionId: string;
}

export type PutOutcome = 'created' | 'updated' | 'unchanged';

export interface PutResult {
  outcome: PutOutcome;
  /** The version now current; absent in a dry run that would write. */
  versionId?: string;
}

/**
 * The port every store adapter implements; ./base.ts holds the shared rules, so an adapter only
 * supplies its backend's primitives.
 */
export interface SecretStore {
  /** Short backend name for reports, e.g. "aws-secrets-manager". */
  readonly kind: string;
  /**
   * The backend's name for a cluster's entry (prefix + id).
   * @throws StoreError when the name is not valid for the backend
   */
  entryName(clusterId: string): string;
  /**
   * The current version, or undefined when there is none.
   * @throws StoreOwnershipError for an entry it does not own; StoreError when the backend fails or
   *   the value is not a valid record (wrong schema, fingerprint mismatch)
   */
  get(clusterId: string): Promise<StoredCredential | undefined>;
  /**
   * Stores a record: `unchanged` (same bytes, nothing written), `updated` (a new version, the
   * previous one kept) or `created`. With `dryRun` (default false), says what it would do and
   * writes nothing.
   * @throws StoreOwnershipError for an entry it does not own; StoreError when the backend fails
   */
  put(record: CredentialRecord, opts?: { dryRun?: boolean }): Promise<PutResult>;
  /**
   * Reads a secret the operator made, by its full name (not a cluster entry, so no ownership
   * marker is required): e.g. FlyteAdmin's OAuth2 client secret. Optional: fakes may leave it out. The value is registered for
   * redaction before it is returned.
   * @returns the current value, or undefined when there is no such secret
   * @throws StoreError when the backend fails
   */
  readSecret?(name: string): Promise<string | undefined>;
  /**
   * Optional: this store for one run over `clusterIds`, their entries read in batches up front
   * (fewer calls than one read per data plane; same rules). `onFallback` is told when the batch read
   * failed and entries are read one by one instead.
   */
  batch?(clusterIds: readonly string[], onFallback?: (err: unknown) => void): Promise<SecretStore>;
}

/** A data plane's entry as rotation sees it (undefined parts are absent). */
export interface RotationView {
  current?: StoredCredential;
  pending?: StoredCredential;
  previous?: StoredCredential;
  state?: RotationState;
}

/**
 * The rotation markers of the port: a pending version, promotion, and the rotation state, kept in
 * each backend's own terms:
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
 * verified first and then stored as current ({@link RotationMarkers.putFirst}).
 */
export interface RotationMarkers {
  /**
   * The entry's versions and state; undefined when there is no entry.
   * @param opts.previous read the previous version's value too (default true); false leaves
   *   `previous` out (a rotation step needs only current and pending; rollback and retirement ask for it)
   * @throws StoreOwnershipError when the entry is not ours
   */
  view(clusterId: string, opts?: { previous?: boolean }): Promise<RotationView | undefined>;
  /**
   * Adds `record` as the pending version of an entry that has a current one; staging the same
   * record again returns the same version.
   * @param opts.seen what this run saw of the entry (see {@link SeenMarkers}); without it the entry is read first
   * @returns the pending version's id
   */
  stage(record: CredentialRecord, opts?: { seen?: SeenMarkers }): Promise<string>;
  /**
   * Stores a data plane's first credential (already verified) as current, with `state`.
   * @returns its version id
   */
  putFirst(record: CredentialRecord, state: RotationState): Promise<string>;
  /**
   * Makes version `versionId` current (the current one becomes previous; a rollback promotes the
   * previous one), drops its pending marker if any, and stores `state`: as good as one step (a run killed in between finds the
   * version current and the state behind, which rotation repairs).
   */
  promote(clusterId: string, versionId: string, state: RotationState, seen?: SeenMarkers): Promise<void>;
  /** Drops the pending marker from `versionId` (the version itself is kept, as every version). */
  discard(clusterId: string, versionId: string, seen?: SeenMarkers): Promise<void>;
  /** Replaces the rotation state. */
  setState(clusterId: string, state: RotationState, seen?: SeenMarkers): Promise<void>;
}

/**
 * What a run saw of an entry's markers: the version ids under `current` and `pending`, from a
 * {@link RotationMarkers.view} of that entry in this run (which checked the entry's ownership) and
 * the run's own writes to it since. Given to a write, it spares the adapter a read of the entry
 * before writing (AWS: one DescribeSecret per write); without it the adapter reads the entry, and
 * checks its ownership, first. The AWS adapter acts on these ids: a promotion names the version it
 * moves AWSCURRENT from, and the removal of AWSPENDING the version it removes it from, so either
 * fails when another writer moved the label since, instead of writing over it. An adapter may
 * ignore it: the GCP adapter reads the secret before each write anyway, since its writes replace
 * the whole alias and annotation maps.
 */
export interface SeenMarkers {
  current?: string;
  pending?: string;
}

/** The markers a view shows (see {@link SeenMarkers}). */
export function seenOf(view: RotationView): SeenMarkers {
  return { ...(view.current ? { current: view.current.versionId } : {}), ...(view.pending ? { pending: view.pending.versionId } : {}) };
}

/** A store that keeps rotation markers: every adapter the runtime builds. */
export type RotatingStore = SecretStore & RotationMarkers;

/** Whether a store keeps rotation markers (every adapter does; a wrapper or a test's plain fake may not). */
export function canRotate(s: SecretStore): s is RotatingStore {
  const r = s as Partial<RotationMarkers>;
  return typeof r.view === 'function' && typeof r.stage === 'function' && typeof r.promote === 'function';
}

/**
 * A backend that runs its own rotation protocol (AWS Secrets Manager's four steps, which
 * lib/sync/secretsManagerRotation.ts answers): what the protocol needs of a secret of ours.
 */
export interface RotationProtocol {
  /**
   * By ARN or name: the data plane it belongs to (its `flyte-credsync-cluster` tag), whether
   * rotation is enabled on it, and the staging labels of each version.
   * @returns undefined when the secret does not exist
   * @throws StoreOwnershipError when it is not ours
   */
  rotationInfo(secretId: string): Promise<{ clusterId?: string; rotationEnabled: boolean; stages: Record<string, string[]> } | undefined>;
  /** {@link RotationMarkers.stage}, optionally with the version id the protocol chose (its ClientRequestToken). */
  stage(record: CredentialRecord, opts?: { seen?: SeenMarkers; versionId?: string }): Promise<string>;
}

/** Whether a store runs its backend's own rotation protocol (the AWS Secrets Manager adapter does). */
export function hasRotationProtocol(s: SecretStore): s is RotatingStore & RotationProtocol {
  return canRotate(s) && typeof (s as Partial<RotationProtocol>).rotationInfo === 'function';
}

/** sha256 over token and CA (NUL-separated), `sha256:<hex>`: safe to show, changes whenever either does. */
export function fingerprint(token: string, caCert: string): string {
  return 'sha256:' + createHash('sha256').update(token).update('\0').update(caCert).digest('hex');
}

/** Short form for reports and logs. */
export function shortFingerprint(fp: string): string {
  return fp.replace(/^sha256:/, '').slice(0, 12);
}

/** A record with its fingerprint computed from its token and CA. */
export function makeRecord(r: Omit<CredentialRecord, 'fingerprint'>): CredentialRecord {
  return { ...r, fingerprint: fingerprint(r.token, r.caCert) };
}

/** Canonical JSON of a record: fixed key order, so equal records serialize to equal bytes. */
export function serializeRecord(r: CredentialRecord): string {
  return JSON.stringify({
    schema: RECORD_SCHEMA,
    clusterId: r.clusterId,
    endpoint: r.endpoint,
    token: r.token,
    caCert: r.caCert,
    fingerprint: r.fingerprint,
    source: {
      server: r.source.server,
      namespace: r.source.namespace,
      serviceAccount: r.source.serviceAccount,
      secret: r.source.secret,
      ...(r.source.secretUid ? { secretUid: r.source.secretUid } : {}),
    },
    ...(r.generation ? { generation: serializeGeneration(r.generation) } : {}),
  });
}

/**
 * Parses a stored value back into a record.
 * @throws StoreError when it is not JSON, not a v1 record, or its fingerprint does not match
 */
export function parseRecord(store: string, name: string, text: string): CredentialRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StoreError(store, `secret ${name} does not hold JSON`);
  }
  const o = v as Partial<CredentialRecord> & { schema?: string };
  if (
    o?.schema !== RECORD_SCHEMA ||
    typeof o.clusterId !== 'string' ||
    typeof o.endpoint !== 'string' ||
    typeof o.token !== 'string' ||
    typeof o.caCert !== 'string' ||
    typeof o.fingerprint !== 'string' ||
    typeof o.source !== 'object'
  )
    throw new StoreError(store, `secret ${name} does not hold a ${RECORD_SCHEMA} record`);
  if (fingerprint(o.token, o.caCert) !== o.fingerprint)
    throw new StoreError(store, `secret ${name}: fingerprint does not match its token and CA`);
  return {
    clusterId: o.clusterId,
    endpoint: o.endpoint,
    token: o.token,
    caCert: o.caCert,
    fingerprint: o.fingerprint,
    source: o.source as CredentialSource,
    ...(o.generation !== undefined ? { generation: parseGeneration(store, name, o.generation) } : {}),
  };
}

/**
 * The stored credential from a backend's current raw value (undefined stays undefined). Every
 * adapter reads through here, so every token and CA read back is registered for redaction.
 */
export function toStored(store: string, name: string, cur: { value: string; versionId: string } | undefined): StoredCredential | undefined {
  if (!cur) return undefined;
  const record = parseRecord(store, name, cur.value);
  registerSecret(record.token);
  registerSecret(record.caCert);
  return { record, versionId: cur.versionId };
}
