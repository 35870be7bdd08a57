/**
 * The GCP clients (lib/gcp/grpc.ts) carry only part of Google's Secret Manager and GKE descriptors
 * (lib/gcp/protos-subset.ts, loaded with protobufjs/light). This proves the checked-in descriptor is
 * what scripts/gcp-subset.ts makes from the installed @google-cloud packages, that its messages
 * have the full descriptors' fields (GKE's Cluster and MasterAuth: the kept ones), that requests
 * encode to the full descriptors' bytes, and that a full answer decodes to what the sync reads.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { GCP_SUBSET_JSON } from '../../lib/gcp/protos-subset.ts';
import { KEEP_FIELDS, loadFull, SUBSET_FILE, SUBSET_METHODS, subsetModule } from '../../scripts/gcp-subset.ts';

const subset = protobuf.Root.fromJSON(JSON.parse(GCP_SUBSET_JSON) as protobuf.INamespace).resolveAll();
const fullOf = { '@google-cloud/secret-manager': loadFull('@google-cloud/secret-manager'), '@google-cloud/container': loadFull('@google-cloud/container') };
const full = (name: string) => (name.startsWith('.google.container.') ? fullOf['@google-cloud/container'] : fullOf['@google-cloud/secret-manager']);

const fieldShape = (f: protobuf.Field) => ({
  name: f.name,
  id: f.id,
  type: f.type,
  rule: f.repeated ? 'repeated' : f.optional ? 'optional' : 'singular',
  packed: f.packed,
  map: f instanceof protobuf.MapField ? f.keyType : undefined,
  resolved: f.resolvedType?.fullName,
  presence: f.hasPresence,
});

function messages(ns: protobuf.NamespaceBase): protobuf.Type[] {
  return ns.nestedArray.flatMap((c) => [...(c instanceof protobuf.Type ? [c] : []), ...(c instanceof protobuf.Namespace ? messages(c) : [])]);
}

const AS_OBJECT = { longs: String, enums: String, defaults: true, oneofs: true };

describe('the GCP descriptor subset', () => {
  it('is what scripts/gcp-subset.ts makes from the installed packages (else: run it)', () => {
    expect(readFileSync(SUBSET_FILE, 'utf8')).toBe(subsetModule());
  });

  it("holds the listed methods only, each message with the full descriptor's fields (the kept ones where cut down)", () => {
    for (const [name, { methods }] of Object.entries(SUBSET_METHODS)) {
      expect(Object.keys(subset.lookupService(name).methods).sort()).toEqual([...methods].sort());
    }
    const types = messages(subset).filter((t) => t.fieldsArray.length);
    expect(types.length).toBeGreaterThan(15);
    const differ = types.filter((t) => {
      const theirs = full(t.fullName).lookupType(t.fullName);
      const keep = KEEP_FIELDS[t.fullName.slice(1)];
      return JSON.stringify(t.fieldsArray.map(fieldShape)) !== JSON.stringify(theirs.fieldsArray.filter((f) => !keep || keep.includes(f.name)).map(fieldShape));
    });
    expect(differ.map((t) => t.fullName)).toEqual([]);
  });

  it("encodes the store's requests to the full descriptor's bytes", () => {
    const requests: [string, object][] = [
      ['google.cloud.secretmanager.v1.CreateSecretRequest', { parent: 'projects/p', secretId: 'flyte-credsync-dp1', secret: { replication: { automatic: {} }, labels: { 'managed-by': 'flyte-credsync' } } }],
      ['google.cloud.secretmanager.v1.AddSecretVersionRequest', { parent: 'projects/p/secrets/s', payload: { data: Buffer.from('{"token":"x"}') } }],
      ['google.cloud.secretmanager.v1.UpdateSecretRequest', { secret: { name: 'projects/p/secrets/s', versionAliases: { current: 3, previous: 2 }, annotations: { state: '{}' } }, updateMask: { paths: ['version_aliases', 'annotations'] } }],
      ['google.cloud.secretmanager.v1.ListSecretsRequest', { parent: 'projects/p', filter: 'name:flyte-credsync-', pageSize: 250, pageToken: 'abc' }],
      ['google.cloud.secretmanager.v1.AccessSecretVersionRequest', { name: 'projects/p/secrets/s/versions/current' }],
      ['google.container.v1.GetClusterRequest', { name: 'projects/p/locations/l/clusters/c' }],
      ['google.container.v1.ListClustersRequest', { parent: 'projects/p/locations/-' }],
    ];
    for (const [type, req] of requests) {
      const mine = subset.lookupType(type);
      const theirs = full(`.${type}`).lookupType(type);
      expect(Buffer.from(mine.encode(mine.fromObject(req)).finish()).toString('hex')).toBe(Buffer.from(theirs.encode(theirs.fromObject(req)).finish()).toString('hex'));
    }
  });

  it('decodes full answers to what the sync reads (fields it does not keep are skipped)', () => {
    const container = fullOf['@google-cloud/container'];
    const Cluster = container.lookupType('google.container.v1.ListClustersResponse');
    const answer = {
      clusters: [
        {
          name: 'dp1',
          location: 'europe-west1',
          zone: 'europe-west1',
          endpoint: '34.1.2.3',
          status: 'RUNNING',
          resourceLabels: { 'flyte-credsync-id': 'dp1' },
          masterAuth: { clusterCaCertificate: 'LS0tLS1CRUdJTg==', clientCertificate: 'x' },
          nodePools: [{ name: 'pool', initialNodeCount: 3, config: { machineType: 'e2-standard-4', labels: { a: 'b' } } }],
          network: 'default',
          currentMasterVersion: '1.36.3-gke.1',
          privateClusterConfig: { enablePrivateNodes: true, masterIpv4CidrBlock: '172.16.0.0/28' },
        },
      ],
      missingZones: ['europe-west1-b'],
    };
    const bytes = Cluster.encode(Cluster.fromObject(answer)).finish();
    const Mine = subset.lookupType('google.container.v1.ListClustersResponse');
    const got = Mine.toObject(Mine.decode(bytes), AS_OBJECT) as typeof answer;
    expect(got.missingZones).toEqual(['europe-west1-b']);
    expect(got.clusters[0]).toEqual({
      name: 'dp1',
      location: 'europe-west1',
      zone: 'europe-west1',
      endpoint: '34.1.2.3',
      status: 'RUNNING',
      resourceLabels: { 'flyte-credsync-id': 'dp1' },
      masterAuth: { clusterCaCertificate: 'LS0tLS1CRUdJTg==' },
    });
    // Secret Manager's Secret: version aliases (int64) as decimal strings, as the generated client gives them.
    const Secret = fullOf['@google-cloud/secret-manager'].lookupType('google.cloud.secretmanager.v1.Secret');
    const secret = Secret.encode(Secret.fromObject({ name: 'projects/p/secrets/s', labels: { 'managed-by': 'flyte-credsync' }, versionAliases: { current: 7 }, annotations: { s: 'x' } })).finish();
    const MineSecret = subset.lookupType('google.cloud.secretmanager.v1.Secret');
    const s = MineSecret.toObject(MineSecret.decode(secret), AS_OBJECT) as { labels: object; versionAliases: object; annotations: object };
    expect([s.labels, s.versionAliases, s.annotations]).toEqual([{ 'managed-by': 'flyte-credsync' }, { current: '7' }, { s: 'x' }]);
  });
});
