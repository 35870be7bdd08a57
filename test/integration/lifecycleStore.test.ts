/**
 * Retirement's store operations (lib/stores/lifecycle.ts) on the stores the runtime builds, against
 * moto and the GCP Secret Manager emulator: the marker round-trips, the deletion is scheduled once
 * and shows in the entry, and it can be undone (AWS RestoreSecret; GCP: enable the versions again).
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CreateSecretCommand, RestoreSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { buildStore, gcpSecretManagerClient } from '../../lib/runtime/wiring.ts';
import { isLifecycleStore, type LifecycleStore } from '../../lib/stores/lifecycle.ts';
import type { SecretStore } from '../../lib/stores/types.ts';
import { StoreOwnershipError } from '../../lib/errors.ts';
import { record } from '../contract/secretStore.ts';
import { awsClient, googleSecretManager, loadTestEnv, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
beforeAll(() => {
  env = loadTestEnv();
});

const now = new Date('2026-12-04T12:00:00Z');
const state = { phase: 'retiring' as const, at: '2026-12-04T11:00:00.000Z', forced: 2, reason: 'force' as const };

async function exercise(store: SecretStore & LifecycleStore) {
  await store.put(record('dp1', 'tok-dp1-aaaaaaaa'));
  expect(await store.lifecycle('dp1')).toEqual({});
  expect(await store.lifecycle('nope')).toBeUndefined();
  await store.setLifecycle('dp1', state);
  expect(await store.lifecycle('dp1')).toEqual({ state });
  const revoked = { ...state, phase: 'deleting' as const, revoke: 'done' as const, deleteAfter: '2026-12-11T12:00:00Z' };
  await store.setLifecycle('dp1', revoked);
  const at = await store.scheduleDeletion('dp1', 7, now);
  expect(Date.parse(at)).not.toBeNaN();
  expect(await store.lifecycle('dp1')).toEqual({ state: revoked, scheduledDeletion: expect.any(String) });
  // Again (a run killed after the call): nothing changes.
  expect(await store.scheduleDeletion('dp1', 7, now)).toBe(at);
}

describe('retirement on the real store backends', () => {
  it('AWS Secrets Manager (moto): tag marker, DeleteSecret with a recovery window, RestoreSecret undoes it', async () => {
    const prefix = `it-lifecycle-${randomBytes(4).toString('hex')}/`;
    const sm = awsClient(env);
    const store = buildStore({ store: { aws: { region: env.aws.region, prefix, tags: {} } } } as never, { secretsManager: sm });
    if (!isLifecycleStore(store)) throw new Error('the AWS store cannot retire');
    await exercise(store);
    expect((await sm.send(new DescribeSecretCommand({ SecretId: `${prefix}dp1` }))).DeletedDate).toBeDefined();
    await sm.send(new RestoreSecretCommand({ SecretId: `${prefix}dp1` }));
    expect((await store.get('dp1'))?.record.clusterId).toBe('dp1');
  });

  it('AWS: another tool\'s secret under our name (managed-by=terraform) is neither marked nor scheduled for deletion', async () => {
    // Prepare: a secret named as ours would be, owned by another tool.
    const prefix = `it-lifecycle-${randomBytes(4).toString('hex')}/`;
    const sm = awsClient(env);
    await sm.send(new CreateSecretCommand({ Name: `${prefix}dp9`, SecretString: 'theirs', Tags: [{ Key: 'managed-by', Value: 'terraform' }] }));
    const store = buildStore({ store: { aws: { region: env.aws.region, prefix, tags: {} } } } as never, { secretsManager: sm });
    if (!isLifecycleStore(store)) throw new Error('the AWS store cannot retire');
    // Act + Assess: both refuse as an ownership problem, and the secret is as it was.
    await expect(store.setLifecycle('dp9', state)).rejects.toBeInstanceOf(StoreOwnershipError);
    await expect(store.scheduleDeletion('dp9', 7, now)).rejects.toBeInstanceOf(StoreOwnershipError);
    const d = await sm.send(new DescribeSecretCommand({ SecretId: `${prefix}dp9` }));
    expect(d.DeletedDate).toBeUndefined();
    expect(d.Tags).toEqual([{ Key: 'managed-by', Value: 'terraform' }]);
  });

  it('GCP Secret Manager (emulator): annotation marker, every version disabled, enabling them undoes it', async () => {
    const client = (await gcpSecretManagerClient(env.gcp.secretManagerEndpoint)) as SecretManagerServiceClient;
    const prefix = `it-lifecycle-${randomBytes(4).toString('hex')}-`;
    const store = buildStore({ store: { gcp: { project: env.gcp.project, prefix, labels: {} } } } as never, { gcpSecretManager: client });
    if (!isLifecycleStore(store)) throw new Error('the GCP store cannot retire');
    await exercise(store);
    // Checked with Google's own client; the store runs on the runtime's (lib/gcp).
    const google = await googleSecretManager(env);
    const parent = `projects/${env.gcp.project}/secrets/${prefix}dp1`;
    const [versions] = await google.listSecretVersions({ parent });
    expect(versions.length).toBeGreaterThan(0);
    expect(versions.every((v) => v.state === 'DISABLED' || (v.state as unknown) === 2)).toBe(true);
    for (const v of versions) await google.enableSecretVersion({ name: v.name! });
    expect((await store.get('dp1'))?.record.clusterId).toBe('dp1');
  });

  it('GCP: another tool\'s secret under our name (managed-by=terraform) is neither marked nor has its versions disabled', async () => {
    // Prepare: a secret named as ours would be, owned by another tool, with one enabled version.
    const client = (await gcpSecretManagerClient(env.gcp.secretManagerEndpoint)) as SecretManagerServiceClient;
    const google = await googleSecretManager(env);
    const prefix = `it-lifecycle-${randomBytes(4).toString('hex')}-`;
    const parent = `projects/${env.gcp.project}`;
    await google.createSecret({ parent, secretId: `${prefix}dp9`, secret: { replication: { automatic: {} }, labels: { 'managed-by': 'terraform' } } });
    await google.addSecretVersion({ parent: `${parent}/secrets/${prefix}dp9`, payload: { data: Buffer.from('theirs') } });
    const store = buildStore({ store: { gcp: { project: env.gcp.project, prefix, labels: {} } } } as never, { gcpSecretManager: client });
    if (!isLifecycleStore(store)) throw new Error('the GCP store cannot retire');
    // Act + Assess: both refuse as an ownership problem; no annotation, every version still enabled.
    await expect(store.setLifecycle('dp9', state)).rejects.toBeInstanceOf(StoreOwnershipError);
    await expect(store.scheduleDeletion('dp9', 7, now)).rejects.toBeInstanceOf(StoreOwnershipError);
    const [secret] = await google.getSecret({ name: `${parent}/secrets/${prefix}dp9` });
    expect(secret.annotations ?? {}).toEqual({});
    const [versions] = await google.listSecretVersions({ parent: `${parent}/secrets/${prefix}dp9` });
    expect(versions.map((v) => v.state === 'ENABLED' || (v.state as unknown) === 1)).toEqual([true]);
  });
});
