/**
 * What rotation needs beyond the plain sync's ports: a store that stages, promotes and keeps the
 * rotation state (see ./state.ts for the markers each backend uses), and a data plane on which
 * per-generation objects are made and deleted.
 */
import type { CredentialRecord, StoredCredential } from '../stores/types.ts';
import type { RotationState } from './state.ts';

/** A data plane's entry as rotation sees it (undefined parts are absent). */
export interface RotationView {
  current?: StoredCredential;
  pending?: StoredCredential;
  previous?: StoredCredential;
  state?: RotationState;
}

export interface RotationStore {
  readonly kind: string;
  entryName(clusterId: string): string;
  /**
   * The entry's versions and state; undefined when there is no entry.
   * @throws StoreOwnershipError when the entry is not ours
   */
  view(clusterId: string): Promise<RotationView | undefined>;
  /**
   * Adds `record` as the pending version of an entry that has a current one; staging the same
   * record again returns the same version.
   * @returns the pending version's id
   */
  stage(record: CredentialRecord): Promise<string>;
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
  promote(clusterId: string, versionId: string, state: RotationState): Promise<void>;
  /** Drops the pending marker from `versionId` (the version itself is kept, as every version). */
  discard(clusterId: string, versionId: string): Promise<void>;
  /** Replaces the rotation state. */
  setState(clusterId: string, state: RotationState): Promise<void>;
}

/** Rotation's operations on a data plane, as the sync's identity there. */
export interface RotationDataPlaneApi {
  readonly server: string;
  /**
   * Creates an Opaque Secret to bind tokenRequest tokens to (labelled as ours).
   * @returns its uid, also when it already existed (a re-run)
   */
  createBindingSecret(namespace: string, name: string, labels: Record<string, string>): Promise<{ uid: string }>;
  /** TokenRequest for the ServiceAccount, bound to the Secret `bound` (deleting it revokes the token). */
  requestToken(
    namespace: string,
    serviceAccount: string,
    opts: { expirationSeconds: number; bound: { name: string; uid: string } },
  ): Promise<{ token: string; expiresAt: string }>;
  /** Deletes a Secret; `absent` when it was already gone. */
  deleteSecret(namespace: string, name: string): Promise<'deleted' | 'absent'>;
  /** The PEM CA the sync trusts for this API server (what flyteadmin must trust too). */
  caPem(): Promise<string>;
}
