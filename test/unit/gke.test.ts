/**
 * GKE access wiring, through google-auth-library's own OAuth2Client (its refreshHandler is the
 * library's seam for where tokens come from) and a stand-in for the GKE getCluster call.
 */
import { describe, expect, it } from '@jest/globals';
import { OAuth2Client } from 'google-auth-library';
import { connect } from '../../lib/clusters/access.ts';
import { describeGkeCluster, gkeAccessToken, type GkeClusterApi } from '../../lib/clusters/gke.ts';
import { testCa } from './fakes.ts';

function clusters(status: string, endpoint = '10.1.2.3'): GkeClusterApi & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    getCluster: (async (req: { name: string }) => {
      calls.push(req.name);
      return [{ status, endpoint, masterAuth: { clusterCaCertificate: Buffer.from(testCa()).toString('base64') } }];
    }) as unknown as GkeClusterApi['getCluster'],
  } as GkeClusterApi & { calls: string[] };
}

describe('GKE access', () => {
  it('endpoint and CA come from getCluster; a cluster that is not RUNNING is a clear error', async () => {
    const api = clusters('RUNNING');
    await expect(describeGkeCluster(api, 'my-project', 'europe-west1', 'dp1')).resolves.toEqual({ endpoint: 'https://10.1.2.3', caPem: testCa() });
    expect(api.calls).toEqual(['projects/my-project/locations/europe-west1/clusters/dp1']);
    await expect(describeGkeCluster(clusters('PROVISIONING'), 'my-project', 'europe-west1', 'dp1')).rejects.toMatchObject({
      name: 'ClusterNotReadyError',
      code: 'CLUSTER_NOT_READY',
      message: 'GKE cluster projects/my-project/locations/europe-west1/clusters/dp1 is not RUNNING yet (status PROVISIONING)',
    });
  });

  it('RECONCILING and DEGRADED clusters are usable; STOPPING and ERROR are not; the status may come as its enum number', async () => {
    for (const status of ['RECONCILING', 'DEGRADED', 3, 6] as const)
      await expect(describeGkeCluster(clusters(status as string), 'my-project', 'europe-west1', 'dp1')).resolves.toMatchObject({ endpoint: 'https://10.1.2.3' });
    await expect(describeGkeCluster(clusters('STOPPING'), 'my-project', 'europe-west1', 'dp1', 'data plane dp1')).rejects.toMatchObject({
      code: 'CLUSTER_UNREACHABLE',
      message: 'data plane dp1: GKE cluster projects/my-project/locations/europe-west1/clusters/dp1 is STOPPING',
    });
    await expect(describeGkeCluster(clusters(5 as unknown as string), 'my-project', 'europe-west1', 'dp1')).rejects.toThrow('clusters/dp1 is ERROR');
    await expect(describeGkeCluster(clusters(1 as unknown as string), 'my-project', 'europe-west1', 'dp1')).rejects.toThrow('is not RUNNING yet (status PROVISIONING)');
  });

  it('getCluster errors: NOT_FOUND is a configuration error, PERMISSION_DENIED/UNAUTHENTICATED access denied, the rest unreachable', async () => {
    const failing = (code: number, message: string): GkeClusterApi =>
      ({ getCluster: async () => Promise.reject(Object.assign(new Error(message), { code })) }) as unknown as GkeClusterApi;
    const name = 'projects/my-project/locations/europe-west1/clusters/dp1';
    await expect(describeGkeCluster(failing(5, '5 NOT_FOUND: Not found'), 'my-project', 'europe-west1', 'dp1', 'data plane g')).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: `data plane g: GKE has no cluster ${name}: 5 NOT_FOUND: Not found`,
    });
    await expect(describeGkeCluster(failing(7, '7 PERMISSION_DENIED: no'), 'my-project', 'europe-west1', 'dp1')).rejects.toMatchObject({ code: 'CLUSTER_ACCESS_DENIED' });
    await expect(describeGkeCluster(failing(16, '16 UNAUTHENTICATED: no'), 'my-project', 'europe-west1', 'dp1')).rejects.toMatchObject({ code: 'CLUSTER_ACCESS_DENIED' });
    await expect(describeGkeCluster(failing(14, '14 UNAVAILABLE: down'), 'my-project', 'europe-west1', 'dp1')).rejects.toMatchObject({
      code: 'CLUSTER_UNREACHABLE',
      message: `GKE getCluster ${name}: 14 UNAVAILABLE: down`,
    });
  });

  it('the token comes from google-auth-library and is renewed before it expires', async () => {
    const auth = new OAuth2Client();
    let minted = 0;
    auth.refreshHandler = async () => ({ access_token: `ya29.token-${++minted}-abcdefgh`, expiry_date: Date.now() + 4 * 60_000 });
    // 4 minutes left is inside the library's 5-minute eager-refresh window: every call renews.
    expect(await gkeAccessToken(auth)).toBe('ya29.token-1-abcdefgh');
    expect(await gkeAccessToken(auth)).toBe('ya29.token-2-abcdefgh');
    auth.refreshHandler = async () => ({ access_token: `ya29.token-${++minted}-abcdefgh`, expiry_date: Date.now() + 60 * 60_000 });
    expect(await gkeAccessToken(auth)).toBe('ya29.token-3-abcdefgh');
    expect(await gkeAccessToken(auth)).toBe('ya29.token-3-abcdefgh'); // still fresh: cached
    expect(minted).toBe(3);
  });

  it('connect() builds an in-memory KubeConfig from both', async () => {
    const auth = new OAuth2Client();
    auth.refreshHandler = async () => ({ access_token: 'ya29.connect-token-abcdefgh', expiry_date: Date.now() + 3600_000 });
    const conn = await connect('data plane g', { type: 'gke', project: 'my-project', location: 'europe-west1-b', clusterName: 'dp1' }, {
      env: {},
      readFile: async () => '',
      gkeClusters: async () => clusters('RUNNING', '34.1.2.3'),
      googleAuth: async () => auth,
    });
    expect(conn.server).toBe('https://34.1.2.3');
    expect(conn).toEqual({ server: 'https://34.1.2.3', token: 'ya29.connect-token-abcdefgh', caPem: testCa() });
  });
});
