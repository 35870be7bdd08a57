/**
 * A server that stops answering (its process stopped with SIGSTOP: connections are accepted by the
 * kernel, nothing is ever answered, unlike a refused connection) must not hang a run: every call
 * is aborted at its timeout or at the invocation's deadline, the run ends by its deadline with a
 * report that says DEADLINE, and nothing is written after it. Each test resumes the server
 * (SIGCONT) however it ends, and the next run converges.
 */
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readProcessRecords } from '../env/testenv.ts';
import { syncInvocation } from '../../lib/runtime/invocation.ts';
import { SyncFailedError } from '../../lib/runtime/invocation.ts';
import type { SyncReport } from '../../lib/sync/sync.ts';
import { silentLog } from '../../lib/util/log.ts';
import { core, exportAwsEnv, INITIAL_CLUSTERS_YAML, loadTestEnv, resetControlPlane, uniquePrefix, writableState, type EnvInfo } from './helpers.ts';

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

/** Stops a server of the local environment (SIGSTOP) until the test ends. */
async function stop(name: string): Promise<void> {
  const rec = (await readProcessRecords(env.dir)).find((p) => p.name === name);
  if (!rec) throw new Error(`no process ${name} in the local environment`);
  stopped.push(rec.pid);
  process.kill(rec.pid, 'SIGSTOP');
}

function writeConfig(store: Record<string, unknown>, dataPlanes = env.dataPlanes): string {
  const file = join(dir, `${uniquePrefix('cfg').replace(/\W/g, '')}.yaml`);
  writeFileSync(
    file,
    stringify({
      controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
      store,
      dataPlanes: dataPlanes.map((id) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: { team1: 1 } })),
    }),
  );
  return file;
}

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
    const report = await syncInvocation(silentLog, { configPath: file, deadline: Date.now() + 8_000 });
    expectCutOffAtDeadline(report, env.dataPlanes);
    // The run's first store call is the batch read (ListSecrets): cut off, it is what every data plane reports.
    for (const c of report.clusters) expect(c.reason).toMatch(/^gcp-secret-manager: ListSecrets it-stalled-\d+-\*: cut off at the invocation's deadline$/);
    expect(await clustersYaml()).toBe(INITIAL_CLUSTERS_YAML);
    expect(await writableState(env, 'it-stalled-gcp-')).toEqual(before);
  });

  it("a data plane's API server stopped: its calls are aborted at the deadline (DEADLINE), the run still reports", async () => {
    await resetControlPlane(env);
    const file = writeConfig(awsStore(), ['dp3']);
    await stop('kube-apiserver-dp3');
    const r = await cli(['sync', '--config', file, '--json', '--timeout', '8']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as SyncReport;
    expectCutOffAtDeadline(report, ['dp3']);
    expect(report.clusters[0]!.reason).toBe("cluster dp3: get Secret flyte/flyteadmin-token: cut off at the invocation's deadline");
    expect(await clustersYaml()).toBe(INITIAL_CLUSTERS_YAML);
  });
});
