/**
 * The Kubernetes transport: one HTTP/2 session per API server and TLS identity, shared by every
 * request of a run (the sync's own calls and each verified credential's reviews multiplex on it)
 * and kept across warm invocations. So a run costs at most one TLS handshake per API server.
 *
 * Why not @kubernetes/client-node's generated API classes: version 2.0.1 builds a new undici
 * Agent (so a new connection and TLS handshake) for every request and re-reads CA/certificate
 * files each time, and its generated classes are most of a function's bundle. For `kubeconfig`
 * access, KubeConfig is still what computes credentials ({@link KubeConfig.applyToHTTPSOptions},
 * exec plugins included); bearer-token connections (token, EKS, GKE) need nothing of client-node.
 * This module only carries the requests; a non-2xx answer is a {@link KubeApiError}.
 */
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import type https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ClusterConnection } from '../clusters/access.ts';
import { CredsyncError } from '../errors.ts';
import { CALL_TIMEOUT_MS } from '../util/abort.ts';

/** TLS material of a connection: what identifies a session besides the server. */
interface TlsIdentity {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
  rejectUnauthorized?: boolean;
}

/** A non-2xx answer of the API server: its status and body (a Status object), never the request. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly body: unknown;
  constructor(code: number, op: string, body: unknown) {
    super(`HTTP ${code}: ${op}`);
    this.name = 'KubeApiError';
    this.code = code;
    this.body = body;
  }
}

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, e.g. `/api/v1/namespaces/flyte/secrets/x`. */
  path: string;
  /** Sent as JSON. */
  body?: unknown;
  /** @default application/json */
  contentType?: string;
  /** What to ask the answer as (e.g. only an object's metadata: `PartialObjectMetadata`). @default application/json */
  accept?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
  /** @default 20000 */
  timeoutMs?: number;
}

/** A session idle longer than this is pinged before reuse (a frozen Lambda's socket may be dead). */
const IDLE_CHECK_MS = 20_000;
const PING_TIMEOUT_MS = 2_000;
/** 429 Too Many Requests: at most this many retries, each waiting Retry-After (capped). */
const MAX_429_RETRIES = 4;
const MAX_RETRY_AFTER_MS = 10_000;

interface PooledSession {
  session: http2.ClientHttp2Session;
  lastUsed: number;
}

const sessions = new Map<string, Promise<PooledSession>>();
/** The lowest last-stream-id of the GOAWAYs a session received (RFC 9113 6.8: higher streams were not processed). */
const goawayLastStream = new WeakMap<http2.ClientHttp2Session, number>();
/** TLS handshakes completed, per API server origin (process lifetime; the benchmark reads it). */
const handshakes = new Map<string, number>();

/** Requests sent (each attempt, retries included), per `<METHOD> <resource>` (process lifetime). */
const requests = new Map<string, number>();

/** TLS handshakes made so far, per API server origin. */
export function tlsHandshakes(): Record<string, number> {
  return Object.fromEntries(handshakes);
}

/**
 * Requests sent so far, each attempt counted (a retry is a request), per method and resource,
 * e.g. `POST selfsubjectreviews`, `GET secrets` (the benchmark and tests read it).
 */
export function requestsSent(): Record<string, number> {
  return Object.fromEntries(requests);
}

/** The resource a Kubernetes API path names: `/api/v1/namespaces/x/secrets/y` -> `secrets`. */
export function resourceOf(path: string): string {
  const segs = path.split('?')[0]!.split('/').filter(Boolean);
  const rest = segs[0] === 'api' ? segs.slice(2) : segs[0] === 'apis' ? segs.slice(3) : segs;
  return (rest[0] === 'namespaces' && rest.length > 2 ? rest[2] : rest[0]) ?? '';
}

/** Closes every pooled session (tests and benchmarks; a function never needs to). */
export function closeAllSessions(): void {
  for (const p of sessions.values()) void p.then((s) => s.session.close(), () => undefined);
  sessions.clear();
}

function sessionKey(origin: string, tls: TlsIdentity): string {
  const h = createHash('sha256');
  for (const part of [tls.ca, tls.cert, tls.key, tls.servername, String(tls.rejectUnauthorized)]) h.update(part ?? '').update('\0');
  return `${origin}#${h.digest('hex')}`;
}

function openSession(origin: string, tls: TlsIdentity, key: string): Promise<PooledSession> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin, {
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      ...(tls.servername ? { servername: tls.servername } : {}),
      ...(tls.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
    });
    const forget = () => {
      const cur = sessions.get(key);
      if (cur) void cur.then((s) => s.session === session && sessions.get(key) === cur && sessions.delete(key), () => undefined);
    };
    // A connection (TCP and TLS) that does not come up within a call's timeout is destroyed (its
    // 'error' rejects below), so a stalled server never leaves a pending session in the pool. A
    // request waiting for it leaves earlier, at its own signal.
    const timer = setTimeout(() => session.destroy(new Error(`connect timed out after ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS);
    session.once('connect', () => {
      clearTimeout(timer);
      handshakes.set(origin, (handshakes.get(origin) ?? 0) + 1);
      session.unref(); // an idle pooled session never keeps the process alive
      resolve({ session, lastUsed: Date.now() });
    });
    session.once('error', (err) => {
      clearTimeout(timer);
      forget();
      reject(err);
    });
    session.on('goaway', (_code: number, lastStreamID: number) => {
      goawayLastStream.set(session, Math.min(lastStreamID, goawayLastStream.get(session) ?? Infinity));
      forget();
    });
    session.once('close', forget);
  });
}

function ping(session: http2.ClientHttp2Session): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
    try {
      session.ping((err) => {
        clearTimeout(timer);
        resolve(!err);
      });
    } catch {
      clearTimeout(timer);
      resolve(false);
    }
  });
}

async function sessionFor(origin: string, tls: TlsIdentity): Promise<http2.ClientHttp2Session> {
  const key = sessionKey(origin, tls);
  for (let attempt = 0; attempt < 2; attempt++) {
    let p = sessions.get(key);
    if (!p) {
      p = openSession(origin, tls, key);
      sessions.set(key, p);
      p.catch(() => sessions.get(key) === p && sessions.delete(key));
    }
    const s = await p;
    const usable = !s.session.closed && !s.session.destroyed;
    if (usable && (Date.now() - s.lastUsed < IDLE_CHECK_MS || (await ping(s.session)))) {
      s.lastUsed = Date.now();
      return s.session;
    }
    if (sessions.get(key) === p) sessions.delete(key);
    s.session.destroy();
  }
  throw new Error(`cannot open an HTTP/2 session to ${origin}`);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

/** `p`, or the signal's reason as soon as it aborts (the shared connection attempt goes on for others, bounded by its own timeout). */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

/** An answer's body: parsed JSON, or the text when it is not JSON. */
function parseBody(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

/**
 * A call whose signal aborted while the server throttled it (waiting out a Retry-After, or
 * asking again after one): the server's last 429, with the abort as its cause, so that the
 * caller reports a throttled server, not an unreachable one (lib/kube/errors.ts kubeCall).
 */
function throttledUntilAborted(last: KubeApiError, abort: unknown): KubeApiError {
  const e = new KubeApiError(429, last.message.replace(/^HTTP 429: /, ''), last.body);
  (e as { cause?: unknown }).cause = abort;
  return e;
}

/** Seconds (or an HTTP date) of a Retry-After header, in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Why a request failed, when a retry may help: `unprocessed` (never sent, refused with
 * REFUSED_STREAM, or above a GOAWAY's last stream id: the server did not act on it, RFC 9113 8.7)
 * or `cut` (its session went away after the server may have processed it).
 */
type Interrupted = 'unprocessed' | 'cut';
const interrupted = new WeakMap<object, Interrupted>();

/** Marks `err` as an interrupted request's failure. */
function markInterrupted(err: Error, how: Interrupted): Error {
  interrupted.set(err, how);
  return err;
}

/**
 * Whether a failed attempt may be sent again: a request the server never processed, whatever its
 * method; one cut off by its session going away, only when it is a GET (the server may have acted
 * on it, and only a read is safe to repeat).
 */
export function mayRetry(err: unknown, method: KubeRequest['method']): boolean {
  // Node's own errors may come from another realm (a test runner's): no instanceof.
  const how = typeof err === 'object' && err !== null ? interrupted.get(err) : undefined;
  return how === 'unprocessed' || (how === 'cut' && method === 'GET');
}

/**
 * One cluster's HTTP client. A bearer-token connection carries its token and CA; a kubeconfig's
 * TLS identity and credentials are computed once (exec and auth-provider users are asked again per
 * request, so their tokens stay fresh).
 */
export class KubeHttp {
  readonly server: string;
  private readonly conn: ClusterConnection;
  private prepared: Promise<{ origin: string; basePath: string; tls: TlsIdentity; headers: Record<string, string> }> | undefined;
  private readonly dynamicAuth: boolean;

  constructor(conn: ClusterConnection) {
    this.conn = conn;
    this.server = conn.server;
    this.dynamicAuth = false;
    if ('kubeConfig' in conn) {
      const cluster = conn.kubeConfig.getCurrentCluster();
      if (!cluster) throw new CredsyncError('CONFIG_INVALID', 'kubeconfig has no current cluster');
      if (cluster.proxyUrl)
        throw new CredsyncError('CONFIG_INVALID', `cluster ${cluster.name}: proxy-url is not supported (the sync talks HTTP/2 to the API server directly)`);
      this.server = cluster.server;
      const user = conn.kubeConfig.getCurrentUser();
      this.dynamicAuth = !!(user?.exec || user?.authProvider);
    }
  }

  private async authOptions(): Promise<{ tls: TlsIdentity; headers: Record<string, string> }> {
    if (!('kubeConfig' in this.conn)) return { tls: { ca: this.conn.caPem }, headers: { authorization: `Bearer ${this.conn.token}` } };
    const opts: https.RequestOptions = {};
    await this.conn.kubeConfig.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = String(v);
    if (opts.auth) headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    const tls: TlsIdentity = {
      ...(opts.ca ? { ca: opts.ca as string | Buffer } : {}),
      ...(opts.cert ? { cert: opts.cert as string | Buffer } : {}),
      ...(opts.key ? { key: opts.key as string | Buffer } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
      ...(opts.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
    };
    return { tls, headers };
  }

  private prepare() {
    return (this.prepared ??= (async () => {
      const url = new URL(this.server);
      if (url.protocol !== 'https:')
        throw new CredsyncError('CONFIG_INVALID', `API server ${this.server}: only https is supported`);
      return { origin: url.origin, basePath: url.pathname.replace(/\/$/, ''), ...(await this.authOptions()) };
    })());
  }

  /**
   * Sends one request and returns the parsed JSON body of a 2xx answer.
   *
   * A 429 is retried after its Retry-After (at most 4 times, each wait at most 10 s). A request
   * interrupted by its HTTP/2 session going away (an API server restarting, a load balancer
   * draining: GOAWAY, REFUSED_STREAM) is sent once more on a fresh session when that is safe: the
   * server never processed it (any method), or it is a GET ({@link mayRetry}). Never a write the
   * server may have acted on.
   * @throws KubeApiError for any other non-2xx status (its `body` is the server's Status object);
   *   an Error for a network failure, an abort, or no answer within `timeoutMs` (default 20 s)
   */
  async request<T>(req: KubeRequest): Promise<T> {
    const p = await this.prepare();
    const headers = this.dynamicAuth ? (await this.authOptions()).headers : p.headers;
    let retriedInterrupted = false;
    /** The last 429 answered: what the call ends with when its signal aborts while it is throttled. */
    let throttled: KubeApiError | undefined;
    for (let attempt = 0; ; attempt++) {
      let res: Awaited<ReturnType<KubeHttp['once']>>;
      try {
        res = await this.once(p.origin, p.tls, p.basePath + req.path, headers, req);
      } catch (err) {
        if (throttled && req.signal?.aborted) throw throttledUntilAborted(throttled, err);
        if (retriedInterrupted || req.signal?.aborted || !mayRetry(err, req.method)) throw err;
        retriedInterrupted = true;
        continue;
      }
      const body = parseBody(res.text);
      if (res.status === 429 && attempt < MAX_429_RETRIES) {
        throttled = new KubeApiError(429, `${req.method} ${req.path}`, body);
        const wait = Math.min(retryAfterMs(res.headers['retry-after']) ?? 2 ** attempt * 500, MAX_RETRY_AFTER_MS);
        try {
          await sleep(wait, req.signal);
        } catch (err) {
          throw throttledUntilAborted(throttled, err);
        }
        continue;
      }
      if (res.status < 200 || res.status >= 300) {
        throw new KubeApiError(res.status, `${req.method} ${req.path}`, body);
      }
      return body as T;
    }
  }

  private async once(
    origin: string,
    tls: TlsIdentity,
    path: string,
    auth: Record<string, string>,
    req: KubeRequest,
  ): Promise<{ status: number; headers: http2.IncomingHttpHeaders; text: string }> {
    const session = await untilAborted(sessionFor(origin, tls), req.signal);
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const timeoutMs = req.timeoutMs ?? 20_000;
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request({
          ':method': req.method,
          ':path': path,
          accept: req.accept ?? 'application/json',
          'user-agent': 'flyte-credsync',
          ...auth,
          ...(payload ? { 'content-type': req.contentType ?? 'application/json', 'content-length': payload.length } : {}),
        });
      } catch (err) {
        // The session went away between the pool handing it out and this request: nothing was sent.
        return reject(markInterrupted(typeof err === 'object' && err !== null ? (err as Error) : new Error(String(err)), 'unprocessed'));
      }
      const counted = `${req.method} ${resourceOf(req.path)}`;
      requests.set(counted, (requests.get(counted) ?? 0) + 1);
      /** How the stream's end without an answer came about, when its session or the server refused or dropped it. */
      const interruption = (): Interrupted | undefined => {
        if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) return 'unprocessed';
        const last = goawayLastStream.get(session);
        if (last !== undefined && stream.id !== undefined && stream.id > last) return 'unprocessed';
        if (last !== undefined || session.closed || session.destroyed) return 'cut';
        return undefined;
      };
      const failInterrupted = (err: Error) => {
        const how = status ? undefined : interruption();
        fail(how ? markInterrupted(err, how) : err);
      };
      let status = 0;
      let headers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      const fail = (err: Error) => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      const onAbort = () => fail(req.signal?.reason instanceof Error ? req.signal.reason : new Error('aborted'));
      if (req.signal?.aborted) return onAbort();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('response', (h) => {
        headers = h;
        status = Number(h[':status']);
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (!status) return failInterrupted(new Error('the stream closed without an answer'));
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        resolve({ status, headers, text: Buffer.concat(chunks).toString('utf8') });
      });
      stream.on('error', failInterrupted);
      stream.end(payload);
    });
  }
}
