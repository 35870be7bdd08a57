/**
 * `serverless package` works offline and makes small functions that load only what they need:
 * each zip holds its minified bundle and the configuration (no source map), stays under its ceiling,
 * carries no GCP client, and the packaged handler, unzipped as Lambda runs it, really syncs.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { exportAwsEnv, loadTestEnv, resetControlPlane, uniquePrefix, writeEnvConfigFile } from './helpers.ts';

const FUNCTIONS = ['scheduled', 'clusterCreated', 'resync', 'secretsManagerRotation'];
/** Issue #9: each function zip at most 0.5 MB (README "What each zip holds"). */
const MAX_ZIP_BYTES = 500_000;
/**
 * What an AWS function must never carry (README "What each zip holds"): the GCP clients, their
 * gRPC layer google-gax, google-auth-library.
 */
const GCP_PACKAGES = /node_modules\/(@google-cloud\/|google-gax\/|google-auth-library\/)/;
/**
 * FlyteAdmin's transport, loaded only when labels are configured: in files of their own beside the
 * handler (scripts/bundle/lambda-plugins.cjs), never in the handler's bundle, which every cold start
 * compiles. The Flyte IDL's generated code for the whole IDL is in neither (lib/labels/idl.ts).
 */
const VENDOR = ['grpc-js', 'protobufjs-light'];
const FLYTEADMIN_TRANSPORT = /node_modules\/(@grpc\/|protobufjs\/|@flyteorg\/flyteidl\/gen\/)/;

const readMeta = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { inputs: Record<string, unknown> };

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

  it('makes one zip per function, under its ceiling, holding only its bundle and the shipped configuration', () => {
    for (const fn of FUNCTIONS) {
      const zip = join('.serverless', `${fn}.zip`);
      expect(existsSync(zip)).toBe(true);
      expect(zipList(zip)).toEqual(['config/credsync.yaml', `handlers/${fn}.cjs`, ...VENDOR.map((v) => `handlers/vendor/${v}.cjs`)]);
      expect(statSync(zip).size).toBeLessThanOrEqual(MAX_ZIP_BYTES);
      // The source map stays beside the bundle, for the release, not in the zip.
      expect(existsSync(join('.esbuild/.build/handlers', `${fn}.cjs.map`))).toBe(true);
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

  it('no AWS bundle contains a GCP client, google-gax or google-auth-library, and FlyteAdmin\'s transport is apart (esbuild metafiles)', () => {
    const vendor = VENDOR.map((v) => readMeta(join('.esbuild/.build/handlers/vendor', `${v}-meta.json`)));
    for (const fn of FUNCTIONS) {
      const inputs = Object.keys(readMeta(join('.esbuild/.build/handlers', `${fn}-meta.json`)).inputs);
      expect(inputs.length).toBeGreaterThan(50); // it is the real metafile of a real bundle
      expect(inputs.filter((f) => f.includes('node_modules/@aws-sdk/client-secrets-manager/')).length).toBeGreaterThan(0);
      expect(inputs.filter((f) => GCP_PACKAGES.test(f))).toEqual([]);
      // The client's own code (and its slice of the IDL) is in the bundle, evaluated only with labels.
      expect(inputs).toContain('lib/labels/flyteidl-subset.ts');
      expect(inputs.filter((f) => FLYTEADMIN_TRANSPORT.test(f))).toEqual([]);
    }
    const [grpc, protobuf] = vendor.map((m) => Object.keys(m.inputs));
    expect(grpc!.filter((f) => f.includes('node_modules/@grpc/grpc-js/')).length).toBeGreaterThan(20);
    expect(protobuf!.filter((f) => f.includes('node_modules/protobufjs/')).length).toBeGreaterThan(10);
    // Nothing in both, nothing from GCP, and neither .proto loader nor the whole generated IDL.
    expect(grpc!.filter((f) => protobuf!.includes(f))).toEqual([]);
    for (const inputs of [grpc!, protobuf!]) {
      expect(inputs.filter((f) => GCP_PACKAGES.test(f) || /node_modules\/(@grpc\/proto-loader|@flyteorg)\//.test(f))).toEqual([]);
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
    // With labels: FlyteAdmin's client loads its transport (handlers/vendor/) from the zip and lists the rows.
    const assignment = { project: 'zip-check', domain: 'development', label: 'team1' };
    writeFileSync(
      config,
      stringifyYaml({ ...parseYaml(readFileSync(config, 'utf8')), labels: { flyteadmin: { endpoint: env.flyteadmin.insecureEndpoint, insecure: true }, assignments: [assignment] } }),
    );
    // Act: a new process, as the runtime: require the handler and invoke it.
    const script =
      `require('./handlers/resync.cjs').handler({ dryRun: true }).then((r) => console.log(JSON.stringify({ ok: r.ok, dryRun: r.dryRun, ` +
      `clusters: r.clusters.map((c) => [c.id, c.status, c.store]), labels: r.labels && r.labels.changes.map((c) => [c.scope, c.label, c.action]), labelsError: r.labelsError, ` +
      `vendor: Object.keys(require.cache).filter((f) => f.includes('vendor')).map((f) => f.slice(f.indexOf('handlers/'))).sort() })), (e) => { console.error(e.message); process.exit(1); })`;
    const r = spawnSync(process.execPath, ['-e', script], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, CREDSYNC_CONFIG: config, POWERTOOLS_LOG_LEVEL: 'ERROR' },
    });
    // Assess
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toEqual({
      ok: true,
      dryRun: true,
      clusters: seeded.map((id) => [id, 'updated', 'created']),
      labels: [['zip-check/development', 'team1', 'create']],
      vendor: VENDOR.map((v) => `handlers/vendor/${v}.cjs`),
    });
  }, 180_000);
});
