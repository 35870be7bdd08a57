/**
 * Bad input, unit by unit: every TOKEN_SECRET_INVALID path of a token Secret and token trimming,
 * YAML anchors at the size users run and alias bombs, malformed cluster-created events naming the
 * field, and bounded echoes (a million ids, a 1 MB name).
 */
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../lib/config/load.ts';
import { extractCredential } from '../../lib/dataplane/credential.ts';
import { parseResyncEvent } from '../../lib/runtime/requests.ts';
import { parseClusterEvent } from '../../lib/runtime/lambda/events.ts';
import { parseGkeAuditEvent } from '../../lib/runtime/gcf/events.ts';
import { runSync } from '../../lib/sync/sync.ts';
import { SA_NAME_ANNOTATION, TOKEN_SECRET_TYPE, type SecretObject } from '../../lib/kube/ports.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { silentLog } from '../../lib/util/log.ts';
import { testCa, testConfig } from './fakes.ts';

const dir = mkdtempSync(join(tmpdir(), 'credsync-unit-bad-'));
const dp = testConfig(['dp1']).dataPlanes[0]!;
const WHERE = 'data plane dp1: Secret flyte/flyteadmin-token';
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

function tokenSecret(over: Partial<SecretObject> = {}, token: Buffer | string = JWT, ca = testCa()): SecretObject {
  return {
    name: 'flyteadmin-token',
    namespace: 'flyte',
    type: TOKEN_SECRET_TYPE,
    uid: 'u1',
    labels: {},
    annotations: { [SA_NAME_ANNOTATION]: 'flyteadmin' },
    data: { token: Buffer.from(token), 'ca.crt': Buffer.from(ca) },
    ...over,
  };
}

describe('token Secret shape (extractCredential)', () => {
  it('trims the token: flyteadmin uses the file byte for byte, so a trailing newline is gone', () => {
    expect(extractCredential(dp, tokenSecret({}, `\n ${JWT}\r\n`)).token).toBe(JWT);
  });

  it.each([
    ['a Secret of another type', tokenSecret({ type: 'Opaque' }), `${WHERE} has type Opaque, expected kubernetes.io/service-account-token`],
    ['a token of another ServiceAccount', tokenSecret({ annotations: { [SA_NAME_ANNOTATION]: 'default' } }), `${WHERE} belongs to ServiceAccount "default", expected "flyteadmin"`],
    ['no ServiceAccount annotation', tokenSecret({ annotations: {} }), `${WHERE} belongs to ServiceAccount "(none)", expected "flyteadmin"`],
    ['a CA that is not PEM', tokenSecret({}, JWT, 'not a certificate'), `${WHERE}: ca.crt is not a PEM certificate (flyteadmin would refuse to start)`],
    ['a CA with a PEM header and garbage', tokenSecret({}, JWT, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), `${WHERE}: ca.crt is not a PEM certificate (flyteadmin would refuse to start)`],
    ['whitespace inside the token', tokenSecret({}, 'eyJh bGci.x.y'), `${WHERE}: token contains whitespace`],
    ['non-UTF-8 bytes in the token', tokenSecret({}, Buffer.from([0x65, 0x79, 0xff, 0xfe, 0x2e, 0x41])), `${WHERE}: token holds bytes that are not printable ASCII (a bearer token is)`],
  ])('%s is TOKEN_SECRET_INVALID with a clear reason', (_what, secret, message) => {
    expect(() => extractCredential(dp, secret)).toThrow(expect.objectContaining({ code: 'TOKEN_SECRET_INVALID', message }));
  });

  it('an annotation of 1 MB is echoed bounded', () => {
    let err: unknown;
    try {
      extractCredential(dp, tokenSecret({ annotations: { [SA_NAME_ANNOTATION]: 'a'.repeat(1_000_000) } }));
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toBe(`${WHERE} belongs to ServiceAccount "${'a'.repeat(253)}… (999747 more characters)", expected "flyteadmin"`);
  });
});

describe('YAML anchors', () => {
  const head = 'controlPlane:\n  access: &kc {type: kubeconfig, context: control, path: /k}\nstore: {aws: {region: us-east-1}}\ndataPlanes:\n';

  it('1,000 data planes sharing one anchor (access: *kc) load', async () => {
    const file = join(dir, 'anchors.yaml');
    writeFileSync(file, head + Array.from({ length: 1000 }, (_, i) => `  - {id: dp${i}, access: *kc, labels: {team1: 1}}\n`).join(''));
    const cfg = await loadConfig(file);
    expect(cfg.dataPlanes.length).toBe(1000);
    expect(cfg.dataPlanes[999]).toMatchObject({ id: 'dp999', access: { type: 'kubeconfig', context: 'control', path: '/k' } });
  });

  it('an alias bomb (nine levels of ten aliases) is refused', async () => {
    const file = join(dir, 'bomb.yaml');
    let y = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i <= 9; i++) y += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    writeFileSync(file, y);
    await expect(loadConfig(file)).rejects.toThrow(`invalid configuration (${file}):\n  - <root>: not valid YAML: its aliases expand to more than 10000 nodes (an alias bomb?); write the values out or share fewer anchors`);
  });
});

describe('malformed events name the field', () => {
  it('EKS CloudTrail CreateCluster without requestParameters.name', () => {
    const ev = { source: 'aws.eks', 'detail-type': 'AWS API Call via CloudTrail', detail: { eventSource: 'eks.amazonaws.com', eventName: 'CreateCluster', requestParameters: {} } };
    expect(() => parseClusterEvent(ev)).toThrow('malformed EKS CloudTrail event: detail.requestParameters.name: required but missing (a string)');
  });

  it('EKS cluster name of 1 MB: refused, named, not echoed', () => {
    const ev = { source: 'aws.eks', 'detail-type': 'AWS API Call via CloudTrail', detail: { eventSource: 'eks.amazonaws.com', eventName: 'CreateCluster', requestParameters: { name: 'x'.repeat(1_000_000) } } };
    let message = '';
    try {
      parseClusterEvent(ev);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe('malformed EKS CloudTrail event: detail.requestParameters.name: Too big: expected string to have <=100 characters');
  });

  it('GKE audit entry whose protoPayload is not an object', () => {
    expect(() => parseGkeAuditEvent({ protoPayload: 'x' })).toThrow(/^not a Cloud Audit Log entry: expected an object with protoPayload\.methodName; protoPayload: Invalid input: expected object, received string \(/);
  });

  it('GKE cluster name of 1 MB: refused, named, not echoed', () => {
    const entry = {
      protoPayload: { methodName: 'google.container.v1.ClusterManager.CreateCluster', resourceName: `projects/p/locations/l/clusters/${'c'.repeat(1_000_000)}` },
    };
    expect(() => parseGkeAuditEvent(entry)).toThrow(new Error('GKE CreateCluster audit entry: clusterName longer than 100 characters (from protoPayload.resourceName)'));
  });
});

describe('bounded echoes', () => {
  it('a resync naming a million data planes is refused with a short reason', () => {
    let message = '';
    try {
      parseResyncEvent({ clusters: Array.from({ length: 1_000_000 }, (_, i) => `id${i}`) });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe('invalid resync event: clusters: Too big: expected array to have <=10000 items (expected {"clusters"?: ["id", ...], "dryRun"?: boolean})');
  });

  it('9,000 ids that are not strings: five issues listed and how many more', () => {
    let message = '';
    try {
      parseResyncEvent({ clusters: Array.from({ length: 9_000 }, () => 7) });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(
      'invalid resync event: ' +
        [0, 1, 2, 3, 4].map((i) => `clusters.${i}: Invalid input: expected string, received number`).join('; ') +
        '; and 8995 more (expected {"clusters"?: ["id", ...], "dryRun"?: boolean})',
    );
  });

  it('10,000 unknown data planes: the error lists 20 of them and how many more', async () => {
    const cfg = testConfig(['dp1']);
    const deps = { config: cfg, log: silentLog, store: new MemoryStore(), verify: async () => ({ username: '', identityReviewed: true }), dataPlane: async () => { throw new Error('not reached'); }, controlPlane: async () => { throw new Error('not reached'); } };
    const ids = Array.from({ length: 10_000 }, (_, i) => `nope${i}`);
    await expect(runSync(deps as never, { clusters: ids })).rejects.toThrow(
      new Error(`unknown data plane(s): ${ids.slice(0, 20).join(', ')} and 9980 more (configured: dp1)`),
    );
  });
});
