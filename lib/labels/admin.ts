/**
 * A FlyteAdmin client for execution-cluster labels, over gRPC with the service definitions of the
 * Flyte IDL (lib/labels/idl.ts): the calls `flytectl update/get/delete execution-cluster-label`
 * makes (project-domain and workflow attributes of type EXECUTION_CLUSTER_LABEL), plus
 * ListMatchableAttributes to read the exact rows (a Get answers the most specific row that
 * matches, possibly an inherited one, so it cannot tell "set here" from "inherited").
 *
 * Connection: plaintext (`insecure`, local sandboxes), TLS with the system CAs or a custom CA.
 * Auth: OAuth2 client credentials, as flytectl's `ClientSecret` flow: the token endpoint, scopes
 * and metadata key come from FlyteAdmin's AuthMetadataService unless configured; the client
 * secret is supplied by the caller (read from the secret store, never from the configuration).
 * Every call, token requests included, has a deadline and follows the caller's AbortSignal.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { timeLeft } from '../util/abort.ts';
import { registerSecret } from '../util/redact.ts';
import { FlyteAdminError, grpcErrorCode } from './errors.ts';
import { ADMIN_SERVICE, AUTH_METADATA_SERVICE, EXECUTION_CLUSTER_LABEL, services, type AdminService } from './idl.ts';

/** Where a label applies: a project-domain attribute, or a workflow attribute when `workflow` is set. */
export interface LabelScope {
  project: string;
  domain: string;
  workflow?: string | undefined;
}

/** One EXECUTION_CLUSTER_LABEL row as FlyteAdmin keeps it (empty strings for unset levels). */
export interface LabelAttribute {
  project: string;
  domain: string;
  workflow: string;
  launchPlan: string;
  label: string;
}

export interface ClientCredentials {
  clientId: string;
  /** Returns the client secret (called once per token request; the caller reads the store). */
  clientSecret: () => Promise<string>;
  /** Token endpoint; default: AuthMetadataService.GetOAuth2Metadata's token_endpoint. */
  tokenUrl?: string | undefined;
  /** Default: GetPublicClientConfig's scopes. */
  scopes?: string[] | undefined;
  audience?: string | undefined;
}

export interface FlyteAdminClientOptions {
  /** host:port (a `dns:///` prefix is accepted, as flytectl writes it). */
  endpoint: string;
  /** Plaintext gRPC. @default false */
  insecure?: boolean;
  /** PEM CA for TLS (gRPC and the token endpoint); default: the system CAs. */
  ca?: string | Buffer | undefined;
  auth?: ClientCredentials | undefined;
  /** Deadline of each call in ms. @default 10000 */
  timeoutMs?: number;
  /** Aborts every call in flight and refuses new ones. */
  signal?: AbortSignal | undefined;
}

interface Token {
  value: string;
  /** ms epoch after which a new one is requested. */
  renewAt: number;
}

/** Seconds before expiry at which a token is renewed. */
const RENEW_MARGIN_S = 60;
const MAX_TOKEN_RESPONSE = 64 * 1024;

/**
 * @example
 * ```ts
 * const admin = new FlyteAdminClient({ endpoint: 'flyte.example.com:443', auth: { clientId, clientSecret } });
 * try { await admin.setLabel({ project: 'p', domain: 'production' }, 'team1'); } finally { admin.close(); }
 * ```
 */
export class FlyteAdminClient {
  readonly endpoint: string;
  private readonly client: grpc.Client;
  private readonly opts: FlyteAdminClientOptions;
  private readonly timeoutMs: number;
  private token: Promise<Token> | undefined;
  private authKey: string | undefined;

  constructor(opts: FlyteAdminClientOptions) {
    this.opts = opts;
    this.endpoint = opts.endpoint.replace(/^dns:\/\/\//, '');
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    const creds = opts.insecure
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(opts.ca === undefined ? null : Buffer.from(opts.ca));
    this.client = new grpc.Client(this.endpoint, creds, { 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }

  /** Every EXECUTION_CLUSTER_LABEL attribute in FlyteAdmin, at any level (project, domain, workflow, launch plan). */
  async listLabels(): Promise<LabelAttribute[]> {
    const res = await this.admin('ListMatchableAttributes', 'all', (s) => s.listMatchableAttributes({ resourceType: EXECUTION_CLUSTER_LABEL }));
    return (res.configurations ?? []).map((c) => ({
      project: c.project ?? '',
      domain: c.domain ?? '',
      workflow: c.workflow ?? '',
      launchPlan: c.launchPlan ?? '',
      label: c.attributes?.executionClusterLabel?.value ?? '',
    }));
  }

  /** Sets (creates or replaces) the label of a project-domain or a workflow. */
  async setLabel(scope: LabelScope, label: string): Promise<void> {
    const matchingAttributes = { executionClusterLabel: { value: label } };
    if (scope.workflow) {
      await this.admin('UpdateWorkflowAttributes', where(scope), (s) =>
        s.updateWorkflowAttributes({ attributes: { project: scope.project, domain: scope.domain, workflow: scope.workflow!, matchingAttributes } }),
      );
    } else {
      await this.admin('UpdateProjectDomainAttributes', where(scope), (s) =>
        s.updateProjectDomainAttributes({ attributes: { project: scope.project, domain: scope.domain, matchingAttributes } }),
      );
    }
  }

  /** Deletes the label attribute of exactly this scope (FlyteAdmin: no error when there is none). */
  async deleteLabel(scope: LabelScope): Promise<void> {
    const req = { project: scope.project, domain: scope.domain, resourceType: EXECUTION_CLUSTER_LABEL };
    if (scope.workflow) {
      await this.admin('DeleteWorkflowAttributes', where(scope), (s) => s.deleteWorkflowAttributes({ ...req, workflow: scope.workflow! }));
    } else {
      await this.admin('DeleteProjectDomainAttributes', where(scope), (s) => s.deleteProjectDomainAttributes(req));
    }
  }

  /**
   * Runs one AdminService call through the generated service, with auth metadata and a deadline.
   * Also used by tests for calls this module does not wrap (RegisterProject, project attributes):
   * the calls lib/labels/idl.ts's descriptor holds (`AdminService`).
   *
   * @throws FlyteAdminError (codes FLYTEADMIN_UNREACHABLE, FLYTEADMIN_AUTH, FLYTEADMIN_API)
   */
  async admin<T>(method: string, what: string, fn: (svc: AdminService) => Promise<T>): Promise<T> {
    const md = await this.authMetadata(method, what);
    return this.call(ADMIN_SERVICE, method, what, md, (rpc) => fn(services.admin(rpc)));
  }

  private async call<T>(service: string, method: string, what: string, md: grpc.Metadata, fn: (rpc: import('protobufjs').RPCImpl) => Promise<T>): Promise<T> {
    const signal = this.opts.signal;
    if (signal?.aborted) throw new FlyteAdminError('DEADLINE', this.endpoint, method, what, 'aborted before the call');
    // Each call ends at its own timeout or the invocation's deadline (lib/util/abort.ts), whichever comes first.
    const left = timeLeft();
    if (left <= 0) throw new FlyteAdminError('DEADLINE', this.endpoint, method, what, "cut off at the invocation's deadline");
    const byDeadline = left < this.timeoutMs;
    const calls = new Set<grpc.ClientUnaryCall>();
    const onAbort = () => calls.forEach((c) => c.cancel());
    signal?.addEventListener('abort', onAbort, { once: true });
    const rpc: import('protobufjs').RPCImpl = (m, data, cb) => {
      const call = this.client.makeUnaryRequest<Buffer, Buffer>(
        `/${service}/${m.name}`,
        (b) => b,
        (b) => b,
        Buffer.from(data),
        md,
        { deadline: Date.now() + (byDeadline ? left : this.timeoutMs) },
        (err, value) => {
          calls.delete(call);
          cb(err, value ?? Buffer.alloc(0));
        },
      );
      calls.add(call);
    };
    try {
      return await fn(rpc);
    } catch (err) {
      if (err instanceof FlyteAdminError) throw err;
      const e = err as Partial<grpc.ServiceError>;
      if (typeof e.code === 'number') {
        const aborted = (signal?.aborted && e.code === grpc.status.CANCELLED) || (byDeadline && e.code === grpc.status.DEADLINE_EXCEEDED);
        throw new FlyteAdminError(aborted ? 'DEADLINE' : grpcErrorCode(e.code), this.endpoint, method, what, `${grpc.status[e.code]}: ${e.details || e.message}`, { cause: err });
      }
      throw new FlyteAdminError('FLYTEADMIN_API', this.endpoint, method, what, `cannot decode the answer: ${(err as Error).message}`, { cause: err });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Auth

  private async authMetadata(method: string, what: string): Promise<grpc.Metadata> {
    const md = new grpc.Metadata();
    if (!this.opts.auth) return md;
    let token: Token;
    try {
      const cur = this.token ? await this.token : undefined;
      if (cur && cur.renewAt > Date.now()) token = cur;
      else token = await (this.token = this.fetchToken());
    } catch (err) {
      this.token = undefined;
      if (err instanceof FlyteAdminError) throw err;
      throw new FlyteAdminError('FLYTEADMIN_AUTH', this.endpoint, method, what, (err as Error).message, { cause: err });
    }
    md.set(this.authKey ?? 'authorization', `Bearer ${token.value}`);
    return md;
  }

  /** Token endpoint, scopes, audience and metadata key: configured, else FlyteAdmin's own. */
  private async discover(): Promise<{ tokenUrl: string; scopes: string[]; audience: string }> {
    const auth = this.opts.auth!;
    const md = new grpc.Metadata();
    const svc = services.auth;
    const pub = await this.call(AUTH_METADATA_SERVICE, 'GetPublicClientConfig', 'auth', md, (rpc) => svc(rpc).getPublicClientConfig({}));
    this.authKey = pub.authorizationMetadataKey || 'authorization';
    let tokenUrl = auth.tokenUrl;
    if (!tokenUrl) {
      const meta = await this.call(AUTH_METADATA_SERVICE, 'GetOAuth2Metadata', 'auth', md, (rpc) => svc(rpc).getOAuth2Metadata({}));
      tokenUrl = meta.tokenEndpoint ?? '';
      if (!/^https:\/\//.test(tokenUrl))
        throw new FlyteAdminError('FLYTEADMIN_AUTH', this.endpoint, 'GetOAuth2Metadata', 'auth', `advertised token endpoint is not https:// (${tokenUrl || 'none'}); set auth.tokenUrl`);
    }
    return { tokenUrl, scopes: auth.scopes ?? pub.scopes ?? [], audience: auth.audience ?? pub.audience ?? '' };
  }

  private async fetchToken(): Promise<Token> {
    const auth = this.opts.auth!;
    const { tokenUrl, scopes, audience } = await this.discover();
    const secret = await auth.clientSecret();
    registerSecret(secret);
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scopes.length) form.set('scope', scopes.join(' '));
    if (audience) form.set('audience', audience);
    // client_secret_basic (RFC 6749 2.3.1: form-urlencoded id and secret).
    const basic = Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(secret)}`).toString('base64');
    const { status, body } = await postForm(tokenUrl, form.toString(), basic, this.opts.ca, Math.max(1, Math.min(this.timeoutMs, timeLeft())), this.opts.signal);
    let parsed: { access_token?: unknown; expires_in?: unknown; error?: unknown };
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = {};
    }
    if (status !== 200 || typeof parsed.access_token !== 'string' || !parsed.access_token) {
      const why = typeof parsed.error === 'string' ? parsed.error.slice(0, 64) : 'no access_token in the answer';
      throw new FlyteAdminError('FLYTEADMIN_AUTH', this.endpoint, 'token', `client ${auth.clientId}`, `token endpoint ${tokenUrl} answered HTTP ${status}: ${why}`);
    }
    registerSecret(parsed.access_token);
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 300;
    return { value: parsed.access_token, renewAt: Date.now() + Math.max(lifetime - RENEW_MARGIN_S, lifetime / 2) * 1000 };
  }
}

function where(s: LabelScope): string {
  return s.workflow ? `${s.project}/${s.domain}/${s.workflow}` : `${s.project}/${s.domain}`;
}

/** POST a form with HTTP Basic client auth; bounded by a timeout, the signal and a size limit. */
function postForm(url: string, body: string, basic: string, ca: string | Buffer | undefined, timeoutMs: number, signal: AbortSignal | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const timeout = AbortSignal.timeout(timeoutMs);
    const req = mod.request(
      u,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', authorization: `Basic ${basic}`, 'content-length': Buffer.byteLength(body) },
        ...(ca !== undefined && u.protocol === 'https:' ? { ca } : {}),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          if (text.length > MAX_TOKEN_RESPONSE) req.destroy(new Error('token response too large'));
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', (err) => reject(new Error(timeout.aborted ? `token endpoint ${url}: no answer within ${timeoutMs} ms` : `token endpoint ${url}: ${err.message}`)));
    req.end(body);
  });
}
