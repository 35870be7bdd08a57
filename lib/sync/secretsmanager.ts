/**
 * AWS Secrets Manager's rotation protocol on top of the rotation state machine, so that
 * `aws secretsmanager rotate-secret` and Secrets Manager's own schedule drive the same rotation
 * as the scheduled function. Secrets Manager invokes the function four times per rotation with
 * `{ Step, SecretId, ClientRequestToken }`; each step is idempotent (it may be retried):
 *
 * - `createSecret`: mint the next generation on the data plane and stage it as the AWSPENDING
 *   version whose id is the ClientRequestToken. A version left in AWSPENDING by a failed earlier
 *   attempt (the protocol's known failure: "a previous rotation isn't complete") is revoked and
 *   its label dropped first, so the new attempt can proceed.
 * - `setSecret`: nothing; the credential already exists on the data plane (minted above).
 * - `testSecret`: verify the pending credential exactly as the sync does; a failure fails the step.
 * - `finishSecret`: make it AWSCURRENT and record the state `published`, then run the sync for
 *   that data plane: publish, restart, wait for the rollout, revoke the previous generation. A
 *   rollout that does not complete in the invocation leaves the revoke to the next run.
 */
import { CredsyncError, describeError } from '../errors.ts';
import { requireRotation, settingsFor } from '../rotation/config.ts';
import { mintNext, revokeObject, verifyGeneration } from '../rotation/rotate.ts';
import { CLUSTER_KEY, hasRotationProtocol, seenOf } from '../stores/types.ts';
import { echo } from '../util/bounded.ts';
import { runSync, type SyncDeps, type SyncReport } from './sync.ts';

export type RotationStep = 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';

export interface RotationEvent {
  Step: RotationStep;
  /** The secret's ARN or name. */
  SecretId: string;
  /** The version id of the new (AWSPENDING) version. */
  ClientRequestToken: string;
}

/** How many generations above the current one createSecret checks for a left-over object. */
const ORPHANS_CHECKED = 10;

const STEPS: readonly RotationStep[] = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'];

/**
 * Checks the shape of a rotation event.
 * @throws EventError-like CredsyncError EVENT_INVALID naming what is wrong
 */
export function parseRotationEvent(e: unknown): RotationEvent {
  const o = (e ?? {}) as Partial<RotationEvent>;
  const problems: string[] = [];
  if (!STEPS.includes(o.Step as RotationStep)) problems.push(`Step must be one of ${STEPS.join(', ')}`);
  if (typeof o.SecretId !== 'string' || !o.SecretId) problems.push('SecretId must be a secret ARN or name');
  if (typeof o.ClientRequestToken !== 'string' || !/^[A-Za-z0-9-]{32,64}$/.test(o.ClientRequestToken)) problems.push('ClientRequestToken must be 32-64 characters');
  if (problems.length) throw new CredsyncError('EVENT_INVALID', `invalid Secrets Manager rotation event: ${problems.join('; ')}`);
  return o as RotationEvent;
}

export interface StepResult {
  step: RotationStep;
  cluster: string;
  /** What the step did: `minted generation 4`, `already staged`, `verified`, ... */
  outcome: string;
  /** finishSecret: the sync that published and finished the rotation. */
  report?: SyncReport;
}

/**
 * The checks of AWS's rotation function templates, before any step does anything: rotation must
 * be enabled on the secret, and the token must be a version Secrets Manager staged for this
 * rotation (AWSPENDING; AWSCURRENT when the rotation already finished, which every step accepts).
 * @throws CredsyncError `ROTATION_NOT_ENABLED`; `EVENT_INVALID` for a token that is not such a version
 */
function checkProtocol(ev: RotationEvent, info: { rotationEnabled: boolean; stages: Record<string, string[]> }): void {
  const secret = echo(ev.SecretId);
  if (!info.rotationEnabled)
    throw new CredsyncError('ROTATION_NOT_ENABLED', `secret ${secret}: rotation is not enabled on it (DescribeSecret: RotationEnabled is false); ${ev.Step} refused, nothing changed`);
  const stages = info.stages[ev.ClientRequestToken];
  if (!stages)
    throw new CredsyncError('EVENT_INVALID', `secret ${secret}: version ${echo(ev.ClientRequestToken, 100)} has no stage for rotation (it is not a version Secrets Manager is rotating); ${ev.Step} refused, nothing changed`);
  if (!stages.includes('AWSCURRENT') && !stages.includes('AWSPENDING'))
    throw new CredsyncError('EVENT_INVALID', `secret ${secret}: version ${echo(ev.ClientRequestToken, 100)} is not AWSPENDING (its stages: ${stages.join(', ') || 'none'}); ${ev.Step} refused, nothing changed`);
}

/**
 * Runs one step for the secret of a rotating data plane.
 * @throws CredsyncError UNSUPPORTED when the secret is not one of ours; ROTATION_NOT_CONFIGURED for a
 *   data plane without rotation settings; ROTATION_NOT_ENABLED / EVENT_INVALID (see {@link checkProtocol});
 *   CREDENTIAL_REJECTED from testSecret; whatever the cluster or store raised otherwise
 */
export async function rotationProtocolStep(deps: SyncDeps, ev: RotationEvent): Promise<StepResult> {
  const store = deps.store;
  if (!hasRotationProtocol(store) || !deps.rotation) throw new CredsyncError('UNSUPPORTED', 'Secrets Manager rotation needs the AWS Secrets Manager store');
  const info = await store.rotationInfo(ev.SecretId);
  if (!info) throw new CredsyncError('STORE_ERROR', `secret ${echo(ev.SecretId)} does not exist`);
  const dp = deps.config.dataPlanes.find((d) => d.id === info.clusterId);
  if (!dp) throw new CredsyncError('UNKNOWN_DATA_PLANE', `secret ${echo(ev.SecretId)} belongs to data plane ${info.clusterId ?? '(none: no ' + CLUSTER_KEY + ' tag)'}, which is not configured`);
  requireRotation(deps.config, `Secrets Manager rotation of ${echo(ev.SecretId)}`, [dp.id]);
  const settings = settingsFor(deps.config, dp)!;
  checkProtocol(ev, info);
  const result = (outcome: string, report?: SyncReport): StepResult => ({ step: ev.Step, cluster: dp.id, outcome, ...(report ? { report } : {}) });
  const view = await store.view(dp.id);
  const api = await deps.rotation.dataPlane(dp);
  const mine = () => (view?.pending?.versionId === ev.ClientRequestToken ? view.pending : undefined);

  switch (ev.Step) {
    case 'createSecret': {
      if (mine()) return result('already staged');
      if (view?.current?.versionId === ev.ClientRequestToken) return result('already current');
      if (!view?.current) throw new CredsyncError('UNSUPPORTED', `data plane ${dp.id} has no current credential yet: run the sync first`);
      const state = view.state ?? { phase: 'idle' as const, generation: view.current.record.generation?.generation ?? 0, highest: view.current.record.generation?.generation ?? 0 };
      if (state.phase === 'published') throw new CredsyncError('UNSUPPORTED', `data plane ${dp.id}: the previous rotation is still rolling out (revoke outstanding); the next run finishes it`);
      let highest = state.highest;
      const revoked: number[] = [];
      const stuck = view.pending && view.pending.versionId !== view.current.versionId ? view.pending : undefined;
      // Writes act on this step's view of the entry (lib/stores/types.ts SeenMarkers), not on a re-read each.
      const seen = { current: view.current.versionId };
      if (stuck) {
        const g = stuck.record.generation?.generation ?? 0;
        await revokeObject(api, dp, g, deps.log);
        await store.discard(dp.id, stuck.versionId, { ...seen, pending: stuck.versionId });
        highest = Math.max(highest, g);
        revoked.push(g);
        deps.log.warn('rotation: a version stuck in AWSPENDING from an earlier attempt was revoked and unstaged', { cluster: dp.id, generation: g });
      }
      // A failed attempt's generation whose AWSPENDING label is gone (RotateSecret moved it to this
      // token, or an operator removed it) is nowhere in the store but its object may still be a
      // valid credential: with no rotation in progress, every generation above the current one is
      // dead, so its object is deleted (the most recent ORPHANS_CHECKED of them).
      const currentGen = view.current.record.generation?.generation ?? 0;
      for (let g = Math.max(currentGen + 1, highest - ORPHANS_CHECKED + 1); g <= highest; g++) {
        if (revoked.includes(g)) continue;
        if ((await revokeObject(api, dp, g, deps.log)) === 'deleted') {
          revoked.push(g);
          deps.log.warn('rotation: the object of an earlier attempt no longer staged was revoked', { cluster: dp.id, generation: g });
        }
      }
      const g = highest + 1;
      await store.setState(dp.id, { ...state, highest: g }, seen);
      const record = await mintNext(deps, dp, api, settings, g);
      await store.stage(record, { versionId: ev.ClientRequestToken, seen });
      return result(`minted generation ${g}${revoked.length ? ` (revoked stuck generation ${revoked.sort((a, b) => a - b).join(', ')})` : ''}`);
    }
    case 'setSecret':
      // The credential is the data plane's own object, made in createSecret: nothing to set.
      return result('nothing to set');
    case 'testSecret': {
      const p = mine();
      if (!p) {
        if (view?.current?.versionId === ev.ClientRequestToken) return result('already current');
        throw new CredsyncError('STORE_ERROR', `data plane ${dp.id}: no AWSPENDING version ${echo(ev.ClientRequestToken, 100)} to test`);
      }
      await verifyGeneration(deps.verify, dp, api, p);
      return result('verified');
    }
    case 'finishSecret': {
      const p = mine();
      if (p) {
        await verifyGeneration(deps.verify, dp, api, p);
        const cur = view!.current;
        const g = p.record.generation?.generation ?? 0;
        const state = view!.state;
        await store.promote(dp.id, p.versionId, {
          phase: 'published',
          generation: g,
          highest: Math.max(state?.highest ?? 0, g),
          publishedAt: (deps.now ?? (() => new Date()))().toISOString(),
          ...(cur ? { revoke: cur.record.generation?.generation ?? 0 } : {}),
          ...(state?.revoked ? { revoked: state.revoked } : {}),
        }, seenOf(view!));
      } else if (view?.current?.versionId !== ev.ClientRequestToken) {
        throw new CredsyncError('STORE_ERROR', `data plane ${dp.id}: version ${echo(ev.ClientRequestToken, 100)} is neither pending nor current`);
      }
      const report = await runSync(deps, { clusters: [dp.id] });
      if (!report.ok) deps.log.warn('rotation: promoted; publishing or finishing did not complete (the next run resumes)', { cluster: dp.id, reason: describeError(report.rotationError?.reason ?? report.controlPlaneError?.reason ?? report.clusters[0]?.reason) });
      return result('promoted', report);
    }
  }
}
