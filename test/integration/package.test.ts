/**
 * `serverless package` works offline and makes small functions that load only what they need:
 * each zip holds its minified ES module bundle, split into the handler's file and chunks, and the
 * configuration (no source map), stays under its ceiling, carries no GCP client, loads at a cold
 * start none of what only some configurations use, and the packaged handler, unzipped as Lambda
 * runs it, really syncs.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { exportAwsEnv, loadTestEnv, resetControlPlane, uniquePrefix, writeEnvConfigFile } from './helpers.ts';

const FUNCTIONS = ['scheduled', 'clusterCreated', 'clusterDeleted', 'resync', 'secretsManagerRotation'];
/** Issue #9: each function zip at most 0.5 MB (docs/deploy-aws.md "What each zip holds"). */
const MAX_ZIP_BYTES = 500_000;
/**
 * What an AWS function must never carry (docs/deploy-aws.md "What each zip holds"): the GCP clients, their
 * gRPC layer google-gax, google-auth-library.
 */
const GCP_PACKAGES = /node_modules\/(@google-cloud\/|google-gax\/|google-auth-library\/)/;
/**
 * What only some configurations use, in chunks loaded on first use, never in what a cold start
 * loads (the handler's file and the chunks it imports): FlyteAdmin's transport (gRPC, protobufjs;
 * labels), the SSM client (`CREDSYNC_CONFIG=ssm:`), the EKS client (EKS access and discovery) and
 * client-node with js-yaml (kubeconfig access). The Flyte IDL's generated code for the whole IDL
 * is in no chunk at all (lib/labels/idl.ts).
 */
const FLYTEADMIN_TRANSPORT = /node_modules\/(@grpc\/grpc-js\/|protobufjs\/)/;
const ON_FIRST_USE = /node_modules\/(@grpc\/|protobufjs\/|@flyteorg\/flyteidl\/gen\/|@aws-sdk\/client-ssm\/|@aws-sdk\/client-eks\/|@kubernetes\/client-node\/|js-yaml\/)/;

interface Meta {
  inputs: Record<string, unknown>;
  outputs: Record<string, { entryPoint?: string; imports: Array<{ path: string; kind: string }>; inputs: Record<string, unknown> }>;
}
const readMeta = (fn: string) => JSON.parse(readFileSync(join('.esbuild/.build/handlers', `${fn}-meta.json`), 'utf8')) as Meta;

/** The bundle's files (no source maps), and those a cold start loads: the handler's file and what it imports statically. */
function bundleFiles(meta: Meta, fn: string): { all: string[]; atColdStart: string[] } {
  const all = Object.keys(meta.outputs).filter((o) => !o.endsWith('.map'));
  const entry = all.find((o) => o.endsWith(`handlers/${fn}.js`))!;
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const o = todo.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const i of meta.outputs[o]!.imports) if (i.kind === 'import-statement' && meta.outputs[i.path]) todo.push(i.path);
  }
  return { all, atColdStart: [...seen] };
}
const inputsOf = (meta: Meta, outputs: string[]) => outputs.flatMap((o) => Object.keys(meta.outputs[o]!.inputs));

const zipList = (zip: string) =>
  spawnSync('python3', ['-c', 'import sys,zipfile; print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))', zip], { encoding: 'utf8', timeout: 60_000 })
    .stdout.trim()
    .split('\n')
    .sort();

describe('serverless package', () => {
  beforeAll(() => {
    const r = spawnSync(process.execPath, ['node_modules/osls/bin/serverless.js', 'package'], {
      encoding: 'utf8',
      timeout: 600_000,
      killSignal: 'SIGKILL',
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
    });
    expect(r.stderr + r.stdout).toContain('Service packaged');
    expect(r.status).toBe(0);
  }, 620_000);

  it('makes one zip per function, under its ceiling, holding only its bundle, its own chunks and the shipped configuration', () => {
    for (const fn of FUNCTIONS) {
      const zip = join('.serverless', `${fn}.zip`);
      expect(existsSync(zip)).toBe(true);
      const chunks = bundleFiles(readMeta(fn), fn).all.filter((o) => o.includes('/handlers/chunks/')).map((o) => o.slice(o.indexOf('handlers/chunks/')));
      expect(chunks.every((c) => c.startsWith(`handlers/chunks/${fn}/`))).toBe(true);
      expect(chunks.length).toBeGreaterThan(5);
      expect(zipList(zip)).toEqual(['config/credsync.yaml', `handlers/${fn}.js`, 'handlers/package.json', ...chunks].sort());
      expect(statSync(zip).size).toBeLessThanOrEqual(MAX_ZIP_BYTES);
      // The source maps stay beside the bundle, for the release, not in the zip.
      expect(existsSync(join('.esbuild/.build/handlers', `${fn}.js.map`))).toBe(true);
      // Unzipped on its own, as Lambda runs it, the handler loads (its chunks are there and match it).
      const dir = mkdtempSync(join(tmpdir(), `credsync-zip-${fn}-`));
      expect(spawnSync('python3', ['-m', 'zipfile', '-e', zip, dir], { encoding: 'utf8', timeout: 60_000 }).status).toBe(0);
      const load = spawnSync(process.execPath, ['-e', `import('./handlers/${fn}.js').then((m) => console.log(typeof m.handler))`], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect({ fn, status: load.status, stdout: load.stdout.trim(), stderr: load.stderr }).toEqual({ fn, status: 0, stdout: 'function', stderr: '' });
    }
    const cfn = JSON.parse(readFileSync('.serverless/cloudformation-template-update-stack.json', 'utf8'));
    const fns = Object.values(cfn.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>).filter((x) => x.Type === 'AWS::Lambda::Function');
    expect(fns).toHaveLength(FUNCTIONS.length);
    for (const f of fns) {
      expect(f.Properties['Runtime']).toBe('nodejs22.x');
      expect(f.Properties['ReservedConcurrentExecutions']).toBe(1);
    }
    // Secrets Manager may invoke the rotation function, for this account's secrets only.
    const perm = cfn.Resources['SecretsManagerRotationInvokePermission'];
    expect(perm).toMatchObject({
      Type: 'AWS::Lambda::Permission',
      Properties: { Action: 'lambda:InvokeFunction', Principal: 'secretsmanager.amazonaws.com', FunctionName: { 'Fn::GetAtt': ['SecretsManagerRotationLambdaFunction', 'Arn'] } },
    });
    expect(perm.Properties.SourceAccount).toEqual({ Ref: 'AWS::AccountId' });
    const actions = JSON.stringify(cfn.Resources['IamRoleLambdaExecution'].Properties.Policies);
    expect(actions).toContain('secretsmanager:UpdateSecretVersionStage');
  });

  it('no AWS bundle contains a GCP client, google-gax or google-auth-library, and a cold start loads none of what only some configurations use (esbuild metafiles)', () => {
    for (const fn of FUNCTIONS) {
      const meta = readMeta(fn);
      const { all, atColdStart } = bundleFiles(meta, fn);
      const inputs = inputsOf(meta, all);
      const loaded = inputsOf(meta, atColdStart);
      expect(inputs.length).toBeGreaterThan(50); // it is the real metafile of a real bundle
      expect(loaded.filter((f) => f.includes('node_modules/@aws-sdk/client-secrets-manager/')).length).toBeGreaterThan(0);
      expect(Object.keys(meta.inputs).filter((f) => GCP_PACKAGES.test(f))).toEqual([]);
      expect(loaded.filter((f) => ON_FIRST_USE.test(f))).toEqual([]);
      // ...but they are in the zip's chunks: FlyteAdmin's client and transport, SSM, EKS, kubeconfig.
      expect(inputs).toContain('lib/labels/flyteidl-subset.ts');
      expect(inputs.filter((f) => f.includes('node_modules/@grpc/grpc-js/')).length).toBeGreaterThan(20);
      expect(inputs.filter((f) => f.includes('node_modules/protobufjs/')).length).toBeGreaterThan(10);
      expect(inputs.filter((f) => /node_modules\/(@grpc\/proto-loader|@flyteorg\/flyteidl\/gen)\//.test(f))).toEqual([]);
      for (const pkg of ['@aws-sdk/client-ssm/', '@aws-sdk/client-eks/', '@kubernetes/client-node/'])
        expect(inputs.filter((f) => f.includes(`node_modules/${pkg}`)).length).toBeGreaterThan(0);
      expect(inputs.filter((f) => FLYTEADMIN_TRANSPORT.test(f)).length).toBeGreaterThan(30);
    }
  });

  it('the packaged handler, unzipped as Lambda runs it, syncs the local environment (dry run)', async () => {
    // Prepare: the resync zip unpacked on its own, a configuration for the local environment.
    const env = loadTestEnv();
    exportAwsEnv(env);
    await resetControlPlane(env);
    const seeded = env.dataPlanes.slice(0, 2); // seeded with a filled token Secret
    const dir = mkdtempSync(join(tmpdir(), 'credsync-zip-'));
    const unzip = spawnSync('python3', ['-m', 'zipfile', '-e', '.serverless/resync.zip', dir], { encoding: 'utf8', timeout: 60_000 });
    expect(unzip.status).toBe(0);
    const config = writeEnvConfigFile(env, dir, uniquePrefix('zip'), seeded);
    // With labels: FlyteAdmin's client loads its transport (a chunk) from the zip and lists the rows.
    const assignment = { project: 'zip-check', domain: 'development', label: 'team1' };
    writeFileSync(
      config,
      stringifyYaml({ ...parseYaml(readFileSync(config, 'utf8')), labels: { flyteadmin: { endpoint: env.flyteadmin.insecureEndpoint, insecure: true }, assignments: [assignment] } }),
    );
    // Act: a new process, as the runtime: import the handler and invoke it.
    const script =
      `import('./handlers/resync.js').then((m) => m.handler({ dryRun: true })).then((r) => console.log(JSON.stringify({ ok: r.ok, dryRun: r.dryRun, ` +
      `clusters: r.clusters.map((c) => [c.id, c.status, c.store]), labels: r.labels && r.labels.changes.map((c) => [c.scope, c.label, c.action]), labelsError: r.labelsError })), ` +
      `(e) => { console.error(e.message); process.exit(1); })`;
    const r = spawnSync(process.execPath, ['-e', script], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, CREDSYNC_CONFIG: config, POWERTOOLS_LOG_LEVEL: 'ERROR' },
    });
    // Assess: with labels, FlyteAdmin's client loaded its transport from the zip's chunks and listed the rows.
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toEqual({
      ok: true,
      dryRun: true,
      clusters: seeded.map((id) => [id, 'updated', 'created']),
      labels: [['zip-check/development', 'team1', 'create']],
    });
  }, 180_000);
});
