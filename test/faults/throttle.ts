/**
 * A 429 storm for the randomized fault run (./chaos.ts): a TLS proxy in front of one of the
 * environment's API servers that passes every request through, or, while a storm is on, answers
 * each with `429 Too Many Requests` (a Kubernetes Status body, as API Priority and Fairness does)
 * and a Retry-After. A kube-apiserver's own limits (--max-requests-inflight) cannot be changed
 * while it runs, and filling them would starve the other worktrees' environments on a shared
 * machine; the proxy throttles exactly the requests of the run under test.
 *
 * It serves with the API server's own certificate (issued for 127.0.0.1 by the cluster's CA), so
 * a kubeconfig that names the proxy's address verifies it as it verifies the API server. Requests
 * that present a client certificate of the cluster's CA (the environment's admin kubeconfig) go
 * on with the admin certificate; the others (a bearer token: the credential under verification)
 * go on without one, with their own Authorization header, so the API server judges the token.
 * Test code only.
 */
import http2 from 'node:http2';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { TLSSocket } from 'node:tls';
import type { ClusterInfo } from '../env/testenv.ts';

export interface Storm {
  /** Answers 429 from now until `ms` from now (each with Retry-After `retryAfter` seconds when set). */
  start(ms: number, retryAfter?: number): void;
  /** Requests answered 429 so far. */
  readonly throttled: number;
  /** The proxy's https:// address. */
  readonly server: string;
  close(): Promise<void>;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te', 'http2-settings']);

/** Starts a pass-through proxy in front of `cluster`'s API server; `start` turns a storm on. */
export async function throttleProxy(cluster: ClusterInfo): Promise<Storm> {
  const dir = join(cluster.caFile, '..');
  const ca = readFileSync(cluster.caFile);
  const upstream = new Map<string, http2.ClientHttp2Session>();
  const session = (admin: boolean): http2.ClientHttp2Session => {
    const key = admin ? 'admin' : 'token';
    const s = upstream.get(key);
    if (s && !s.closed && !s.destroyed) return s;
    const fresh = http2.connect(cluster.server, { ca, ...(admin ? { cert: readFileSync(cluster.adminCertFile), key: readFileSync(cluster.adminKeyFile) } : {}) });
    fresh.on('error', () => upstream.delete(key));
    fresh.on('close', () => upstream.delete(key));
    fresh.unref();
    upstream.set(key, fresh);
    return fresh;
  };
  let stormUntil = 0;
  let retryAfter: number | undefined;
  let throttled = 0;
  const server = http2.createSecureServer(
    { cert: readFileSync(join(dir, 'apiserver.crt')), key: readFileSync(join(dir, 'apiserver.key')), ca, requestCert: true, rejectUnauthorized: false, allowHTTP1: true },
    (req, res) => {
      if (Date.now() < stormUntil) {
        throttled++;
        res.writeHead(429, { 'content-type': 'application/json', ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}) });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Too many requests, please try again later.', reason: 'TooManyRequests', code: 429 }));
        return;
      }
      const admin = (req.socket as TLSSocket).authorized === true;
      const headers: http2.OutgoingHttpHeaders = { ':method': req.method, ':path': req.url };
      for (const [k, v] of Object.entries(req.headers)) if (!k.startsWith(':') && !HOP.has(k) && v !== undefined) headers[k] = v;
      let up: http2.ClientHttp2Stream;
      try {
        up = session(admin).request(headers);
      } catch {
        res.writeHead(502).end();
        return;
      }
      up.on('response', (h) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(h)) if (!k.startsWith(':') && !HOP.has(k) && v !== undefined) out[k] = v as string | string[];
        res.writeHead(Number(h[':status'] ?? 502), out);
        up.pipe(res);
      });
      up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
      res.on('close', () => up.destroy());
      req.pipe(up);
    },
  );
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    start(ms, after) {
      stormUntil = Date.now() + ms;
      retryAfter = after;
    },
    get throttled() {
      return throttled;
    },
    server: `https://127.0.0.1:${port}`,
    async close() {
      for (const s of upstream.values()) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A copy of `kubeconfig` in which `cluster` is reached at `server` (a proxy's address); returns its path. */
export function kubeconfigThrough(kubeconfig: string, cluster: string, server: string): string {
  const kc = parse(readFileSync(kubeconfig, 'utf8')) as { clusters: Array<{ name: string; cluster: { server: string } }> };
  kc.clusters.find((c) => c.name === cluster)!.cluster.server = server;
  const file = join(mkdtempSync(join(tmpdir(), 'credsync-throttle-')), 'kubeconfig');
  writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}
