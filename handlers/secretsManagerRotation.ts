/**
 * AWS Secrets Manager rotation function: `aws secretsmanager rotate-secret` and Secrets Manager's
 * own schedule invoke it four times per rotation (createSecret, setSecret, testSecret,
 * finishSecret); each step drives the same rotation as the scheduled function
 * (lib/sync/secretsmanager.ts). A failed step throws, which Secrets Manager records as a
 * failed rotation; the next attempt's createSecret clears what it left in AWSPENDING.
 */
import type { Context } from 'aws-lambda';
import { prepare } from '../lib/runtime/invocation.ts';
import { log, underLambdaDeadline } from '../lib/runtime/lambda/adapter.ts';
import { parseRotationEvent, rotationProtocolStep, type StepResult } from '../lib/sync/secretsmanager.ts';
import { echo } from '../lib/util/bounded.ts';

export async function handler(event: unknown, context?: Context): Promise<StepResult> {
  const ev = parseRotationEvent(event);
  log.info('secrets manager rotation step', { step: ev.Step, secret: echo(ev.SecretId), token: echo(ev.ClientRequestToken, 100) });
  // Every step runs under the deadline: prepare (discovery), the store's reads, the mint, the test.
  const r = await underLambdaDeadline(context, async () => rotationProtocolStep((await prepare(log)).deps, ev));
  log.info('secrets manager rotation step done', { step: r.step, cluster: r.cluster, outcome: r.outcome });
  return r;
}
