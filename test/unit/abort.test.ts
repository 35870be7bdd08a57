/**
 * Network calls are aborted, not abandoned: against real servers that accept a request and never
 * answer (HTTP/2 over TLS as the sync's Kubernetes transport speaks it, HTTP/1 for the AWS SDK, and
 * a TCP server that never completes the TLS handshake), the client cancels the request when the
 * call's timeout or the invocation's deadline passes, and the error says which.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import http2 from 'node:http2';
import { loopbackCert } from '../tls.ts';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { tokenConnection } from '../../lib/clusters/access.ts';
import { kubeCall } from '../../lib/kube/errors.ts';
import { closeAllSessions, KubeHttp } from '../../lib/kube/http2.ts';
import { AwsSecretsManagerStore } from '../../lib/stores/aws.ts';
import { timeLeft, withDeadline } from '../../lib/util/abort.ts';

/** An HTTP/1 server for the AWS SDK, and an HTTP/2 TLS server as the sync's Kubernetes transport speaks it. */
let server: Server;
let url: string;
let h2: http2.Http2SecureServer;
let kubeUrl: string;
let ca: string;
/** A TCP server that accepts connections and never says a word (no TLS handshake). */
let mute: TcpServer;
let muteUrl: string;
const muteSockets: Socket[] = [];
/** Requests the servers received and never answered, with a promise that settles when the client hung up. */
const received: Array<{ url: string; closed: Promise<void> }> = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage) => {
    received.push({ url: req.url ?? '', closed: new Promise((r) => req.socket.once('close', () => r())) });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tls = loopbackCert();
  ca = tls.cert;
  h2 = http2.createSecureServer(tls);
  // Accepts the stream and never answers; `closed` settles when the client cancels the stream.
  h2.on('stream', (stream, headers) => {
    received.push({ url: String(headers[':path']), closed: new Promise((r) => stream.once('close', () => r())) });
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  kubeUrl = `https://127.0.0.1:${(h2.address() as AddressInfo).port}`;
  mute = createTcpServer((s) => void muteSockets.push(s));
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  muteUrl = `https://127.0.0.1:${(mute.address() as AddressInfo).port}`;
});
afterAll(async () => {
  closeAllSessions();
  server.closeAllConnections();
  for (const s of muteSockets) s.destroy();
  await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => h2.close(r)), new Promise((r) => mute.close(r))]);
});

/** One GET of a Secret through the sync's HTTP/2 transport, as lib/kube/client.ts sends it. */
const getSecret = (server: string) => (o: { signal: AbortSignal; timeoutMs: number }) =>
  new KubeHttp(tokenConnection(server, ca, 'token-aaaaaaaa')).request({ ...o, method: 'GET', path: '/api/v1/namespaces/flyte/secrets/x' });

describe('aborting network calls', () => {
  it("a Kubernetes call (HTTP/2 transport) past its own timeout: CLUSTER_UNREACHABLE 'timed out', and its stream is cancelled", async () => {
    const n = received.length;
    const err = await kubeCall('dp1', kubeUrl, 'get Secret flyte/x', getSecret(kubeUrl), 300).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CLUSTER_UNREACHABLE', message: `cluster dp1: API server ${kubeUrl} unreachable: get Secret flyte/x: timed out after 300 ms` });
    expect(received[n]!.url).toBe('/api/v1/namespaces/flyte/secrets/x');
    await received[n]!.closed; // the client cancelled the stream: aborted, not abandoned
  });

  it('a Kubernetes call cut by the invocation deadline: DEADLINE, and its stream is cancelled', async () => {
    const n = received.length;
    const err = await withDeadline(Date.now() + 300, () =>
      kubeCall('dp1', kubeUrl, 'get Secret flyte/x', getSecret(kubeUrl)),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEADLINE', message: "cluster dp1: get Secret flyte/x: cut off at the invocation's deadline" });
    await received[n]!.closed;
  });

  it('a Kubernetes call to a server that never completes the TLS handshake: the same timeout, nothing left waiting', async () => {
    const err = await kubeCall('dp1', muteUrl, 'get Secret flyte/x', getSecret(muteUrl), 300).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CLUSTER_UNREACHABLE', message: `cluster dp1: API server ${muteUrl} unreachable: get Secret flyte/x: timed out after 300 ms` });
    expect(muteSockets.length).toBeGreaterThan(0); // it did connect, and got no answer
  });

  it('an AWS Secrets Manager call cut by the invocation deadline: DEADLINE, and the connection is closed', async () => {
    const n = received.length;
    const client = new SecretsManagerClient({ region: 'us-east-1', endpoint: url, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const store = new AwsSecretsManagerStore(client, { prefix: 'p/' });
    const err = await withDeadline(Date.now() + 300, () => store.get('dp1')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEADLINE', message: "aws-secrets-manager: DescribeSecret p/dp1: cut off at the invocation's deadline" });
    await received[n]!.closed;
  });

  it("the AWS batch read (ListSecrets) cut by the invocation deadline: DEADLINE, handed to the fallback, and the connection is closed", async () => {
    const n = received.length;
    const client = new SecretsManagerClient({ region: 'us-east-1', endpoint: url, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const store = new AwsSecretsManagerStore(client, { prefix: 'p/' });
    const failures: unknown[] = [];
    await withDeadline(Date.now() + 300, () => store.batch(['dp1', 'dp2'], (err) => void failures.push(err)));
    expect(failures).toMatchObject([{ code: 'DEADLINE', message: "aws-secrets-manager: ListSecrets p/*: cut off at the invocation's deadline" }]);
    await received[n]!.closed;
  });

  it('after the deadline nothing is sent at all', async () => {
    const n = received.length;
    const err = await withDeadline(Date.now() - 1, () =>
      kubeCall('dp1', kubeUrl, 'get Secret flyte/x', getSecret(kubeUrl)),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEADLINE' });
    expect(received.length).toBe(n);
  });
});

describe('the one deadline carrier (withDeadline, timeLeft)', () => {
  it('timeLeft is Infinity without a deadline, counts down on the clock the deadline was set with, and is 0 once it passed', async () => {
    let t = 1_000_000;
    expect(timeLeft()).toBe(Infinity);
    await withDeadline(t + 5_000, async () => {
      expect(timeLeft()).toBe(5_000);
      t += 2_000;
      expect(timeLeft()).toBe(3_000);
      t += 10_000;
      expect(timeLeft()).toBe(0);
    }, () => t);
    expect(timeLeft()).toBe(Infinity);
  });

  it('nested deadlines: the earliest wins, and no deadline inside keeps the enclosing one', async () => {
    const t = 1_000_000;
    await withDeadline(t + 5_000, () =>
      Promise.all([
        withDeadline(t + 60_000, async () => expect(timeLeft()).toBe(5_000), () => t),
        withDeadline(t + 1_000, async () => expect(timeLeft()).toBe(1_000), () => t),
        withDeadline(undefined, async () => expect(timeLeft()).toBe(5_000)),
      ]), () => t);
  });
});
