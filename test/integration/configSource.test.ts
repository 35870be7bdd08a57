/**
 * Configuration without a redeploy: CREDSYNC_CONFIG naming an SSM parameter (moto) or a GCP Secret
 * Manager secret (the emulator), read through the real SDKs; a new version is picked up by version,
 * a bad one refused with the last good one still running (and the run reported as failed).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { coldStart, setConfigReaders, syncInvocation } from '../../lib/runtime/invocation.ts';
import { gcpSecretManagerClient } from '../../lib/runtime/wiring.ts';
import { silentLog } from '../../lib/util/log.ts';
import { exportAwsEnv, loadTestEnv, resetControlPlane, uniquePrefix, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
let ssm: SSMClient;
let gsm: SecretManagerServiceClient;

const configText = (prefix: string, concurrency: number) =>
  stringify({
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
    store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
    dataPlanes: env.dataPlanes.map((id) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: { team1: 1 } })),
    concurrency,
  });

beforeAll(async () => {
  env = loadTestEnv();
  exportAwsEnv(env);
  await resetControlPlane(env);
  ssm = new SSMClient({ region: env.aws.region, endpoint: env.aws.endpoint, credentials: { accessKeyId: env.aws.accessKeyId, secretAccessKey: env.aws.secretAccessKey } });
  gsm = (await gcpSecretManagerClient(env.gcp.secretManagerEndpoint)) as SecretManagerServiceClient;
  setConfigReaders({ ssm, gcpSecretManager: gsm });
});

afterAll(() => setConfigReaders({}));

describe('configuration from SSM Parameter Store (moto)', () => {
  it('read once, re-read by version: a new version applies without a redeploy; a bad one is refused and the last good one runs', async () => {
    // Prepare
    const name = `/it-credsync-${randomBytes(4).toString('hex')}/config`;
    const prefix = uniquePrefix('ssm-config');
    const put = (value: string) => ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: true }));
    await put(configText(prefix, 3));
    // Act + Assess: version 1
    const first = await syncInvocation(silentLog, { configPath: `ssm:${name}` });
    expect(first.ok).toBe(true);
    expect(first.config).toEqual({ source: `ssm:${name}`, version: '1' });
    expect(first.clusters.map((c) => c.id)).toEqual(env.dataPlanes);
    // Version 2 changes the concurrency: used from the next invocation on.
    await put(configText(prefix, 5));
    expect((await coldStart(`ssm:${name}`)).config.concurrency).toBe(5);
    // Version 3 is not valid: refused, version 2 keeps running, and the run says so and fails.
    await put(configText(prefix, 5).replace('concurrency: 5', 'concurrency: 5\nconcurency: 6'));
    const third = await syncInvocation(silentLog, { configPath: `ssm:${name}` });
    expect(third.config).toMatchObject({ source: `ssm:${name}`, version: '2', refused: { version: '3', code: 'CONFIG_INVALID' } });
    expect(third.config!.refused!.reason).toBe(`invalid configuration (ssm:${name} version 3):\n  - <root>: unknown key(s): concurency`);
    expect(third.clusters.map((c) => c.status)).toEqual(env.dataPlanes.map(() => 'unchanged'));
    expect(third.ok).toBe(false);
  });

  it('a parameter that does not exist is a clear error at a cold start', async () => {
    await expect(coldStart('ssm:/it-credsync-missing/config')).rejects.toThrow(
      /^cannot read configuration ssm:\/it-credsync-missing\/config: ParameterNotFound/,
    );
  });
});

describe('configuration from GCP Secret Manager (emulator)', () => {
  it('the latest version is used; a new version applies; a bad one is refused', async () => {
    const id = `it-credsync-config-${randomBytes(4).toString('hex')}`;
    const parent = `projects/${env.gcp.project}`;
    await gsm.createSecret({ parent, secretId: id, secret: { replication: { automatic: {} } } });
    const add = (text: string) => gsm.addSecretVersion({ parent: `${parent}/secrets/${id}`, payload: { data: Buffer.from(text) } });
    const prefix = uniquePrefix('gcp-config');
    await add(configText(prefix, 2));
    const source = `gcpsm:${parent}/secrets/${id}`;
    expect(await coldStart(source)).toMatchObject({ configInfo: { source, version: '1' }, config: { concurrency: 2 } });
    await add(configText(prefix, 7));
    expect(await coldStart(source)).toMatchObject({ configInfo: { source, version: '2' }, config: { concurrency: 7 } });
    await add('dataPlanes: []\n');
    const r = await coldStart(source);
    expect(r.config.concurrency).toBe(7);
    expect(r.configInfo.version).toBe('2');
    expect(r.configInfo.refused?.version).toBe('3');
  });
});
