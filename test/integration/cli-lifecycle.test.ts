/**
 * `credsync drain`, `status` and `retire` as real processes against the local environment: the
 * drain is recorded with no configuration change, status counts what runs there, retire without
 * --force leaves it while it runs, with --force retires it and says how many were unfinished, and
 * retire of a data plane that does not drain exits 2 with nothing written.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { adminKubeConfig, core, loadTestEnv, resetControlPlane, runCli, uniquePrefix, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
const dir = mkdtempSync(join(tmpdir(), 'credsync-cli-lifecycle-'));
const NS = 'clilife-development';
const TOKEN_SECRET = 'cli-lifecycle-token';
const FW = { group: 'flyte.lyft.com', version: 'v1alpha1', plural: 'flyteworkflows' };

const credsync = (args: string[]) => runCli(env, args, 300_000);

beforeAll(async () => {
  env = loadTestEnv();
  await resetControlPlane(env);
  await core(env, 'dp3').createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
  const custom = adminKubeConfig(env, 'dp3').makeApiClient(CustomObjectsApi);
  await custom.deleteNamespacedCustomObject({ ...FW, namespace: NS, name: 'cli-running' }).catch(() => undefined);
  await custom.createNamespacedCustomObject({
    ...FW,
    namespace: NS,
    body: { apiVersion: 'flyte.lyft.com/v1alpha1', kind: 'FlyteWorkflow', metadata: { name: 'cli-running', labels: { 'execution-id': 'cli-running' } }, status: { phase: 1 } },
  });
});

afterAll(async () => {
  await resetControlPlane(env);
  await core(env, 'dp3').deleteNamespacedSecret({ name: TOKEN_SECRET, namespace: 'flyte' }).catch(() => undefined);
});

describe('credsync drain / status / retire (CLI)', () => {
  it('drains without a configuration change, counts, refuses an unsafe retire, retires with --force and says how many', async () => {
    const file = join(dir, 'credsync.yaml');
    writeFileSync(
      file,
      stringify({
        controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
        store: { aws: { region: env.aws.region, prefix: uniquePrefix('cli-life'), endpoint: env.aws.endpoint } },
        lifecycle: { recoveryWindowDays: 7, rolloutTimeoutSeconds: 240 },
        dataPlanes: [
          { id: 'dp1', access: { type: 'kubeconfig', context: 'dp1', path: env.kubeconfig }, labels: { team1: 1 } },
          { id: 'dp3', access: { type: 'kubeconfig', context: 'dp3', path: env.kubeconfig }, labels: { team1: 1 }, tokenSecret: TOKEN_SECRET },
        ],
      }),
    );
    expect(credsync(['sync', '--config', file]).code).toBe(0);
    // Not draining: retire refused, exit 2, nothing written.
    const cm = () => core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
    const rv = (await cm()).metadata?.resourceVersion;
    const notDraining = credsync(['retire', '--config', file, '--cluster', 'dp3', '--force']);
    expect(notDraining.code).toBe(2);
    expect(notDraining.stderr).toContain('cannot retire dp3: not draining');
    expect((await cm()).metadata?.resourceVersion).toBe(rv);

    const drain = credsync(['drain', '--config', file, '--cluster', 'dp3']);
    expect(drain.code).toBe(0);
    expect(drain.stdout).toMatch(/⏾ dp3: draining since \S+; 1 unfinished execution\(s\), oldest clilife-development\/cli-running \(Running/);
    expect((await cm()).metadata?.annotations?.['flyte-credsync.io/draining-clusters']).toMatch(/^dp3@/);

    const status = credsync(['status', '--config', file, '--cluster', 'dp3', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)[0].drain).toMatchObject({ unfinished: 1, executions: [{ executionId: 'cli-running', namespace: NS, phase: 'Running' }] });

    const early = credsync(['retire', '--config', file, '--cluster', 'dp3', '--json']);
    expect(early.code).toBe(0);
    expect(JSON.parse(early.stdout).clusters.find((c: { id: string }) => c.id === 'dp3').retire).toBeUndefined();

    const forced = credsync(['retire', '--config', file, '--cluster', 'dp3', '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/⏏ dp3: retired; decided \S+; FORCED \(force\) with 1 unfinished execution\(s\); credential revoked \(flyte\/cli-lifecycle-token deleted\); store entry deleted for good after \S+ \(restorable until then\)/);
  });
});
