/** `serverless package` works offline and bundles each function with only what it needs. */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

describe('serverless package', () => {
  it('makes one zip per function holding its bundled handler and the shipped configuration', () => {
    const r = spawnSync(process.execPath, ['node_modules/osls/bin/serverless.js', 'package'], { encoding: 'utf8', timeout: 300_000, killSignal: 'SIGKILL', env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' } });
    expect(r.stderr + r.stdout).toContain('Service packaged');
    expect(r.status).toBe(0);
    for (const fn of ['scheduled', 'clusterCreated', 'resync', 'secretsManagerRotation']) {
      const zip = join('.serverless', `${fn}.zip`);
      expect(existsSync(zip)).toBe(true);
      const list = spawnSync('python3', ['-c', 'import sys,zipfile; print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))', zip], { encoding: 'utf8', timeout: 60_000 }).stdout.trim().split('\n').sort();
      expect(list).toEqual(['config/credsync.yaml', `handlers/${fn}.cjs`, `handlers/${fn}.cjs.map`]);
    }
    const cfn = JSON.parse(readFileSync('.serverless/cloudformation-template-update-stack.json', 'utf8'));
    const fns = Object.values(cfn.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>).filter((x) => x.Type === 'AWS::Lambda::Function');
    expect(fns).toHaveLength(4);
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
  }, 180_000);
});
