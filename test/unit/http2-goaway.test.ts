/**
 * The Kubernetes transport against a real HTTP/2 server (node:http2 over TLS) that goes away the
 * ways an API server restarting or a load balancer draining does: a request the server never
 * processed (above a GOAWAY's last stream id, or refused with REFUSED_STREAM) is sent once more on
 * a fresh session, whatever its method; one cut off after the server may have processed it is
 * repeated only when it is a GET, never a write.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import http2 from 'node:http2';
import { loopbackCert } from '../tls.ts';
import type { AddressInfo } from 'node:net';
import { tokenConnection } from '../../lib/clusters/access.ts';
import { closeAllSessions, KubeHttp, requestsSent, resourceOf } from '../../lib/kube/http2.ts';

/** What the server does with the next request that is not a warm-up. */
type Action = 'refuse-goaway' | 'refuse-rst' | 'cut';

let h2: http2.Http2SecureServer;
let url: string;
let ca: string;
const actions: Action[] = [];
/** Sessions the server accepted, and the requests (path, session index, method) it received. */
let sessionCount = 0;
const received: Array<{ path: string; session: number; method: string }> = [];
const serverSessions: http2.ServerHttp2Session[] = [];

beforeAll(async () => {
  const tls = loopbackCert();
  ca = tls.cert;
  h2 = http2.createSecureServer(tls);
  const index = new WeakMap<object, number>();
  h2.on('session', (s) => {
    serverSessions.push(s);
    index.set(s, ++sessionCount);
    s.on('error', () => undefined);
  });
  h2.on('stream', (stream, headers) => {
    stream.on('error', () => undefined); // a refused stream errors on the server side too
    const path = String(headers[':path']);
    const session = index.get(stream.session!)!;
    received.push({ path, session, method: String(headers[':method']) });
    stream.resume();
    const action = path === '/warm' ? undefined : actions.shift();
    if (action === 'refuse-goaway') {
      // The server is going away and did not process this stream (its id is above the last one).
      stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id! - 2);
    } else if (action === 'refuse-rst') {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    } else if (action === 'cut') {
      // The server took this stream (last stream id = its id) and then dropped the connection.
      stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id!);
      setImmediate(() => stream.session!.destroy());
    } else {
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ session }));
    }
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(h2.address() as AddressInfo).port}`;
});
afterEach(() => {
  closeAllSessions();
  actions.length = 0;
});
afterAll(async () => {
  closeAllSessions();
  for (const s of serverSessions) s.destroy();
  await new Promise((r) => h2.close(r));
});

const client = () => new KubeHttp(tokenConnection(url, ca, 'token-goaway-test'));
const sent = (key: string) => requestsSent()[key] ?? 0;

/** A session that has served one request already, so the next request's stream id is 3. */
async function warmSession(http: KubeHttp): Promise<number> {
  return (await http.request<{ session: number }>({ method: 'GET', path: '/warm' })).session;
}

describe('HTTP/2 transport: requests interrupted by the server going away', () => {
  it.each(['refuse-goaway', 'refuse-rst'] as const)('a POST the server never processed (%s) is sent once more, on a fresh session after a GOAWAY', async (action) => {
    // Prepare
    const http = client();
    const first = await warmSession(http);
    actions.push(action);
    const before = sent('POST selfsubjectaccessreviews');
    // Act
    const res = await http.request<{ session: number }>({ method: 'POST', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body: {} });
    // Assess: two attempts; after a GOAWAY the second is on a new session
    expect(sent('POST selfsubjectaccessreviews') - before).toBe(2);
    const posts = received.filter((r) => r.path.endsWith('/selfsubjectaccessreviews')).slice(-2);
    expect(posts.map((r) => r.session)).toEqual([first, res.session]);
    if (action === 'refuse-goaway') expect(res.session).toBeGreaterThan(first);
  });

  it('a request refused twice is not retried a second time: the error surfaces', async () => {
    const http = client();
    await warmSession(http);
    actions.push('refuse-rst', 'refuse-rst');
    const before = sent('POST selfsubjectreviews');
    const err = await http.request({ method: 'POST', path: '/apis/authentication.k8s.io/v1/selfsubjectreviews', body: {} }).catch((e: unknown) => e);
    expect(err).toMatchObject({ message: expect.stringContaining('NGHTTP2_REFUSED_STREAM') });
    expect(sent('POST selfsubjectreviews') - before).toBe(2);
  });

  it('a write cut off after the server may have processed it is never repeated', async () => {
    const http = client();
    await warmSession(http);
    actions.push('cut');
    const n = received.length;
    const err = await http.request({ method: 'PUT', path: '/api/v1/namespaces/flyte/secrets/cluster-credentials', body: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(received.slice(n).filter((r) => r.method === 'PUT')).toHaveLength(1);
    // The pool opens a fresh session for what comes next.
    const after = await client().request<{ session: number }>({ method: 'GET', path: '/api/v1/namespaces/flyte' });
    expect(after.session).toBe(sessionCount);
  });

  it('a GET cut off the same way is read again on a fresh session', async () => {
    const http = client();
    const first = await warmSession(http);
    actions.push('cut');
    const res = await http.request<{ session: number }>({ method: 'GET', path: '/api/v1/namespaces/flyte/secrets/flyteadmin-token' });
    expect(res.session).toBeGreaterThan(first);
    expect(received.filter((r) => r.path === '/api/v1/namespaces/flyte/secrets/flyteadmin-token').map((r) => r.session)).toEqual([first, res.session]);
  });

  it('names the resource of a request path for the counts', () => {
    expect(resourceOf('/api/v1/namespaces/flyte/secrets/x')).toBe('secrets');
    expect(resourceOf('/api/v1/namespaces/flyte')).toBe('namespaces');
    expect(resourceOf('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')).toBe('selfsubjectaccessreviews');
    expect(resourceOf('/apis/apps/v1/namespaces/flyte/deployments/flyteadmin?fieldManager=x')).toBe('deployments');
  });
});
