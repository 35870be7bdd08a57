/**
 * Where rotation plugs into the sync (./sync.ts): a rotating data plane's step replaces
 * "read the token Secret, verify, store" with {@link prepareRotation}, and after the control
 * plane is applied (which restarts what started before the publication) {@link finishStep} waits
 * for the rollout and revokes.
 */
import type { RotationSettings } from '../config/rotation.ts';
import type { DataPlane } from '../config/schema.ts';
import { CredsyncError, describeError, errorCode } from '../errors.ts';
import { finishRotations, prepareRotation, type PreparedRotation } from '../rotation/rotate.ts';
import { canRotate, shortFingerprint, type CredentialRecord, type RotatingStore, type SecretStore } from '../stores/types.ts';
import type { ClusterReport, SyncDeps } from './types.ts';

function rotationStore(store: SecretStore): RotatingStore {
  if (!canRotate(store)) throw new CredsyncError('UNSUPPORTED', `store ${store.kind} cannot rotate credentials`);
  return store;
}

/** One rotating data plane's part of the sync: never throws, failures are reported. */
export async function rotationStep(
  deps: SyncDeps,
  dp: DataPlane,
  settings: RotationSettings,
  opts: { dryRun: boolean; force: boolean },
): Promise<{ report: ClusterReport; record?: CredentialRecord; prepared?: PreparedRotation }> {
  const { log } = deps;
  try {
    if (!deps.rotation) throw new CredsyncError('UNSUPPORTED', `data plane ${dp.id}: rotation is configured but this entry point cannot rotate`);
    const store = rotationStore(deps.store);
    const p = await prepareRotation(
      { config: deps.config, dataPlane: deps.rotation.dataPlane, verify: deps.verify, store, log, now: deps.now ?? (() => new Date()), ...(deps.sleep ? { sleep: deps.sleep } : {}) },
      dp,
      settings,
      { dryRun: opts.dryRun, force: opts.force },
    );
    const first = p.report.rotated && p.state.revoke === undefined && p.report.reason === 'first';
    const report: ClusterReport = {
      id: dp.id,
      status: p.report.rotated ? 'updated' : 'unchanged',
      ...(p.report.rotated ? { store: first ? 'created' : 'updated' } : { store: 'unchanged' }),
      storeEntry: store.entryName(dp.id),
      versionId: p.versionId,
      fingerprint: shortFingerprint(p.record.fingerprint),
      identity: p.identity,
      rotation: p.report,
    };
    log.info('data plane rotation step', { cluster: dp.id, generation: p.report.generation, rotated: p.report.rotated, phase: p.report.phase });
    return { report, record: p.record, prepared: p };
  } catch (err) {
    const reason = describeError(err);
    log.error('data plane failed', { cluster: dp.id, code: errorCode(err), reason });
    return { report: { id: dp.id, status: 'failed', code: errorCode(err), reason } };
  }
}

/**
 * After a successful apply (which restarted the Deployments): finishes every prepared rotation in
 * phase `published`.
 * @returns a failure to report, if the wait or a revoke failed (the next run resumes)
 */
export async function finishStep(deps: SyncDeps, prepared: PreparedRotation[]): Promise<{ code: string; reason: string } | undefined> {
  if (!prepared.some((p) => p.state.phase === 'published')) return undefined;
  try {
    const cp = await deps.rotation!.controlPlane();
    const result = await finishRotations(
      {
        config: deps.config,
        dataPlane: deps.rotation!.dataPlane,
        store: rotationStore(deps.store),
        rollouts: cp,
        log: deps.log,
        now: deps.now ?? (() => new Date()),
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
      },
      prepared,
    );
    if (result && !result.complete)
      return { code: 'ROLLOUT_INCOMPLETE', reason: `rollout not complete after ${Math.round(result.waitedMs / 1000)} s (${result.deployments.filter((d) => !d.complete).map((d) => `${d.name}: ${d.waitingFor}`).join('; ')}); nothing revoked, the next run resumes` };
    return undefined;
  } catch (err) {
    deps.log.error('rotation not finished', { code: errorCode(err), reason: describeError(err) });
    return { code: errorCode(err), reason: describeError(err) };
  }
}
