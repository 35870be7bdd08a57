/**
 * The Google Cloud Functions entry points, in the real Functions Framework server: each function's
 * deploy source (dist/gcf/<function>/, built here by scripts/build.mjs) loaded by the framework's own CLI on a free
 * 127.0.0.1 port, driven over HTTP the way Cloud Functions drives it (JSON for `resync`,
 * binary-mode CloudEvents for the others), against the local environment with the GCP Secret
 * Manager emulator as the store.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { gcpSecretManagerClient } from '../../lib/runtime/wiring.ts';
import { core, filledTokenSecret, secretForms, INITIAL_CLUSTERS_YAML, loadTestEnv, resetControlPlane, writableState, type EnvInfo } from './helpers.ts';

jest.setTimeout(120_000);

const FRAMEWORK_MAIN = 'node_modules/@google-cloud/functions-framework/build/src/main.js';
const sample = (f: string) => JSON.parse(readFileSync(`events/${f}`, 'utf8'));

interface Server {
  target: string;
  url: string;
  child: ChildProcess;
  /** What this server printed. */
  printed: string;
}

let env: EnvInfo;
let prefix: string;
let sm: SecretManagerServiceClient;
const servers: Server[] = [];
/** Everything the servers printed and every response body: checked for secrets at the end. */
let output = '';

/** Starts `functions-framework --target=T --source=dist/gcf/T --port=0`, bound to 127.0.0.1 (scripts/gcf-loopback.cjs). */
async function startFunction(target: string, configFile: string): Promise<Server> {
  const child = spawn(process.execPath, ['--require', './scripts/gcf-loopback.cjs', FRAMEWORK_MAIN, `--target=${target}`, `--source=dist/gcf/${target}`, '--port=0'], {
    env: { ...process.env, CREDSYNC_CONFIG: configFile, CREDSYNC_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const s: Server = { target, url: '', child, printed: '' };
  servers.push(s);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${target} did not start:\n${s.printed}`)), 30_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      s.printed += d.toString();
      const m = /functions-framework listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(s.printed);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${target} exited with ${code}:\n${s.printed}`)));
  });
  s.url = url;
  return s;
}

async function call(s: Server, init: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: any; text: string }> {
  const r = await fetch(s.url + '/', { method: init.method ?? 'POST', ...(init.headers ? { headers: init.headers } : {}), ...(init.body !== undefined ? { body: init.body } : {}) });
  const text = await r.text();
  output += text;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: r.status, body, text };
}

const postJson = (s: Server, body: unknown) => call(s, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A CloudEvent in binary content mode, as Eventarc and Cloud Functions (2nd gen) deliver it. */
function postCloudEvent(s: Server, attrs: { type: string; source: string; id?: string; subject?: string; time?: string }, data: unknown) {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': attrs.id ?? randomBytes(8).toString('hex'),
    'ce-type': attrs.type,
    'ce-source': attrs.source,
    'ce-time': attrs.time ?? new Date().toISOString(),
  };
  if (attrs.subject) headers['ce-subject'] = attrs.subject;
  return call(s, { headers, body: JSON.stringify(data) });
}

/** The Eventarc sample, sent in binary mode, for this cluster name. */
function auditLogEvent(s: Server, clusterName: string, mutate: (entry: any) => void = () => {}) {
  const ce = sample('gke-cluster-created-cloudevent.json');
  const entry = ce.data;
  entry.protoPayload.resourceName = `projects/flyte-prod/locations/europe-west1/clusters/${clusterName}`;
  entry.resource.labels.cluster_name = clusterName;
  mutate(entry);
  return postCloudEvent(s, { type: ce.type, source: ce.source, subject: `container.googleapis.com/${entry.protoPayload.resourceName}` }, entry);
}

function writeConfig(dataPlanes: unknown[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'credsync-gcf-')), 'credsync.yaml');
  writeFileSync(
    file,
    stringify({
      controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
      store: { gcp: { project: env.gcp.project, prefix, emulatorHost: env.gcp.secretManagerEndpoint } },
      dataPlanes,
    }),
  );
  return file;
}

const dataPlane = (id: string, over: Record<string, unknown> = {}) => ({ id, access: { type: 'kubeconfig', context: id, path: env.kubeconfig }, labels: { team1: 1 }, ...over });

async function secretExists(id: string): Promise<boolean> {
  try {
    await sm.getSecret({ name: `projects/${env.gcp.project}/secrets/${prefix}${id}` });
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 5) return false;
    throw err;
  }
}

let resync: Server, scheduled: Server, clusterCreated: Server, clusterDeleted: Server, failingResync: Server, failingCreated: Server;

beforeAll(async () => {
  env = loadTestEnv();
  prefix = `it-gcf-${randomBytes(4).toString('hex')}-`;
  sm = (await gcpSecretManagerClient(env.gcp.secretManagerEndpoint)) as SecretManagerServiceClient;
  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });
  if (build.status !== 0) throw new Error(`build failed:\n${build.stderr}`);
  await resetControlPlane(env);
  const good = writeConfig(env.dataPlanes.map((id) => dataPlane(id)));
  // The same store and control plane, but dp2's credential can never be read: a sync that fails.
  const bad = writeConfig(env.dataPlanes.map((id) => (id === 'dp2' ? dataPlane(id, { serviceAccount: 'ghost', tokenSecret: 'ghost-token' }) : dataPlane(id))));
  [resync, scheduled, clusterCreated, clusterDeleted, failingResync, failingCreated] = await Promise.all([
    startFunction('resync', good),
    startFunction('scheduled', good),
    startFunction('clusterCreated', good),
    startFunction('clusterDeleted', good),
    startFunction('resync', bad),
    startFunction('clusterCreated', bad),
  ]);
}, 120_000);

afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null) s.child.kill('SIGTERM');
  await Promise.all(servers.map((s) => (s.child.exitCode === null ? new Promise((r) => s.child.once('exit', r)) : undefined)));
  await (sm as { close?: () => Promise<void> } | undefined)?.close?.();
}, 60_000);

describe('Google Cloud Functions entry points (Functions Framework)', () => {
  it('the server listens on 127.0.0.1 only', () => {
    for (const s of servers) expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('resync dry run: 200 with the report, and nothing written anywhere', async () => {
    const before = await writableState(env, prefix);
    const r = await postJson(resync, { clusters: ['dp1'], dryRun: true });
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    expect(r.body.dryRun).toBe(true);
    expect(r.body.clusters.map((c: any) => [c.id, c.store, c.storeEntry])).toEqual([['dp1', 'created', `${prefix}dp1`]]);
    expect(await secretExists('dp1')).toBe(false);
    const cm = await core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
    expect(cm.data?.['clusters.yaml']).toBe(INITIAL_CLUSTERS_YAML);
    await expect(core(env, env.controlPlane).readNamespacedSecret({ name: 'cluster-credentials', namespace: 'flyte' })).rejects.toThrow();
    expect(await writableState(env, prefix)).toEqual(before); // the Kubernetes side (the store is GCP's: checked above)
  });

  it('resync rejects bad input with 400 and the reason, other methods with 405, other bodies with 415', async () => {
    const shape = await postJson(resync, { clusters: 'dp1' });
    expect(shape.status).toBe(400);
    expect(shape.body).toEqual({ code: 'EVENT_INVALID', error: expect.stringMatching(/^invalid resync event: clusters: .*\(expected \{"clusters"\?: \["id", \.\.\.\], "dryRun"\?: boolean\}\)$/) });
    const unknownKey = await postJson(resync, { dryrun: true });
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.body.error).toBe('invalid resync event: <root>: unknown key(s) dryrun (expected {"clusters"?: ["id", ...], "dryRun"?: boolean})');
    const unknown = await postJson(resync, { clusters: ['nope'] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toBe('unknown data plane(s): nope (configured: dp1, dp2, dp3)');
    expect((await call(resync, { headers: { 'content-type': 'application/json' }, body: '{not json' })).status).toBe(400);
    const get = await call(resync, { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.body.error).toMatch(/^method GET not allowed: POST a JSON body/);
    const text = await call(resync, { headers: { 'content-type': 'text/plain' }, body: '{"dryRun": true}' });
    expect(text.status).toBe(415);
    expect(await secretExists('dp1')).toBe(false);
  });

  it('a request the framework cannot parse gets the documented status and a short JSON reason, never an HTML page or a stack', async () => {
    const USAGE = 'POST a JSON body (resync: {"clusters"?: [...], "dryRun"?: boolean}; the event functions: a CloudEvent)';
    const notObject = { error: `the request body is not a JSON object: ${USAGE}`, code: 'EVENT_INVALID' };
    const json = { 'content-type': 'application/json' };
    const ce = { ...json, 'ce-specversion': '1.0', 'ce-id': 'x1', 'ce-type': 'google.cloud.audit.log.v1.written', 'ce-source': '//cloudaudit.googleapis.com/projects/p/logs/activity' };
    const cases: Array<[string, Server, Parameters<typeof call>[1], number, unknown]> = [
      ['resync: not JSON', resync, { headers: json, body: '{not json' }, 400, notObject],
      ['resync: null', resync, { headers: json, body: 'null' }, 400, notObject],
      ['resync: a bare string', resync, { headers: json, body: '"dp1"' }, 400, notObject],
      ['resync: another charset', resync, { headers: { 'content-type': 'application/json; charset=latin1' }, body: '{}' }, 415, { error: 'charset "latin1" not supported: send UTF-8 JSON', code: 'EVENT_INVALID' }],
      ['clusterCreated: no body', clusterCreated, {}, 400, { error: `the request has no body: ${USAGE}`, code: 'EVENT_INVALID' }],
      ['clusterCreated: GET', clusterCreated, { method: 'GET' }, 405, { error: `method GET not allowed: ${USAGE}`, code: 'EVENT_INVALID' }],
      ['clusterCreated: binary CloudEvent, body not JSON', clusterCreated, { headers: ce, body: 'nope' }, 400, notObject],
      ['clusterCreated: binary CloudEvent, text body', clusterCreated, { headers: { ...ce, 'content-type': 'text/plain' }, body: 'nope' }, 400, { error: `the request is not an event this function reads: ${USAGE}`, code: 'EVENT_INVALID' }],
      ['scheduled: null', scheduled, { headers: json, body: 'null' }, 400, notObject],
    ];
    const printedBefore = servers.map((s) => s.printed.length);
    for (const [what, server, init, status, body] of cases) {
      const r = await call(server, init);
      expect([what, r.status, r.body]).toEqual([what, status, body]);
      expect([what, r.text]).not.toEqual([what, expect.stringMatching(/<html|<pre>|node_modules|\n\s+at /i)]);
    }
    // What the servers printed meanwhile: one WARNING line per rejected request, no stack.
    const printed = servers.map((s, i) => s.printed.slice(printedBefore[i])).join('');
    expect(printed).not.toMatch(/node_modules|\n\s+at /);
    expect(printed.match(/"message":"request rejected before the function ran"/g)).toHaveLength(cases.length);
    // Nothing ran: no store entry, and the control plane as it was.
    for (const id of env.dataPlanes) expect(await secretExists(id)).toBe(false);
    const cm = await core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
    expect(cm.data?.['clusters.yaml']).toBe(INITIAL_CLUSTERS_YAML);
  });

  it('scheduled (a Cloud Scheduler message through Pub/Sub) syncs every data plane', async () => {
    const push = sample('gcp-scheduled.json');
    const r = await postCloudEvent(scheduled, { type: 'google.cloud.pubsub.topic.v1.messagePublished', source: '//pubsub.googleapis.com/projects/flyte-prod/topics/credsync-rotation' }, push);
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    expect(r.body.clusters.map((c: any) => [c.id, c.status])).toEqual(env.dataPlanes.map((id) => [id, 'updated']));
    expect(r.body.controlPlane.restarted).toEqual(['flyteadmin', 'syncresources']);
    for (const id of env.dataPlanes) expect(await secretExists(id)).toBe(true);
  });

  it('cluster created: the audit-log CloudEvent (Eventarc) about a data plane syncs that data plane only', async () => {
    const r = await auditLogEvent(clusterCreated, 'dp1');
    expect(r.status).toBe(200);
    expect(r.body.clusters.map((c: any) => [c.id, c.status])).toEqual([['dp1', 'unchanged']]);
    expect(r.body.controlPlane.restarted).toEqual([]);
  });

  it('cluster created: the same entry through a log sink and Pub/Sub (CloudEvent, and a raw push body) syncs it', async () => {
    const push = sample('gke-cluster-created-pubsub.json');
    const ce = await postCloudEvent(clusterCreated, { type: 'google.cloud.pubsub.topic.v1.messagePublished', source: '//pubsub.googleapis.com/projects/flyte-prod/topics/gke-audit' }, push);
    expect(ce.status).toBe(200);
    expect(ce.body.clusters.map((c: any) => [c.id, c.status])).toEqual([['dp1', 'unchanged']]);
    // A push subscription pointed straight at the function: the framework turns it into the same CloudEvent.
    const raw = await call(clusterCreated, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(push) });
    expect(raw.status).toBe(200);
    expect(raw.body.clusters.map((c: any) => [c.id, c.status])).toEqual([['dp1', 'unchanged']]);
  });

  it('cluster created: the entry that only starts the create is synced once the cluster serves (here at once)', async () => {
    const r = await auditLogEvent(clusterCreated, 'dp2', (e) => (e.operation = { id: e.operation.id, first: true }));
    expect(r.status).toBe(200);
    expect(r.body.clusters.map((c: any) => [c.id, c.status])).toEqual([['dp2', 'unchanged']]);
  });

  it('cluster created: another cluster, or another method, is acknowledged (2xx) and ignored, saying why', async () => {
    const other = await auditLogEvent(clusterCreated, 'analytics');
    expect(other.status).toBe(200);
    expect(other.body).toEqual({ ignored: true, reason: 'GKE cluster projects/flyte-prod/locations/europe-west1/clusters/analytics is not a configured or discovered data plane' });
    const failedCall = await auditLogEvent(clusterCreated, 'dp1', (e) => (e.protoPayload.status = { code: 8, message: 'quota' }));
    expect(failedCall.body).toEqual({ ignored: true, reason: 'event is not a successful GKE cluster creation (another method, or a failed call)' });
    expect(output).toMatch(/"severity":"INFO","message":"event ignored"/);
  });

  it('cluster created: a malformed event is acknowledged with an ERROR line (retrying cannot fix it)', async () => {
    const r = await postCloudEvent(clusterCreated, { type: 'google.cloud.audit.log.v1.written', source: '//cloudaudit.googleapis.com/projects/p/logs/activity' }, { hello: 'world' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ rejected: true, reason: expect.stringMatching(/^not a Cloud Audit Log entry: expected an object with protoPayload\.methodName/) });
    expect(output).toMatch(/"severity":"ERROR","message":"event rejected/);
  });

  it('a failed sync: resync answers 500 with the report; a cluster-created event fails (500) so that --retry redelivers it', async () => {
    const r = await postJson(failingResync, {});
    expect(r.status).toBe(500);
    expect(r.body.ok).toBe(false);
    expect(r.body.clusters.find((c: any) => c.id === 'dp2')).toMatchObject({ status: 'failed', code: 'SERVICE_ACCOUNT_MISSING', lastGoodKept: true });
    // The report with the failure's stable code (that of what failed) and a short reason on top.
    expect(r.body.code).toBe('SERVICE_ACCOUNT_MISSING');
    expect(r.body.error).toMatch(/^sync failed: dp2 \[SERVICE_ACCOUNT_MISSING\] data plane dp2: ServiceAccount flyte\/ghost does not exist/);
    const ev = await auditLogEvent(failingCreated, 'dp2');
    expect(ev.status).toBe(500);
    // The 500 answer carries the failure's stable code, like every other answer.
    expect(ev.body).toEqual({ error: expect.stringContaining('sync failed: dp2 [SERVICE_ACCOUNT_MISSING] data plane dp2: ServiceAccount flyte/ghost does not exist'), code: 'SERVICE_ACCOUNT_MISSING' });
    expect(ev.text).not.toMatch(/node_modules|\n\s+at /);
    expect(output).toMatch(/"severity":"ERROR","message":"clusterCreated failed"/);
  });

  it('a failing event older than CREDSYNC_EVENT_MAX_AGE_SECONDS (default 6 h) is given up on: 2xx, an ERROR line, no redelivery', async () => {
    const sevenHoursAgo = new Date(Date.now() - 7 * 3600_000).toISOString();
    const ce = sample('gke-cluster-created-cloudevent.json');
    const entry = ce.data;
    entry.protoPayload.resourceName = 'projects/flyte-prod/locations/europe-west1/clusters/dp2';
    entry.resource.labels.cluster_name = 'dp2';
    const id = `stale-${randomBytes(4).toString('hex')}`;
    const r = await postCloudEvent(failingCreated, { type: ce.type, source: ce.source, id, time: sevenHoursAgo }, entry);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ gaveUp: true, reason: expect.stringMatching(/^sync failed: dp2 \[SERVICE_ACCOUNT_MISSING\] data plane dp2: ServiceAccount flyte\/ghost does not exist/) });
    const line = failingCreated.printed.split('\n').find((l) => l.includes(`"eventId":"${id}"`) && l.includes('giving up'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ severity: 'ERROR', message: 'giving up on this event: older than CREDSYNC_EVENT_MAX_AGE_SECONDS; the scheduled rotation syncs every data plane', code: 'SERVICE_ACCOUNT_MISSING' });
    expect(JSON.parse(line!).ageSeconds).toBeGreaterThanOrEqual(7 * 3600);
  });

  it('cluster deleted (GKE DeleteCluster through Eventarc): malformed, other methods and other clusters touch nothing; dp3 drains, recorded on its GCP secret', async () => {
    // Prepare: every data plane synced (its GCP secret exists).
    expect((await postCloudEvent(scheduled, { type: 'google.cloud.pubsub.topic.v1.messagePublished', source: '//pubsub.googleapis.com/projects/p/topics/t' }, sample('gcp-scheduled.json'))).status).toBe(200);
    const ce = sample('gke-cluster-deleted-cloudevent.json');
    const deleteOf = (clusterName: string, mutate: (e: any) => void = () => {}) => {
      const entry = structuredClone(ce.data);
      entry.protoPayload.resourceName = `projects/flyte-prod/locations/europe-west1/clusters/${clusterName}`;
      entry.resource.labels.cluster_name = clusterName;
      mutate(entry);
      return postCloudEvent(clusterDeleted, { type: ce.type, source: ce.source }, entry);
    };
    const before = await writableState(env, prefix);
    const annotations = async () => (await sm.getSecret({ name: `projects/${env.gcp.project}/secrets/${prefix}dp3` }))[0].annotations ?? {};
    const annotationsBefore = await annotations();
    const malformed = await postCloudEvent(clusterDeleted, { type: ce.type, source: ce.source }, { hello: 'world' });
    expect(malformed.status).toBe(200);
    expect(malformed.body).toEqual({ rejected: true, reason: expect.stringMatching(/^not a Cloud Audit Log entry/) });
    const unnamed = await deleteOf('dp3', (e) => {
      delete e.protoPayload.resourceName;
      delete e.resource.labels;
    });
    expect(unnamed.body).toEqual({ rejected: true, reason: expect.stringMatching(/^GKE DeleteCluster audit entry does not name the cluster/) });
    const created = await auditLogEvent(clusterDeleted, 'dp3');
    expect(created.body).toEqual({ ignored: true, reason: 'event is not a successful GKE cluster deletion (another method, or a failed call)' });
    const other = await deleteOf('analytics');
    expect(other.body).toEqual({ ignored: true, reason: 'GKE cluster projects/flyte-prod/locations/europe-west1/clusters/analytics is not a configured or discovered data plane, and the store has no entry for it' });
    expect(await writableState(env, prefix)).toEqual(before);
    expect(await annotations()).toEqual(annotationsBefore);
    // Act: dp3's cluster is deleted.
    const r = await deleteOf('dp3');
    // Assess: drained (disabled, in no label), the deletion recorded on its secret with its executions counted (other suites may leave some on dp3).
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    expect(r.body.clusters).toEqual([expect.objectContaining({ id: 'dp3', status: 'retiring', retire: expect.objectContaining({ phase: 'draining', forced: { reason: 'deleted', unfinished: expect.any(Number) } }) })]);
    expect((await annotations())['flyte-credsync-lifecycle']).toMatch(/^phase=draining at=\S+ forced=\d+ reason=deleted$/);
    const cm = await core(env, env.controlPlane).readNamespacedConfigMap({ name: 'flyte-admin-clusters-config', namespace: 'flyte' });
    expect(cm.metadata?.annotations?.['flyte-credsync.io/draining-clusters']).toMatch(/^dp3@/);
    expect(cm.data?.['clusters.yaml']).toMatch(/name: dp3\n\s+endpoint: \S+\n\s+enabled: false/);
  });

  it('a deploy source carries nothing of AWS: an AWS configuration fails with CONFIG_INVALID, saying where AWS runs', async () => {
    // Prepare: resync with AWS Secrets Manager as the store (the Cloud Function's AWS SDK is a stand-in).
    const file = join(mkdtempSync(join(tmpdir(), 'credsync-gcf-aws-')), 'credsync.yaml');
    writeFileSync(
      file,
      stringify({
        controlPlane: { access: { type: 'kubeconfig', context: env.controlPlane, path: env.kubeconfig } },
        store: { aws: { region: env.aws.region, prefix: `${prefix}aws/`, endpoint: env.aws.endpoint } },
        dataPlanes: [dataPlane('dp1')],
      }),
    );
    const aws = await startFunction('resync', file);
    // Act
    const r = await postJson(aws, { dryRun: true });
    // Assess
    expect(r.status).toBe(500);
    expect(r.body.code).toBe('CONFIG_INVALID');
    expect(r.body.error).toMatch(/SecretsManagerClient is from the AWS SDK, which the Google Cloud Functions package does not include/);
  });

  it('tokens and CA keys never appear in any output or response', async () => {
    for (const id of env.dataPlanes) {
      const forms = secretForms(await filledTokenSecret(env, id));
      for (const text of [output, ...servers.map((s) => s.printed)]) for (const f of forms) expect(text.includes(f)).toBe(false);
    }
    // Every line the functions wrote through their logger is one JSON object with a severity.
    const lines = servers.flatMap((s) => s.printed.split('\n')).filter((l) => l.includes('"component":"flyte-credsync"'));
    expect(lines.length).toBeGreaterThan(10);
    for (const l of lines) expect(JSON.parse(l).severity).toMatch(/^(DEBUG|INFO|WARNING|ERROR)$/);
  });
});
