/**
 * A stand-in for EKS's authentication of `k8s-aws-v1.` bearer tokens, as a Kubernetes TokenReview
 * webhook (authentication.k8s.io/v1) for the local data-plane kube-apiservers.
 *
 * It checks a token the way aws-iam-authenticator (what EKS runs) does, then does STS's part too:
 *
 *   1. `k8s-aws-v1.` + unpadded base64url (at most 4 KiB) of an https URL on
 *      `sts.<region>.amazonaws.com` (`.com.cn` for cn- regions) or the global `sts.amazonaws.com`,
 *      path `/`, no other parts; only the query parameters aws-iam-authenticator allows, each once;
 *      Action=GetCallerIdentity, Version=2011-06-15, X-Amz-Algorithm=AWS4-HMAC-SHA256,
 *      X-Amz-Expires in 0..900, X-Amz-SignedHeaders = host and x-k8s-aws-id (nothing else: EKS
 *      sends no other header, so a request signing one could never verify);
 *   2. X-Amz-Date: not older than 15 minutes (the token lifetime EKS enforces, whatever
 *      X-Amz-Expires says), not more than 5 minutes in the future (the clock skew AWS allows);
 *      the credential scope `<key id>/<that day>/<the host's region>/sts/aws4_request`;
 *   3. the SigV4 signature, recomputed as STS would: canonical request over the query (less the
 *      signature), `host` and `x-k8s-aws-id: <the cluster this API server stands for>` (so a token
 *      made for another cluster does not verify), with the secret key of that access key id from
 *      the key store (a JSON file: STS's own key store; at start it holds moto's static
 *      credentials), compared in constant time; a session token, if the key has one, must match;
 *   4. the identity, as EKS resolves it: STS GetCallerIdentity with the presigned query, sent to
 *      moto (`stsEndpoint`), and the Arn of its answer. moto's server routes a request only by the
 *      credential scope of an Authorization header (a query-signed request lands in its S3
 *      backend, and its STS reads the key id only from that header), so the same credential,
 *      signed headers and signature are also passed in header form; nothing is re-signed;
 *   5. the ARN, canonicalised like aws-iam-authenticator (`sts::A:assumed-role/R/S` ->
 *      `iam::A:role/R`), looked up in the mappings (like EKS access entries / aws-auth): a mapped
 *      principal gets that username and those groups; an unmapped one is not authenticated.
 *
 * Any failure answers `authenticated: false` with an error that never contains the token (nor any
 * part of it but what it names: a date, the cluster). Every decision is logged as one JSON line on
 * stdout (the test env sends that to logs/eks-webhook.log), never with a token or signature.
 *
 * Run: node test/env/eks-webhook.ts CONFIG.json   (see EksWebhookConfig); GET /healthz answers ok.
 * One process serves several clusters: POST /authenticate/<EKS cluster name>.
 *
 * It is the one webhook URL of each data-plane API server, so it also dispatches: with `gkeReview`
 * set, a `ya29.` token (a Google access token, GKE access) is not an EKS token and goes to the GKE
 * stand-in's token review (./gke-auth.ts, POST <gkeReview>/authenticate-gke/<cluster>), whose
 * answer is passed on; every other token is reviewed as an EKS token here (and refused if it is not
 * one).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { GKE_TOKEN_PREFIX } from './gke-auth.ts';

export interface EksWebhookMapping {
  /** Principal ARN as EKS matches it (canonical: an IAM user or role ARN). */
  arn: string;
  username: string;
  groups: string[];
}

export interface EksWebhookConfig {
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Where STS GetCallerIdentity goes (moto's endpoint, http://127.0.0.1:PORT). */
  stsEndpoint: string;
  /** The EKS cluster names served, each at POST /authenticate/<name>. */
  clusters: string[];
  /** JSON file {"keys": {"<access key id>": {"secretAccessKey": "...", "sessionToken"?: "..."}}}, read per review. */
  keyStore: string;
  mappings: EksWebhookMapping[];
  /** The GKE stand-in (./gke-auth.ts), http://127.0.0.1:PORT: `ya29.` tokens are reviewed there. */
  gkeReview?: string;
}

export interface KeyStoreFile {
  keys: Record<string, { secretAccessKey: string; sessionToken?: string }>;
}

export const TOKEN_PREFIX = 'k8s-aws-v1.';
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
export const TOKEN_LIFETIME_MS = 15 * 60_000;
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const MAX_TOKEN_BYTES = 4096;
const ALLOWED_PARAMS = new Set([
  'action',
  'version',
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signature',
  'x-amz-signedheaders',
]);
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** A reason a token is refused; its message is safe to return and log. */
export class TokenRejected extends Error {}
const reject = (reason: string): never => {
  throw new TokenRejected(reason);
};

export interface ParsedToken {
  host: string;
  region: string;
  /** The query exactly as the token carries it (forwarded to STS unchanged). */
  rawQuery: string;
  /** Decoded parameters in token order (names as written). */
  params: Array<[string, string]>;
  /** Lower-cased name -> value. */
  byName: Map<string, string>;
  accessKeyId: string;
  date: Date;
  amzDate: string;
  scope: string;
  signedHeaders: string;
  signature: string;
}

function stsRegion(host: string): string | undefined {
  if (host === 'sts.amazonaws.com') return 'us-east-1';
  const m = /^sts\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(host);
  if (!m || !REGION.test(m[1]!)) return undefined;
  const cn = m[1]!.startsWith('cn-');
  return cn === (m[2] === '.cn') ? m[1] : undefined;
}

function parseAmzDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** Step 1 and 2: the shape of the token and its dates. Throws TokenRejected. */
export function parseEksToken(token: string, now: Date): ParsedToken {
  if (!token.startsWith(TOKEN_PREFIX)) reject('not an EKS token (wrong prefix)');
  if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) reject(`token is longer than ${MAX_TOKEN_BYTES} bytes`);
  const b64 = token.slice(TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(b64)) reject('token is not unpadded base64url');
  const text = Buffer.from(b64, 'base64url').toString('utf8');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return reject('token does not hold a URL');
  }
  if (url.protocol !== 'https:') reject('presigned URL is not https');
  if (url.username || url.password || url.port || url.hash) reject('presigned URL has user info, a port or a fragment');
  const region = stsRegion(url.hostname);
  if (!region) reject('presigned URL host is not an STS endpoint');
  if (url.pathname !== '/') reject('presigned URL path is not /');
  const q = text.indexOf('?');
  const rawQuery = q < 0 ? '' : text.slice(q + 1).replace(/#.*$/, '');
  const params: Array<[string, string]> = [];
  const byName = new Map<string, string>();
  for (const part of rawQuery.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    let k: string, v: string;
    try {
      k = decodeURIComponent((i < 0 ? part : part.slice(0, i)).replace(/\+/g, ' '));
      v = i < 0 ? '' : decodeURIComponent(part.slice(i + 1).replace(/\+/g, ' '));
    } catch {
      return reject('presigned URL query is not valid percent-encoding');
    }
    const lower = k.toLowerCase();
    if (!ALLOWED_PARAMS.has(lower)) reject('presigned URL has a query parameter aws-iam-authenticator does not allow');
    if (byName.has(lower)) reject('presigned URL repeats a query parameter');
    byName.set(lower, v);
    params.push([k, v]);
  }
  if (byName.get('action') !== 'GetCallerIdentity') reject('presigned URL is not for Action=GetCallerIdentity');
  if (byName.get('version') !== '2011-06-15') reject('presigned URL is not for Version=2011-06-15');
  if (byName.get('x-amz-algorithm') !== 'AWS4-HMAC-SHA256') reject('presigned URL is not signed with AWS4-HMAC-SHA256');
  const signedHeaders = byName.get('x-amz-signedheaders') ?? '';
  const signedList = signedHeaders.split(';');
  if (!signedList.includes('host') || !signedList.includes(CLUSTER_ID_HEADER))
    reject(`presigned URL does not sign both host and ${CLUSTER_ID_HEADER}`);
  if (signedHeaders !== `host;${CLUSTER_ID_HEADER}`) reject(`presigned URL signs headers other than host and ${CLUSTER_ID_HEADER}`);
  const expires = byName.get('x-amz-expires') ?? '';
  if (!/^\d{1,3}$/.test(expires) || Number(expires) > 900) reject('X-Amz-Expires is not a number of seconds in 0..900');
  const amzDate = byName.get('x-amz-date') ?? '';
  const date = parseAmzDate(amzDate);
  if (!date) reject('X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ');
  const age = now.getTime() - date!.getTime();
  if (age > TOKEN_LIFETIME_MS) reject(`X-Amz-Date ${amzDate} is expired (15 minute expiration)`);
  if (-age > MAX_CLOCK_SKEW_MS) reject(`X-Amz-Date ${amzDate} is more than 5 minutes in the future`);
  const credential = byName.get('x-amz-credential') ?? '';
  const parts = credential.split('/');
  if (parts.length !== 5 || !/^[A-Za-z0-9]{1,128}$/.test(parts[0]!)) reject('X-Amz-Credential is not <key id>/<date>/<region>/sts/aws4_request');
  const [accessKeyId, day, scopeRegion, service, terminator] = parts as [string, string, string, string, string];
  if (day !== amzDate.slice(0, 8)) reject('X-Amz-Credential date is not the day of X-Amz-Date');
  if (scopeRegion !== region) reject(`X-Amz-Credential region is not the region of the STS endpoint (${region})`);
  if (service !== 'sts' || terminator !== 'aws4_request') reject('X-Amz-Credential scope is not for sts/aws4_request');
  const signature = byName.get('x-amz-signature') ?? '';
  if (!/^[0-9a-f]{64}$/.test(signature)) reject('X-Amz-Signature is not 64 hex digits');
  return {
    host: url.host,
    region: region!,
    rawQuery,
    params,
    byName,
    accessKeyId,
    date: date!,
    amzDate,
    scope: `${day}/${scopeRegion}/${service}/${terminator}`,
    signedHeaders,
    signature,
  };
}

/** RFC 3986 encoding, as SigV4's canonical query wants it. */
const uriEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** Step 3: the signature STS would compute for this request sent with `x-k8s-aws-id: clusterName`. */
export function expectedSignature(t: ParsedToken, clusterName: string, secretAccessKey: string): string {
  const canonicalQuery = t.params
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = `host:${t.host}\n${CLUSTER_ID_HEADER}:${clusterName.trim().replace(/\s+/g, ' ')}\n`;
  const canonicalRequest = ['GET', '/', canonicalQuery, canonicalHeaders, t.signedHeaders, sha256Hex('')].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', t.amzDate, t.scope, sha256Hex(canonicalRequest)].join('\n');
  const [day, region, service] = t.scope.split('/') as [string, string, string];
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), region), service), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
}

function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

export function verifySignature(t: ParsedToken, clusterName: string, keys: KeyStoreFile['keys']): void {
  const key = Object.hasOwn(keys, t.accessKeyId) ? keys[t.accessKeyId] : undefined;
  if (!key) reject('the access key id is not known to STS (InvalidClientTokenId)');
  const want = Buffer.from(expectedSignature(t, clusterName, key!.secretAccessKey), 'hex');
  const got = Buffer.from(t.signature, 'hex');
  if (want.length !== got.length || !timingSafeEqual(want, got))
    reject(`the signature does not match (signed with another secret key, or for another cluster than ${clusterName})`);
  const session = t.byName.get('x-amz-security-token');
  if (key!.sessionToken !== undefined || session !== undefined) {
    if (key!.sessionToken === undefined || session === undefined || !sameSecret(key!.sessionToken, session))
      reject('the security token is missing or invalid for this access key');
  }
}

export interface CallerIdentity {
  arn: string;
  account: string;
  userId: string;
}

const xmlText = (xml: string, tag: string) => {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  return m?.[1]?.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
};

/** Step 4: STS GetCallerIdentity with the presigned query (see the header comment for moto). */
export function getCallerIdentity(stsEndpoint: string, t: ParsedToken, clusterName: string): Promise<CallerIdentity> {
  const ep = new URL(stsEndpoint);
  const mod = ep.protocol === 'https:' ? https : http;
  return new Promise((resolve, rejectP) => {
    const req = mod.request(
      {
        host: ep.hostname,
        port: ep.port || (ep.protocol === 'https:' ? 443 : 80),
        method: 'GET',
        path: `/?${t.rawQuery}`,
        agent: false,
        timeout: 10_000,
        headers: {
          host: t.host,
          [CLUSTER_ID_HEADER]: clusterName,
          accept: 'application/xml',
          authorization: `AWS4-HMAC-SHA256 Credential=${t.byName.get('x-amz-credential')}, SignedHeaders=${t.signedHeaders}, Signature=${t.signature}`,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 65_536) body += c;
        });
        res.on('end', () => {
          const arn = xmlText(body, 'Arn');
          if (res.statusCode !== 200 || !arn) {
            const code = xmlText(body, 'Code');
            rejectP(new TokenRejected(`STS GetCallerIdentity answered HTTP ${res.statusCode}${code ? ` ${code}` : ''}`));
            return;
          }
          resolve({ arn, account: xmlText(body, 'Account') ?? '', userId: xmlText(body, 'UserId') ?? '' });
        });
        res.on('error', () => rejectP(new TokenRejected('STS GetCallerIdentity: the answer broke off')));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => rejectP(new TokenRejected(`STS GetCallerIdentity failed: ${err.message}`)));
    req.end();
  });
}

/** Step 5: aws-iam-authenticator's canonical form (an assumed-role session -> its role). */
export function canonicalArn(arn: string): { canonical: string; sessionName?: string } {
  const m = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/.exec(arn);
  if (m) return { canonical: `arn:${m[1]}:iam::${m[2]}:role/${m[3]}`, sessionName: m[4]! };
  return { canonical: arn };
}

export interface TokenReviewStatus {
  authenticated: boolean;
  user?: { username: string; uid: string; groups: string[]; extra: Record<string, string[]> };
  error?: string;
}

export interface ReviewDeps {
  now?: () => Date;
  readKeys?: () => KeyStoreFile['keys'];
  callerIdentity?: (t: ParsedToken, clusterName: string) => Promise<CallerIdentity>;
}

/** A log record of one decision: never a token, a signature or a secret. */
export interface Decision {
  cluster: string;
  authenticated: boolean;
  reason?: string;
  arn?: string;
  username?: string;
  /** Shortened: first 4 and last 4 characters. */
  accessKeyId?: string;
}

const shortKey = (k: string) => (k.length > 10 ? `${k.slice(0, 4)}…${k.slice(-4)}` : k);

function readKeyStore(file: string): KeyStoreFile['keys'] {
  let parsed: KeyStoreFile;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as KeyStoreFile;
  } catch {
    return reject('the STS key store is unreadable');
  }
  return parsed.keys ?? {};
}

/** The whole review of one token for one cluster. Never throws. */
export async function reviewToken(
  cfg: EksWebhookConfig,
  clusterName: string,
  token: string,
  deps: ReviewDeps = {},
): Promise<{ status: TokenReviewStatus; decision: Decision }> {
  const decision: Decision = { cluster: clusterName, authenticated: false };
  try {
    if (!cfg.clusters.includes(clusterName)) reject(`this webhook does not serve an EKS cluster named ${clusterName}`);
    const t = parseEksToken(token, (deps.now ?? (() => new Date()))());
    decision.accessKeyId = shortKey(t.accessKeyId);
    verifySignature(t, clusterName, (deps.readKeys ?? (() => readKeyStore(cfg.keyStore)))());
    const who = await (deps.callerIdentity ?? ((x, c) => getCallerIdentity(cfg.stsEndpoint, x, c)))(t, clusterName);
    decision.arn = who.arn;
    const { canonical, sessionName } = canonicalArn(who.arn);
    const mapping = cfg.mappings.find((m) => m.arn === canonical || m.arn === who.arn);
    if (!mapping) reject(`ARN ${who.arn} is not mapped to a Kubernetes identity for cluster ${clusterName}`);
    decision.authenticated = true;
    decision.username = mapping!.username;
    const extra: Record<string, string[]> = { arn: [who.arn], canonicalArn: [canonical] };
    if (sessionName) extra['sessionName'] = [sessionName];
    return {
      status: {
        authenticated: true,
        user: { username: mapping!.username, uid: `aws-iam-authenticator:${who.account}:${who.userId}`, groups: [...mapping!.groups], extra },
      },
      decision,
    };
  } catch (err) {
    const reason = err instanceof TokenRejected ? err.message : `internal error (${err instanceof Error ? err.name : typeof err})`;
    decision.reason = reason;
    return { status: { authenticated: false, error: reason }, decision };
  }
}

export interface EksWebhook {
  url: string;
  port: number;
  close(): Promise<void>;
}

type Log = (record: Record<string, unknown>) => void;
const stdoutLog: Log = (r) => process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...r }) + '\n');

function send(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A `ya29.` token: the GKE stand-in's review decides (an unreachable one is a refusal, never an error page). */
export async function forwardToGke(gkeReview: string, cluster: string, token: string): Promise<TokenReviewStatus> {
  try {
    const res = await fetch(`${gkeReview}/authenticate-gke/${encodeURIComponent(cluster)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { status?: TokenReviewStatus };
    if (res.status !== 200 || typeof body.status?.authenticated !== 'boolean') return { authenticated: false, error: `the GKE token review answered HTTP ${res.status}` };
    return body.status;
  } catch (err) {
    const e = err as { name?: unknown; cause?: { code?: unknown } } | undefined;
    const why = typeof e?.cause?.code === 'string' ? e.cause.code : typeof e?.name === 'string' ? e.name : typeof err;
    return { authenticated: false, error: `the GKE token review is unreachable (${why})` };
  }
}

/** Starts the webhook on 127.0.0.1. */
export async function startEksWebhook(cfg: EksWebhookConfig, log: Log = stdoutLog, deps: ReviewDeps = {}): Promise<EksWebhook> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const m = /^\/authenticate\/([^/]+)$/.exec(path);
    if (req.method !== 'POST' || !m) {
      send(res, 404, { error: 'POST /authenticate/<EKS cluster name> or GET /healthz' });
      return;
    }
    const cluster = decodeURIComponent(m[1]!);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 65_536) chunks.push(c);
    });
    req.on('end', () => {
      void (async () => {
        let review: { apiVersion?: string; kind?: string; spec?: { token?: unknown } };
        try {
          if (size > 65_536) throw new Error('too large');
          review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          log({ cluster, authenticated: false, reason: 'request is not a TokenReview (bad JSON or too large)' });
          send(res, 400, { error: 'expected a TokenReview (JSON, at most 64 KiB)' });
          return;
        }
        const apiVersion = review.apiVersion === 'authentication.k8s.io/v1beta1' ? review.apiVersion : 'authentication.k8s.io/v1';
        if (review.kind !== 'TokenReview' || typeof review.spec?.token !== 'string') {
          log({ cluster, authenticated: false, reason: 'request is not a TokenReview with spec.token' });
          send(res, 400, { error: 'expected a TokenReview with spec.token' });
          return;
        }
        if (cfg.gkeReview && review.spec.token.startsWith(GKE_TOKEN_PREFIX)) {
          const status = await forwardToGke(cfg.gkeReview, cluster, review.spec.token);
          log({ cluster, via: 'gke-auth', authenticated: status.authenticated, ...(status.error ? { reason: status.error } : {}), ...(status.user ? { username: status.user.username } : {}) });
          send(res, 200, { apiVersion, kind: 'TokenReview', status });
          return;
        }
        const { status, decision } = await reviewToken(cfg, cluster, review.spec.token, deps);
        log({ ...decision });
        send(res, 200, { apiVersion, kind: 'TokenReview', status });
      })().catch((err: unknown) => {
        log({ cluster, authenticated: false, reason: `internal error (${err instanceof Error ? err.name : typeof err})` });
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
      });
    });
  });
  await new Promise<void>((resolve, rejectP) => server.once('error', rejectP).listen(cfg.port, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node test/env/eks-webhook.ts CONFIG.json');
    process.exit(2);
  }
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as EksWebhookConfig;
  const hook = await startEksWebhook(cfg);
  stdoutLog({ event: 'listening', url: hook.url, clusters: cfg.clusters, stsEndpoint: cfg.stsEndpoint, mappings: cfg.mappings.map((m) => m.arn), gkeReview: cfg.gkeReview ?? null });
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.once(sig, () => {
      stdoutLog({ event: 'stopping', signal: sig });
      void hook.close().then(() => process.exit(0));
    });
}
