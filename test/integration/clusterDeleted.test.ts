/**
 * Cluster-deleted events against the real servers (kube-apiservers with the FlyteWorkflow CRD,
 * real rollouts through KWOK, moto): the EKS shape through the Lambda handler, the GKE shape
 * through the use case, for a data plane still configured and one discovery no longer finds.
 * The event drains the data plane and says how many executions were unfinished (or that the count
 * is unknown, the cluster gone); a later run retires it (entry and keys removed, the store deletion
 * scheduled, the revoke skipped when its API server is down, and said); malformed events are refused
 * with nothing touched; a run stopped between the steps converges; later runs write nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { DescribeSecretCommand, ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { runSync, type SyncReport } from '../../lib/sync/sync.ts';
import { buildDeps } from '../../lib/runtime/wiring.ts';
import { drainDeletedCluster } from '../../lib/runtime/clusterDeleted.ts';
import { parseGkeDeleteEvent } from '../../lib/runtime/gcf/events.ts';
import { drainStatus } from '../../lib/lifecycle/status.ts';
import { formatDrain } from '../../lib/cli/format.ts';
import { AwsSecretsManagerStore } from '../../lib/stores/aws.ts';
import { lineLog } from '../../lib/util/log.ts';
import type { Config } from '../../lib/config/schema.ts';
import { restartApiServer, signalServer } from '../env/testenv.ts';
import { adminKubeConfig, awsClient, core, envConfig, exportAwsEnv, filledTokenSecret, loadTestEnv, resetControlPlane, uniquePrefix, writableState, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
const logs: string[] = [];
const log = lineLog({ verbose: true, write: (l) => logs.push(l) });
const NS = 'deleted-development';
/** Its own token Secret on dp2: a revoke never touches the environment's flyteadmin-token. */
const TOKEN_SECRET = 'deleted-flyteadmin-token';
const FW = { group: 'flyte.lyft.com', version: 'v1alpha1', plural: 'flyteworkflows' };
const DRAINING = 'flyte-credsync.io/draining-clusters';
let clusterDeleted: typeof import('../../handlers/clusterDeleted.ts');

const sample = (f: string) => JSON.parse(readFileSync(`events/${f}`, 'utf8'));
const deps = (cfg: Config) => buildDeps(cfg, log, { secretsManager: awsClient(env) });
const run = (cfg: Config) => runSync(deps(cfg));

const DATA_PLANES = [
  { id: 'dp1', labels: { team1: 1, gpu: 1 } },
  { id: 'dp2', labels: { team1: 1 }, tokenSecret: TOKEN_SECRET },
];
function config(prefix: string, ids = ['dp1', 'dp2']): Config {
  return envConfig(
    env,
    prefix,
    { lifecycle: { recoveryWindowDays: 7, rolloutTimeoutSeconds: 240 } },
    DATA_PLANES.filter((d) => ids.includes(d.id)).map((d) => ({ ...d, access: { type: 'kubeconfig', context: d.id, path: env.kubeconfig } })),
  );
}

async function controlState() {
  const c = core(env, env.controlPlane);
  const cm = await c.readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
  const secret = await c.readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' }).catch(() => undefined);
  return { cm, clusters: parse(cm.data?.['clusters.yaml'] ?? '').clusters, keys: Object.keys(secret?.data ?? {}).sort() };
}

/** Everything a run could write, and the store entries' tags (a lifecycle marker is a tag). */
async function touched(prefix: string) {
  const listed = await awsClient(env).send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }] }));
  return { ...(await writableState(env, prefix)), tags: (listed.SecretList ?? []).map((s) => [s.Name, (s.Tags ?? []).map((t) => `${t.Key}=${t.Value}`).sort()]) };
}

async function marker(prefix: string, id: string) {
  const d = await awsClient(env).send(new DescribeSecretCommand({ SecretId: `${prefix}${id}` }));
  return { tag: d.Tags?.find((t) => t.Key === 'flyte-credsync-lifecycle')?.Value, deletedDate: d.DeletedDate };
}

/** Runs until `id` is retired: the drain is in effect once flyteadmin and syncresources rolled out (KWOK), which takes a while on a busy machine. */
async function runUntilRetired(cfg: Config, id: string): Promise<SyncReport> {
  let r: SyncReport | undefined;
  for (let i = 0; i < 60; i++) {
    r = await run(cfg);
    if (r.clusters.find((c) => c.id === id)?.status === 'retired') return r;
    await new Promise((res) => setTimeout(res, 1000));
  }
  return r!;
}

beforeAll(async () => {
  env = loadTestEnv();
  exportAwsEnv(env);
  await resetControlPlane(env);
  await core(env, 'dp2').createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
  await adminKubeConfig(env, 'dp2').makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({ ...FW, namespace: NS, name: 'deleted-running' }).catch(() => undefined);
  clusterDeleted = await import('../../handlers/clusterDeleted.ts');
});

afterAll(async () => {
  await resetControlPlane(env);
  await core(env, 'dp2').deleteNamespacedSecret({ name: TOKEN_SECRET, namespace: 'flyte' }).catch(() => undefined);
  await adminKubeConfig(env, 'dp2').makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({ ...FW, namespace: NS, name: 'deleted-running' }).catch(() => undefined);
});

describe('cluster-deleted events (real servers)', () => {
  it('EKS DeleteCluster (Lambda handler): malformed events touch nothing; the event drains dp2 and counts its running execution; its API server goes down; the next run retires it without the revoke, and says so; then no-op', async () => {
    // Prepare: dp1 and dp2 synced, one running execution on dp2; the handler reads this configuration.
    const prefix = uniquePrefix('deleted-eks');
    const cfg = config(prefix);
    const dir = mkdtempSync(join(tmpdir(), 'credsync-deleted-'));
    const file = join(dir, 'credsync.yaml');
    writeFileSync(
      file,
      stringify({
        controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig }, defaultExecutionLabel: 'team1' },
        store: { aws: { region: env.aws.region, prefix, endpoint: env.aws.endpoint } },
        lifecycle: { recoveryWindowDays: 7, rolloutTimeoutSeconds: 240 },
        dataPlanes: DATA_PLANES.map((d) => ({ ...d, access: { type: 'kubeconfig', context: d.id, path: env.kubeconfig } })),
      }),
    );
    process.env['CREDSYNC_CONFIG'] = file;
    expect((await run(cfg)).ok).toBe(true);
    await filledTokenSecret(env, 'dp2', TOKEN_SECRET);
    // Other suites may have left unfinished FlyteWorkflows on dp2: they count too.
    const listed = (await adminKubeConfig(env, 'dp2').makeApiClient(CustomObjectsApi).listClusterCustomObject(FW)) as { items: Array<{ status?: { phase?: number } }> };
    const unfinished = listed.items.filter((w) => ![3, 5, 6].includes(w.status?.phase ?? 0)).length + 1;
    await adminKubeConfig(env, 'dp2').makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      ...FW,
      namespace: NS,
      body: { apiVersion: 'flyte.lyft.com/v1alpha1', kind: 'FlyteWorkflow', metadata: { name: 'deleted-running', labels: { 'execution-id': 'deleted-running', project: 'deleted', domain: 'development' } }, status: { phase: 1 } },
    });

    // Malformed events: refused with a coded error, nothing touched. A failed call and another cluster: ignored, said why.
    const before = await touched(prefix);
    const noName = sample('eks-delete-cluster.json');
    delete noName.detail.requestParameters.name;
    await expect(clusterDeleted.handler(noName)).rejects.toMatchObject({ code: 'EVENT_INVALID', message: expect.stringMatching(/^malformed EKS DeleteCluster CloudTrail event: detail\.requestParameters\.name/) });
    await expect(clusterDeleted.handler({ hello: 'world' })).rejects.toMatchObject({ code: 'EVENT_INVALID', message: expect.stringMatching(/^not an EKS cluster-deleted event/) });
    await expect(clusterDeleted.handler({ Records: [{ eventSource: 'aws:sqs', body: 'not json' }] })).rejects.toMatchObject({ code: 'EVENT_INVALID' });
    const failed = sample('eks-delete-cluster.json');
    failed.detail.errorCode = 'ResourceInUseException';
    await expect(clusterDeleted.handler(failed)).resolves.toEqual({ ignored: true, reason: 'event is not a successful cluster deletion (the DeleteCluster call failed)' });
    const other = sample('eks-delete-cluster.json');
    other.detail.requestParameters.name = 'analytics';
    await expect(clusterDeleted.handler(other)).resolves.toEqual({ ignored: true, reason: 'EKS cluster analytics is not a configured or discovered data plane, and the store has no entry for it' });
    expect(await touched(prefix)).toEqual(before);

    // The event: dp2 drains at once (disabled, out of team1, its credential kept), with its one unfinished execution reported lost.
    const r = await clusterDeleted.handler(sample('eks-delete-cluster.json'));
    if ('ignored' in r) throw new Error(r.reason);
    expect(r.ok).toBe(true);
    expect(r.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'retiring', retire: { phase: 'draining', forced: { reason: 'deleted', unfinished } } });
    let state = await controlState();
    expect(state.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp2')).toMatchObject({ enabled: false });
    expect(state.clusters.labelClusterMap.team1).toEqual([{ id: 'dp1', weight: 1 }]);
    expect(state.keys).toEqual(['dp1_cacert', 'dp1_token', 'dp2_cacert', 'dp2_token']);
    expect(state.cm.metadata?.annotations?.[DRAINING]).toMatch(/^dp2@\d{4}-/);
    // credsync status: the deletion and the count recorded then (the cluster is not counted again).
    const status = await drainStatus(deps(cfg));
    expect(status.get('dp2')).toEqual({ since: expect.any(String), clusterDeleted: { at: expect.any(String), unfinished } });
    expect(formatDrain(status.get('dp2')!)).toMatch(new RegExp(`; its cluster was DELETED at \\S+ \\(${unfinished} unfinished execution\\(s\\) lost\\); retires once the drain is in effect$`));
    const recorded = (await marker(prefix, 'dp2')).tag;
    expect(recorded).toMatch(new RegExp(`^phase=draining at=\\S+ forced=${unfinished} reason=deleted$`));

    // The cluster goes: its API server is down. The event, redelivered by the retry queue, keeps
    // what the first delivery recorded (the count, not "unknown"); this run or the next ones
    // retire dp2 once the drain is in effect, without the revoke.
    await signalServer('kube-apiserver-dp2', 'SIGKILL', { dir: env.dir });
    let retired: SyncReport;
    try {
      const again = await clusterDeleted.handler({ Records: [{ eventSource: 'aws:sqs', messageId: 'm1', body: JSON.stringify({ requestPayload: sample('eks-delete-cluster.json') }) }] });
      if ('ignored' in again) throw new Error(again.reason);
      expect(again.ok).toBe(true);
      expect(again.clusters.find((c) => c.id === 'dp2')).toMatchObject({ retire: { forced: { reason: 'deleted', unfinished } } });
      expect((await marker(prefix, 'dp2')).tag).toMatch(` forced=${unfinished} reason=deleted`);
      retired = again.clusters.find((c) => c.id === 'dp2')?.status === 'retired' ? again : await runUntilRetired(cfg, 'dp2');
    } finally {
      await restartApiServer('dp2', { dir: env.dir });
    }
    expect(retired.ok).toBe(true);
    const d2 = retired.clusters.find((c) => c.id === 'dp2')!;
    expect(d2).toMatchObject({ status: 'retired', retire: { phase: 'retired', forced: { reason: 'deleted', unfinished }, revoke: 'skipped' } });
    expect(d2.retire!.revokeSkipped).toMatch(/^the data plane did not answer \(its cluster was deleted\)/);
    state = await controlState();
    expect(state.clusters.clusterConfigs.map((e: { name: string }) => e.name)).toEqual(['dp1']);
    expect(state.keys).toEqual(['dp1_cacert', 'dp1_token']);
    const m = await marker(prefix, 'dp2');
    expect(m.deletedDate).toBeDefined();
    expect(m.tag).toMatch(new RegExp(`^phase=deleting at=\\S+ forced=${unfinished} reason=deleted revoke=skipped deleteAfter=`));
    // Not revoked: the token Secret is still there on the (restarted) API server.
    await expect(core(env, 'dp2').readNamespacedSecret({ name: TOKEN_SECRET, namespace: 'flyte' })).resolves.toBeDefined();

    // Later runs write nothing and restart nothing.
    const quietBefore = await touched(prefix);
    const quiet = await run(cfg);
    expect(quiet.ok).toBe(true);
    expect(quiet.clusters.find((c) => c.id === 'dp2')!.status).toBe('retired');
    expect(quiet.controlPlane?.restarted).toEqual([]);
    expect(await touched(prefix)).toEqual(quietBefore);
  });

  it('GKE DeleteCluster for a data plane discovery no longer finds: matched by its store entry, "unknown, cluster gone"; a run stopped after each step converges; retired, kept no longer', async () => {
    await resetControlPlane(env);
    const prefix = uniquePrefix('deleted-gke');
    const full = config(prefix);
    expect((await run(full)).ok).toBe(true);
    // dp2's cluster is being deleted: discovery no longer lists it (the resolved configuration lacks it).
    const gone = config(prefix, ['dp1']);
    const ev = parseGkeDeleteEvent(sample('gke-cluster-deleted-cloudevent.json'));
    expect(ev).toEqual({ project: 'flyte-prod', location: 'europe-west1', clusterName: 'dp2', finished: false });
    const handle = () => drainDeletedCluster({ cloud: 'gke', project: ev!.project, location: ev!.location, clusterName: ev!.clusterName }, { log, prepare: async () => ({ config: gone, deps: deps(gone) }) });

    // Stopped after its first step: only the marker was written (what the event writes first).
    const store = new AwsSecretsManagerStore(awsClient(env), { prefix });
    await store.setLifecycle('dp2', { phase: 'draining', at: new Date().toISOString(), reason: 'deleted' });
    // The redelivered event finds it recorded, leaves the marker, and drains dp2 (no longer configured).
    const r = await handle();
    if ('ignored' in r) throw new Error(r.reason);
    expect(r.ok).toBe(true);
    expect(r.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'retiring', retire: { phase: 'draining', forced: { reason: 'deleted' } } });
    expect(r.clusters.find((c) => c.id === 'dp2')!.retire!.forced!.unfinished).toBeUndefined();
    let state = await controlState();
    expect(state.clusters.clusterConfigs.find((e: { name: string }) => e.name === 'dp2')).toMatchObject({ enabled: false });
    expect(state.cm.metadata?.annotations?.[DRAINING]).toMatch(/^dp2@\d{4}-/);
    expect(state.keys).toContain('dp2_token');

    // Stopped after the retirement decision (the marker says retiring, nothing else done): the next run finishes it.
    const drained = await marker(prefix, 'dp2');
    const at = /at=(\S+)/.exec(drained.tag!)![1]!;
    await store.setLifecycle('dp2', { phase: 'retiring', at: new Date().toISOString(), reason: 'deleted' });
    const retired = await runUntilRetired(gone, 'dp2');
    expect(retired.ok).toBe(true);
    expect(retired.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'retired', retire: { phase: 'retired', revoke: 'skipped', revokeSkipped: 'its cluster was deleted and is no longer discovered: nothing left to reach' } });
    state = await controlState();
    expect(state.clusters.clusterConfigs.map((e: { name: string }) => e.name)).toEqual(['dp1']);
    expect(state.keys).toEqual(['dp1_cacert', 'dp1_token']);
    expect((await marker(prefix, 'dp2')).deletedDate).toBeDefined();
    expect(at).toMatch(/^\d{4}-/);

    // The run after it forgets it (out of the draining annotation), then runs write nothing.
    const forget = await run(gone);
    expect(forget.ok).toBe(true);
    expect(forget.clusters.find((c) => c.id === 'dp2')).toMatchObject({ status: 'retired' });
    expect((await controlState()).cm.metadata?.annotations?.[DRAINING]).toBeUndefined();
    const quietBefore = await touched(prefix);
    const quiet = await run(gone);
    expect(quiet.ok).toBe(true);
    expect(quiet.clusters.map((c) => c.id)).toEqual(['dp1']);
    expect(await touched(prefix)).toEqual(quietBefore);
  });
});
