/** The Lambda handlers, invoked in-process with the shipped sample events, against the local environment. */
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { assertValidEmf } from '../unit/emf.ts';
import { spawnSync } from 'node:child_process';
import { exportAwsEnv, filledTokenSecret, secretForms, loadTestEnv, resetControlPlane, uniquePrefix, writableState, writeEnvConfigFile, type EnvInfo } from './helpers.ts';

let env: EnvInfo;
let scheduled: typeof import('../../handlers/scheduled.ts');
let clusterCreated: typeof import('../../handlers/clusterCreated.ts');
let resync: typeof import('../../handlers/resync.ts');
let prefix: string;
let configFile: string;

/** What a run could write: the store entries under this file's prefix, the control plane's objects, the restart annotations. */
/** Everything a handler could write (store entries under this file's prefix, the control plane, the data planes' Secrets, the Lease). */
const snapshot = () => writableState(env, prefix);
const sample = (f: string) => JSON.parse(readFileSync(`events/${f}`, 'utf8'));

beforeAll(async () => {
  env = loadTestEnv();
  exportAwsEnv(env);
  await resetControlPlane(env);
  const dir = mkdtempSync(join(tmpdir(), 'credsync-handlers-'));
  prefix = uniquePrefix('handlers');
  const file = writeEnvConfigFile(env, dir, prefix);
  configFile = file;
  process.env['CREDSYNC_CONFIG'] = file;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  // One after the other: jest's ESM loader fails on concurrent imports of shared modules.
  scheduled = await import('../../handlers/scheduled.ts');
  clusterCreated = await import('../../handlers/clusterCreated.ts');
  resync = await import('../../handlers/resync.ts');
});

describe('Lambda handlers', () => {
  it('resync dry run (events/resync-dry-run.json) reports and writes nothing', async () => {
    // Prepare: what is there before (whatever earlier tests did).
    const before = await snapshot();
    // Act
    const r = await resync.handler(sample('resync-dry-run.json'));
    // Assess: the report of a dry run, and not one object written: store, Secret, ConfigMaps, restarts.
    expect(r.dryRun).toBe(true);
    expect(r.clusters.map((c) => c.id)).toEqual(['dp1']);
    expect(await snapshot()).toEqual(before);
  });

  it('scheduled rotation (events/scheduled.json) syncs every data plane and prints one valid EMF metrics document', async () => {
    // Prepare: catch what the handler prints on stdout (where CloudWatch Logs reads EMF).
    const printed: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    // Act
    let r;
    try {
      r = await scheduled.handler(sample('scheduled.json'));
    } finally {
      spy.mockRestore();
    }
    // Assess
    expect(r.ok).toBe(true);
    expect(r.clusters.map((c) => c.id)).toEqual(env.dataPlanes);
    expect(r.controlPlane!.restarted).toEqual(['flyteadmin', 'syncresources']);
    const docs = printed.flatMap((c) => c.split('\n')).filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(docs).toHaveLength(1);
    assertValidEmf(docs[0]!);
    expect(docs[0]).toMatchObject({
      service: 'flyte-credsync',
      function: 'scheduled',
      runId: r.runId,
      DataPlanesFailed: 0,
      DataPlanesUpdated: r.clusters.filter((c) => c.status === 'updated').length,
      DeploymentsRestarted: 2,
      RunFailed: 0,
      // Nothing reverted credsync's content: both contest metrics published, at 0.
      ControlPlaneRevertsRepaired: 0,
      ControlPlaneContested: 0,
    });
  });

  it('cluster created (CloudTrail CreateCluster and ACTIVE samples) syncs that data plane only', async () => {
    for (const f of ['eks-create-cluster.json', 'eks-cluster-active.json']) {
      const r = await clusterCreated.handler(sample(f));
      expect('ignored' in r).toBe(false);
      if ('ignored' in r) return;
      expect(r.clusters.map((c) => [c.id, c.status])).toEqual([['dp1', 'unchanged']]);
    }
  });

  it('an event redelivered by the retry queue (SQS record holding the Lambda on-failure destination record) syncs like the original', async () => {
    const destination = { version: '1.0', requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 }, requestPayload: sample('eks-create-cluster.json') };
    const r = await clusterCreated.handler({ Records: [{ eventSource: 'aws:sqs', messageId: 'm1', body: JSON.stringify(destination) }] });
    expect('ignored' in r).toBe(false);
    if ('ignored' in r) return;
    expect(r.clusters.map((c) => [c.id, c.status])).toEqual([['dp1', 'unchanged']]);
  });

  it('an event about a cluster that is not a data plane is ignored and says so', async () => {
    const ev = sample('eks-create-cluster.json');
    ev.detail.requestParameters.name = 'analytics';
    await expect(clusterCreated.handler(ev)).resolves.toEqual({ ignored: true, reason: 'EKS cluster analytics is not a configured or discovered data plane' });
  });

  it('a malformed event is a failed invocation with a clear message, and nothing runs', async () => {
    const before = await snapshot();
    await expect(resync.handler({ clusters: 'dp1' })).rejects.toThrow(/^invalid resync event: clusters/);
    await expect(clusterCreated.handler({ hello: 'world' })).rejects.toThrow(/not an EKS cluster-created event/);
    await expect(resync.handler({ clusters: ['nope'] })).rejects.toThrow('unknown data plane(s): nope (configured: dp1, dp2, dp3)');
    expect(await snapshot()).toEqual(before);
  });

  it('Powertools logs (DEBUG, as Lambda writes them) hold no token and no CA, in any form', async () => {
    // A real handler process: Powertools writes its JSON lines to stdout as on Lambda.
    const script = "const { handler } = await import('./handlers/scheduled.ts'); await handler({}, { getRemainingTimeInMillis: () => 120000 });";
    const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 120_000,
      killSignal: 'SIGKILL',
      env: { ...process.env, CREDSYNC_CONFIG: configFile, POWERTOOLS_LOG_LEVEL: 'DEBUG' },
    });
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.map((l) => JSON.parse(l).message)).toEqual(expect.arrayContaining(['sync started', 'data plane synced', 'sync report']));
    for (const id of env.dataPlanes) {
      for (const f of secretForms(await filledTokenSecret(env, id))) expect([id, r.stdout.includes(f), r.stderr.includes(f)]).toEqual([id, false, false]);
    }
  });

  it('a partial failure is a failed invocation that names the cluster (the handlers\' failure rule)', async () => {
    // Prepare: a configuration where dp2's credential can never be read.
    const { SyncFailedError } = await import('../../lib/runtime/invocation.ts');
    const file = join(mkdtempSync(join(tmpdir(), 'credsync-handlers-')), 'partial.yaml');
    writeFileSync(
      file,
      stringify({
        controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
        store: { aws: { region: env.aws.region, prefix: uniquePrefix('partial'), endpoint: env.aws.endpoint } },
        dataPlanes: [
          { id: 'dp1', access: { type: 'kubeconfig', context: 'dp1', path: env.kubeconfig }, labels: { team1: 1 } },
          { id: 'dp2', access: { type: 'kubeconfig', context: 'dp2', path: env.kubeconfig }, serviceAccount: 'ghost', tokenSecret: 'ghost-token' },
        ],
      }),
    );
    process.env['CREDSYNC_CONFIG'] = file;
    try {
      // Act: through the handler, as Lambda invokes it.
      const err = await resync.handler({}).then(() => undefined, (e: unknown) => e);
      // Assess: a failed invocation, naming the cluster, with the report (the healthy one synced).
      expect(err).toBeInstanceOf(SyncFailedError);
      expect((err as Error).message).toBe('sync failed: dp2 [SERVICE_ACCOUNT_MISSING] data plane dp2: ServiceAccount flyte/ghost does not exist; install the Flyte data-plane chart (it creates it) before syncing');
      // Its code is that of what failed, not a generic one.
      expect((err as InstanceType<typeof SyncFailedError>).code).toBe('SERVICE_ACCOUNT_MISSING');
      expect((err as InstanceType<typeof SyncFailedError>).report.clusters.map((c) => [c.id, c.status])).toEqual([['dp1', 'updated'], ['dp2', 'failed']]);
    } finally {
      process.env['CREDSYNC_CONFIG'] = configFile;
    }
  });
});
