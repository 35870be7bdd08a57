/**
 * lib/gcp/grpc.ts against a real gRPC server on 127.0.0.1 (grpc-js) that serves Google's methods
 * with the full descriptors the @google-cloud packages ship: what the client sends (method path,
 * bytes, access token, routing header), what it decodes, its retries and its time budget, and
 * ListSecrets read page by page. (Secret Manager's calls also run against the emulator in the
 * integration tests; GKE has no emulator.)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { clusterManagerOverGrpc, secretManagerOverGrpc } from '../../lib/gcp/grpc.ts';
import { loadFull } from '../../scripts/gcp-subset.ts';

const container = loadFull('@google-cloud/container');
const secretManager = loadFull('@google-cloud/secret-manager');

type Handler = (req: Record<string, unknown>, md: grpc.Metadata) => Record<string, unknown> | grpc.ServiceError | 'hang';
const handlers = new Map<string, Handler>();
const seen: { method: string; req: Record<string, unknown>; auth: string | undefined; routing: string | undefined }[] = [];
let server: grpc.Server;
let endpoint: string;

function serve(root: protobuf.Root, service: string): grpc.ServiceDefinition {
  const svc = root.lookupService(service);
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const m of svc.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType!;
    const res = m.resolvedResponseType!;
    def[m.name] = {
      path: `/${service}/${m.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (v: object) => Buffer.from(req.encode(req.fromObject(v)).finish()),
      requestDeserialize: (b: Buffer) => req.toObject(req.decode(b), { longs: String, enums: String }),
      responseSerialize: (v: object) => Buffer.from(res.encode(res.fromObject(v)).finish()),
      responseDeserialize: (b: Buffer) => res.decode(b),
    } as grpc.MethodDefinition<object, object>;
  }
  return def as grpc.ServiceDefinition;
}

function implementation(def: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
  return Object.fromEntries(
    Object.keys(def).map((name) => [
      name,
      (call: grpc.ServerUnaryCall<Record<string, unknown>, object>, cb: grpc.sendUnaryData<object>) => {
        seen.push({ method: name, req: call.request, auth: call.metadata.get('authorization')[0]?.toString(), routing: call.metadata.get('x-goog-request-params')[0]?.toString() });
        const out = handlers.get(name)?.(call.request, call.metadata) ?? Object.assign(new Error('no handler'), { code: grpc.status.UNIMPLEMENTED });
        if (out === 'hang') return;
        if (out instanceof Error) cb(out as grpc.ServiceError);
        else cb(null, out);
      },
    ]),
  );
}

beforeAll(async () => {
  server = new grpc.Server();
  const gke = serve(container, 'google.container.v1.ClusterManager');
  const sm = serve(secretManager, 'google.cloud.secretmanager.v1.SecretManagerService');
  server.addService(gke, implementation(gke));
  server.addService(sm, implementation(sm));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  endpoint = `127.0.0.1:${port}`;
});
afterAll(() => server.forceShutdown());

const status = (code: grpc.status, details: string) => Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError;
let tokens = 0;
const auth = async () => ({ getAccessToken: async () => ({ token: `ya29.test-${++tokens}` }) });

describe('GKE over gRPC (lib/gcp/grpc.ts)', () => {
  it('GetCluster: the method path, access token and routing header; the answer as the generated client decodes it', async () => {
    // Prepare
    seen.length = 0;
    handlers.set('GetCluster', () => ({ name: 'c', endpoint: '34.1.2.3', status: 'RUNNING', masterAuth: { clusterCaCertificate: 'Q0E=' }, nodePools: [{ name: 'p' }], location: 'l' }));
    const gke = clusterManagerOverGrpc({ endpoint, insecure: true, auth });
    // Act
    const [c] = await gke.getCluster({ name: 'projects/p/locations/l/clusters/c' }, { timeout: 10_000 });
    gke.close();
    // Assess
    expect(c).toEqual({ name: 'c', endpoint: '34.1.2.3', status: 'RUNNING', masterAuth: { clusterCaCertificate: 'Q0E=' }, location: 'l', zone: '', resourceLabels: {} });
    expect(seen).toEqual([{ method: 'GetCluster', req: { name: 'projects/p/locations/l/clusters/c' }, auth: expect.stringMatching(/^Bearer ya29\.test-\d+$/), routing: 'name=projects%2Fp%2Flocations%2Fl%2Fclusters%2Fc' }]);
  });

  it('retries UNAVAILABLE (as the generated client does for GetCluster), not NOT_FOUND', async () => {
    seen.length = 0;
    let n = 0;
    handlers.set('GetCluster', () => (++n === 1 ? status(grpc.status.UNAVAILABLE, 'try again') : { name: 'c', status: 'RUNNING' }));
    const gke = clusterManagerOverGrpc({ endpoint, insecure: true });
    const [c] = await gke.getCluster({ name: 'projects/p/locations/l/clusters/c' }, { timeout: 10_000 });
    expect(c['status']).toBe('RUNNING');
    expect(seen.map((s) => s.method)).toEqual(['GetCluster', 'GetCluster']);
    expect(seen[0]!.auth).toBeUndefined(); // no token source: no token
    seen.length = 0;
    handlers.set('GetCluster', () => status(grpc.status.NOT_FOUND, 'no such cluster'));
    await expect(gke.getCluster({ name: 'projects/p/locations/l/clusters/x' }, { timeout: 10_000 })).rejects.toMatchObject({ code: 5, message: '5 NOT_FOUND: no such cluster' });
    expect(seen).toHaveLength(1);
    gke.close();
  });

  it('a call that gets no answer ends with DEADLINE_EXCEEDED within its budget', async () => {
    handlers.set('ListClusters', () => 'hang');
    const gke = clusterManagerOverGrpc({ endpoint, insecure: true });
    await expect(gke.listClusters({ parent: 'projects/p/locations/-' }, { timeout: 300 })).rejects.toMatchObject({ code: 4 });
    gke.close();
  });

  it('TLS calls need a token source; a token source that fails fails the call before it is sent', async () => {
    expect(() => clusterManagerOverGrpc({ endpoint })).toThrow(/access token source/);
    seen.length = 0;
    const gke = clusterManagerOverGrpc({ endpoint, insecure: true, auth: async () => ({ getAccessToken: async () => ({ token: null }) }) });
    await expect(gke.getCluster({ name: 'projects/p/locations/l/clusters/c' })).rejects.toMatchObject({ code: 16 });
    expect(seen).toEqual([]);
    gke.close();
  });
});

describe('Secret Manager over gRPC (lib/gcp/grpc.ts)', () => {
  it('ListSecrets reads every page, with the request of each', async () => {
    seen.length = 0;
    handlers.set('ListSecrets', (req) =>
      req['pageToken'] ? { secrets: [{ name: 'projects/p/secrets/b' }] } : { secrets: [{ name: 'projects/p/secrets/a', versionAliases: { current: 4 } }], nextPageToken: 'page-2' },
    );
    const sm = secretManagerOverGrpc({ endpoint, insecure: true });
    const [secrets] = await sm.listSecrets({ parent: 'projects/p', filter: 'name:x-', pageSize: 250 }, { timeout: 10_000 });
    sm.close();
    expect(secrets.map((s) => [s['name'], s['versionAliases']])).toEqual([
      ['projects/p/secrets/a', { current: '4' }],
      ['projects/p/secrets/b', {}],
    ]);
    expect(seen.map((s) => [s.req['pageToken'] ?? '', s.req['pageSize'], s.routing])).toEqual([
      ['', 250, 'parent=projects%2Fp'],
      ['page-2', 250, 'parent=projects%2Fp'],
    ]);
  });

  it('UpdateSecret sends the secret, its aliases and the field mask, routed by the secret name', async () => {
    seen.length = 0;
    handlers.set('UpdateSecret', (req) => req['secret'] as Record<string, unknown>);
    const sm = secretManagerOverGrpc({ endpoint, insecure: true });
    const [s] = await sm.updateSecret({ secret: { name: 'projects/p/secrets/s', versionAliases: { current: 3 } }, updateMask: { paths: ['version_aliases'] } });
    sm.close();
    expect(s['versionAliases']).toEqual({ current: '3' });
    expect(seen[0]).toMatchObject({ method: 'UpdateSecret', req: { secret: { name: 'projects/p/secrets/s', versionAliases: { current: '3' } }, updateMask: { paths: ['version_aliases'] } }, routing: 'secret.name=projects%2Fp%2Fsecrets%2Fs' });
  });
});
