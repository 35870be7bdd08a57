/**
 * Every network call has a timeout and is aborted (never abandoned): each call gets a signal
 * ({@link callSignal}) that fires at its own timeout or at the invocation's deadline, whichever
 * comes first, and hands it to its client (fetch for Kubernetes, `abortSignal` for the AWS SDK,
 * `cancel()` and a gRPC deadline for Google's clients).
 *
 * The invocation's deadline is carried by {@link withDeadline} in an AsyncLocalStorage, so the
 * adapters (lib/kube, lib/stores, lib/clusters, lib/discovery) need no extra parameter on every
 * port: whatever runs inside `withDeadline` is cut off when it passes.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CredsyncError } from '../errors.ts';

/** One network call's own timeout: far above a healthy call, far below a function's timeout. */
export const CALL_TIMEOUT_MS = 20_000;
/** How long establishing a connection may take (the AWS SDK's connectionTimeout). */
export const CONNECT_TIMEOUT_MS = 5_000;

/** The AWS SDK clients' request handler options (NodeHttpHandler): connect and socket timeouts. */
export const AWS_REQUEST_HANDLER = { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: CALL_TIMEOUT_MS } as const;

const invocation = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs `fn` with a deadline (epoch ms): every {@link callSignal} made inside aborts at the
 * deadline at the latest. Nested deadlines combine (the earliest wins). Without a deadline,
 * runs `fn` with the enclosing one, if any.
 */
export function withDeadline<T>(deadline: number | undefined, fn: () => Promise<T>, now = Date.now()): Promise<T> {
  if (deadline === undefined) return fn();
  const own = AbortSignal.timeout(Math.max(0, deadline - now));
  const outer = invocation.getStore();
  return invocation.run(outer ? AbortSignal.any([outer, own]) : own, fn);
}

/** The signal of one network call: its own timeout, and the invocation's deadline if one is set. */
export function callSignal(timeoutMs = CALL_TIMEOUT_MS): AbortSignal {
  const own = AbortSignal.timeout(timeoutMs);
  const outer = invocation.getStore();
  return outer ? AbortSignal.any([outer, own]) : own;
}

/** Whether the invocation's deadline has passed (its signal fired). */
export function deadlinePassed(): boolean {
  return invocation.getStore()?.aborted ?? false;
}

/**
 * The error for a call that `signal` cut off: `DEADLINE` when the invocation's deadline passed,
 * else undefined (the call's own timeout: the caller says what timed out, with its own code).
 */
export function deadlineError(what: string): CredsyncError | undefined {
  return deadlinePassed() ? new CredsyncError('DEADLINE', `${what}: cut off at the invocation's deadline`) : undefined;
}

/**
 * Runs a Google API call (google-gax) with a gRPC deadline of `timeoutMs` and cancels it when the
 * invocation's deadline passes first. `start` receives the call options to pass on.
 */
export async function gaxCall<T>(start: (options: { timeout: number }) => Promise<T>, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
  const signal = callSignal(timeoutMs);
  const p = start({ timeout: timeoutMs });
  const cancel = () => (p as Promise<T> & { cancel?: () => void }).cancel?.();
  signal.addEventListener('abort', cancel, { once: true });
  try {
    return await p;
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}
