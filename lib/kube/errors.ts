import { KubeApiError } from './http2.ts';
import {
  ClusterUnreachableError,
  CredsyncError,
  KubernetesApiError,
  type ErrorCode,
} from '../errors.ts';
import { CALL_TIMEOUT_MS, callSignal, deadlineError } from '../util/abort.ts';

/** A 409 from an optimistic-concurrency write: re-read, re-merge and retry. */
export class ConflictError extends KubernetesApiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONTROL_PLANE_CONFLICT', 409, message, options);
    this.name = 'ConflictError';
  }
}

/** The HTTP status of a Kubernetes API failure, or undefined for a network failure. */
export function statusOf(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.code : err instanceof KubernetesApiError ? err.status : undefined;
}

/** The server's own message from a Status body, without headers or request ids. */
function apiMessage(err: KubeApiError): string {
  let body: unknown = err.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      /* not JSON */
    }
  }
  if (body && typeof body === 'object' && 'message' in body && typeof body.message === 'string') return body.message;
  return `HTTP ${err.code}`;
}

function networkDetail(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    // Duck-typed: errors from Node's own fetch may come from another realm (instanceof fails).
    if (typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') {
      const { code, message, cause } = e as { code?: unknown; message: string; cause?: unknown };
      parts.push(typeof code === 'string' ? `${code} ${message}` : message);
      e = cause;
    } else break;
  }
  return [...new Set(parts)].join(': ') || 'unknown network error';
}

/**
 * What {@link kubeCall} hands to each call: the signal that aborts its request and its timeout
 * (both are {@link KubeRequest} fields: spread them into `KubeHttp.request`).
 */
export interface CallOptions {
  signal: AbortSignal;
  timeoutMs: number;
}

/**
 * Runs one Kubernetes API call and maps its failure to a typed error that names the cluster
 * and operation: HTTP statuses become {@link KubernetesApiError} (409 a {@link ConflictError}),
 * anything without a status an {@link ClusterUnreachableError}. Own errors pass unchanged.
 *
 * The call gets {@link CallOptions} (a signal and the timeout) that abort its request after `timeoutMs`
 * (CLUSTER_UNREACHABLE "timed out") or at the invocation's deadline (`DEADLINE`), whichever
 * comes first: the request is cancelled, not left running.
 *
 * @param timeoutMs default {@link CALL_TIMEOUT_MS} (20 s)
 * @param cancel the caller's own signal (optional): when it aborts, the request is cancelled and its
 *   reason is thrown as is (the caller asked for it; no error is made up)
 */
export async function kubeCall<T>(
  cluster: string,
  server: string,
  op: string,
  fn: (options: CallOptions) => Promise<T>,
  timeoutMs = CALL_TIMEOUT_MS,
  cancel?: AbortSignal,
): Promise<T> {
  const own = callSignal(timeoutMs);
  const signal = cancel ? AbortSignal.any([own, cancel]) : own;
  try {
    return await fn({ signal, timeoutMs });
  } catch (err) {
    if (cancel?.aborted && !own.aborted) throw cancel.reason instanceof Error ? cancel.reason : err;
    if (err instanceof CredsyncError) throw err;
    if (signal.aborted) {
      const deadline = deadlineError(`cluster ${cluster}: ${op}`);
      if (deadline) throw deadline;
      // Answered, with 429s, until the timeout: a throttled server, not an unreachable one.
      if (err instanceof KubeApiError && err.code === 429)
        throw new KubernetesApiError('KUBERNETES_API', 429, `cluster ${cluster}: ${op}: throttled (HTTP 429: ${apiMessage(err)}) until the call timed out after ${timeoutMs} ms`, { cause: err });
      throw new ClusterUnreachableError(cluster, server, `${op}: timed out after ${timeoutMs} ms`, { cause: err });
    }
    if (err instanceof KubeApiError) {
      const msg = `cluster ${cluster}: ${op}: ${apiMessage(err)} (HTTP ${err.code})`;
      if (err.code === 409) throw new ConflictError(msg, { cause: err });
      const code: ErrorCode = err.code === 401 || err.code === 403 ? 'CLUSTER_ACCESS_DENIED' : 'KUBERNETES_API';
      throw new KubernetesApiError(code, err.code, msg, { cause: err });
    }
    throw new ClusterUnreachableError(cluster, server, `${op}: ${networkDetail(err)}`, { cause: err });
  }
}
