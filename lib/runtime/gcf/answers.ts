/**
 * What the Cloud Functions answer for a request they could not run: always a status and a short
 * JSON reason, never Express's HTML error page, a stack trace or a `node_modules` path.
 *
 * The Functions Framework parses every request before a function sees it (body-parser: JSON,
 * text, urlencoded, raw; then its CloudEvent and Pub/Sub middleware). A request it cannot parse
 * (a body that is not JSON, `null`, another charset, no body at all for a CloudEvent, a GET on a
 * CloudEvent function) never reaches the function: it falls to Express's final handler, which
 * answers an HTML page with the stack. The framework offers no hook for this (see
 * GoogleCloudPlatform/functions-framework-nodejs#686), so {@link installJsonAnswers} gives the
 * framework's Express application a final handler of ours ({@link requestErrorAnswer}), and makes
 * the text the framework answers for a failed CloudEvent function a JSON reason too.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorCode } from '../../errors.ts';
import { echo, truncate } from '../../util/bounded.ts';

/** The longest reason an answer carries (a request can be megabytes; its echo is not). */
export const MAX_REASON_CHARS = 500;

export interface Answer {
  status: number;
  body: { error: string; code: ErrorCode | 'INTERNAL' };
}

/** Per request: the stable code of the failure the function threw (see {@link recordFailureCode}). */
const failure = new AsyncLocalStorage<{ code?: ErrorCode | 'INTERNAL' }>();

/**
 * Records the stable code of the error a function is about to throw, so that the framework's 500
 * answer carries it (`{"error": ..., "code": ...}`) like every other answer. Outside a request
 * (or before {@link installJsonAnswers}) it does nothing.
 */
export function recordFailureCode(code: ErrorCode | 'INTERNAL'): void {
  const ctx = failure.getStore();
  if (ctx) ctx.code = code;
}

const EXPECTED = 'POST a JSON body (resync: {"clusters"?: [...], "dryRun"?: boolean}; the event functions: a CloudEvent)';

/**
 * The answer to a request the framework failed to parse (`err`, as body-parser or the framework's
 * middleware raised it) or that no route took (`err` undefined: a method other than POST).
 * Every cause is the request's shape, so it is a 4xx; the reason never echoes the error's text.
 */
export function requestErrorAnswer(err: unknown, req: Pick<IncomingMessage, 'method' | 'headers'>): Answer {
  const bad = (status: number, error: string): Answer => ({ status, body: { error: truncate(error, MAX_REASON_CHARS), code: 'EVENT_INVALID' } });
  if (req.method !== 'POST') return bad(405, `method ${echo(req.method, 20)} not allowed: ${EXPECTED}`);
  const e = (err ?? {}) as { type?: unknown; charset?: unknown; encoding?: unknown };
  switch (e.type) {
    case 'entity.parse.failed':
      return bad(400, `the request body is not a JSON object: ${EXPECTED}`);
    case 'charset.unsupported':
      return bad(415, `charset "${echo(e.charset, 40)}" not supported: send UTF-8 JSON`);
    case 'encoding.unsupported':
      return bad(415, `content encoding "${echo(e.encoding, 40)}" not supported`);
    case 'entity.too.large':
      return bad(413, 'the request body is too large');
    case 'request.aborted':
    case 'request.size.invalid':
      return bad(400, 'the request body was cut short (it does not match its Content-Length)');
  }
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  return bad(400, hasBody ? `the request is not an event this function reads: ${EXPECTED}` : `the request has no body: ${EXPECTED}`);
}

/** The parts of Express this module touches (the framework's own copy, see functions/framework.ts). */
export interface ExpressModule {
  application: { handle: (this: unknown, req: IncomingMessage, res: ServerResponse, callback?: (err?: unknown) => void) => unknown };
}

type Send = (this: ServerResponse, body?: unknown) => unknown;

/**
 * Express's res.send, except that an error text (status >= 400, not JSON) goes out as
 * {"error": ..., "code": ...}: the code the function recorded, else `INTERNAL`.
 */
function jsonErrorSend(res: ServerResponse, ctx: { code?: ErrorCode | 'INTERNAL' }): Send {
  return function (this: ServerResponse, body?: unknown) {
    const send = (Object.getPrototypeOf(res) as { send: Send }).send;
    const type = String(res.getHeader('Content-Type') ?? '');
    if (res.statusCode >= 400 && typeof body === 'string' && !type.includes('json')) {
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      return send.call(this, JSON.stringify({ error: echo(body.split('\n')[0]!, MAX_REASON_CHARS), code: ctx.code ?? 'INTERNAL' }));
    }
    return send.call(this, body);
  };
}

/**
 * Installs the JSON answers into the framework's Express (call it before the framework builds its
 * application, that is when the function source is loaded). Idempotent.
 *
 * - The final handler answers {@link requestErrorAnswer} (`onRejected` is told, for one log line).
 * - An error text the framework sends (a CloudEvent function that threw answers 500 with the
 *   error's message) is sent as `{"error": ..., "code": ...}` instead, bounded, with the code
 *   the function recorded ({@link recordFailureCode}; `INTERNAL` when none).
 */
export function installJsonAnswers(express: ExpressModule, onRejected: (a: Answer) => void = () => {}): void {
  const app = express.application as ExpressModule['application'] & { [INSTALLED]?: true };
  if (app[INSTALLED]) return;
  const handle = app.handle;
  app.handle = function (req, res, callback) {
    // An own property: Express replaces the response's prototype, not its own properties.
    const ctx: { code?: ErrorCode | 'INTERNAL' } = {};
    Object.defineProperty(res, 'send', { configurable: true, writable: true, value: jsonErrorSend(res, ctx) });
    const finalHandler = (err?: unknown) => {
      if (res.headersSent) return void res.destroy();
      const a = requestErrorAnswer(err, req);
      onRejected(a);
      res.statusCode = a.status;
      if (a.status === 405) res.setHeader('Allow', 'POST');
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(a.body));
    };
    return failure.run(ctx, () => handle.call(this, req, res, callback ?? finalHandler));
  };
  app[INSTALLED] = true;
}

const INSTALLED = Symbol.for('flyte-credsync.jsonAnswers');
