/**
 * The sync's ports and reports: what {@link runSync} (./sync.ts) needs, what it may be asked, and
 * what it answers.
 */
import type { Config, DataPlane } from '../config/schema.ts';
import type { ControlPlaneReport, PublishedState } from '../controlplane/apply.ts';
import type { CredentialVerifier } from '../dataplane/verify.ts';
import type { DiscoveryReport } from '../discovery/resolve.ts';
import type { ControlPlaneApi, DataPlaneApi, RolloutApi, RotationDataPlaneApi } from '../kube/ports.ts';
import type { LabelsAdmin } from '../labels/plan.ts';
import type { LabelsStepReport } from '../labels/run.ts';
import type { RotationReport } from '../rotation/rotate.ts';
import type { PutOutcome, SecretStore } from '../stores/types.ts';
import type { Log } from '../util/log.ts';
import type { DrainReport } from '../lifecycle/drain.ts';
import type { RetireReport, RetireRequest } from '../lifecycle/reports.ts';

export interface SyncDeps {
  config: Config;
  /** Connects to a data plane as the sync's identity there. */
  dataPlane(dp: DataPlane): Promise<DataPlaneApi>;
  /** Connects to the control plane. */
  controlPlane(): Promise<ControlPlaneApi>;
  verify: CredentialVerifier;
  store: SecretStore;
  /** Connects to FlyteAdmin (when the configuration has a `labels` section). */
  flyteAdmin?: () => Promise<LabelsAdmin & { close(): void }>;
  log: Log;
  /** Publishes each run's metrics (lib/runtime/metrics.ts); a platform's sink, none on the CLI. */
  metrics?: (report: SyncReport) => void;
  /** Told after each data plane is done (the CLI's progress line). */
  onProgress?: (p: { done: number; total: number; failed: number }) => void;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** Rotation's adapters (./rotation.ts); needed when a data plane rotates. */
  rotation?: RotationAdapters;
}

/** Which configuration a run used (the runtime reads it: lib/config/source.ts). */
export interface ConfigInfo {
  /** A path, `ssm:NAME` or `gcpsm:projects/P/secrets/S`. */
  source: string;
  version: string;
  /** A newer version that was refused (the run used `version`), with why and its stable code: the run is not ok. */
  refused?: { version: string; reason: string; code: string };
}

export interface SyncOptions {
  /** Only read, verify and store these data planes (the control plane is still rendered for all). */
  clusters?: string[];
  dryRun?: boolean;
  /** What discovery found, carried into the report. */
  discovery?: DiscoveryReport;
  /** Which configuration ran, carried into the report; a refused newer version fails the run. */
  configInfo?: ConfigInfo;
  /**
   * Rotating data planes mint a new generation whatever its age (`credsync rotate --now`).
   * Implies {@link SyncOptions.requireRotation}.
   */
  rotateNow?: boolean;
  /**
   * The run was asked to rotate (`credsync rotate`): it is refused, before anything is read or
   * written, when a data plane named in `clusters` has no rotation settings, or (without
   * `clusters`) when none has (default false: such data planes are synced as usual).
   */
  requireRotation?: boolean;
  /**
   * Data planes to start draining (`credsync drain`): recorded on the control plane with the
   * routing change (lib/controlplane/render.ts DRAINING_ANNOTATION). Refused like any write when
   * it would empty a label in use. Must be configured (else `UNKNOWN_DATA_PLANE`).
   */
  drain?: string[];
  /** Data planes whose `credsync drain` is cancelled (`credsync drain --cancel`). */
  undrain?: string[];
  /**
   * `credsync retire`: retire these draining data planes now if nothing runs there, or whatever
   * runs there with `force` (lib/sync/retire.ts). A data plane that does not drain is refused
   * (`DATA_PLANE_NOT_DRAINING`) before anything is written.
   */
  retire?: RetireRequest;
  /**
   * Data planes whose cluster was deleted (the cluster-deleted event, which recorded it on their
   * store entries first: lib/runtime/clusterDeleted.ts): they start draining, are not synced, and
   * retire on a later run. May name a data plane that is no longer configured (discovery no longer
   * finds a deleted cluster) but has a store entry.
   */
  deleted?: string[];
}

/** `retiring`/`retired`: no longer synced, out of the control plane (lib/sync/retire.ts). */
export type ClusterStatus = 'updated' | 'unchanged' | 'failed' | 'retiring' | 'retired';

export interface ClusterReport {
  id: string;
  status: ClusterStatus;
  /** What happened in the store: created, updated (new version) or unchanged. */
  store?: PutOutcome;
  storeEntry?: string;
  versionId?: string;
  /** Short sha256 fingerprint of token+CA (safe to show). */
  fingerprint?: string;
  /** The identity the token authenticated as. */
  identity?: string;
  /**
   * Whether that identity was reviewed this run (SelfSubjectReview); false when the store's
   * current record already proved it for these exact token and CA bytes (lib/dataplane/verify.ts).
   */
  identityReviewed?: boolean;
  tokenSecretCreated?: boolean;
  /** Failed: a stable code and a secret-free reason. */
  code?: string;
  reason?: string;
  /**
   * For a failed cluster: whether the control plane holds a credential for it (its last good one).
   * Absent when the control plane was not written (see controlPlaneError).
   */
  lastGoodKept?: boolean;
  /** A rotating data plane: generation, what rotated, rollout and revoke (lib/rotation). */
  rotation?: RotationReport;
  /**
   * What the control plane holds for it after this run (in a dry run: would hold), read from the
   * rendered Secret and clusters.yaml: the credential's fingerprint, whether it is listed and
   * enabled, its labels, and whether it is out of routing. Absent when the control plane was not written.
   */
  published?: PublishedState;
  /** For a rejected credential: the credential the control plane publishes still verified, and stays routed. */
  publishedStillVerifies?: boolean;
  /** A draining data plane: since when, and its unfinished executions (lib/lifecycle/drain.ts). */
  drain?: DrainReport;
  /** A retiring or retired data plane: how far it got (lib/sync/retire.ts). */
  retire?: RetireReport;
}

/** The audit Events a run recorded on the control plane (lib/controlplane/audit.ts). */
export interface AuditReport {
  /** `<reason> <Kind>/<name>` of each Event recorded. */
  recorded: string[];
  /** Events that could not be recorded, with the reason. The change itself was applied. */
  failed: string[];
}

export interface SyncReport {
  /** Unique per run: names the run in logs, audit Events and metrics. */
  runId: string;
  ok: boolean;
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  clusters: ClusterReport[];
  controlPlane?: ControlPlaneReport;
  /** Why the control plane was not written; `LABEL_ROUTING` also says how many assignments the routing guard refused. */
  controlPlaneError?: { code: string; reason: string; refusedAssignments?: number };
  audit?: AuditReport;
  /** Execution-cluster labels as code (when configured): planned or applied after the control plane. */
  labels?: LabelsStepReport;
  labelsError?: { code: string; reason: string };
  /** A rotation whose rollout did not complete in time, or whose revoke failed (resumed next run). */
  rotationError?: { code: string; reason: string };
  discovery?: DiscoveryReport;
  config?: ConfigInfo;
}

/** The adapters rotation adds to the sync's (the runtime's wiring provides them). */
export interface RotationAdapters {
  dataPlane(dp: DataPlane): Promise<DataPlaneApi & RotationDataPlaneApi>;
  controlPlane(): Promise<ControlPlaneApi & RolloutApi>;
}
