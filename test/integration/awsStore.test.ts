/** The SecretStore contract against moto's Secrets Manager, through the real AWS SDK v3 client, on the store the runtime builds. */
import { describe, expect, it } from '@jest/globals';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import { record, secretStoreContract } from '../contract/secretStore.ts';
import { AwsSecretsManagerStore } from '../../lib/stores/aws.ts';
import { buildStore } from '../../lib/runtime/wiring.ts';
import { CLUSTER_KEY } from '../../lib/stores/types.ts';
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
