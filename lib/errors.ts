/**
 * Typed errors of flyte-credsync. Every error the core raises is a {@link CredsyncError}
 * with a stable `code`; foreign errors are wrapped once (kept as `cause`), own ones are
 * re-thrown unchanged. Messages never contain tokens, CA data or cloud credentials:
 * whatever text comes from outside passes through {@link redact} first.
 */
import { MAX_ECHO_ITEMS, truncate } from './util/bounded.ts';
import { redact } from './util/redact.ts';

/**
 * Every stable code, in the order docs/error-codes.md's table lists them (a unit test holds the
 * two together). `INTERNAL` is what {@link errorCode} gives an error that is not a
 * {@link CredsyncError} (a bug, or a library's error that was not wrapped).
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'CONFIG_NOT_FOUND',
  'CONFIG_UNREADABLE',
  'EVENT_INVALID',
  'UNKNOWN_DATA_PLANE',
  'CLUSTER_UNREACHABLE',
  'CLUSTER_NOT_READY',
  'CLUSTER_ACCESS_DENIED',
  'SERVICE_ACCOUNT_MISSING',
  'TOKEN_SECRET_INVALID',
  'TOKEN_NOT_ISSUED',
  'CREDENTIAL_REJECTED',
  'STORE_NOT_OWNED',
  'STORE_ERROR',
  'CONTROL_PLANE_INVALID',
  'CONTROL_PLANE_CONFLICT',
  'CONTROL_PLANE_TOO_LARGE',
  'CONTROL_PLANE_BUSY',
  'CONTROL_PLANE_DRIFT',
  'CONTROL_PLANE_CONTESTED',
  'LEASE_LOST',
  'LABEL_WOULD_EMPTY',
  'KUBERNETES_API',
  'UNSUPPORTED',
  'DEADLINE',
  'FLYTEADMIN_UNREACHABLE',
  'FLYTEADMIN_AUTH',
  'FLYTEADMIN_API',
  'LABEL_ROUTING',
  'ROLLOUT_INCOMPLETE',
  'ROTATION_NOT_CONFIGURED',
  'ROTATION_NOT_ENABLED',
  'ROLLBACK_IMPOSSIBLE',
  'DATA_PLANE_NOT_DRAINING',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Whether a code (as a report carries it, a string) is one of {@link ERROR_CODES}. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);
}

/** The longest message an error carries: whatever it quotes, an error stays short. */
export const MAX_MESSAGE_CHARS = 8192;

export class CredsyncError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(truncate(redact(message), MAX_MESSAGE_CHARS), options);
    this.name = 'CredsyncError';
    this.code = code;
  }
}

/** One problem found in the configuration, with the path of the offending field. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends CredsyncError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], source?: string) {
    const where = source ? ` (${source})` : '';
    const shown = issues.slice(0, MAX_ECHO_ITEMS).map((i) => `  - ${i.path || '<root>'}: ${i.message}`);
    if (issues.length > MAX_ECHO_ITEMS) shown.push(`  - and ${issues.length - MAX_ECHO_ITEMS} more problems`);
    super('CONFIG_INVALID', `invalid configuration${where}:\n` + shown.join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * A cluster's configured access cannot be used (a kubeconfig that cannot be read or lacks the
 * context, an unset token variable, a token or CA file that cannot be read or holds no token or
 * PEM). A configuration error: it names the cluster and the field.
 */
export class AccessError extends CredsyncError {
  /** The field of the access, e.g. `access.tokenFile`. */
  readonly field: string;
  /** What is wrong, without the cluster and the field. */
  readonly detail: string;
  constructor(what: string, field: string, detail: string, options?: { cause?: unknown }) {
    super('CONFIG_INVALID', `${what}: ${field}: ${detail}`, options);
    this.name = 'AccessError';
    this.field = field;
    this.detail = detail;
  }
}

export class EventError extends CredsyncError {
  constructor(message: string) {
    super('EVENT_INVALID', message);
    this.name = 'EventError';
  }
}

/**
 * The work cannot be done yet but will be possible later (a cluster still being created):
 * an event entry point throws it so that the platform redelivers the event with backoff
 * (Cloud Functions with --retry, Lambda's asynchronous retries) instead of dropping it.
 */
export class RetryLaterError extends CredsyncError {
  /** The sync report of the attempt, when one ran. */
  readonly report?: unknown;
  constructor(message: string, options?: { cause?: unknown; report?: unknown }) {
    super('CLUSTER_NOT_READY', `retry later: ${message}`, options);
    this.name = 'RetryLaterError';
    if (options?.report !== undefined) this.report = options.report;
  }
}

/**
 * The cloud knows the cluster but it does not serve yet (EKS CREATING/PENDING, GKE PROVISIONING):
 * a cluster-created event is retried later ({@link RetryLaterError}) instead of failing for good.
 * Its own code, so that nothing depends on the wording of a message.
 */
export class ClusterNotReadyError extends CredsyncError {
  constructor(message: string) {
    super('CLUSTER_NOT_READY', message);
    this.name = 'ClusterNotReadyError';
  }
}

/** The cluster's API server could not be reached (connection refused, DNS, TLS, timeout). */
export class ClusterUnreachableError extends CredsyncError {
  constructor(cluster: string, server: string, detail: string, options?: { cause?: unknown }) {
    super('CLUSTER_UNREACHABLE', `cluster ${cluster}: API server ${server} unreachable: ${detail}`, options);
    this.name = 'ClusterUnreachableError';
  }
}

/** A Kubernetes API call failed with an HTTP status. */
export class KubernetesApiError extends CredsyncError {
  readonly status: number;
  constructor(code: ErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'KubernetesApiError';
    this.status = status;
  }
}

/** The data plane's token did not authenticate, or lacks what flyteadmin needs. */
export class CredentialRejectedError extends CredsyncError {
  /** The token did not authenticate at all (HTTP 401), as opposed to the wrong identity or missing rights. */
  readonly unauthenticated: boolean;
  constructor(cluster: string, detail: string, opts: { unauthenticated?: boolean } = {}) {
    super('CREDENTIAL_REJECTED', `cluster ${cluster}: credential rejected: ${detail}`);
    this.name = 'CredentialRejectedError';
    this.unauthenticated = opts.unauthenticated ?? false;
  }
}

/** A store entry exists under our name but is not marked as ours. */
export class StoreOwnershipError extends CredsyncError {
  constructor(store: string, name: string, marker: string) {
    super(
      'STORE_NOT_OWNED',
      `${store}: secret ${name} exists but is not managed by flyte-credsync (missing ${marker}); refusing to overwrite it`,
    );
    this.name = 'StoreOwnershipError';
  }
}

export class StoreError extends CredsyncError {
  constructor(store: string, message: string, options?: { cause?: unknown }) {
    super('STORE_ERROR', `${store}: ${message}`, options);
    this.name = 'StoreError';
  }
}

/** Returns a short, secret-free description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof CredsyncError) return err.message;
  if (err instanceof Error) return truncate(redact(`${err.name}: ${err.message}`), MAX_MESSAGE_CHARS);
  return truncate(redact(String(err)), MAX_MESSAGE_CHARS);
}

/** The stable code of an error: its own for a {@link CredsyncError}, `INTERNAL` for anything else. */
export function errorCode(err: unknown): ErrorCode {
  return err instanceof CredsyncError ? err.code : 'INTERNAL';
}
