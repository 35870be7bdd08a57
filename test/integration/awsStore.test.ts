/** The SecretStore contract against moto's Secrets Manager, through the real AWS SDK v3 client, on the store the runtime builds. */
import { describe, expect, it } from '@jest/globals';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand, PutSecretValueCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import { record, secretStoreContract } from '../contract/secretStore.ts';
import { AwsSecretsManagerStore } from '../../lib/stores/aws.ts';
import { buildStore } from '../../lib/runtime/wiring.ts';
import { CLUSTER_KEY, seenOf } from '../../lib/stores/types.ts';
import { STATE_KEY } from '../../lib/stores/rotation.ts';
import { awsClient, loadTestEnv, uniquePrefix } from './helpers.ts';

secretStoreContract('AWS Secrets Manager (moto)', async () => {
  const client = awsClient(loadTestEnv());
  const prefix = uniquePrefix('contract');
  const store = buildStore({ store: { aws: { region: loadTestEnv().aws.region, prefix, tags: { team: 'platform' } } } }, { secretsManager: client });
  const raw = async (c: string, stage: string) => {
    try {
      return (await client.send(new GetSecretValueCommand({ SecretId: prefix + c, VersionStage: stage }))).SecretString;
    } catch (err) {
      if (err instanceof ResourceNotFoundException) return undefined;
      throw err;
    }
  };
  return {
    store,
    addForeign: async (c, v) => void (await client.send(new CreateSecretCommand({ Name: prefix + c, SecretString: v, Tags: [{ Key: 'owner', Value: 'other' }] }))),
    // Tags hold any case and spaces: every marker can be planted.
    addMarked: async (c, v, m) => {
      await client.send(new CreateSecretCommand({ Name: prefix + c, SecretString: v, Tags: [{ Key: m.key, Value: m.value }, { Key: CLUSTER_KEY, Value: c }] }));
      return 'created';
    },
    currentRaw: (c) => raw(c, 'AWSCURRENT'),
    previousRaw: (c) => raw(c, 'AWSPREVIOUS'),
    versionCount: async (c) => (await client.send(new ListSecretVersionIdsCommand({ SecretId: prefix + c }))).Versions?.length ?? 0,
  };
});

describe('AWS Secrets Manager batch read (moto)', () => {
  it('reads 45 entries in 1 ListSecrets page and 3 BatchGetSecretValue calls, instead of 90 single reads', async () => {
    // Prepare: 45 entries of ours under a fresh prefix.
    const client = awsClient(loadTestEnv());
    const prefix = uniquePrefix('batch');
    const store = new AwsSecretsManagerStore(client, { prefix });
    const ids = Array.from({ length: 45 }, (_, i) => `b${i}`);
    for (const c of ids) await client.send(new CreateSecretCommand({ Name: prefix + c, SecretString: `{"not":"a record ${c}"}`, Tags: [{ Key: 'managed-by', Value: 'flyte-credsync' }] }));
    const sent: string[] = [];
    client.middlewareStack.add((next, ctx) => async (args) => (sent.push(String(ctx.commandName)), next(args)), { step: 'initialize', name: 'countCommands' });
    // Act
    const view = await store.batch(ids, (err) => {
      throw err;
    });
    // Assess: the calls, and that the values are the ones read (a value that is not a record is refused as such).
    expect(sent.sort()).toEqual(['BatchGetSecretValueCommand', 'BatchGetSecretValueCommand', 'BatchGetSecretValueCommand', 'ListSecretsCommand']);
    await expect(view.get('b7')).rejects.toThrow(/does not hold a flyte-credsync\/credential\/v1 record/);
    expect(sent).toHaveLength(4);
  });
});

describe('AWS Secrets Manager store options (moto)', () => {
  it('creates each secret with the configured tags, the ownership tags and the KMS key', async () => {
    const client = awsClient(loadTestEnv());
    const prefix = uniquePrefix('options');
    const store = new AwsSecretsManagerStore(client, { prefix, kmsKeyId: 'alias/flyte', tags: { team: 'platform', cost: 'flyte' } });
    await store.put(record('dp1', 'token-dp1-aaaaaaaa'));
    const d = await client.send(new DescribeSecretCommand({ SecretId: `${prefix}dp1` }));
    expect(d.KmsKeyId).toBe('alias/flyte');
    expect(Object.fromEntries((d.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual({ team: 'platform', cost: 'flyte', 'managed-by': 'flyte-credsync', 'flyte-credsync-cluster': 'dp1' });
  });
});

describe('AWS Secrets Manager rotation markers: one read of the entry per run (moto)', () => {
  const at = '2026-12-01T01:00:00.000Z';
  /** A store on a counting client, and an entry of ours at generation 1. */
  async function entry() {
    const client = awsClient(loadTestEnv());
    const prefix = uniquePrefix('seen');
    const store = new AwsSecretsManagerStore(client, { prefix });
    const v1 = await store.putFirst(record('dp1', 'token-gen1-aaaaaaaa', 1), { phase: 'idle', generation: 1, highest: 1 });
    const sent: string[] = [];
    client.middlewareStack.add((next, ctx) => async (args) => (sent.push(String(ctx.commandName).replace(/Command$/, '')), next(args)), { step: 'initialize', name: 'countCommands' });
    return { client, prefix, store, v1, sent };
  }

  it('a rotation of an entry reads it once: view, stage, promote and the last state write act on what the view saw (7 requests)', async () => {
    // Prepare
    const { store, v1, sent } = await entry();
    // Act: what prepareRotation and finishRotations send for one data plane.
    const view = await store.view('dp1', { previous: false });
    let seen = seenOf(view!);
    const v2 = await store.stage(record('dp1', 'token-gen2-bbbbbbbb', 2), { seen });
    seen = { ...seen, pending: v2 };
    await store.promote('dp1', v2, { phase: 'published', generation: 2, highest: 2, publishedAt: at, revoke: 1 }, seen);
    await store.setState('dp1', { phase: 'idle', generation: 2, highest: 2, revoked: { generation: 1, at } }, { current: v2 });
    // Assess: the requests, and the entry as a fresh read finds it.
    expect(sent).toEqual(['DescribeSecret', 'GetSecretValue', 'PutSecretValue', 'UpdateSecretVersionStage', 'TagResource', 'UpdateSecretVersionStage', 'TagResource']);
    const after = await store.view('dp1');
    expect([after?.current?.versionId, after?.previous?.versionId, after?.pending, after?.state]).toEqual([v2, v1, undefined, { phase: 'idle', generation: 2, highest: 2, revoked: { generation: 1, at } }]);
  });

  it('without what the run saw, every write reads the entry first (and so checks that it is ours)', async () => {
    const { store, sent } = await entry();
    const v2 = await store.stage(record('dp1', 'token-gen2-bbbbbbbb', 2));
    await store.promote('dp1', v2, { phase: 'published', generation: 2, highest: 2, publishedAt: at, revoke: 1 });
    await store.setState('dp1', { phase: 'idle', generation: 2, highest: 2 });
    expect(sent).toEqual(['DescribeSecret', 'PutSecretValue', 'DescribeSecret', 'UpdateSecretVersionStage', 'TagResource', 'UpdateSecretVersionStage', 'DescribeSecret', 'TagResource']);
  });

  it('acting on what it saw, a promotion fails when another writer made a version current since, and changes nothing', async () => {
    // Prepare: this run views and stages generation 2; then another writer makes its own version current.
    const { client, prefix, store } = await entry();
    const view = await store.view('dp1', { previous: false });
    const seen = seenOf(view!);
    const v2 = await store.stage(record('dp1', 'token-gen2-bbbbbbbb', 2), { seen });
    const theirs = (await client.send(new PutSecretValueCommand({ SecretId: `${prefix}dp1`, SecretString: '{"theirs":true}' }))).VersionId!;
    // Act
    const promoting = store.promote('dp1', v2, { phase: 'published', generation: 2, highest: 2, publishedAt: at, revoke: 1 }, { ...seen, pending: v2 });
    // Assess: refused; their version stays current, the state and our pending version as they were.
    await expect(promoting).rejects.toThrow(/UpdateSecretVersionStage .*AWSCURRENT not found in version/);
    const d = await client.send(new DescribeSecretCommand({ SecretId: `${prefix}dp1` }));
    expect(d.VersionIdsToStages?.[theirs]).toContain('AWSCURRENT');
    expect(d.VersionIdsToStages?.[v2]).toEqual(['AWSPENDING']);
    expect(d.Tags?.find((t) => t.Key === STATE_KEY)?.Value).toBe('phase=idle gen=1 max=1');
  });
});
