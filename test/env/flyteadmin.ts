/**
 * A STAND-IN for FlyteAdmin's matchable-attribute API, for the local test environment. It is not
 * FlyteAdmin: FlyteAdmin is published in no package registry (npm, PyPI, the Go module proxy or
 * Debian), so the tests cannot run it. This serves only the calls that
 * `flytectl update execution-cluster-label` (and `get`/`delete`) make, over gRPC, built from the
 * IDL package's own service definitions: the `.proto` files that `@flyteorg/flyteidl` 1.16.5
 * ships (`protos/flyteidl/service/admin.proto`, `auth.proto`), loaded with protobufjs. Only the
 * HTTP/OpenAPI annotation imports (`google/api/annotations.proto`,
 * `protoc-gen-openapiv2/options/annotations.proto`), which the package does not ship and which do
 * not change the wire format, are skipped. The client (lib/labels/) uses a descriptor generated
 * separately from those files (lib/labels/flyteidl-subset.ts, loaded with protobufjs/light), so a
 * wrong method path or field number on either side makes the tests fail.
 *
 * AdminService methods served (every other method answers UNIMPLEMENTED, as grpc-js does):
 *   - RegisterProject (so tests can register their own projects);
 *   - Update/Get/DeleteProjectDomainAttributes, Update/Get/DeleteWorkflowAttributes,
 *     UpdateProjectAttributes, ListMatchableAttributes.
 * Behaviour follows flyteadmin v1.16.8 (flyteadmin/pkg/manager/impl/resources/resource_manager.go,
 * .../validation/attributes_validator.go, pkg/repositories/gormimpl/resource_repo.go):
 *   - one row per (project, domain, workflow, launch plan, resource type); Update upserts it, the
 *     resource type being the one of the `matching_attributes` oneof that is set;
 *   - project and domain must be registered (INVALID_ARGUMENT "failed to validate that project [p]
 *     and domain [d] are registered"); a workflow name must not be empty (INVALID_ARGUMENT);
 *   - Get returns the MOST SPECIFIC matching row (a project-domain Get may answer a project-level
 *     row; a workflow Get may answer the project-domain row), NOT_FOUND when there is none: to read
 *     the exact rows, a client lists them (ListMatchableAttributes);
 *   - Delete removes the exact row and succeeds when there is none;
 *   - ListMatchableAttributes returns every row of the type, most specific first.
 * Rows are kept in memory only (a restart forgets them).
 *
 * Optional auth, as flyteadmin's own authorization server does it: AuthMetadataService
 * (GetOAuth2Metadata, GetPublicClientConfig; not authenticated) tells clients the token endpoint,
 * the scopes and the metadata key (`flyte-authorization`). The token endpoint (HTTP(S)
 * `POST /oauth2/token`) grants `client_credentials` to the configured clients (client_secret_basic
 * or client_secret_post), and every AdminService call must carry `Bearer <token>` in
 * `flyte-authorization` or `authorization`, or it fails with UNAUTHENTICATED. Optional TLS: the
 * gRPC and token endpoints then serve the certificate of the test environment's own CA.
 *
 * The process serves two gRPC listeners over the same rows: `insecure` (plaintext, no auth, like
 * a local sandbox) and `secure` (TLS and auth required). One JSON line per call on stdout, never a
 * token or a secret.
 *
 * Run: node test/env/flyteadmin.ts CONFIG.json   (see FlyteAdminStandInConfig).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const PROTO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules', '@flyteorg', 'flyteidl', 'protos');
/** Imports that only carry HTTP/OpenAPI annotations: not shipped by the package, no wire effect. */
const ANNOTATION_IMPORTS = new Set(['google/api/annotations.proto', 'protoc-gen-openapiv2/options/annotations.proto']);
export const DEFAULT_DOMAINS = ['development', 'staging', 'production'];
export const AUTH_METADATA_KEY = 'flyte-authorization';
const TOKEN_PREFIX = 'fa.';

export interface StandInClient {
  clientId: string;
  /** SHA-256 (hex) of the client secret: the config file holds no secret. */
  secretSha256: string;
  /** Scopes it may ask for. */
  scopes: string[];
}

export interface FlyteAdminStandInConfig {
  /** Plaintext gRPC port without auth on 127.0.0.1 (0: any). */
  insecurePort: number;
  /** TLS gRPC port with auth required (0: any); absent: no secure listener. */
  secure?: {
    port: number;
    /** Token endpoint port (HTTPS with the same certificate). */
    tokenPort: number;
    certFile: string;
    keyFile: string;
    clients: StandInClient[];
    /** Scopes GetPublicClientConfig advertises (flyteadmin: ["all"]). */
    scopes: string[];
    /** Token lifetime in seconds (default 3600). */
    tokenLifetimeSeconds?: number;
  };
  /** Registered domains (default development, staging, production). */
  domains?: string[];
  /** Projects registered at start. */
  projects?: string[];
}

export type Log = (record: Record<string, unknown>) => void;

// ---------------------------------------------------------------------------------------------
// The IDL, from the package's .proto files

interface Idl {
  root: protobuf.Root;
  admin: protobuf.Service;
  auth: protobuf.Service;
  MatchableResource: Record<string, number>;
}

let idlCache: Idl | undefined;

/** Loads admin.proto and auth.proto from @flyteorg/flyteidl (annotation-only imports skipped). */
export function loadIdl(): Idl {
  if (idlCache) return idlCache;
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (ANNOTATION_IMPORTS.has(target)) return null as unknown as string; // protobufjs skips a null import
    if (target.startsWith('google/protobuf/')) return target; // bundled with protobufjs
    const inRoot = path.isAbsolute(target) ? target : path.join(PROTO_ROOT, target);
    if (existsSync(inRoot)) return inRoot;
    return protobuf.util.path.resolve(origin, target);
  };
  root.loadSync([path.join(PROTO_ROOT, 'flyteidl/service/admin.proto'), path.join(PROTO_ROOT, 'flyteidl/service/auth.proto')]);
  root.resolveAll();
  idlCache = {
    root,
    admin: root.lookupService('flyteidl.service.AdminService'),
    auth: root.lookupService('flyteidl.service.AuthMetadataService'),
    MatchableResource: root.lookupEnum('flyteidl.admin.MatchableResource').values,
  };
  return idlCache;
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Handler = (req: Obj, md: grpc.Metadata) => Obj;

/** A grpc-js service definition for the named methods, (de)serialized by the reflected types. */
function serviceDefinition(svc: protobuf.Service, names: string[]): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<Obj, Obj>> = {};
  for (const name of names) {
    const m = svc.methods[name];
    if (!m) throw new Error(`${svc.fullName} has no method ${name}`);
    m.resolve();
    const reqT = m.resolvedRequestType!;
    const resT = m.resolvedResponseType!;
    def[name] = {
      path: `/${svc.fullName.replace(/^\./, '')}/${name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (o: Obj) => Buffer.from(reqT.encode(reqT.fromObject(o)).finish()),
      requestDeserialize: (b: Buffer) => reqT.toObject(reqT.decode(b), { enums: Number, oneofs: true }),
      responseSerialize: (o: Obj) => Buffer.from(resT.encode(resT.fromObject(o)).finish()),
      responseDeserialize: (b: Buffer) => resT.toObject(resT.decode(b), { enums: Number, oneofs: true }),
    };
  }
  return def as grpc.ServiceDefinition;
}

// ---------------------------------------------------------------------------------------------
// Errors

class GrpcError extends Error {
  readonly code: grpc.status;
  constructor(code: grpc.status, message: string) {
    super(message);
    this.code = code;
  }
}
const invalid = (msg: string) => new GrpcError(grpc.status.INVALID_ARGUMENT, msg);

// ---------------------------------------------------------------------------------------------
// The rows

interface Row {
  project: string;
  domain: string;
  workflow: string;
  launchPlan: string;
  resourceType: number;
  attributes: Obj;
}

/** flyteadmin's priorities (models/resource.go): more specific wins. */
function priority(r: Pick<Row, 'project' | 'domain' | 'workflow' | 'launchPlan'>): number {
  if (r.launchPlan) return 20;
  if (r.workflow) return 15;
  if (r.domain && r.project) return 10;
  if (r.project) return 6;
  return 5;
}

const ONEOF_TYPES: Record<string, string> = {
  taskResourceAttributes: 'TASK_RESOURCE',
  clusterResourceAttributes: 'CLUSTER_RESOURCE',
  executionQueueAttributes: 'EXECUTION_QUEUE',
  executionClusterLabel: 'EXECUTION_CLUSTER_LABEL',
  qualityOfService: 'QUALITY_OF_SERVICE_SPECIFICATION',
  pluginOverrides: 'PLUGIN_OVERRIDE',
  workflowExecutionConfig: 'WORKFLOW_EXECUTION_CONFIG',
  clusterAssignment: 'CLUSTER_ASSIGNMENT',
};

/** The in-memory state: registered projects and the attribute rows. */
export class AttributeStore {
  readonly projects = new Set<string>();
  readonly domains: Set<string>;
  private readonly rows = new Map<string, Row>();

  constructor(domains: string[], projects: string[]) {
    this.domains = new Set(domains);
    for (const p of projects) this.projects.add(p);
  }

  private static key(r: Omit<Row, 'attributes'>): string {
    return JSON.stringify([r.project, r.domain, r.workflow, r.launchPlan, r.resourceType]);
  }

  validateProjectDomain(project: string | undefined, domain: string | undefined): void {
    if (!project) throw invalid('missing project');
    if (!domain) throw invalid('missing domain');
    if (!this.projects.has(project) || !this.domains.has(domain))
      throw invalid(`failed to validate that project [${project}] and domain [${domain}] are registered, err: [project or domain not found]`);
  }

  /** The resource type of the matching attributes (the oneof that is set). */
  resourceTypeOf(matching: Obj | undefined, identifier: string): number {
    if (!matching) throw invalid('missing matching_attributes');
    const which = matching['target'] as string | undefined;
    const name = which ? ONEOF_TYPES[which] : undefined;
    if (!name) throw invalid(`Unrecognized matching attributes type for request ${identifier}`);
    return loadIdl().MatchableResource[name]!;
  }

  upsert(row: Row): void {
    this.rows.set(AttributeStore.key(row), row);
  }

  /** The most specific row matching the scope (flyteadmin's ResourceRepo.Get). */
  get(scope: { project: string; domain: string; workflow?: string }, resourceType: number): Row {
    const candidates = [...this.rows.values()].filter(
      (r) =>
        r.resourceType === resourceType &&
        ['', scope.project].includes(r.project) &&
        ['', scope.domain].includes(r.domain) &&
        ['', scope.workflow ?? ''].includes(r.workflow) &&
        r.launchPlan === '',
    );
    candidates.sort((a, b) => priority(b) - priority(a));
    const hit = candidates[0];
    if (!hit) throw new GrpcError(grpc.status.NOT_FOUND, `Resource [${JSON.stringify({ ...scope, resourceType })}] not found`);
    return hit;
  }

  delete(id: Omit<Row, 'attributes'>): boolean {
    return this.rows.delete(AttributeStore.key(id));
  }

  list(resourceType: number): Row[] {
    return [...this.rows.values()].filter((r) => r.resourceType === resourceType).sort((a, b) => priority(b) - priority(a));
  }
}

function adminHandlers(store: AttributeStore): Record<string, Handler> {
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    RegisterProject: (req) => {
      const p = req['project'] as Obj | undefined;
      const id = text(p?.['id']);
      if (!id) throw invalid('missing project_id');
      if (!text(p?.['name'])) throw invalid('missing project_name');
      if (store.projects.has(id)) throw new GrpcError(grpc.status.ALREADY_EXISTS, `project with id ${id} already exists`);
      store.projects.add(id);
      return {};
    },
    UpdateProjectDomainAttributes: (req) => {
      const a = req['attributes'] as Obj | undefined;
      if (!a) throw invalid('missing attributes');
      store.validateProjectDomain(text(a['project']), text(a['domain']));
      const resourceType = store.resourceTypeOf(a['matchingAttributes'], `${text(a['project'])}-${text(a['domain'])}`);
      store.upsert({ project: a['project'], domain: a['domain'], workflow: '', launchPlan: '', resourceType, attributes: a['matchingAttributes'] });
      return {};
    },
    GetProjectDomainAttributes: (req) => {
      store.validateProjectDomain(text(req['project']), text(req['domain']));
      const row = store.get({ project: req['project'], domain: req['domain'] }, req['resourceType'] ?? 0);
      return { attributes: { project: row.project, domain: row.domain, matchingAttributes: row.attributes } };
    },
    DeleteProjectDomainAttributes: (req) => {
      store.validateProjectDomain(text(req['project']), text(req['domain']));
      store.delete({ project: req['project'], domain: req['domain'], workflow: '', launchPlan: '', resourceType: req['resourceType'] ?? 0 });
      return {};
    },
    UpdateWorkflowAttributes: (req) => {
      const a = req['attributes'] as Obj | undefined;
      if (!a) throw invalid('missing attributes');
      store.validateProjectDomain(text(a['project']), text(a['domain']));
      if (!text(a['workflow'])) throw invalid('missing workflow');
      const resourceType = store.resourceTypeOf(a['matchingAttributes'], `${a['project']}-${a['domain']}-${a['workflow']}`);
      store.upsert({ project: a['project'], domain: a['domain'], workflow: a['workflow'], launchPlan: '', resourceType, attributes: a['matchingAttributes'] });
      return {};
    },
    GetWorkflowAttributes: (req) => {
      store.validateProjectDomain(text(req['project']), text(req['domain']));
      if (!text(req['workflow'])) throw invalid('missing workflow');
      const row = store.get({ project: req['project'], domain: req['domain'], workflow: req['workflow'] }, req['resourceType'] ?? 0);
      return { attributes: { project: row.project, domain: row.domain, workflow: row.workflow, matchingAttributes: row.attributes } };
    },
    DeleteWorkflowAttributes: (req) => {
      store.validateProjectDomain(text(req['project']), text(req['domain']));
      if (!text(req['workflow'])) throw invalid('missing workflow');
      store.delete({ project: req['project'], domain: req['domain'], workflow: req['workflow'], launchPlan: '', resourceType: req['resourceType'] ?? 0 });
      return {};
    },
    UpdateProjectAttributes: (req) => {
      const a = req['attributes'] as Obj | undefined;
      if (!a) throw invalid('missing attributes');
      const project = text(a['project']);
      if (!project) throw invalid('missing project');
      if (!store.projects.has(project)) throw invalid(`failed to validate that project [${project}] is registered`);
      const resourceType = store.resourceTypeOf(a['matchingAttributes'], project);
      store.upsert({ project, domain: '', workflow: '', launchPlan: '', resourceType, attributes: a['matchingAttributes'] });
      return {};
    },
    ListMatchableAttributes: (req) => ({
      configurations: store.list(req['resourceType'] ?? 0).map((r) => ({
        attributes: r.attributes,
        project: r.project,
        domain: r.domain,
        workflow: r.workflow,
        launchPlan: r.launchPlan,
      })),
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// OAuth2 (client credentials)

const sha256 = (s: string) => createHash('sha256').update(s).digest();

class TokenAuthority {
  private readonly issued = new Map<string, { clientId: string; expires: number }>();
  private readonly clients: StandInClient[];
  private readonly lifetimeS: number;

  constructor(clients: StandInClient[], lifetimeS: number) {
    this.clients = clients;
    this.lifetimeS = lifetimeS;
  }

  /** RFC 6749 section 4.4 with client_secret_basic or client_secret_post. */
  grant(form: URLSearchParams, authorization: string | undefined): { status: number; body: Obj; log: Obj } {
    let id = form.get('client_id') ?? undefined;
    let secret = form.get('client_secret') ?? undefined;
    const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) {
        id = decodeURIComponent(decoded.slice(0, i).replace(/\+/g, ' '));
        secret = decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, ' '));
      }
    }
    if (form.get('grant_type') !== 'client_credentials')
      return { status: 400, body: { error: 'unsupported_grant_type' }, log: { issued: false, reason: 'unsupported_grant_type' } };
    const client = this.clients.find((c) => c.clientId === id);
    if (!client || secret === undefined || !timingSafeEqual(sha256(secret), Buffer.from(client.secretSha256, 'hex')))
      return { status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' }, log: { issued: false, clientId: id ?? null, reason: 'invalid_client' } };
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    const bad = scopes.filter((s) => !client.scopes.includes(s));
    if (bad.length)
      return { status: 400, body: { error: 'invalid_scope', error_description: `scope not allowed: ${bad.join(' ')}` }, log: { issued: false, clientId: id, reason: 'invalid_scope' } };
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    this.issued.set(sha256(token).toString('hex'), { clientId: client.clientId, expires: Date.now() + this.lifetimeS * 1000 });
    return {
      status: 200,
      body: { access_token: token, token_type: 'Bearer', expires_in: this.lifetimeS, scope: (scopes.length ? scopes : client.scopes).join(' ') },
      log: { issued: true, clientId: client.clientId },
    };
  }

  /** The client id of a valid bearer token from call metadata, or why not. */
  check(md: grpc.Metadata): { clientId?: string; reason?: string } {
    const header = String(md.get(AUTH_METADATA_KEY)[0] ?? md.get('authorization')[0] ?? '');
    if (!header) return { reason: 'no bearer token' };
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return { reason: 'not a bearer token' };
    const t = this.issued.get(sha256(m[1]!).toString('hex'));
    if (!t) return { reason: 'unknown token' };
    if (t.expires <= Date.now()) return { reason: 'token expired' };
    return { clientId: t.clientId };
  }
}

// ---------------------------------------------------------------------------------------------
// Server

export interface FlyteAdminStandIn {
  /** host:port of the plaintext listener (no auth). */
  insecureEndpoint: string;
  /** host:port of the TLS listener (auth required), when configured. */
  secureEndpoint?: string;
  /** https://127.0.0.1:PORT/oauth2/token, when configured. */
  tokenEndpoint?: string;
  store: AttributeStore;
  close(): Promise<void>;
}

const stdoutLog: Log = (r) => process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...r }) + '\n');

function implementation(svc: protobuf.Service, handlers: Record<string, Handler>, listener: string, log: Log, auth?: TokenAuthority): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(handlers)) {
    impl[name] = (call: grpc.ServerUnaryCall<Obj, Obj>, callback: grpc.sendUnaryData<Obj>) => {
      const rec: Obj = { event: 'call', listener, method: name };
      try {
        if (auth) {
          const who = auth.check(call.metadata);
          if (!who.clientId) throw new GrpcError(grpc.status.UNAUTHENTICATED, `unauthenticated: ${who.reason}`);
          rec['clientId'] = who.clientId;
        }
        const res = handler(call.request, call.metadata);
        log({ ...rec, code: 'OK' });
        callback(null, res);
      } catch (err) {
        const e = err instanceof GrpcError ? err : new GrpcError(grpc.status.INTERNAL, `internal error (${(err as Error).message})`);
        log({ ...rec, code: grpc.status[e.code], message: e.message });
        callback({ code: e.code, details: e.message });
      }
    };
  }
  return impl;
}

async function bind(server: grpc.Server, port: number, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, creds, (err, p) => (err ? reject(err) : resolve(p))));
}

/** Starts the stand-in (see the file header). */
export async function startFlyteAdmin(cfg: FlyteAdminStandInConfig, log: Log = stdoutLog): Promise<FlyteAdminStandIn> {
  const idl = loadIdl();
  const store = new AttributeStore(cfg.domains ?? DEFAULT_DOMAINS, cfg.projects ?? []);
  const handlers = adminHandlers(store);
  const adminDef = serviceDefinition(idl.admin, Object.keys(handlers));

  const insecure = new grpc.Server();
  insecure.addService(adminDef, implementation(idl.admin, handlers, 'insecure', log));
  const insecurePort = await bind(insecure, cfg.insecurePort, grpc.ServerCredentials.createInsecure());
  const servers: grpc.Server[] = [insecure];
  const out: FlyteAdminStandIn = {
    insecureEndpoint: `127.0.0.1:${insecurePort}`,
    store,
    close: async () => {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.tryShutdown(() => r()))));
      if (tokenServer) await new Promise<void>((r) => { tokenServer!.close(() => r()); tokenServer!.closeAllConnections(); });
    },
  };
  let tokenServer: https.Server | undefined;
  if (cfg.secure) {
    const s = cfg.secure;
    const cert = readFileSync(s.certFile);
    const key = readFileSync(s.keyFile);
    const auth = new TokenAuthority(s.clients, s.tokenLifetimeSeconds ?? 3600);
    tokenServer = https.createServer({ cert, key }, (req, res) => {
      const send = (status: number, body: Obj) => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/oauth2/token') {
        req.resume();
        send(404, { error: 'not found' });
        return;
      }
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
        if (body.length > 64 * 1024) req.destroy();
      });
      req.on('end', () => {
        const g = auth.grant(new URLSearchParams(body), req.headers.authorization);
        log({ event: 'token', ...g.log });
        send(g.status, g.body);
      });
    });
    await new Promise<void>((resolve, reject) => tokenServer!.once('error', reject).listen(s.tokenPort, '127.0.0.1', resolve));
    const tokenPort = (tokenServer.address() as AddressInfo).port;
    const issuer = `https://127.0.0.1:${tokenPort}`;
    out.tokenEndpoint = `${issuer}/oauth2/token`;
    const secure = new grpc.Server();
    secure.addService(adminDef, implementation(idl.admin, handlers, 'secure', log, auth));
    const authHandlers: Record<string, Handler> = {
      GetOAuth2Metadata: () => ({
        issuer,
        tokenEndpoint: out.tokenEndpoint,
        grantTypesSupported: ['client_credentials'],
        tokenEndpointAuthMethodsSupported: ['client_secret_basic', 'client_secret_post'],
        scopesSupported: s.scopes,
      }),
      GetPublicClientConfig: () => ({ clientId: 'flytectl', scopes: s.scopes, authorizationMetadataKey: AUTH_METADATA_KEY, audience: '' }),
    };
    secure.addService(serviceDefinition(idl.auth, Object.keys(authHandlers)), implementation(idl.auth, authHandlers, 'secure', log));
    const securePort = await bind(secure, s.port, grpc.ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false));
    servers.push(secure);
    out.secureEndpoint = `127.0.0.1:${securePort}`;
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node test/env/flyteadmin.ts CONFIG.json');
    process.exit(2);
  }
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as FlyteAdminStandInConfig;
  const srv = await startFlyteAdmin(cfg);
  stdoutLog({ event: 'listening', standIn: true, insecure: srv.insecureEndpoint, secure: srv.secureEndpoint ?? null, tokenEndpoint: srv.tokenEndpoint ?? null });
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.once(sig, () => {
      stdoutLog({ event: 'stopping', signal: sig });
      void srv.close().then(() => process.exit(0));
    });
}
