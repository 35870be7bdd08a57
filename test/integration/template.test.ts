/**
 * The CloudFormation template `serverless package` generates, validated as AWS would see it:
 * cfn-lint (PyPI, installed into a cached virtualenv like moto) reports zero errors and zero
 * warnings, with and without the VPC and alarm-topic parameters; the IAM statements keep the
 * least-privilege promises of docs/permissions.md; the alarms read the metrics the functions publish.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCfnLint } from '../env/build.ts';

type Template = { Parameters: Record<string, { Default?: string }>; Conditions: unknown; Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };

/** Runs a command to completion, bounded in time; output collected. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function packageWith(params: string[]): Promise<{ file: string; template: Template }> {
  const dir = mkdtempSync(join(tmpdir(), 'credsync-template-'));
  const r = await run(process.execPath, ['node_modules/osls/bin/serverless.js', 'package', '--package', dir, ...params.map((p) => `--param=${p}`)], 300_000);
  if (r.code !== 0) throw new Error(`serverless package failed (${r.code}):\n${r.out.slice(-2000)}`);
  const file = join(dir, 'cloudformation-template-update-stack.json');
  return { file, template: JSON.parse(readFileSync(file, 'utf8')) as Template };
}

let cfnLint: string;
let plain: { file: string; template: Template };
let vpc: { file: string; template: Template };
const VPC_PARAMS = ['vpcSubnetIds=subnet-0a1b2c3d,subnet-4e5f6a7b', 'vpcSecurityGroupIds=sg-0123abcd', 'alarmTopicArn=arn:aws:sns:us-east-1:123456789012:ops', 'memorySize=512'];

beforeAll(async () => {
  cfnLint = await ensureCfnLint();
  // One after the other: both write the same .esbuild working directory.
  plain = await packageWith([]);
  vpc = await packageWith(VPC_PARAMS);
}, 900_000);

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}
const statements = (t: Template): Statement[] =>
  (t.Resources['IamRoleLambdaExecution']!.Properties['Policies'] as Array<{ PolicyDocument: { Statement: Statement[] } }>).flatMap((p) => p.PolicyDocument.Statement);
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resources = (s: Statement) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);
const retryQueue = { 'Fn::GetAtt': ['ClusterCreatedRetryQueue', 'Arn'] };
const deletedRetryQueue = { 'Fn::GetAtt': ['ClusterDeletedRetryQueue', 'Arn'] };

describe('the generated CloudFormation template', () => {
  it('passes cfn-lint with zero errors and warnings, as packaged and with the VPC and alarm-topic parameters', async () => {
    for (const { file } of [plain, vpc]) {
      const r = await run(cfnLint, ['--format', 'parseable', file], 120_000);
      expect(r.out.trim()).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('IAM keeps docs/permissions.md\'s least-privilege promises: no wildcard action, secrets scoped to the prefix, no delete but a retired data plane\'s secret (scoped to the prefix) and the retry queues\' own messages', () => {
    const all = statements(plain.template);
    expect(all.every((s) => s.Effect === 'Allow')).toBe(true);
    for (const s of all) for (const a of actions(s)) expect(a).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/); // no `*`, no `svc:*`, no `Get*`
    const secrets = all.filter((s) => actions(s).some((a) => a.startsWith('secretsmanager:')) && !resources(s).includes('*'));
    expect(secrets).toHaveLength(1);
    expect(actions(secrets[0]!).sort()).toEqual([
      'secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource',
      'secretsmanager:UpdateSecretVersionStage', // rotation: AWSPENDING/AWSCURRENT
    ]);
    expect(secrets[0]!.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:flyte-credsync/*' });
    const ssm = all.filter((s) => actions(s).some((a) => a.startsWith('ssm:')));
    expect(ssm.map((s) => [actions(s), s.Resource])).toEqual([
      [['ssm:GetParameter'], { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/flyte-credsync/*' }],
    ]);
    const deletes = all.flatMap((s) => actions(s).filter((a) => /Delete/.test(a)).map((a) => [a, resources(s)]));
    // Retirement schedules a secret's deletion (with a recovery window), on the prefix only; Lambda's
    // SQS event sources need DeleteMessage, on the two retry queues only (cluster created, cluster deleted).
    expect(deletes).toEqual([['secretsmanager:DeleteSecret', [secrets[0]!.Resource]], ['sqs:DeleteMessage', [retryQueue, deletedRetryQueue]]]);
    const unscoped = all.filter((s) => resources(s).includes('*')).flatMap(actions);
    // None of these has a resource-level permission; BatchGetSecretValue still needs GetSecretValue
    // on each secret, which the scoped statement above grants on the prefix only.
    expect(unscoped.sort()).toEqual(['eks:ListClusters', 'secretsmanager:BatchGetSecretValue', 'secretsmanager:ListSecrets']);
    expect(plain.template.Resources['IamRoleLambdaExecution']!.Properties['ManagedPolicyArns']).toEqual({
      'Fn::If': ['InVpc', [{ 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole' }], { Ref: 'AWS::NoValue' }],
    });
  });

  it('the VPC parameters put every function in the subnets and security groups given, and none without them; memorySize sizes them', () => {
    const fns = (t: Template) => Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    for (const t of [plain.template, vpc.template]) {
      expect(fns(t)).toHaveLength(5);
      for (const [, f] of fns(t))
        expect(f.Properties['VpcConfig']).toEqual({ 'Fn::If': ['InVpc', { SubnetIds: { Ref: 'VpcSubnetIds' }, SecurityGroupIds: { Ref: 'VpcSecurityGroupIds' } }, { Ref: 'AWS::NoValue' }] });
    }
    // The memorySize parameter (docs/operations.md "Limits": 512 for more headroom) sizes every function.
    for (const [t, mb] of [[plain.template, 256], [vpc.template, 512]] as const) for (const [, f] of fns(t)) expect(f.Properties['MemorySize']).toBe(mb);
    expect(plain.template.Parameters['VpcSubnetIds']!.Default).toBe('');
    expect(vpc.template.Parameters['VpcSubnetIds']!.Default).toBe('subnet-0a1b2c3d,subnet-4e5f6a7b');
    expect(vpc.template.Parameters['VpcSecurityGroupIds']!.Default).toBe('sg-0123abcd');
    expect(vpc.template.Conditions).toEqual({
      HasAlarmTopic: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmTopicArn' }, ''] }] },
      InVpc: { 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': [',', { Ref: 'VpcSubnetIds' }] }, ''] }] },
    });
  });

  it('the alarms read the metrics the functions really publish (lib/runtime/metrics.ts, EMF) and notify the topic when one is given', () => {
    const alarms = Object.entries(plain.template.Resources)
      .filter(([, x]) => x.Type === 'AWS::CloudWatch::Alarm')
      .map(([name, x]) => [name, x.Properties['Namespace'], x.Properties['MetricName'], x.Properties['Dimensions'], x.Properties['AlarmActions']]);
    const topic = { 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] };
    expect(alarms).toEqual([
      ['ScheduledRunFailedAlarm', 'AWS/Lambda', 'Errors', [{ Name: 'FunctionName', Value: 'flyte-credsync-dev-scheduled' }], topic],
      ['DataPlanesFailedAlarm', 'FlyteCredsync', 'DataPlanesFailed', [{ Name: 'service', Value: 'flyte-credsync' }, { Name: 'function', Value: 'scheduled' }], topic],
      ['CredentialOverdueAlarm', 'FlyteCredsync', 'RotationsOverdue', [{ Name: 'service', Value: 'flyte-credsync' }, { Name: 'function', Value: 'scheduled' }], topic],
      ['ControlPlaneDriftAlarm', 'FlyteCredsync', 'ControlPlaneDrift', [{ Name: 'service', Value: 'flyte-credsync' }, { Name: 'function', Value: 'scheduled' }], topic],
      ['ControlPlaneContestedAlarm', 'FlyteCredsync', 'ControlPlaneContested', [{ Name: 'service', Value: 'flyte-credsync' }, { Name: 'function', Value: 'scheduled' }], topic],
      ['ClusterCreatedDeadLetterAlarm', 'AWS/SQS', 'ApproximateNumberOfMessagesVisible', [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ClusterCreatedDeadLetterQueue', 'QueueName'] } }], topic],
      ['ClusterDeletedDeadLetterAlarm', 'AWS/SQS', 'ApproximateNumberOfMessagesVisible', [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ClusterDeletedDeadLetterQueue', 'QueueName'] } }], topic],
    ]);
    expect(vpc.template.Parameters['AlarmTopicArn']!.Default).toBe('arn:aws:sns:us-east-1:123456789012:ops');
  });
});
