/**
 * The narrow Kubernetes operations the sync really makes, as ports. The adapters in
 * ./client.ts implement them with @kubernetes/client-node; unit tests use in-memory fakes.
 */

import type { ReviewedAction } from './reviews.ts';

/** The type of a Secret the token controller fills with a ServiceAccount's token and the cluster CA. */
export const TOKEN_SECRET_TYPE = 'kubernetes.io/service-account-token';
/** The annotation naming the ServiceAccount of such a Secret. */
export const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name';

/**
 * One entry of an object's `metadata.managedFields`, as far as the restart rule reads it: who
 * last changed which data keys, and when (the API server's clock, whole seconds).
 */
export interface FieldOwner {
  /** The field manager (`helm`, `argocd-controller`, `kubectl-edit`, `flyte-credsync`, ...). */
  manager: string;
  operation?: string;
  /** When this manager last changed a field it owns (RFC 3339, whole seconds). */
  time?: string;
  /** The data keys it owns (`f:data` / `f:stringData` / `f:binaryData` of its fieldsV1). */
  dataKeys: string[];
}

export interface SecretObject {
  name: string;
  namespace: string;
  type?: string;
  uid?: string;
  resourceVersion?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Decoded data: exact bytes. */
  data: Record<string, Buffer>;
  /** From managedFields, when read from the API server (never written). */
  owners?: FieldOwner[];
}

export interface ConfigMapObject {
  name: string;
  namespace: string;
  resourceVersion?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  data: Record<string, string>;
  /** From managedFields, when read from the API server (never written). */
  owners?: FieldOwner[];
}

/** The pod template of a Deployment, as far as the sync looks at it. */
export interface DeploymentObject {
  name: string;
  namespace: string;
  /** spec.template.metadata.annotations */
  templateAnnotations: Record<string, string>;
  /** metadata.labels / annotations: who else manages it (lib/controlplane/owners.ts). */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The restart patch carries it as a precondition (a 409 when the Deployment changed since this read). */
  resourceVersion?: string;
}

/**
 * The pods of a Deployment's current ReplicaSet (the one of its latest revision) that are not
 * terminating: what serves now and keeps serving once the rollout is done.
 */
export interface CurrentPods {
  /**
   * False while the deployment controller has not yet observed the latest pod template
   * (status.observedGeneration < metadata.generation): its pods do not exist yet and will be
   * created from now on.
   */
  observed: boolean;
  /** Each pod's metadata.creationTimestamp (RFC 3339, whole seconds; the API server's clock). */
  created: string[];
  /** The current ReplicaSet's pod-template annotations (what its pods were created with); absent when not observed. */
  templateAnnotations?: Record<string, string>;
}

/** A coordination.k8s.io/v1 Lease (times as RFC 3339 micro-time strings). */
export interface LeaseObject {
  name: string;
  namespace: string;
  resourceVersion?: string;
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** What the sync does on a data plane, as its own (restricted) identity. */
export interface DataPlaneApi {
  /** The API server URL the sync talks to. */
  readonly server: string;
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** Creates a kubernetes.io/service-account-token Secret; `exists` when someone else created it first. */
  createTokenSecret(namespace: string, name: string, serviceAccount: string): Promise<'created' | 'exists'>;
  serviceAccountExists(namespace: string, name: string): Promise<boolean>;
  /**
   * Every FlyteWorkflow (`flyteworkflows.flyte.lyft.com`, v1alpha1) in every namespace, as far as
   * draining looks at them (lib/lifecycle/executions.ts). Needs `list flyteworkflows` cluster-wide
   * (deploy/dataplane-lifecycle-rbac.yaml). Optional: unit-test fakes may leave it out.
   */
  listFlyteWorkflows?(): Promise<FlyteWorkflowView[]>;
}

/** One FlyteWorkflow object (one execution) on a data plane. */
export interface FlyteWorkflowView {
  namespace: string;
  name: string;
  /** The `execution-id` label flyteadmin sets (the object's name when it is absent). */
  executionId: string;
  /** `status.phase` (an integer; absent before flytepropeller first writes a status). */
  phase?: number;
  /** metadata.creationTimestamp, RFC 3339. */
  createdAt?: string;
}

/**
 * A Kubernetes Event (events.k8s.io/v1) the sync records on an object it changed: the audit trail
 * `kubectl get events -n flyte` shows. Never carries a secret value.
 */
export interface AuditEvent {
  namespace: string;
  /** The object the event is about. */
  regarding: { apiVersion: string; kind: string; name: string };
  type: 'Normal' | 'Warning';
  /** CamelCase, machine-readable: CredentialsUpdated, ClusterConfigUpdated, RolloutRestarted. */
  reason: string;
  /** What was done: Update, Restart. */
  action: string;
  /** Human-readable, at most 1 kB (the API server's limit). */
  note: string;
  /** The run that did it (report.runId). */
  runId: string;
  time: Date;
}

/** What the sync does on the control plane. */
export interface ControlPlaneApi {
  readonly server: string;
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  createSecret(secret: SecretObject): Promise<void>;
  /** Replaces with optimistic concurrency (secret.resourceVersion); throws ConflictError on 409. */
  replaceSecret(secret: SecretObject): Promise<void>;
  getConfigMap(namespace: string, name: string): Promise<ConfigMapObject | undefined>;
  /** Replaces with optimistic concurrency (cm.resourceVersion); throws ConflictError on 409. */
  replaceConfigMap(cm: ConfigMapObject): Promise<void>;
  /** The Deployment's pod template annotations; undefined when it does not exist. */
  getDeploymentTemplate(namespace: string, name: string): Promise<DeploymentObject | undefined>;
  /**
   * Rolls a Deployment the way `kubectl rollout restart` does (pod-template restartedAt
   * annotation), setting `annotations` on the pod template in the same patch. With
   * `resourceVersion`, the patch applies only to that version: ConflictError (409) otherwise.
   */
  restartDeployment(namespace: string, name: string, at: string, annotations?: Record<string, string>, resourceVersion?: string): Promise<void>;
  /** The Deployment's current pods (see {@link CurrentPods}); undefined when the Deployment does not exist. */
  currentPods(namespace: string, name: string): Promise<CurrentPods | undefined>;
  getLease(namespace: string, name: string): Promise<LeaseObject | undefined>;
  /** Creates a Lease and returns it as stored; throws ConflictError on 409 (someone created it first). */
  createLease(lease: LeaseObject): Promise<LeaseObject>;
  /** Replaces with optimistic concurrency (lease.resourceVersion) and returns it as stored; throws ConflictError on 409. */
  replaceLease(lease: LeaseObject): Promise<LeaseObject>;
  /** Records an audit Event (events.k8s.io/v1, `create events` in the namespace). */
  createEvent(event: AuditEvent): Promise<void>;
  /**
   * For each action, in order, whether the sync's identity may do it in `namespace` (one
   * SelfSubjectRulesReview; lib/kube/reviews.ts mayDoInNamespace). Persists nothing.
   */
  mayDo(namespace: string, actions: readonly ReviewedAction[]): Promise<boolean[]>;
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

/** What the wait reads of a Deployment. */
export interface DeploymentView {
  name: string;
  generation: number;
  observedGeneration: number;
  /** spec.replicas */
  replicas: number;
  /** status.replicas, updatedReplicas, readyReplicas, availableReplicas */
  statusReplicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  /** The pod template's `kubectl.kubernetes.io/restartedAt`, if any. */
  restartedAt?: string;
  /** The `deployment.kubernetes.io/revision` annotation. */
  revision?: string;
  /** spec.selector.matchLabels as a label selector string. */
  selector: string;
}

export interface PodView {
  name: string;
  /** Its ReplicaSet's `pod-template-hash` label. */
  templateHash?: string;
  terminating: boolean;
}

export interface ReplicaSetView {
  name: string;
  revision?: string;
  templateHash?: string;
}

/** The reads the wait makes on the control plane. */
export interface RolloutApi {
  getDeployment(namespace: string, name: string): Promise<DeploymentView | undefined>;
  listReplicaSets(namespace: string, selector: string): Promise<ReplicaSetView[]>;
  listPods(namespace: string, selector: string): Promise<PodView[]>;
}
