/**
 * Google's Secret Manager and GKE (ClusterManager) APIs, called over gRPC with `@grpc/grpc-js`
 * and the part of their descriptors the sync uses (./protos-subset.ts, made by
 * scripts/gcp-subset.ts, loaded with `protobufjs/light`), instead of the generated clients
 * (`@google-cloud/secret-manager`, `@google-cloud/container` and google-gax: 4.5 MB of a bundle and
 * about 400 ms of a cold start). What the adapters see is the generated clients' promise API for the
 * calls they make (`api.getSecret(request, { timeout })` resolves to `[answer]`), with what the
 * generated clients do around each call:
 *
 * - TLS to `<service>.googleapis.com:443` with an OAuth 2.0 access token of the application default
 *   credentials (google-auth-library, cloud-platform scope), or plaintext without credentials to an
 *   emulator (`insecure`);
 * - the routing header `x-goog-request-params` (`name=...` or `parent=...`);
 * - answers decoded as the generated clients decode them: camelCase fields, enums as names, 64-bit
 *   integers as decimal strings, defaults filled in (empty strings, arrays and maps; null messages);
 * - errors as gRPC gives them (`code`, `details`, message `<code> <NAME>: <details>`);
 * - the generated clients' retries: AccessSecretVersion on RESOURCE_EXHAUSTED and UNAVAILABLE
 *   (from 2 s, doubling), GetCluster and ListClusters on UNAVAILABLE and DEADLINE_EXCEEDED (from
 *   100 ms, times 1.3), other calls never; every attempt and wait stays within the call's
 *   `timeout`, which is the call's whole budget (lib/util/abort.ts gaxCall sets it);
 * - ListSecrets reads every page (the generated client's auto-pagination).
 */
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/light.js';
import { CALL_TIMEOUT_MS } from '../util/abort.ts';
import { GCP_SUBSET_JSON } from './protos-subset.ts';

const root = protobuf.Root.fromJSON(JSON.parse(GCP_SUBSET_JSON) as protobuf.INamespace).resolveAll();

/** As the generated clients (proto-loader's options in google-gax) turn answers into objects. */
const AS_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

export const SECRET_MANAGER_SERVICE = 'google.cloud.secretmanager.v1.SecretManagerService';
export const CLUSTER_MANAGER_SERVICE = 'google.container.v1.ClusterManager';

const RESOURCE_EXHAUSTED = 8;
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

interface Retry {
  codes: readonly number[];
  firstDelayMs: number;
  multiplier: number;
  maxDelayMs: number;
}
/** The generated clients' retry settings (secret_manager_service_client_config.json, cluster_manager_client_config.json). */
const RETRIES: Record<string, Retry> = {
  AccessSecretVersion: { codes: [RESOURCE_EXHAUSTED, UNAVAILABLE], firstDelayMs: 2000, multiplier: 2, maxDelayMs: 60_000 },
  GetCluster: { codes: [UNAVAILABLE, DEADLINE_EXCEEDED], firstDelayMs: 100, multiplier: 1.3, maxDelayMs: 60_000 },
  ListClusters: { codes: [UNAVAILABLE, DEADLINE_EXCEEDED], firstDelayMs: 100, multiplier: 1.3, maxDelayMs: 60_000 },
};

/** Where access tokens come from: google-auth-library's clients (GoogleAuth) have this shape. */
export interface AccessTokens {
  getAccessToken(): Promise<{ token?: string | null } | string | null | undefined>;
}

export interface GoogleGrpcOptions {
  /** `host:port` of the API. */
  endpoint: string;
  /** Plaintext gRPC without credentials (an emulator on this machine). @default false */
  insecure?: boolean;
  /** Where each call's access token comes from (needed unless `insecure`). */
  auth?: () => Promise<AccessTokens>;
}

export interface CallOptions {
  /** The call's whole budget in ms, retries included. @default CALL_TIMEOUT_MS */
  timeout?: number;
}

/** One service on one channel: unary calls by method name, with auth, routing header, deadline and retries. */
export class GoogleGrpcService {
  private readonly client: grpc.Client;
  private readonly service: protobuf.Service;
  private readonly opts: GoogleGrpcOptions;

  constructor(service: string, opts: GoogleGrpcOptions) {
    this.opts = opts;
    this.service = root.lookupService(service);
    if (!opts.insecure && !opts.auth) throw new Error(`${service}: TLS calls need an access token source`);
    this.client = new grpc.Client(opts.endpoint, opts.insecure ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(), {
      'grpc.max_receive_message_length': 32 * 1024 * 1024,
    });
  }

  close(): void {
    this.client.close();
  }

  /**
   * Calls `method` with `request` (a plain object, as the generated clients take it); `routing` is
   * the `x-goog-request-params` value. Resolves to the answer as a plain object.
   */
  async call(method: string, request: object, routing: string, o: CallOptions = {}): Promise<Record<string, unknown>> {
    const m = this.service.methods[method];
    if (!m) throw new Error(`${this.service.fullName}: ${method} is not in the subset (scripts/gcp-subset.ts)`);
    const req = m.resolvedRequestType!;
    const res = m.resolvedResponseType!;
    const bytes = Buffer.from(req.encode(req.fromObject(request)).finish());
    const budget = o.timeout ?? CALL_TIMEOUT_MS;
    const end = Date.now() + budget;
    const retry = RETRIES[method];
    let delay = retry?.firstDelayMs ?? 0;
    for (;;) {
      const md = new grpc.Metadata();
      md.set('x-goog-request-params', routing);
      if (this.opts.auth) md.set('authorization', `Bearer ${await this.token()}`);
      try {
        const answer = await this.unary(`/${this.service.fullName.slice(1)}/${method}`, bytes, md, end);
        return res.toObject(res.decode(answer), AS_OBJECT);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (!retry || typeof code !== 'number' || !retry.codes.includes(code) || Date.now() + delay >= end) throw err;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * retry.multiplier, retry.maxDelayMs);
      }
    }
  }

  private unary(path: string, bytes: Buffer, md: grpc.Metadata, deadline: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<Buffer, Buffer>(
        path,
        (b) => b,
        (b) => b,
        bytes,
        md,
        { deadline },
        (err, value) => (err ? reject(err) : resolve(value ?? Buffer.alloc(0))),
      );
    });
  }

  private async token(): Promise<string> {
    const res = await (await this.opts.auth!()).getAccessToken();
    const token = typeof res === 'string' ? res : res?.token;
    if (!token) throw Object.assign(new Error(`16 UNAUTHENTICATED: google-auth-library returned no access token`), { code: 16 });
    return token;
  }
}

type Answer = Record<string, unknown>;
type Request = Record<string, unknown> & { name?: string; parent?: string };

/** `name=<name>` or `parent=<parent>`, as the generated clients route each call. */
function routing(req: Request, field: 'name' | 'parent' | 'secret.name'): string {
  const v = field === 'secret.name' ? (req['secret'] as { name?: string } | undefined)?.name : req[field];
  return `${field}=${encodeURIComponent(v ?? '')}`;
}

/**
 * Secret Manager's calls the store makes, in the generated client's promise API. Cast by the caller
 * to the generated client's type (lib/stores/gcp.ts GcpSecretManagerApi: the same calls).
 */
export function secretManagerOverGrpc(opts: GoogleGrpcOptions) {
  const svc = new GoogleGrpcService(SECRET_MANAGER_SERVICE, opts);
  const one = (method: string, field: 'name' | 'parent' | 'secret.name') => async (req: Request, o?: CallOptions) => [await svc.call(method, req, routing(req, field), o)] as [Answer];
  /** A listing's every page (the generated client's auto-pagination); the call's budget covers them all. */
  const allPages = async (method: string, field: string, req: Request, o?: CallOptions): Promise<unknown[]> => {
    const end = Date.now() + (o?.timeout ?? CALL_TIMEOUT_MS);
    const items: unknown[] = [];
    let pageToken = '';
    do {
      const page = await svc.call(method, { ...req, pageToken }, routing(req, 'parent'), { timeout: Math.max(1, end - Date.now()) });
      items.push(...((page[field] as unknown[]) ?? []));
      pageToken = String(page['nextPageToken'] ?? '');
    } while (pageToken);
    return items;
  };
  return {
    getSecret: one('GetSecret', 'name'),
    createSecret: one('CreateSecret', 'parent'),
    updateSecret: one('UpdateSecret', 'secret.name'),
    addSecretVersion: one('AddSecretVersion', 'parent'),
    accessSecretVersion: one('AccessSecretVersion', 'name'),
    /** Retirement: every version disabled (lib/stores/gcp.ts scheduleDeletion). */
    disableSecretVersion: one('DisableSecretVersion', 'name'),
    /** Every page, as the generated client's auto-pagination; the budget covers all of them. */
    listSecrets: async (req: Request, o?: CallOptions) => [await allPages('ListSecrets', 'secrets', req, o)] as [Answer[]],
    listSecretVersions: async (req: Request, o?: CallOptions) => [await allPages('ListSecretVersions', 'versions', req, o)] as [Answer[]],
    close: () => svc.close(),
  };
}

/** GKE's calls access and discovery make, in the generated client's promise API (see above). */
export function clusterManagerOverGrpc(opts: GoogleGrpcOptions) {
  const svc = new GoogleGrpcService(CLUSTER_MANAGER_SERVICE, opts);
  return {
    getCluster: async (req: Request, o?: CallOptions) => [await svc.call('GetCluster', req, routing(req, 'name'), o)] as [Answer],
    listClusters: async (req: Request, o?: CallOptions) => [await svc.call('ListClusters', req, routing(req, 'parent'), o)] as [Answer],
    close: () => svc.close(),
  };
}
