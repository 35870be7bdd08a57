/**
 * The SecretStore contract against the GCP Secret Manager emulator, through the store's own gRPC
 * client (lib/gcp/grpc.ts, what every entry point uses) over plaintext gRPC, on the store the runtime
 * builds; what it wrote is read back with Google's own client (@google-cloud/secret-manager).
 */
import { describe, expect, it } from '@jest/globals';
import { record, secretStoreContract } from '../contract/secretStore.ts';
import { GcpSecretManagerStore } from '../../lib/stores/gcp.ts';
import { buildStore, gcpSecretManagerClient } from '../../lib/runtime/wiring.ts';
import { CLUSTER_KEY } from '../../lib/stores/types.ts';
import { googleSecretManager, loadTestEnv } from './helpers.ts';
import { randomBytes } from 'node:crypto';

secretStoreContract('GCP Secret Manager (emulator)', async () => {
  const env = loadTestEnv();
  const client = await googleSecretManager(env);
  const project = env.gcp.project;
  const prefix = `it-contract-${randomBytes(4).toString('hex')}-`;
  const store = buildStore({ store: { gcp: { project, prefix, labels: { team: 'platform' } } } }, { gcpSecretManager: await gcpSecretManagerClient(env.gcp.secretManagerEndpoint) });
  const secret = (c: string) => `projects/${project}/secrets/${prefix}${c}`;
  const versions = async (c: string) => {
    try {
      const [list] = await client.listSecretVersions({ parent: secret(c) });
      return list.map((v) => Number(v.name!.split('/').at(-1))).sort((a, b) => a - b);
    } catch (err) {
      if ((err as { code?: number }).code === 5) return [];
      throw err;
    }
  };
  const raw = async (c: string, back: number) => {
    const vs = await versions(c);
    const n = vs.at(-1 - back);
    if (n === undefined) return undefined;
    const [v] = await client.accessSecretVersion({ name: `${secret(c)}/versions/${n}` });
    return Buffer.from(v.payload!.data as Uint8Array).toString('utf8');
  };
  return {
    store,
    addForeign: async (c, value) => {
      await client.createSecret({ parent: `projects/${project}`, secretId: prefix + c, secret: { replication: { automatic: {} }, labels: { owner: 'other' } } });
      await client.addSecretVersion({ parent: secret(c), payload: { data: Buffer.from(value) } });
    },
    addMarked: async (c, value, m) => {
      try {
        await client.createSecret({ parent: `projects/${project}`, secretId: prefix + c, secret: { replication: { automatic: {} }, labels: { [m.key]: m.value, [CLUSTER_KEY]: c } } });
      } catch (err) {
        // INVALID_ARGUMENT: GCP label keys and values are lower case, digits, _ and - (the emulator accepts the others).
        if ((err as { code?: number }).code === 3) return 'refused';
        throw err;
      }
      await client.addSecretVersion({ parent: secret(c), payload: { data: Buffer.from(value) } });
      return 'created';
    },
    currentRaw: (c) => raw(c, 0),
    previousRaw: (c) => raw(c, 1),
    versionCount: async (c) => (await versions(c)).length,
  };
});

describe('GCP Secret Manager store options (emulator)', () => {
  it('creates each secret with the configured labels and the ownership labels', async () => {
    const env = loadTestEnv();
    const client = await googleSecretManager(env);
    const prefix = `it-options-${randomBytes(4).toString('hex')}-`;
    const store = new GcpSecretManagerStore(await gcpSecretManagerClient(env.gcp.secretManagerEndpoint), { project: env.gcp.project, prefix, labels: { team: 'platform', cost: 'flyte' } });
    await store.put(record('dp1', 'token-dp1-aaaaaaaa'));
    const [secret] = await client.getSecret({ name: `projects/${env.gcp.project}/secrets/${prefix}dp1` });
    expect(secret.labels).toEqual({ team: 'platform', cost: 'flyte', 'managed-by': 'flyte-credsync', 'flyte-credsync-cluster': 'dp1' });
    await client.close();
  });
});
