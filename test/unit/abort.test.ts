/**
 * Network calls are aborted, not abandoned: against a real HTTP server that accepts a request and
 * never answers, the request's connection is closed by the client when the call's timeout or the
 * invocation's deadline passes, and the error says which.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { kubeCall } from '../../lib/kube/errors.ts';
import { AwsSecretsManagerStore } from '../../lib/stores/aws.ts';
import { withDeadline } from '../../lib/util/abort.ts';

let server: Server;
let url: string;
/** Requests the server received and never answered, with a promise that settles when the client hung up. */
const received: Array<{ url: string; closed: Promise<void> }> = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage) => {
    received.push({ url: req.url ?? '', closed: new Promise((r) => req.socket.once('close', () => r())) });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function coreApi(): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return kc.makeApiClient(CoreV1Api);
}

describe('aborting network calls', () => {
  it("a Kubernetes call past its own timeout: CLUSTER_UNREACHABLE 'timed out', and the request's connection is closed", async () => {
    const n = received.length;
    const err = await kubeCall('dp1', url, 'get Secret flyte/x', (o) => coreApi().readNamespacedSecret({ name: 'x', namespace: 'flyte' }, o), 300).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CLUSTER_UNREACHABLE', message: `cluster dp1: API server ${url} unreachable: get Secret flyte/x: timed out after 300 ms` });
    expect(received[n]!.url).toBe('/api/v1/namespaces/flyte/secrets/x');
    await received[n]!.closed; // the client hung up: aborted, not abandoned
  });

  it('a Kubernetes call cut by the invocation deadline: DEADLINE, and the connection is closed', async () => {
    const n = received.length;
    const err = await withDeadline(Date.now() + 300, () =>
      kubeCall('dp1', url, 'get Secret flyte/x', (o) => coreApi().readNamespacedSecret({ name: 'x', namespace: 'flyte' }, o)),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEADLINE', message: "cluster dp1: get Secret flyte/x: cut off at the invocation's deadline" });
    await received[n]!.closed;
  });

  it('an AWS Secrets Manager call cut by the invocation deadline: DEADLINE, and the connection is closed', async () => {
    const n = received.length;
    const client = new SecretsManagerClient({ region: 'us-east-1', endpoint: url, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const store = new AwsSecretsManagerStore(client, { prefix: 'p/' });
    const err = await withDeadline(Date.now() + 300, () => store.get('dp1')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEADLINE', message: "aws-secrets-manager: DescribeSecret p/dp1: cut off at the invocation's deadline" });
    await received[n]!.closed;
  });

  it('after the deadline nothing is sent at all', async () => {
    const n = received.length;
    const err = await withDeadline(Date.now() - 1, () =>
      kubeCall('dp1', url, 'get Secret flyte/x', (o) => coreApi().readNamespacedSecret({ name: 'x', namespace: 'flyte' }, o)),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEADLINE' });
    expect(received.length).toBe(n);
  });
});
