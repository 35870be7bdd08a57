/**
 * Every network call has a timeout and is aborted (never abandoned): each call gets a signal
 * ({@link callSignal}) that fires at its own timeout or at the invocation's deadline, whichever
 * comes first, and hands it to its client (the HTTP/2 request of lib/kube/http2.ts for Kubernetes, `abortSignal` for the AWS SDK,
 * a gRPC deadline no later than the invocation's for Google's clients).
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

/** The invocation's deadline: its signal, and when it fires (epoch ms, for clients that take a timeout, not a signal). */
interface Deadline {
  signal: AbortSignal;
  at: number;
}

const invocation = new AsyncLocalStorage<Deadline>();

/**
 * Runs `fn` with a deadline (epoch ms): every {@link callSignal} made inside aborts at the
 * deadline at the latest. Nested deadlines combine (the earliest wins). Without a deadline,
 * runs `fn` with the enclosing one, if any.
 *
 * @param now the caller's clock (default Date.now()); the signal fires after `deadline - now` ms
 */
export function withDeadline<T>(deadline: number | undefined, fn: () => Promise<T>, now = Date.now()): Promise<T> {
  if (deadline === undefined) return fn();
  const msLeft = Math.max(0, deadline - now);
  // A deadline already passed is aborted from the start (a timeout of 0 would fire only on the next tick).
  const own = { signal: msLeft > 0 ? AbortSignal.timeout(msLeft) : AbortSignal.abort(new DOMException('deadline passed', 'TimeoutError')), at: Date.now() + msLeft };
  const outer = invocation.getStore();
  return invocation.run(outer ? { signal: AbortSignal.any([outer.signal, own.signal]), at: Math.min(outer.at, own.at) } : own, fn);
}

/** The signal of one network call: its own timeout, and the invocation's deadline if one is set. */
export function callSignal(timeoutMs = CALL_TIMEOUT_MS): AbortSignal {
  const own = AbortSignal.timeout(timeoutMs);
  const outer = invocation.getStore();
  return outer ? AbortSignal.any([outer.signal, own]) : own;
}

/** Whether the invocation's deadline has passed (its signal fired). */
export function deadlinePassed(): boolean {
  return invocation.getStore()?.signal.aborted ?? false;
}

/**
 * The error for a call that `signal` cut off: `DEADLINE` when the invocation's deadline passed,
 * else undefined (the call's own timeout: the caller says what timed out, with its own code).
 */
export function deadlineError(what: string): CredsyncError | undefined {
  return deadlinePassed() ? new CredsyncError('DEADLINE', `${what}: cut off at the invocation's deadline`) : undefined;
}

/**
 * Runs a Google API call (google-gax) with a gRPC deadline: `timeoutMs`, or less when the
 * invocation's deadline comes first (gRPC cancels the call at its deadline; the generated
 * clients' promises offer no cancel() of their own). After the deadline, nothing is started.
 *
 * @throws CredsyncError `DEADLINE` when the invocation's deadline has already passed
 */
export async function gaxCall<T>(start: (options: { timeout: number }) => Promise<T>, timeoutMs = CALL_TIMEOUT_MS, what = 'Google API call'): Promise<T> {
  const d = invocation.getStore();
  const left = d ? d.at - Date.now() : Infinity;
  if (d && (d.signal.aborted || left <= 0)) throw new CredsyncError('DEADLINE', `${what}: cut off at the invocation's deadline`);
  return start({ timeout: Math.max(1, Math.min(timeoutMs, left)) });
}
