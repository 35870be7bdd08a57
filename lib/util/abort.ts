/**
 * Every network call has a timeout and is aborted (never abandoned): each call gets a signal
 * ({@link callSignal}) that fires at its own timeout or at the invocation's deadline, whichever
 * comes first, and hands it to its client (the HTTP/2 request of lib/kube/http2.ts for Kubernetes, `abortSignal` for the AWS SDK,
 * a gRPC deadline no later than the invocation's for Google's clients).
 *
 * The invocation's deadline has one carrier: {@link withDeadline}, which every entry point (the
 * Lambda handlers, the Cloud Functions, every CLI command) wraps around its work once, keeps it in
 * an AsyncLocalStorage. Nothing passes a deadline or a time left as a parameter: the adapters
 * (lib/kube, lib/stores, lib/clusters, lib/discovery) take their calls' signals from it, and the
 * core reads the time left with {@link timeLeft} (waits for the token controller, the Lease, a
 * rollout are bounded by it; a data plane not started, or the control plane not written, once it is 0).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CredsyncError } from '../errors.ts';

/** One network call's own timeout: far above a healthy call, far below a function's timeout. */
export const CALL_TIMEOUT_MS = 20_000;
/** How long establishing a connection may take (the AWS SDK's connectionTimeout). */
export const CONNECT_TIMEOUT_MS = 5_000;

/** The AWS SDK clients' request handler options (NodeHttpHandler): connect and socket timeouts. */
export const AWS_REQUEST_HANDLER = { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: CALL_TIMEOUT_MS } as const;

/** The invocation's deadline: its signal, when it fires (epoch ms on `now`), and the clock it is read on. */
interface Deadline {
  signal: AbortSignal;
  at: number;
  now: () => number;
}

const invocation = new AsyncLocalStorage<Deadline>();

/**
 * Runs `fn` with a deadline (epoch ms): every {@link callSignal} made inside aborts at the
 * deadline at the latest, and {@link timeLeft} counts down to it. Nested deadlines combine (the
 * earliest wins). Without a deadline, runs `fn` with the enclosing one, if any.
 *
 * @param now the clock the deadline is read on (default Date.now; a test may pass its own); the
 *   signal fires after `deadline - now()` ms
 */
export function withDeadline<T>(deadline: number | undefined, fn: () => Promise<T>, now: () => number = Date.now): Promise<T> {
  if (deadline === undefined) return fn();
  const msLeft = Math.max(0, deadline - now());
  // A deadline already passed is aborted from the start (a timeout of 0 would fire only on the next tick).
  const signal = msLeft > 0 ? AbortSignal.timeout(msLeft) : AbortSignal.abort(new DOMException('deadline passed', 'TimeoutError'));
  const outer = invocation.getStore();
  const at = outer ? Math.min(deadline, now() + (outer.at - outer.now())) : deadline;
  return invocation.run({ signal: outer ? AbortSignal.any([outer.signal, signal]) : signal, at, now }, fn);
}

/**
 * Milliseconds left before the invocation's deadline (0 once it passed), or Infinity when none is
 * set: the one way to read the time left.
 */
export function timeLeft(): number {
  const d = invocation.getStore();
  if (!d) return Infinity;
  return Math.max(0, d.at - d.now());
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
  const left = timeLeft();
  if (left <= 0) throw new CredsyncError('DEADLINE', `${what}: cut off at the invocation's deadline`);
  return start({ timeout: Math.max(1, Math.min(timeoutMs, left)) });
}
