/**
 * A server that stops answering (its process stopped with SIGSTOP, or a local TCP server that
 * accepts and never answers: connections are accepted, nothing is ever answered, unlike a refused
 * connection) must not hang a run: every call is aborted at its timeout or at the invocation's
 * deadline, the run ends by its deadline with a report (or an error) that says DEADLINE, and
 * nothing is written after it. Every entry point runs under that one deadline (lib/util/abort.ts):
 * the four Lambda handlers, the three Cloud Functions, every CLI command. Each test resumes a
 * stopped server (SIGCONT) however it ends, and the next run converges.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DescribeSecretCommand, RotateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { readProcessRecords } from '../env/testenv.ts';
import { syncInvocation } from '../../lib/runtime/invocation.ts';
import { SyncFailedError } from '../../lib/runtime/invocation.ts';
import type { SyncReport } from '../../lib/sync/sync.ts';
import { withDeadline } from '../../lib/util/abort.ts';
import { silentLog } from '../../lib/util/log.ts';
import { CredsyncError } from '../../lib/errors.ts';
import { adminKubeConfig, awsClient, core, exportAwsEnv, INITIAL_CLUSTERS_YAML, loadTestEnv, resetControlPlane, uniquePrefix, writableState, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
const dir = mkdtempSync(join(tmpdir(), 'credsync-stalled-'));
const stopped: number[] = [];

beforeAll(async () => {
  env = loadTestEnv();
  exportAwsEnv(env);
});

afterEach(() => {
  // However a test ended, nothing stays stopped.
  for (const pid of stopped.splice(0)) process.kill(pid, 'SIGCONT');
});

/** A local TCP server that accepts every connection and never answers (nor closes): a stalled server. */
interface Blackhole {
  port: number;
  /** Connections it accepted (a test checks that the stalled server was really reached). */
  accepted: number;
}
const blackholes: Array<{ server: Server; sockets: Set<Socket> }> = [];

async function blackhole(): Promise<Blackhole> {
  const sockets = new Set<Socket>();
  const b = { port: 0, accepted: 0 };
  const server = createServer((sock) => {
    b.accepted++;
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  b.port = (server.address() as { port: number }).port;
  blackholes.push({ server, sockets });
  return b;
}

afterAll(async () => {
  for (const { server, sockets } of blackholes) {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});

/** Stops a server of the local environment (SIGSTOP) until the test ends. */
async function stop(name: string): Promise<void> {
  const rec = (await readProcessRecords(env.dir)).find((p) => p.name === name);
  if (!rec) throw new Error(`no process ${name} in the local environment`);
  stopped.push(rec.pid);
  process.kill(rec.pid, 'SIGSTOP');
}

function writeConfig(store: Record<string, unknown>, dataPlanes = env.dataPlanes, over: Record<string, unknown> = {}): string {
  return writeRaw({
    controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
    store,
    dataPlanes: dataPlanes.map((id) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: { team1: 1 } })),
    ...over,
  });
}

function writeRaw(config: Record<string, unknown>): string {
  const file = join(dir, `${uniquePrefix('cfg').replace(/\W/g, '')}.yaml`);
  writeFileSync(file, stringify(config));
  return file;
}

/** An AWS store whose endpoint accepts and never answers. */
const stalledAwsStore = (b: Blackhole) => ({ aws: { region: env.aws.region, prefix: uniquePrefix('stalled'), endpoint: `http://127.0.0.1:${b.port}` } });

/** The outcome of a promise: its value, or the error it rejected with. */
const settle = <T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> => p.then((value) => ({ value }), (error: unknown) => ({ error }));

const awsStore = () => ({ aws: { region: env.aws.region, prefix: uniquePrefix('stalled'), endpoint: env.aws.endpoint } });

/** Runs the CLI as a process, bounded: killed if it is still running after `boundMs`. */
function cli(args: string[], boundMs = 90_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'lib/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

async function clustersYaml(): Promise<string | undefined> {
  const cm = await core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
  return cm.data?.['clusters.yaml'];
}

/** What a run cut off by its deadline reports: every data plane and the control plane DEADLINE. */
function expectCutOffAtDeadline(report: SyncReport, ids: string[]): void {
  expect(report.ok).toBe(false);
  expect(report.clusters.map((c) => [c.id, c.status, c.code])).toEqual(ids.map((id) => [id, 'failed', 'DEADLINE']));
  expect(report.controlPlaneError).toEqual({ code: 'DEADLINE', reason: "control plane not written: the invocation's deadline was reached (the next run will)" });
}

describe('a server that stops answering', () => {
  it('AWS store (moto stopped): the CLI ends by --timeout with a DEADLINE report and exit 1, writes nothing; resumed, the next run syncs', async () => {
    // Prepare
    await resetControlPlane(env);
    const store = awsStore();
    const file = writeConfig(store);
    const before = await writableState(env, store.aws.prefix);
    await stop('moto');
    // Act
    const r = await cli(['sync', '--config', file, '--json', '--timeout', '8']);
    // Assess
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout) as SyncReport;
    expectCutOffAtDeadline(report, env.dataPlanes);
    // The run's first store call is the batch read (ListSecrets): cut off, it is what every data plane reports.
    for (const c of report.clusters) expect(c.reason).toMatch(/^aws-secrets-manager: ListSecrets it-stalled-[0-9a-f]+\/\*: cut off at the invocation's deadline$/);
    expect(await clustersYaml()).toBe(INITIAL_CLUSTERS_YAML);
    // Resumed: nothing was written anywhere (a write the stalled run had started would land now).
    for (const pid of stopped.splice(0)) process.kill(pid, 'SIGCONT');
    expect(await writableState(env, store.aws.prefix)).toEqual(before);
    // The same configuration converges.
    const again = await cli(['sync', '--config', file, '--json']);
    expect([again.code, again.stderr]).toEqual([0, '']);
    expect((JSON.parse(again.stdout) as SyncReport).clusters.map((c) => [c.id, c.status])).toEqual(env.dataPlanes.map((id) => [id, 'updated']));
  });

  it('AWS store (moto stopped): the Lambda handler ends by the deadline from its context (remaining 25 s less the 15 s margin) with the report', async () => {
    // Prepare: the handler reads CREDSYNC_CONFIG once per process and path.
    await resetControlPlane(env);
    const file = writeConfig(awsStore());
    process.env['CREDSYNC_CONFIG'] = file;
    process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
    const { handler } = await import('../../handlers/resync.ts');
    await stop('moto');
    // Act: 25 s left, so the sync's deadline is 10 s away (DEADLINE_MARGIN_MS = 15 s).
    const err = await handler({}, { getRemainingTimeInMillis: () => 25_000 } as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess: a failed invocation carrying the report (SyncFailedError), cut off at the deadline.
    expect(err).toBeInstanceOf(SyncFailedError);
    expectCutOffAtDeadline((err as SyncFailedError).report, env.dataPlanes);
    expect(await clustersYaml()).toBe(INITIAL_CLUSTERS_YAML);
  });

  it('GCP store (Secret Manager emulator stopped): the run ends by its deadline with a DEADLINE report, writes nothing', async () => {
    await resetControlPlane(env);
    const file = writeConfig({ gcp: { project: env.gcp.project, prefix: `it-stalled-${Date.now()}-`, emulatorHost: env.gcp.secretManagerEndpoint } });
    const before = await writableState(env, 'it-stalled-gcp-');
    await stop('gcpsm');
    const report = await withDeadline(Date.now() + 8_000, () => syncInvocation(silentLog, { configPath: file }));
    expectCutOffAtDeadline(report, env.dataPlanes);
    // The run's first store call is the batch read (ListSecrets): cut off, it is what every data plane reports.
    for (const c of report.clusters) expect(c.reason).toMatch(/^gcp-secret-manager: ListSecrets it-stalled-\d+-\*: cut off at the invocation's deadline$/);
    expect(await clustersYaml()).toBe(INITIAL_CLUSTERS_YAML);
    expect(await writableState(env, 'it-stalled-gcp-')).toEqual(before);
  });

  it("a data plane's API server stopped: its calls are aborted at the deadline (DEADLINE), the run still reports", async () => {
    await resetControlPlane(env);
    // The GCP emulator as the store: it answers at once, while moto may still be catching up with
    // the requests the tests above left queued while it was stopped.
    const file = writeConfig({ gcp: { project: env.gcp.project, prefix: `it-stalled-${Date.now()}-`, emulatorHost: env.gcp.secretManagerEndpoint } }, ['dp3']);
    await stop('kube-apiserver-dp3');
    // Long enough for the store to answer on a busy machine, shorter than a call's own timeout
    // (CALL_TIMEOUT_MS, 20 s): what cuts dp3's call is the deadline.
    const r = await cli(['sync', '--config', file, '--json', '--timeout', '15']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as SyncReport;
    expectCutOffAtDeadline(report, ['dp3']);
    expect(report.clusters[0]!.reason).toBe("cluster dp3: get Secret flyte/flyteadmin-token: cut off at the invocation's deadline");
    expect(await clustersYaml()).toBe(INITIAL_CLUSTERS_YAML);
  });
});

/**
 * Every entry point runs under the invocation's one deadline (lib/util/abort.ts): against a server
 * that accepts and never answers, each ends by its deadline with a DEADLINE report or error.
 */
describe('every entry point ends at its deadline when a server never answers', () => {
  /** 23 s left less the 15 s margin: the deadline is 8 s away. */
  const lambdaContext = { getRemainingTimeInMillis: () => 23_000 } as never;

  beforeAll(() => {
    process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
    process.env['CREDSYNC_LOG_LEVEL'] = 'error';
    // Cloud Functions: the function's timeout, read once when the module loads (the deadline is 8 s away).
    process.env['CREDSYNC_TIMEOUT_SECONDS'] = '23';
  });

  describe('Lambda handlers', () => {
    it('scheduled: the sync is cut at the deadline from the context, a failed invocation with the report', async () => {
      await resetControlPlane(env);
      const b = await blackhole();
      process.env['CREDSYNC_CONFIG'] = writeConfig(stalledAwsStore(b));
      const { handler } = await import('../../handlers/scheduled.ts');
      const r = await settle(handler({ id: 'e1', time: new Date().toISOString() } as never, lambdaContext));
      expect(r.error).toBeInstanceOf(SyncFailedError);
      expectCutOffAtDeadline((r.error as SyncFailedError).report, env.dataPlanes);
      expect(b.accepted).toBeGreaterThan(0);
      expect(await clustersYaml()).toBe(INITIAL_CLUSTERS_YAML);
    });

    it('clusterCreated: the created data plane\'s sync is cut at the deadline', async () => {
      await resetControlPlane(env);
      const b = await blackhole();
      process.env['CREDSYNC_CONFIG'] = writeConfig(stalledAwsStore(b));
      const { handler } = await import('../../handlers/clusterCreated.ts');
      const event = JSON.parse(readFileSync('events/eks-cluster-active.json', 'utf8')) as Record<string, unknown>;
      const r = await settle(handler(event, lambdaContext));
      expect(r.error).toBeInstanceOf(SyncFailedError);
      const report = (r.error as SyncFailedError).report;
      expect(report.clusters.map((c) => [c.id, c.status, c.code])).toEqual([['dp1', 'failed', 'DEADLINE']]);
      expect(report.controlPlaneError?.code).toBe('DEADLINE');
      expect(b.accepted).toBeGreaterThan(0);
    });

    it('secretsManagerRotation: the step\'s first store call (DescribeSecret) is cut at the deadline', async () => {
      const b = await blackhole();
      process.env['CREDSYNC_CONFIG'] = writeConfig(stalledAwsStore(b), ['dp1'], { rotation: { mode: 'secret', every: 'off', runEvery: '1h' } });
      const { handler } = await import('../../handlers/secretsManagerRotation.ts');
      const r = await settle(handler({ Step: 'createSecret', SecretId: 'flyte-credsync/dp1', ClientRequestToken: randomUUID() }, lambdaContext));
      expect(r.error).toBeInstanceOf(CredsyncError);
      expect(r.error).toMatchObject({ code: 'DEADLINE', message: expect.stringMatching(/DescribeSecret .*: cut off at the invocation's deadline$/) });
      expect(b.accepted).toBeGreaterThan(0);
    });

    it("secretsManagerRotation: createSecret's mint and testSecret on a data plane that never answers are cut at the deadline", async () => {
      // Prepare: a ServiceAccount of this test's own on dp1 (its generations are its own objects),
      // its first generation synced, and a rotation started (RotateSecret labels the token AWSPENDING).
      await resetControlPlane(env);
      const sa = `stalled-${randomUUID().slice(0, 8)}`;
      await core(env, 'dp1').createNamespacedServiceAccount({ namespace: 'flyte', body: { metadata: { name: sa } } });
      await adminKubeConfig(env, 'dp1').makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
        body: { metadata: { name: sa }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flyte-flyteadmin' }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace: 'flyte' }] },
      });
      const b = await blackhole();
      const tokenFile = join(dir, `${sa}.token`);
      writeFileSync(tokenFile, 'a-token-the-stalled-server-never-reads');
      const dp = { id: 'dp1', serviceAccount: sa, tokenSecret: `${sa}-token`, labels: { team1: 1 } };
      const base = {
        controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
        store: { aws: { region: env.aws.region, prefix: uniquePrefix('stalled-sm'), endpoint: env.aws.endpoint } },
        tokenWaitSeconds: 30,
        rotation: { mode: 'secret', every: 'off', runEvery: '1h', rolloutTimeoutSeconds: 120 },
      };
      const real = writeRaw({ ...base, dataPlanes: [{ ...dp, access: { type: 'kubeconfig', context: 'dp1', path: env.kubeconfig } }] });
      const stalledDp = writeRaw({ ...base, dataPlanes: [{ ...dp, access: { type: 'token', endpoint: `https://127.0.0.1:${b.port}`, caFile: env.clusters['dp1']!.caFile, tokenFile } }] });
      expect((await syncInvocation(silentLog, { configPath: real })).ok).toBe(true);
      const aws = awsClient(env);
      const arn = (await aws.send(new DescribeSecretCommand({ SecretId: `${base.store.aws.prefix}dp1` }))).ARN!;
      const token = randomUUID();
      await expect(
        aws.send(new RotateSecretCommand({ SecretId: arn, ClientRequestToken: token, RotationLambdaARN: 'arn:aws:lambda:us-east-1:123456789012:function:not-in-moto', RotationRules: { AutomaticallyAfterDays: 30 } })),
      ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      const { handler } = await import('../../handlers/secretsManagerRotation.ts');
      const step = (config: string, Step: string) => {
        process.env['CREDSYNC_CONFIG'] = config;
        return settle(handler({ Step, SecretId: arn, ClientRequestToken: token }, lambdaContext));
      };
      // Act / Assess: the mint's first call to the data plane is cut at the deadline.
      const mint = await step(stalledDp, 'createSecret');
      expect(mint.error).toMatchObject({ code: 'DEADLINE', message: expect.stringMatching(/^cluster dp1: .*: cut off at the invocation's deadline$/) });
      expect(b.accepted).toBeGreaterThan(0);
      // The real data plane mints and stages it; testing it against the stalled one is cut at the deadline.
      expect((await step(real, 'createSecret')).value).toMatchObject({ outcome: expect.stringMatching(/^minted generation \d+/) });
      const test = await step(stalledDp, 'testSecret');
      expect(test.error).toMatchObject({ code: 'DEADLINE', message: expect.stringMatching(/^cluster dp1: get Secret flyte\/stalled-.*: cut off at the invocation's deadline$/) });
    }, 300_000);
  });

  describe('Cloud Functions', () => {
    const cloudEvent = (over: Record<string, unknown> = {}) => ({ id: randomUUID(), type: 'google.cloud.pubsub.topic.v1.messagePublished', time: new Date().toISOString(), ...over }) as never;

    it('scheduled: the sync is cut at the deadline (CREDSYNC_TIMEOUT_SECONDS less the margin), a failed invocation', async () => {
      await resetControlPlane(env);
      const b = await blackhole();
      process.env['CREDSYNC_CONFIG'] = writeConfig(stalledAwsStore(b));
      const { scheduled } = await import('../../lib/runtime/gcf/functions.ts');
      const r = await settle(scheduled(cloudEvent()));
      expect(r.error).toMatchObject({ code: 'DEADLINE' });
      expect(b.accepted).toBeGreaterThan(0);
      expect(await clustersYaml()).toBe(INITIAL_CLUSTERS_YAML);
    });

    it('clusterCreated: the created data plane\'s sync is cut at the deadline', async () => {
      const b = await blackhole();
      process.env['CREDSYNC_CONFIG'] = writeConfig(stalledAwsStore(b));
      const { clusterCreated } = await import('../../lib/runtime/gcf/functions.ts');
      const ev = { ...(JSON.parse(readFileSync('events/gke-cluster-created-cloudevent.json', 'utf8')) as Record<string, unknown>), time: new Date().toISOString() };
      const r = await settle(clusterCreated(ev as never));
      expect(r.error).toMatchObject({ code: 'DEADLINE', message: expect.stringContaining("dp1 [DEADLINE]") });
      expect(b.accepted).toBeGreaterThan(0);
    });

    it('resync: 500 with the report cut at the deadline', async () => {
      await resetControlPlane(env);
      const b = await blackhole();
      process.env['CREDSYNC_CONFIG'] = writeConfig(stalledAwsStore(b));
      const { resync } = await import('../../lib/runtime/gcf/functions.ts');
      const answer: { status?: number; body?: Record<string, unknown> } = {};
      const res = { status: (s: number) => ((answer.status = s), res), json: (body: Record<string, unknown>) => ((answer.body = body), res), set: () => res };
      const req = { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '2' }, is: (t: string) => (t === 'application/json' ? t : false), body: {} };
      await resync(req as never, res as never);
      expect(answer.status).toBe(500);
      expect(answer.body?.['code']).toBe('DEADLINE');
      expectCutOffAtDeadline(answer.body as unknown as SyncReport, env.dataPlanes);
      expect(b.accepted).toBeGreaterThan(0);
    });
  });

  describe('CLI commands (--timeout)', () => {
    // 15 s: room for the CLI to start and make its first call on a busy machine, and shorter than
    // a call's own timeout (CALL_TIMEOUT_MS, 20 s), so what cuts it is the deadline.
    const rotation = { rotation: { mode: 'secret', every: 'off', runEvery: '1h' } };

    it('rotate --now: the run is cut at --timeout with a DEADLINE report, exit 1', async () => {
      await resetControlPlane(env);
      const b = await blackhole();
      const r = await cli(['rotate', '--now', '--config', writeConfig(stalledAwsStore(b), env.dataPlanes, rotation), '--json', '--timeout', '15']);
      expect([r.code, r.stderr]).toEqual([1, '']);
      expectCutOffAtDeadline(JSON.parse(r.stdout) as SyncReport, env.dataPlanes);
    });

    it('rollback: cut at --timeout, exit 1 with the DEADLINE error', async () => {
      const b = await blackhole();
      const r = await cli(['rollback', '--cluster', 'dp1', '--config', writeConfig(stalledAwsStore(b), env.dataPlanes, rotation), '--json', '--timeout', '15']);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'DEADLINE', reason: expect.stringContaining("cut off at the invocation's deadline") } });
      expect(b.accepted).toBeGreaterThan(0);
    });

    it('status: each data plane says DEADLINE, exit 1', async () => {
      const b = await blackhole();
      const r = await cli(['status', '--config', writeConfig(stalledAwsStore(b), env.dataPlanes, rotation), '--json', '--timeout', '15']);
      expect(r.code).toBe(1);
      const status = JSON.parse(r.stdout) as Array<{ id: string; error?: { code: string } }>;
      expect(status.map((s) => [s.id, s.error?.code])).toEqual(env.dataPlanes.map((id) => [id, 'DEADLINE']));
    });

    it('export-values: cut at --timeout, exit 1 with the DEADLINE error, nothing written', async () => {
      const b = await blackhole();
      const out = join(dir, 'values.yaml');
      const r = await cli(['export-values', '--config', writeConfig(stalledAwsStore(b)), '--out', out, '--json', '--timeout', '15']);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'DEADLINE' } });
      expect(() => readFileSync(out)).toThrow(/ENOENT/);
    });

    it('labels plan: a FlyteAdmin that never answers is cut at --timeout, exit 1 with the DEADLINE error', async () => {
      await resetControlPlane(env);
      const b = await blackhole();
      const labels = { labels: { flyteadmin: { endpoint: `127.0.0.1:${b.port}`, insecure: true, timeoutSeconds: 120 }, assignments: [] } };
      const r = await cli(['labels', 'plan', '--config', writeConfig(awsStore(), env.dataPlanes, labels), '--json', '--timeout', '15']);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'DEADLINE' } });
      expect(b.accepted).toBeGreaterThan(0);
    });

    it('doctor: the store check is cut at --timeout ([DEADLINE]), exit 1', async () => {
      const b = await blackhole();
      const r = await cli(['doctor', '--config', writeConfig(stalledAwsStore(b)), '--json', '--timeout', '15']);
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as { store: { ok: boolean; detail: string } };
      expect(report.store).toMatchObject({ ok: false, detail: expect.stringMatching(/^\[DEADLINE\] .*cut off at the invocation's deadline/) });
    });
  });
});
