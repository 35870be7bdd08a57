/**
 * A data plane's retirement against the real servers (kube-apiservers with the FlyteWorkflow CRD,
 * the token controller, real rollouts through KWOK, moto): drain -> status counts its unfinished
 * executions -> the last one finishes -> the next run retires it (entry and keys removed,
 * flyteadmin and syncresources rolled out before the revoke, the old token answered 401, the store
 * entry scheduled for deletion and restorable); the guard refuses draining a label's last member
 * with nothing written; a run stopped after the decision converges; later runs write nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { DescribeSecretCommand, RestoreSecretCommand, UntagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { runSync, type SyncOptions } from '../../lib/sync/sync.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { drainStatus } from '../../lib/lifecycle/status.ts';
import { AwsSecretsManagerStore } from '../../lib/stores/aws.ts';
import { lineLog } from '../../lib/util/log.ts';
import { rolloutGap } from '../../lib/rotation/rollout.ts';
import type { Config } from '../../lib/config/schema.ts';
import { adminKubeConfig, awsClient, core, envConfig, filledTokenSecret, loadTestEnv, resetControlPlane, uniquePrefix, whoAmI, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
const logs: string[] = [];
const log = lineLog({ verbose: true, write: (l) => logs.push(l) });
const NS = 'retire-development';
/** Its own token Secret, so that revoking it leaves the environment's flyteadmin-token to the other suites. */
const TOKEN_SECRET = 'retire-flyteadmin-token';

const run = (cfg: Config, opts: SyncOptions = {}) => runSync(buildDeps(cfg, log, { secretsManager: awsClient(env) }), opts);
const custom = (cluster: string) => adminKubeConfig(env, cluster).makeApiClient(CustomObjectsApi);
const FW = { group: 'flyte.lyft.com', version: 'v1alpha1', plural: 'flyteworkflows' };

async function workflow(cluster: string, name: string, phase: number): Promise<void> {
  await custom(cluster).createNamespacedCustomObject({
    ...FW,
    namespace: NS,
    body: { apiVersion: 'flyte.lyft.com/v1alpha1', kind: 'FlyteWorkflow', metadata: { name, labels: { 'execution-id': name, project: 'retire', domain: 'development' } }, status: { phase } },
  });
}

async function setPhase(cluster: string, name: string, phase: number): Promise<void> {
  await custom(cluster).patchNamespacedCustomObject({ ...FW, namespace: NS, name, body: { status: { phase } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

/**
 * Waits (generously: the machine may be busy) until the drain is in effect as the run judges it:
 * both Deployments rolled out, no pod of an older ReplicaSet left. Since the restart no longer waits
 * a second after the writes (5f4edb6), the next run can start before KWOK finished that rollout.
 */
async function drainRolledOut(cfg: Config, timeoutMs = 240_000): Promise<void> {
  const cp = await buildDeps(cfg, log, { secretsManager: awsClient(env) }).rotation!.controlPlane();
  for (const until = Date.now() + timeoutMs; ; ) {
    const gaps = (await Promise.all(cfg.controlPlane.deployments.map(async (name) => [name, await rolloutGap(cp, cfg.controlPlane.namespace, name)] as const))).filter(([, gap]) => gap);
    if (!gaps.length) return;
    if (Date.now() > until) throw new Error(`the drain's rollout did not finish within ${timeoutMs / 1000} s: ${gaps.map(([n, g]) => `${n}: ${g}`).join('; ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function controlState() {
  const c = core(env, env.controlPlane);
  const cm = await c.readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
  const secret = await c.readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined);
  return { cm, clusters: parse(cm.data?.['clusters.yaml'] ?? '').clusters, keys: Object.keys(secret?.data ?? {}).sort(), secretVersion: secret?.metadata?.resourceVersion };
}

function config(prefix: string, over: Record<string, unknown> = {}, dp2: Record<string, unknown> = {}): Config {
  return envConfig(env, prefix, { lifecycle: { recoveryWindowDays: 7, rolloutTimeoutSeconds: 240 }, ...over }, [
    { id: 'dp1', access: { type: 'kubeconfig', context: 'dp1', path: env.kubeconfig }, labels: { team1: 1, gpu: 1 } },
    { id: 'dp2', access: { type: 'kubeconfig', context: 'dp2', path: env.kubeconfig }, labels: { team1: 1 }, tokenSecret: TOKEN_SECRET, ...dp2 },
  ]);
}

beforeAll(async () => {
  env = loadTestEnv();
  await resetControlPlane(env);
  await core(env, 'dp2').createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
  for (const name of ['retire-running', 'retire-done', 'retire-aborted', 'retire-stuck']) await custom('dp2').deleteNamespacedCustomObject({ ...FW, namespace: NS, name }).catch(() => undefined);
});

afterAll(async () => {
  await resetControlPlane(env);
  // Unfinished FlyteWorkflows left on dp2 would count in other suites' drains.
  for (const name of ['retire-running', 'retire-done', 'retire-aborted', 'retire-stuck']) await custom('dp2').deleteNamespacedCustomObject({ ...FW, namespace: NS, name }).catch(() => undefined);
  await core(env, 'dp2').deleteNamespacedSecret({ name: TOKEN_SECRET, namespace: 'flyte' }).catch(() => undefined);
});

describe('retiring a data plane (real servers)', () => {
  it('drain -> status counts -> the execution finishes -> retired: removed, rolled out, revoked (401), store deletion scheduled and restorable; then no-op', async () => {
    // Prepare: both data planes synced; on dp2 one running, one succeeded and one aborted execution.
    const prefix = uniquePrefix('retire');
    const cfg = config(prefix);
    expect((await run(cfg)).ok).toBe(true);
    const { token: oldToken } = await filledTokenSecret(env, 'dp2', TOKEN_SECRET);
    expect((await whoAmI(env, 'dp2', oldToken)).user?.username).toBe('system:serviceaccount:flyte:flyteadmin');
    await workflow('dp2', 'retire-running', 1);
    await workflow('dp2', 'retire-done', 3);
    await workflow('dp2', 'retire-aborted', 6);

    // The guard: draining dp1, the only member of gpu, is refused and writes nothing.
    const before = await controlState();
    const refused = await run(cfg, { drain: ['dp1'] });
    expect(refused.ok).toBe(false);
    expect(refused.controlPlaneError?.code).toBe('LABEL_WOULD_EMPTY');
    const afterRefusal = await controlState();
    expect(afterRefusal.cm.metadata?.resourceVersion).toBe(before.cm.metadata?.resourceVersion);
    expect(afterRefusal.secretVersion).toBe(before.secretVersion);

    // Drain dp2: disabled, out of team1, its credential kept; the run counts one unfinished execution.
    const drained = await run(cfg, { drain: ['dp2'] });
    expect(drained.ok).toBe(true);
    const d2 = drained.clusters.find((c) => c.id === 'dp2')!;
    expect(d2.status).not.toBe('failed');
    expect(d2.drain).toMatchObject({ unfinished: 1, executions: [{ executionId: 'retire-running', namespace: NS, phase: 'Running' }] });
    let state = await controlState();
    expect(state.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp2')).toMatchObject({ enabled: false });
    expect(state.clusters.labelClusterMap.team1).toEqual([{ id: 'dp1', weight: 1 }]);
    expect(state.keys).toEqual(['dp1_cacert', 'dp1_token', 'dp2_cacert', 'dp2_token']);
    expect(state.cm.metadata?.annotations?.['flyte-credsync.io/draining-clusters']).toMatch(/^dp2@\d{4}-/);

    // status: the same count, with the execution id and age.
    const status = await drainStatus(buildDeps(cfg, log, { secretsManager: awsClient(env) }));
    expect(status.get('dp2')).toMatchObject({ unfinished: 1, executions: [{ executionId: 'retire-running', ageSeconds: expect.any(Number) }] });

    // Asked to retire while it runs: refused to, it stays (nothing removed).
    const early = await run(cfg, { retire: { clusters: ['dp2'], force: false } });
    expect(early.clusters.find((c) => c.id === 'dp2')!.retire).toBeUndefined();
    expect((await controlState()).keys).toContain('dp2_token');

    // The execution finishes: the next plain run retires dp2 in one go.
    await setPhase('dp2', 'retire-running', 3);
    await drainRolledOut(cfg);
    const retired = await run(cfg);
    expect(retired.ok).toBe(true);
    const r2 = retired.clusters.find((c) => c.id === 'dp2')!;
    expect(r2).toMatchObject({ status: 'retired', retire: { phase: 'retired', revoke: 'done', revokedObjects: [`flyte/${TOKEN_SECRET}`] } });
    expect(r2.retire!.forced).toBeUndefined();
    state = await controlState();
    expect(state.clusters.clusterConfigs.map((e: { name: string }) => e.name)).toEqual(['dp1']);
    expect(state.keys).toEqual(['dp1_cacert', 'dp1_token']);
    // flyteadmin and syncresources run on the configuration without dp2 (restarted after the decision).
    const decided = Date.parse(r2.retire!.decidedAt);
    for (const name of ['flyteadmin', 'syncresources']) {
      const d = await adminKubeConfig(env, env.controlPlane).makeApiClient((await import('@kubernetes/client-node')).AppsV1Api).readNamespacedDeployment({ name, namespace: 'flyte' });
      expect(Date.parse(d.spec!.template!.metadata!.annotations!['kubectl.kubernetes.io/restartedAt']!)).toBeGreaterThanOrEqual(decided);
    }
    // The old token is revoked: the real API server answers 401 (its authenticator may take a moment).
    let code: number | undefined;
    for (let i = 0; i < 100 && code !== 401; i++) {
      code = (await whoAmI(env, 'dp2', oldToken)).code;
      if (code !== 401) await new Promise((r) => setTimeout(r, 200));
    }
    expect(code).toBe(401);
    // The store entry is scheduled for deletion, and can be restored.
    const sm = awsClient(env);
    const desc = await sm.send(new DescribeSecretCommand({ SecretId: `${prefix}dp2` }));
    expect(desc.DeletedDate).toBeDefined();
    expect(desc.Tags?.find((t) => t.Key === 'flyte-credsync-lifecycle')?.Value).toMatch(/^phase=deleting at=\S+ revoke=done deleteAfter=/);

    // A later run writes nothing and restarts nothing, and leaves dp2 retired.
    const quiet = await run(cfg);
    expect(quiet.ok).toBe(true);
    expect(quiet.clusters.find((c) => c.id === 'dp2')!.status).toBe('retired');
    expect(quiet.controlPlane?.applied).toBe(false);
    expect(quiet.controlPlane?.restarted).toEqual([]);
    expect((await controlState()).cm.metadata?.resourceVersion).toBe(state.cm.metadata?.resourceVersion);

    await sm.send(new RestoreSecretCommand({ SecretId: `${prefix}dp2` }));
    expect((await sm.send(new DescribeSecretCommand({ SecretId: `${prefix}dp2` }))).DeletedDate).toBeUndefined();
  });

  it('a run stopped right after deciding (the marker written, nothing else) is finished by the next run', async () => {
    await resetControlPlane(env);
    const prefix = uniquePrefix('retire-kill');
    const cfg = config(prefix);
    expect((await run(cfg)).ok).toBe(true);
    const { token: oldToken } = await filledTokenSecret(env, 'dp2', TOKEN_SECRET);
    expect((await run(cfg, { drain: ['dp2'] })).ok).toBe(true);
    // The stop: what the decision writes first, and nothing after it.
    const store = new AwsSecretsManagerStore(awsClient(env), { prefix });
    await store.setLifecycle('dp2', { phase: 'retiring', at: new Date().toISOString() });
    const r = await run(cfg);
    expect(r.ok).toBe(true);
    expect(r.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'retired', retire: { phase: 'retired', revoke: 'done' } });
    expect((await controlState()).keys).toEqual(['dp1_cacert', 'dp1_token']);
    let code: number | undefined;
    for (let i = 0; i < 100 && code !== 401; i++) {
      code = (await whoAmI(env, 'dp2', oldToken)).code;
      if (code !== 401) await new Promise((r) => setTimeout(r, 200));
    }
    expect(code).toBe(401);
  });

  it('maxDrainTime elapsed: retired with an execution still running, reported as forced; then brought back as the docs say (restore the entry, remove the marker, cancel the drain) and synced again', async () => {
    await resetControlPlane(env);
    const prefix = uniquePrefix('retire-max');
    expect((await run(config(prefix))).ok).toBe(true);
    await workflow('dp2', 'retire-stuck', 1);
    // Draining by configuration, for at most 1 s: the first run records the drain, a later one retires it whatever runs there.
    const draining = config(prefix, {}, { state: 'draining', maxDrainTime: '1s' });
    const first = await run(draining);
    expect(first.ok).toBe(true);
    expect(first.clusters.find((c) => c.id === 'dp2')!.retire).toBeUndefined();
    let retired: Awaited<ReturnType<typeof run>> | undefined;
    for (let i = 0; i < 30 && retired?.clusters.find((c) => c.id === 'dp2')?.status !== 'retired'; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      retired = await run(draining);
    }
    expect(retired!.ok).toBe(true);
    const r2 = retired!.clusters.find((c) => c.id === 'dp2')!;
    expect(r2).toMatchObject({ status: 'retired', retire: { phase: 'retired', forced: { reason: 'maxDrainTime', unfinished: 1 }, revoke: 'done', revokedObjects: [`flyte/${TOKEN_SECRET}`] } });
    expect((await controlState()).keys).toEqual(['dp1_cacert', 'dp1_token']);

    // Brought back: restore the store entry, remove its lifecycle marker, make it active and cancel its drain.
    const sm = awsClient(env);
    await sm.send(new RestoreSecretCommand({ SecretId: `${prefix}dp2` }));
    await sm.send(new UntagResourceCommand({ SecretId: `${prefix}dp2`, TagKeys: ['flyte-credsync-lifecycle'] }));
    const back = await run(config(prefix), { undrain: ['dp2'] });
    // Assess: a new token Secret (the old one was revoked), stored, published, enabled and in team1 again.
    expect(back.ok).toBe(true);
    expect(back.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'updated', tokenSecretCreated: true, published: { enabled: true, labels: ['team1'] } });
    const state = await controlState();
    expect(state.keys).toEqual(['dp1_cacert', 'dp1_token', 'dp2_cacert', 'dp2_token']);
    expect(state.clusters.labelClusterMap.team1.map((m: { id: string }) => m.id).sort()).toEqual(['dp1', 'dp2']);
    expect(state.cm.metadata?.annotations?.['flyte-credsync.io/draining-clusters']).toBeUndefined();
    const { token } = await filledTokenSecret(env, 'dp2', TOKEN_SECRET);
    expect((await whoAmI(env, 'dp2', token)).user?.username).toBe('system:serviceaccount:flyte:flyteadmin');
    // And the next run is a no-op.
    const quiet = await run(config(prefix));
    expect(quiet.ok).toBe(true);
    expect(quiet.controlPlane?.applied).toBe(false);
    expect(quiet.clusters.find((c) => c.id === 'dp2')!.status).toBe('unchanged');
  });
});
