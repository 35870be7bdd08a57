/**
 * The test environment's EKS authentication stand-in (test/env/eks-webhook.ts), offline: it must
 * accept what lib/clusters/eks.ts makes and refuse everything EKS would refuse, or the integration
 * test that runs a sync through it would prove nothing. STS GetCallerIdentity is a stub here.
 */
import { describe, expect, it } from '@jest/globals';
import { eksToken, EKS_TOKEN_PREFIX } from '../../lib/clusters/eks.ts';
import { canonicalArn, reviewToken, type EksWebhookConfig, type ReviewDeps } from '../env/eks-webhook.ts';

const creds = { accessKeyId: 'AKIDEXAMPLE0000000', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const session = { accessKeyId: 'ASIAEXAMPLE0000000', secretAccessKey: 'c2Vzc2lvbi1zZWNyZXQ/+=', sessionToken: 'IQoJb3JpZ2luX2VjE+session/token==' };
const now = new Date('2026-11-23T12:34:56Z');
const USER_ARN = 'arn:aws:iam::111122223333:user/credsync';
const cfg: EksWebhookConfig = {
  port: 0,
  stsEndpoint: 'http://unused',
  clusters: ['prod-dp1', 'prod-dp2'],
  keyStore: '/unused',
  mappings: [
    { arn: USER_ARN, username: 'credsync', groups: ['flyte-credsync'] },
    { arn: 'arn:aws:iam::111122223333:role/credsync-lambda', username: 'credsync-lambda', groups: ['flyte-credsync'] },
  ],
};
const stsCalls: string[] = [];
const deps = (arn = USER_ARN, at = now): ReviewDeps => ({
  now: () => at,
  readKeys: () => ({
    [creds.accessKeyId]: { secretAccessKey: creds.secretAccessKey },
    [session.accessKeyId]: { secretAccessKey: session.secretAccessKey, sessionToken: session.sessionToken },
  }),
  callerIdentity: async (t, cluster) => {
    stsCalls.push(`${t.accessKeyId}@${cluster}`);
    return { arn, account: '111122223333', userId: 'AIDAEXAMPLE' };
  },
});

const urlOf = (token: string) => Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString('utf8');
const tokenOf = (url: string) => EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');

async function review(token: string, cluster = 'prod-dp1', d: ReviewDeps = deps()) {
  const { status, decision } = await reviewToken(cfg, cluster, token, d);
  expect(JSON.stringify({ status, decision }).includes(token.slice(EKS_TOKEN_PREFIX.length, EKS_TOKEN_PREFIX.length + 40))).toBe(false);
  return status;
}

describe('EKS webhook stand-in', () => {
  it('accepts a token lib/ makes (with or without a session) and maps the caller', async () => {
    const ok = await review((await eksToken('prod-dp1', 'eu-west-1', creds, now)).token);
    expect(ok).toEqual({
      authenticated: true,
      user: { username: 'credsync', uid: 'aws-iam-authenticator:111122223333:AIDAEXAMPLE', groups: ['flyte-credsync'], extra: { arn: [USER_ARN], canonicalArn: [USER_ARN] } },
    });
    const assumed = 'arn:aws:sts::111122223333:assumed-role/credsync-lambda/i-123';
    const viaRole = await review((await eksToken('prod-dp1', 'us-east-1', session, now)).token, 'prod-dp1', deps(assumed));
    expect(viaRole.user?.username).toBe('credsync-lambda');
    expect(viaRole.user?.extra).toEqual({ arn: [assumed], canonicalArn: ['arn:aws:iam::111122223333:role/credsync-lambda'], sessionName: ['i-123'] });
  });

  it('accepts the global endpoint and the China partition; refuses a host that is not STS', async () => {
    const { token } = await eksToken('prod-dp1', 'us-east-1', creds, now);
    // The host is signed: moving a token to another host breaks the signature, but the host check comes first.
    expect((await review(tokenOf(urlOf(token).replace('sts.us-east-1.amazonaws.com', 'sts.amazonaws.com')))).error).toMatch(/^the signature does not match/);
    expect((await review((await eksToken('prod-dp1', 'cn-north-1', creds, now)).token)).authenticated).toBe(true);
    for (const host of ['sts.us-east-1.amazonaws.com.evil.example', 'sts.cn-north-1.amazonaws.com', 'sts.eu-west-1.amazonaws.com.cn', 'iam.amazonaws.com'])
      expect((await review(tokenOf(urlOf(token).replace('sts.us-east-1.amazonaws.com', host)))).error).toBe('presigned URL host is not an STS endpoint');
  });

  it('binds the cluster name and the secret key', async () => {
    const { token } = await eksToken('prod-dp1', 'us-east-1', creds, now);
    expect((await review(token, 'prod-dp2')).error).toMatch(/^the signature does not match .* for another cluster than prod-dp2\)$/);
    expect((await review(token, 'prod-dp3')).error).toBe('this webhook does not serve an EKS cluster named prod-dp3');
    const wrong = await eksToken('prod-dp1', 'us-east-1', { ...creds, secretAccessKey: 'x' + creds.secretAccessKey.slice(1) }, now);
    expect((await review(wrong.token)).error).toMatch(/^the signature does not match/);
    const unknown = await eksToken('prod-dp1', 'us-east-1', { ...creds, accessKeyId: 'AKIDUNKNOWN0000000' }, now);
    expect((await review(unknown.token)).error).toBe('the access key id is not known to STS (InvalidClientTokenId)');
    const noSession = await eksToken('prod-dp1', 'us-east-1', { accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey }, now);
    expect((await review(noSession.token)).error).toBe('the security token is missing or invalid for this access key');
    const otherSession = await eksToken('prod-dp1', 'us-east-1', { ...session, sessionToken: 'another' }, now);
    expect((await review(otherSession.token)).error).toBe('the security token is missing or invalid for this access key');
  });

  it('enforces 15 minutes from X-Amz-Date and 5 minutes of clock skew', async () => {
    const { token } = await eksToken('prod-dp1', 'us-east-1', creds, now);
    const at = (ms: number) => deps(USER_ARN, new Date(now.getTime() + ms));
    expect((await review(token, 'prod-dp1', at(15 * 60_000))).authenticated).toBe(true);
    expect((await review(token, 'prod-dp1', at(15 * 60_000 + 1000))).error).toBe('X-Amz-Date 20261123T123456Z is expired (15 minute expiration)');
    expect((await review(token, 'prod-dp1', at(-5 * 60_000))).authenticated).toBe(true);
    expect((await review(token, 'prod-dp1', at(-5 * 60_000 - 1000))).error).toBe('X-Amz-Date 20261123T123456Z is more than 5 minutes in the future');
  });

  it('refuses malformed tokens before asking STS', async () => {
    const { token } = await eksToken('prod-dp1', 'us-east-1', creds, now);
    const url = urlOf(token);
    const cases: Array<[string, string]> = [
      ['eyJhbGciOiJSUzI1NiJ9.e30.sig', 'not an EKS token (wrong prefix)'],
      [token + '=', 'token is not unpadded base64url'],
      [EKS_TOKEN_PREFIX + 'A'.repeat(5000), 'token is longer than 4096 bytes'],
      [tokenOf(url.replace('https://', 'http://')), 'presigned URL is not https'],
      [tokenOf(url.replace('.com/?', '.com:8443/?')), 'presigned URL has user info, a port or a fragment'],
      [tokenOf(url.replace('.com/?', '.com/x?')), 'presigned URL path is not /'],
      [tokenOf(url + '&Extra=1'), 'presigned URL has a query parameter aws-iam-authenticator does not allow'],
      [tokenOf(url + '&action=GetCallerIdentity'), 'presigned URL repeats a query parameter'],
      [tokenOf(url.replace('Action=GetCallerIdentity', 'Action=AssumeRole')), 'presigned URL is not for Action=GetCallerIdentity'],
      [tokenOf(url.replace('Version=2011-06-15', 'Version=2012-01-01')), 'presigned URL is not for Version=2011-06-15'],
      [tokenOf(url.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA1')), 'presigned URL is not signed with AWS4-HMAC-SHA256'],
      [tokenOf(url.replace('X-Amz-SignedHeaders=host%3Bx-k8s-aws-id', 'X-Amz-SignedHeaders=host')), 'presigned URL does not sign both host and x-k8s-aws-id'],
      [tokenOf(url.replace('X-Amz-SignedHeaders=host%3Bx-k8s-aws-id', 'X-Amz-SignedHeaders=host%3Bx-amz-date%3Bx-k8s-aws-id')), 'presigned URL signs headers other than host and x-k8s-aws-id'],
      [tokenOf(url.replace('X-Amz-Expires=60', 'X-Amz-Expires=901')), 'X-Amz-Expires is not a number of seconds in 0..900'],
      [tokenOf(url.replace('X-Amz-Date=20261123T123456Z', 'X-Amz-Date=2026-11-23')), 'X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ'],
      [tokenOf(url.replace('%2F20261123%2F', '%2F20261122%2F')), 'X-Amz-Credential date is not the day of X-Amz-Date'],
      [tokenOf(url.replace('%2Fus-east-1%2F', '%2Feu-west-1%2F')), 'X-Amz-Credential region is not the region of the STS endpoint (us-east-1)'],
      [tokenOf(url.replace('%2Fsts%2F', '%2Fiam%2F')), 'X-Amz-Credential scope is not for sts/aws4_request'],
      [tokenOf(url.replace(/X-Amz-Signature=[0-9a-f]+/, 'X-Amz-Signature=00')), 'X-Amz-Signature is not 64 hex digits'],
      [tokenOf(url.replace('X-Amz-Expires=60', 'X-Amz-Expires=900')), 'the signature does not match (signed with another secret key, or for another cluster than prod-dp1)'],
    ];
    stsCalls.length = 0;
    for (const [t, error] of cases) expect([t.length > 100 ? 'token' : t, (await review(t)).error]).toEqual([t.length > 100 ? 'token' : t, error]);
    expect(stsCalls).toEqual([]);
  });

  it('an identity STS resolves but nothing maps is not authenticated', async () => {
    const { token } = await eksToken('prod-dp1', 'us-east-1', creds, now);
    const status = await review(token, 'prod-dp1', deps('arn:aws:iam::111122223333:user/someone-else'));
    expect(status).toEqual({ authenticated: false, error: 'ARN arn:aws:iam::111122223333:user/someone-else is not mapped to a Kubernetes identity for cluster prod-dp1' });
  });

  it('canonicalises an assumed-role session to its role, as aws-iam-authenticator does', () => {
    expect(canonicalArn('arn:aws:sts::111122223333:assumed-role/r/s/x')).toEqual({ canonical: 'arn:aws:iam::111122223333:role/r', sessionName: 's/x' });
    expect(canonicalArn('arn:aws-cn:sts::111122223333:assumed-role/r/s')).toEqual({ canonical: 'arn:aws-cn:iam::111122223333:role/r', sessionName: 's' });
    expect(canonicalArn(USER_ARN)).toEqual({ canonical: USER_ARN });
  });
});
