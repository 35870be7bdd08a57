/**
 * Reads a data plane's flyteadmin credential: the ServiceAccount token Secret, created when
 * missing and waited for until the token controller fills it, then checked for shape.
 */
import { X509Certificate } from 'node:crypto';
import type { DataPlane } from '../config/schema.ts';
import { CredsyncError } from '../errors.ts';
import { SA_NAME_ANNOTATION, TOKEN_SECRET_TYPE, type DataPlaneApi, type SecretObject } from '../kube/ports.ts';
import { timeLeft } from '../util/abort.ts';
import { truncate } from '../util/bounded.ts';
import { registerSecret } from '../util/redact.ts';

export interface RawCredential {
  token: string;
  caCert: string;
  secretUid?: string;
  /** True when this run created the token Secret. */
  createdSecret: boolean;
}

export interface ReadOptions {
  /**
   * How long the token controller may take to fill a new Secret (the configuration's
   * `tokenWaitSeconds`); the wait also ends at the invocation's deadline (lib/util/abort.ts).
   */
  waitSeconds: number;
  /** Poll interval while waiting. @default 250 */
  pollMs?: number;
  /** When true, a missing Secret is reported, not created. */
  dryRun?: boolean;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function filled(s: SecretObject | undefined): boolean {
  return !!s && (s.data['token']?.length ?? 0) > 0 && (s.data['ca.crt']?.length ?? 0) > 0;
}

/** Checks that a Secret really is the ServiceAccount's token Secret and extracts token and CA. */
export function extractCredential(dp: DataPlane, s: SecretObject): Omit<RawCredential, 'createdSecret'> {
  const where = `data plane ${dp.id}: Secret ${dp.namespace}/${dp.tokenSecret}`;
  if (s.type !== TOKEN_SECRET_TYPE)
    throw new CredsyncError('TOKEN_SECRET_INVALID', `${where} has type ${s.type ?? '(none)'}, expected ${TOKEN_SECRET_TYPE}`);
  const sa = s.annotations[SA_NAME_ANNOTATION];
  if (sa !== dp.serviceAccount)
    throw new CredsyncError(
      'TOKEN_SECRET_INVALID',
      `${where} belongs to ServiceAccount "${sa === undefined ? '(none)' : truncate(sa, 253)}", expected "${dp.serviceAccount}"`,
    );
  // A JWT never contains whitespace; flyteadmin uses the file byte for byte, so none may remain.
  const token = (s.data['token'] ?? Buffer.alloc(0)).toString('utf8').trim();
  const caCert = (s.data['ca.crt'] ?? Buffer.alloc(0)).toString('utf8');
  registerSecret(token);
  registerSecret(caCert);
  if (!token) throw new CredsyncError('TOKEN_NOT_ISSUED', `${where} has no token yet`);
  if (/\s/.test(token)) throw new CredsyncError('TOKEN_SECRET_INVALID', `${where}: token contains whitespace`);
  // An HTTP header carries visible ASCII only: anything else (non-UTF-8 bytes included) is no token.
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new CredsyncError('TOKEN_SECRET_INVALID', `${where}: token holds bytes that are not printable ASCII (a bearer token is)`);
  try {
    if (!caCert.trimStart().startsWith('-----BEGIN CERTIFICATE-----')) throw new Error('not PEM');
    new X509Certificate(caCert);
  } catch {
    throw new CredsyncError('TOKEN_SECRET_INVALID', `${where}: ca.crt is not a PEM certificate (flyteadmin would refuse to start)`);
  }
  return { token, caCert, secretUid: s.uid };
}

/**
 * Reads a data plane's token Secret; when it is missing, creates it (type
 * service-account-token, for the configured ServiceAccount) and polls until the token controller
 * fills it, at most `opts.waitSeconds` and never past the invocation's deadline.
 *
 * @throws CredsyncError `SERVICE_ACCOUNT_MISSING` (nothing is created), `TOKEN_NOT_ISSUED` (a dry
 *   run with no Secret, or not filled in time), `TOKEN_SECRET_INVALID` (see {@link extractCredential})
 */
export async function readCredential(dp: DataPlane, api: DataPlaneApi, opts: ReadOptions): Promise<RawCredential> {
  const sleep = opts.sleep ?? defaultSleep;
  let secret = await api.getSecret(dp.namespace, dp.tokenSecret);
  let createdSecret = false;
  if (!secret) {
    if (!(await api.serviceAccountExists(dp.namespace, dp.serviceAccount)))
      throw new CredsyncError(
        'SERVICE_ACCOUNT_MISSING',
        `data plane ${dp.id}: ServiceAccount ${dp.namespace}/${dp.serviceAccount} does not exist; ` +
          'install the Flyte data-plane chart (it creates it) before syncing',
      );
    if (opts.dryRun)
      throw new CredsyncError(
        'TOKEN_NOT_ISSUED',
        `data plane ${dp.id}: token Secret ${dp.namespace}/${dp.tokenSecret} does not exist (a real run creates it; a dry run does not)`,
      );
    createdSecret = (await api.createTokenSecret(dp.namespace, dp.tokenSecret, dp.serviceAccount)) === 'created';
  }
  const waitMs = Math.min(opts.waitSeconds * 1000, timeLeft());
  const giveUpAt = Date.now() + waitMs;
  while (!filled(secret)) {
    if (secret && secret.type !== TOKEN_SECRET_TYPE) break; // extractCredential explains
    if (Date.now() >= giveUpAt)
      throw new CredsyncError(
        'TOKEN_NOT_ISSUED',
        `data plane ${dp.id}: token Secret ${dp.namespace}/${dp.tokenSecret} was not filled by the token controller ` +
          `within ${Math.round(waitMs / 1000)} s (is kube-controller-manager running, and does ServiceAccount ${dp.serviceAccount} exist?)`,
      );
    await sleep(opts.pollMs ?? 250);
    secret = await api.getSecret(dp.namespace, dp.tokenSecret);
  }
  return { ...extractCredential(dp, secret!), createdSecret };
}
