/**
 * The cluster-deleted event and the retirement it leads to, killed for real (SIGKILL of the run's
 * own process, test/faults/sync-child.ts) between the two ConfigMap writes of each step: after
 * every kill flyteadmin can still start (every listed entry's files are in the Secret), and the
 * next run (the redelivered event, then plain runs) converges to dp2 retired with reason deleted.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { EnvInfo } from '../env/testenv.ts';
import { awsClient, core, resetControlPlane, uniquePrefix } from '../integration/helpers.ts';
import { CONFIG_MAPS, clustersOf, controlState, invariantViolations, rolledOut, runChild, safetyViolations, writeConfig } from './harness.ts';

jest.setTimeout(600_000);

let env: EnvInfo;
let dp1: string, dp2: string;

beforeAll(() => {
  env = JSON.parse(readFileSync(process.env['CREDSYNC_FAULTS_TESTENV']!, 'utf8')) as EnvInfo;
  [dp1, dp2] = env.dataPlanes as [string, string];
});
beforeEach(async () => {
  await resetControlPlane(env);
});
afterAll(async () => {
  await resetControlPlane(env);
  await core(env, dp2).deleteNamespacedSecret({ name: TOKEN_SECRET, namespace: 'flyte' }).catch(() => undefined);
});

/** Short Lease: a run killed holding it delays the next one by about this long. */
const LEASE = { controlPlane: { lease: { durationSeconds: 3 } }, lifecycle: { recoveryWindowDays: 7, rolloutTimeoutSeconds: 240 } };
/** dp2's own token Secret: its revoke leaves the environment's flyteadmin-token to the other cases. */
const TOKEN_SECRET = 'fault-deleted-token';

describe('cluster deleted, killed between the steps', () => {
  it('the event killed between its two ConfigMap writes, then the retirement killed between its two: every state is startable, and the next runs converge to dp2 retired (reason deleted)', async () => {
    const prefix = uniquePrefix('fault-deleted');
    const file = writeConfig(env, prefix, [{ id: dp1, labels: { team1: 1 } }, { id: dp2, labels: { team1: 0.5 }, tokenSecret: TOKEN_SECRET }], LEASE);
    expect((await runChild(env, file)).code).toBe(0);

    // 1. The event: the marker is written, then the run dies after the first ConfigMap's write.
    const event = await runChild(env, file, { deleted: dp2, fault: 'kill:after:replaceConfigMap:1' });
    expect(event.faulted).toBe(true);
    const marker = async () => (await awsClient(env).send(new DescribeSecretCommand({ SecretId: `${prefix}${dp2}` }))).Tags?.find((t) => t.Key === 'flyte-credsync-lifecycle')?.Value;
    expect(await marker()).toMatch(/^phase=draining at=\S+ forced=\d+ reason=deleted$/);
    let st = await controlState(env);
    expect(safetyViolations(st)).toEqual([]);
    const [first, second] = CONFIG_MAPS.map((n) => clustersOf(st.clustersYaml[n]!).clusterConfigs?.find((e) => e.name === dp2));
    expect([first?.enabled, second?.enabled]).toEqual([false, true]);

    // 2. The next plain run finishes the drain (dp2 is not synced: its entry says the cluster was deleted).
    const drained = await runChild(env, file);
    expect(drained.code).toBe(0);
    expect(drained.report!.clusters.find((c) => c.id === dp2)).toMatchObject({ status: 'retiring', retire: { phase: 'draining', forced: { reason: 'deleted' } } });
    st = await controlState(env);
    for (const n of CONFIG_MAPS) expect(clustersOf(st.clustersYaml[n]!).clusterConfigs?.find((e) => e.name === dp2)?.enabled).toBe(false);
    expect(await invariantViolations(env, st, { ids: [dp1, dp2], lastGood: [dp1] })).toEqual([]);

    // 3. Once flyteadmin and syncresources rolled out without it, a run decides to retire it and dies between its two ConfigMap writes.
    await rolledOut(env);
    const retiring = await runChild(env, file, { fault: 'kill:after:replaceConfigMap:1' });
    expect(retiring.faulted).toBe(true);
    expect(await marker()).toMatch(/^phase=retiring at=\S+ forced=\d+ reason=deleted$/);
    st = await controlState(env);
    expect(safetyViolations(st)).toEqual([]);

    // 4. The next run finishes: entry and keys gone from both, rolled out, revoked, store deletion scheduled.
    const done = await runChild(env, file);
    expect(done.code).toBe(0);
    expect(done.report!.clusters.find((c) => c.id === dp2)).toMatchObject({ status: 'retired', retire: { phase: 'retired', forced: { reason: 'deleted' } } });
    st = await controlState(env);
    for (const n of CONFIG_MAPS) expect((clustersOf(st.clustersYaml[n]!).clusterConfigs ?? []).map((e) => e.name)).toEqual([dp1]);
    expect(Object.keys(st.secret).sort()).toEqual([`${dp1}_cacert`, `${dp1}_token`]);
    expect(await invariantViolations(env, st, { ids: [dp1, dp2], lastGood: [dp1] })).toEqual([]);
    expect((await awsClient(env).send(new DescribeSecretCommand({ SecretId: `${prefix}${dp2}` }))).DeletedDate).toBeDefined();
  });
});
