/**
 * `serverless package` works offline and makes small functions that load only what they need:
 * each zip holds its minified bundle and the configuration (no source map), stays under its ceiling,
 * carries no GCP client, and the packaged handler, unzipped as Lambda runs it, really syncs.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportAwsEnv, loadTestEnv, resetControlPlane, uniquePrefix, writeEnvConfigFile } from './helpers.ts';

const FUNCTIONS = ['scheduled', 'clusterCreated', 'resync', 'secretsManagerRotation'];
/**
 * The ceiling for a function zip. Issue #9 asks for 0.5 MB, which held (about 450 KB) until labels
 * brought FlyteAdmin's client into every function: the Flyte IDL, gRPC and protobufjs add about
 * 240 KB zipped (bench/RESULTS.md "Bundles"). This ceiling catches any further growth.
 */
const MAX_ZIP_BYTES = 750_000;
/**
 * What an AWS function must never carry (README "What each zip holds"): the GCP clients, their
 * gRPC layer google-gax, google-auth-library. (gRPC itself is FlyteAdmin's transport for labels.)
 */
const GCP_PACKAGES = /node_modules\/(@google-cloud\/|google-gax\/|google-auth-library\/)/;

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
      expect(zipList(zip)).toEqual(['config/credsync.yaml', `handlers/${fn}.cjs`]);
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

  it('no AWS bundle contains a GCP client, google-gax or google-auth-library (esbuild metafile)', () => {
    for (const fn of FUNCTIONS) {
      const meta = JSON.parse(readFileSync(join('.esbuild/.build/handlers', `${fn}-meta.json`), 'utf8')) as { inputs: Record<string, unknown> };
      const inputs = Object.keys(meta.inputs);
      expect(inputs.length).toBeGreaterThan(50); // it is the real metafile of a real bundle
      expect(inputs.filter((f) => f.includes('node_modules/@aws-sdk/client-secrets-manager/')).length).toBeGreaterThan(0);
      expect(inputs.filter((f) => GCP_PACKAGES.test(f))).toEqual([]);
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
    // Act: a new process, as the runtime: require the handler and invoke it.
    const script = `require('./handlers/resync.cjs').handler({ dryRun: true }).then((r) => console.log(JSON.stringify({ ok: r.ok, dryRun: r.dryRun, clusters: r.clusters.map((c) => [c.id, c.status, c.store]) })), (e) => { console.error(e.message); process.exit(1); })`;
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
    });
  }, 180_000);
});
