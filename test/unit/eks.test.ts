/**
 * The EKS bearer token, checked independently of the signer that made it: the SigV4 signature
 * is recomputed here from the secret key with node:crypto, as STS would.
 */
import { describe, expect, it } from '@jest/globals';
import { createHash, createHmac } from 'node:crypto';
import { eksToken, EksTokenCache, EKS_TOKEN_PREFIX, RENEW_BEFORE_MS } from '../../lib/clusters/eks.ts';

const creds = { accessKeyId: 'AKIDEXAMPLE0000000', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'IQoJb3JpZ2luX2VjE+session/token==' };
const now = new Date('2026-11-23T12:34:56Z');

const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

function decode(token: string): URL {
  expect(token.startsWith(EKS_TOKEN_PREFIX)).toBe(true);
  const b64 = token.slice(EKS_TOKEN_PREFIX.length);
  expect(b64).not.toMatch(/[=+/]/); // unpadded base64url
  return new URL(Buffer.from(b64, 'base64url').toString('utf8'));
}

/** What STS checks: recompute the signature over the canonical request with the secret key. */
function expectedSignature(url: URL, clusterName: string, region: string): string {
  const params = [...url.searchParams.entries()].filter(([k]) => k !== 'X-Amz-Signature');
  const canonicalQuery = params
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = `host:${url.host}\nx-k8s-aws-id:${clusterName}\n`;
  const payloadHash = sha256('');
  const canonicalRequest = ['GET', '/', canonicalQuery, canonicalHeaders, 'host;x-k8s-aws-id', payloadHash].join('\n');
  const amzDate = url.searchParams.get('X-Amz-Date')!;
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/sts/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${creds.secretAccessKey}`, day), region), 'sts'), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

describe('EKS token', () => {
  it('is a presigned STS GetCallerIdentity whose signature, expiry and signed headers check out', async () => {
    const { token, expiresAt } = await eksToken('prod-dp1', 'eu-west-1', creds, now);
    const url = decode(token);
    expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe('/');
    const q = url.searchParams;
    expect(q.get('Action')).toBe('GetCallerIdentity');
    expect(q.get('Version')).toBe('2011-06-15');
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Credential')).toBe(`${creds.accessKeyId}/20261123/eu-west-1/sts/aws4_request`);
    expect(q.get('X-Amz-Date')).toBe('20261123T123456Z');
    expect(q.get('X-Amz-Expires')).toBe('60');
    expect(q.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(q.get('X-Amz-Security-Token')).toBe(creds.sessionToken);
    expect(q.get('X-Amz-Signature')).toBe(expectedSignature(url, 'prod-dp1', 'eu-west-1'));
    expect(expiresAt.toISOString()).toBe('2026-11-23T12:49:56.000Z');
  });

  it('binds the cluster name: the same request for another cluster does not verify', async () => {
    const { token } = await eksToken('prod-dp1', 'us-east-1', creds, now);
    const url = decode(token);
    expect(url.searchParams.get('X-Amz-Signature')).not.toBe(expectedSignature(url, 'prod-dp2', 'us-east-1'));
  });

  it('has no security token without a session', async () => {
    const { token } = await eksToken('c', 'us-east-1', { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey }, now);
    const url = decode(token);
    expect(url.searchParams.has('X-Amz-Security-Token')).toBe(false);
    expect(url.searchParams.get('X-Amz-Signature')).toBe(expectedSignature(url, 'c', 'us-east-1'));
  });

  it('is cached, and renewed well before its 15 minutes end', async () => {
    let t = now.getTime();
    const cache = new EksTokenCache(() => new Date(t));
    let made = 0;
    const make = async (at: Date) => {
      made++;
      return eksToken('c', 'us-east-1', creds, at);
    };
    const first = await cache.get('k', make);
    t += 15 * 60_000 - RENEW_BEFORE_MS - 1000; // still comfortably valid
    expect(await cache.get('k', make)).toBe(first);
    t += 2000; // within the renewal window
    const second = await cache.get('k', make);
    expect(second === first).toBe(false);
    expect(made).toBe(2);
  });
});
