/**
 * Rotation of one data plane's credential: the state machine of ./state.ts, driven from what the
 * store and the cluster say (never from memory), in two halves around the control-plane apply:
 *
 * - {@link prepareRotation}, before the apply: resumes or starts a rotation up to "promoted"
 *   (mint, stage, verify, promote), or re-verifies the live credential when nothing is due;
 *   returns the record the control plane must carry.
 * - {@link finishRotations}, after the apply: makes sure every Deployment restarted after the
 *   promotion, waits (bounded) for the rollout, and only then revokes the previous generation and
 *   records it. A rollout that does not complete in time revokes nothing; the next run resumes.
 */
import type { Config, DataPlane } from '../config/schema.ts';
import { readCredential } from '../dataplane/credential.ts';
import { verifyCredential, type CredentialVerifier } from '../dataplane/verify.ts';
import { CredentialRejectedError, CredsyncError, describeError } from '../errors.ts';
import type { RotationSettings } from '../config/rotation.ts';
import { startedBefore } from '../controlplane/restart.ts';
import type { DataPlaneApi, RolloutApi, RotationDataPlaneApi } from '../kube/ports.ts';
import type { GenerationInfo, RotationState } from '../stores/rotation.ts';
import { makeRecord, seenOf, shortFingerprint, type CredentialRecord, type RotationMarkers, type RotationView, type SeenMarkers, type StoredCredential } from '../stores/types.ts';
import { timeLeft } from '../util/abort.ts';
import { mapBounded, type Log } from '../util/log.ts';
import { dueAt } from './config.ts';
import { waitForRollouts, type RolloutResult } from './rollout.ts';
import { objectName } from './state.ts';
import { loggedIds } from '../util/bounded.ts';

/** Labels on every per-generation object rotation makes on a data plane. */
export const GENERATION_LABEL = 'flyte-credsync/generation';
const MANAGED_LABELS = { 'app.kubernetes.io/managed-by': 'flyte-credsync' };

export interface RotationDeps {
  config: Config;
  dataPlane(dp: DataPlane): Promise<DataPlaneApi & RotationDataPlaneApi>;
  verify: CredentialVerifier;
  store: RotationMarkers;
  log: Log;
  now: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/** What rotation did (or would do) on one data plane; no secret in here. */
export interface RotationReport {
  mode: RotationSettings['mode'];
  /** The live generation after this run (0: a credential from before rotation). */
  generation: number;
  /** A new generation became current in this run (`wouldRotate` in a dry run). */
  rotated: boolean;
  wouldRotate?: boolean;
  /** Why it rotated: due by age, forced, no credential yet, the live one rejected. */
  reason?: 'due' | 'forced' | 'first' | 'rejected' | 'rollback';
  /** `published`: rollout and revoke still outstanding; `idle`: nothing outstanding. */
  phase: RotationState['phase'];
  /** A pending version found and dropped (failed verification), with its generation. */
  discardedPending?: number;
  /** The generation revoked in this run. */
  revoked?: number;
  /** Set once the rollout was waited for. */
  rollout?: { complete: boolean; waitedMs: number; waitingFor?: string[] };
  issuedAt?: string;
  expiresAt?: string;
  /** When the next rotation is due by age (none: `every: off` in secret mode). */
  dueAt?: string;
}

export interface PreparedRotation {
  dp: DataPlane;
  settings: RotationSettings;
  /** The record the control plane must carry now. */
  record: CredentialRecord;
  identity: string;
  versionId: string;
  report: RotationReport;
  /** State after this half; `published` means finishRotations has work. */
  state: RotationState;
}

export interface PrepareOptions {
  /** Rotate whatever the age (`credsync rotate --now`). */
  force?: boolean;
  dryRun?: boolean;
}

const generationOf = (s: StoredCredential | undefined) => s?.record.generation?.generation ?? 0;

/** The state as stored, or the one implied by an entry from before rotation (or no entry). */
function initialState(view: RotationView | undefined): RotationState {
  if (view?.state) return view.state;
  const g = generationOf(view?.current);
  return { phase: 'idle', generation: g, highest: g };
}

/**
 * First half of a rotation (see the file comment).
 * @throws CredsyncError (CREDENTIAL_REJECTED, TOKEN_NOT_ISSUED, STORE_ERROR, ...) when the data
 *   plane has no credential that may be published; the store keeps its current version then
 */
export async function prepareRotation(deps: RotationDeps, dp: DataPlane, settings: RotationSettings, opts: PrepareOptions = {}): Promise<PreparedRotation> {
  const { store, log } = deps;
  const now = deps.now();
  const api = await deps.dataPlane(dp);
  // The one read of the entry in this step (its ownership checked); the writes below act on what it
  // showed and on their own effects (`seen`), not on a re-read before each (lib/stores/types.ts SeenMarkers).
  let view = await store.view(dp.id, { previous: false });
  let seen: SeenMarkers = view ? seenOf(view) : {};
  let state = initialState(view);
  const base = (): RotationReport => ({ mode: settings.mode, generation: state.generation, rotated: false, phase: state.phase });

  // Repairs after a run killed inside promote(): the version is current, the state behind it,
  // or the pending marker still on it.
  if (!opts.dryRun && view?.current && generationOf(view.current) > state.generation) {
    const prevGen = state.generation;
    // Only this repair asks whether a previous version exists (the generation it held is revoked).
    const previous = (await store.view(dp.id))?.previous;
    state = published(generationOf(view.current), Math.max(state.highest, generationOf(view.current)), now, previous ? prevGen : undefined, state);
    await store.setState(dp.id, state, seen);
    log.warn('rotation: state repaired after an interrupted promotion', { cluster: dp.id, generation: state.generation });
  }
  if (!opts.dryRun && view?.pending && view.pending.versionId === view.current?.versionId) {
    await store.discard(dp.id, view.pending.versionId, seen);
    view = { ...view, pending: undefined };
    seen = seenOf(view);
  }

  // 1. A staged version from an interrupted run: verify it, then promote or discard it.
  const report = base();
  if (view?.pending && !opts.dryRun) {
    const pending = view.pending;
    const g = generationOf(pending);
    try {
      const { username } = await verifyGeneration(deps.verify, dp, api, pending);
      state = published(g, Math.max(state.highest, g), now, view.current ? state.generation : undefined, state);
      await store.promote(dp.id, pending.versionId, state, seen);
      log.info('rotation: resumed a staged generation and made it current', { cluster: dp.id, generation: g });
      return prepared(dp, settings, pending.record, username, pending.versionId, { ...base(), rotated: true, reason: 'due' }, state);
    } catch (err) {
      if (!(err instanceof CredentialRejectedError)) throw err;
      await revokeObject(api, dp, g, log);
      await store.discard(dp.id, pending.versionId, seen);
      seen = { ...seen, pending: undefined };
      state = { ...state, highest: Math.max(state.highest, g) };
      await store.setState(dp.id, state, seen);
      report.discardedPending = g;
      log.warn('rotation: staged generation failed verification; revoked and discarded', { cluster: dp.id, generation: g, reason: describeError(err) });
    }
  }

  // 2. The live credential, re-verified exactly as the sync does.
  const current = view?.current;
  let reason: RotationReport['reason'];
  let username: string | undefined;
  if (!current) reason = 'first';
  else {
    try {
      // The store's current record proves its own identity as the sync's no-op does (lib/dataplane/verify.ts).
      ({ username } = await verifyCredential(deps.verify, dp, api.server, current.record, current.record));
    } catch (err) {
      if (!(err instanceof CredentialRejectedError)) throw err;
      if (state.phase === 'published') throw err; // never mint over an unfinished rotation
      reason = 'rejected';
      log.warn('rotation: live credential rejected; minting a new generation', { cluster: dp.id, reason: describeError(err) });
    }
  }
  const due = current ? dueAt(settings, issuedAt(current, view), expiresAt(current)) : undefined;
  if (!reason && state.phase === 'idle') {
    if (opts.force) reason = 'forced';
    else if (due && due.getTime() <= now.getTime()) reason = 'due';
  }
  if (current && (!reason || state.phase === 'published')) {
    // Nothing to mint; a published rotation is finished after the apply.
    return prepared(dp, settings, current.record, username!, current.versionId, withTimes({ ...report, ...base() }, current, due), state);
  }
  if (opts.dryRun) {
    if (!current) throw new CredsyncError('TOKEN_NOT_ISSUED', `data plane ${dp.id}: no credential yet (a real run mints generation ${state.highest + 1}; a dry run does not)`);
    return prepared(dp, settings, current.record, username ?? '', current.versionId, { ...report, ...base(), wouldRotate: true, reason }, state);
  }

  // 3. Mint, stage, verify, promote. The first credential is verified before it is stored: there
  // is nothing to protect yet, and it is left on the data plane if it fails (nothing recorded its
  // generation, so revoking it would let a later run re-create the same name, hence the same
  // legacy token).
  const g = state.highest + 1;
  const record = await mintNext(deps, dp, api, settings, g);
  let identity: string;
  let versionId: string;
  if (!current) {
    ({ username: identity } = await verifyCredential(deps.verify, dp, api.server, record));
    state = published(g, g, now, undefined, state);
    versionId = await store.putFirst(record, state);
  } else {
    versionId = await store.stage(record, { seen });
    seen = { ...seen, pending: versionId };
    try {
      ({ username: identity } = await verifyCredential(deps.verify, dp, api.server, record));
    } catch (err) {
      if (err instanceof CredentialRejectedError) {
        await revokeObject(api, dp, g, log);
        await store.discard(dp.id, versionId, seen);
        await store.setState(dp.id, { ...state, highest: g }, { ...seen, pending: undefined });
      }
      throw err;
    }
    state = published(g, g, now, state.generation, state);
    await store.promote(dp.id, versionId, state, seen);
  }
  log.info('rotation: new generation made current', { cluster: dp.id, generation: g, fingerprint: shortFingerprint(record.fingerprint), reason });
  return prepared(dp, settings, record, identity, versionId, withTimes({ ...base(), rotated: true, reason, ...(report.discardedPending !== undefined ? { discardedPending: report.discardedPending } : {}) }, { record, versionId }, undefined), state);
}

function published(generation: number, highest: number, at: Date, revoke: number | undefined, prev: RotationState): RotationState {
  return {
    phase: 'published',
    generation,
    highest,
    publishedAt: at.toISOString(),
    ...(revoke !== undefined ? { revoke } : {}),
    ...(prev.revoked ? { revoked: prev.revoked } : {}),
  };
}

function prepared(dp: DataPlane, settings: RotationSettings, record: CredentialRecord, identity: string, versionId: string, report: RotationReport, state: RotationState): PreparedRotation {
  return { dp, settings, record, identity, versionId, report: { ...report, generation: state.generation, phase: state.phase }, state };
}

function withTimes(r: RotationReport, s: StoredCredential, due: Date | undefined): RotationReport {
  const g = s.record.generation;
  return { ...r, ...(g?.issuedAt ? { issuedAt: g.issuedAt } : {}), ...(g?.expiresAt ? { expiresAt: g.expiresAt } : {}), ...(due ? { dueAt: due.toISOString() } : {}) };
}

/** When the credential was issued; before rotation, the state's last publication or "long ago". */
function issuedAt(s: StoredCredential, view: RotationView | undefined): Date {
  const t = s.record.generation?.issuedAt ?? view?.state?.publishedAt;
  return t ? new Date(t) : new Date(0);
}

function expiresAt(s: StoredCredential): Date | undefined {
  const t = s.record.generation?.expiresAt;
  return t ? new Date(t) : undefined;
}

/**
 * Makes generation g on the data plane (its object `<tokenSecret>-<g>`; an existing one of that
 * name, from a killed run, is reused) and returns its record, not verified yet.
 * @throws CredsyncError TOKEN_NOT_ISSUED, SERVICE_ACCOUNT_MISSING, KUBERNETES_API, ...
 */
export async function mintNext(
  deps: Pick<RotationDeps, 'config' | 'log' | 'sleep'> & { now?: () => Date },
  dp: DataPlane,
  api: DataPlaneApi & RotationDataPlaneApi,
  s: RotationSettings,
  g: number,
): Promise<CredentialRecord> {
  const object = objectName(dp.tokenSecret, g);
  const issued = (deps.now ?? (() => new Date()))().toISOString();
  let token: string;
  let caCert: string;
  let uid: string | undefined;
  let expires: string | undefined;
  if (s.mode === 'secret') {
    const raw = await readCredential({ ...dp, tokenSecret: object }, api, {
      waitSeconds: deps.config.tokenWaitSeconds,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
    });
    ({ token, caCert } = raw);
    uid = raw.secretUid;
  } else {
    const bound = await api.createBindingSecret(dp.namespace, object, { ...MANAGED_LABELS, [GENERATION_LABEL]: String(g) });
    const t = await api.requestToken(dp.namespace, dp.serviceAccount, { expirationSeconds: s.expirationSeconds, bound: { name: object, uid: bound.uid } });
    token = t.token;
    expires = t.expiresAt;
    caCert = await api.caPem();
    uid = bound.uid;
  }
  const generation: GenerationInfo = { generation: g, mode: s.mode, object, ...(uid ? { objectUid: uid } : {}), issuedAt: issued, ...(expires ? { expiresAt: expires } : {}) };
  deps.log.info('rotation: minted', { cluster: dp.id, generation: g, mode: s.mode, object: `${dp.namespace}/${object}` });
  return makeRecord({
    clusterId: dp.id,
    endpoint: dp.flyteadminEndpoint ?? api.server,
    token,
    caCert,
    source: { server: api.server, namespace: dp.namespace, serviceAccount: dp.serviceAccount, secret: object, ...(uid ? { secretUid: uid } : {}) },
    generation,
  });
}

/**
 * Whether generation g's object is still on the data plane. Verification alone does not prove a
 * credential unrevoked: an API server may accept a token for a moment after its object is
 * deleted (its authenticator reads Secrets from a cache), so nothing revoked is ever made current.
 */
export async function objectExists(api: Pick<DataPlaneApi, 'getSecret'>, dp: DataPlane, g: number): Promise<boolean> {
  return (await api.getSecret(dp.namespace, objectName(dp.tokenSecret, g))) !== undefined;
}

/** Verifies a stored credential of generation g: its object must exist, then as every credential. */
export async function verifyGeneration(verify: CredentialVerifier, dp: DataPlane, api: DataPlaneApi, s: StoredCredential): Promise<{ username: string }> {
  const g = generationOf(s);
  if (!(await objectExists(api, dp, g)))
    throw new CredentialRejectedError(dp.id, `generation ${g}'s object ${dp.namespace}/${objectName(dp.tokenSecret, g)} no longer exists (revoked)`);
  return verifyCredential(verify, dp, api.server, s.record);
}

/**
 * Deletes generation g's object (a token Secret, or the Secret a bound token hangs on).
 * @returns `absent` when it was already gone
 */
export async function revokeObject(api: RotationDataPlaneApi, dp: DataPlane, g: number, log: Log): Promise<'deleted' | 'absent'> {
  const name = objectName(dp.tokenSecret, g);
  const r = await api.deleteSecret(dp.namespace, name);
  log.info('rotation: revoked', { cluster: dp.id, generation: g, object: `${dp.namespace}/${name}`, result: r });
  return r;
}

export interface FinishDeps {
  config: Config;
  dataPlane(dp: DataPlane): Promise<RotationDataPlaneApi>;
  store: RotationMarkers;
  rollouts: RolloutApi;
  log: Log;
  now: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Second half (see the file comment), for every prepared data plane in phase `published`; the
 * control plane must already carry their current records, and the apply must already have
 * restarted every Deployment started before the publication (it does, with the config checksum:
 * lib/controlplane/restart.ts, so the next run does not restart them again). One rollout wait
 * serves all of them. A Deployment the apply could not restart is not waited for: the result is
 * incomplete at once, nothing is revoked, and the next run's apply restarts it. Updates each
 * report in place.
 * The wait ends by the invocation's deadline at the latest.
 */
export async function finishRotations(deps: FinishDeps, items: PreparedRotation[]): Promise<RolloutResult | undefined> {
  const todo = items.filter((p) => p.state.phase === 'published');
  if (!todo.length) return undefined;
  const cp = deps.config.controlPlane;
  const since = new Date(Math.max(...todo.map((p) => Date.parse(p.state.publishedAt!))));
  const notRestarted: string[] = [];
  for (const name of cp.deployments) {
    const d = await deps.rollouts.getDeployment(cp.namespace, name);
    if (d && startedBefore(d.restartedAt, since)) notRestarted.push(name);
  }
  const timeoutMs = Math.min(Math.max(...todo.map((p) => p.settings.rolloutTimeoutSeconds)) * 1000, timeLeft());
  const result = await waitForRollouts(deps.rollouts, cp.namespace, cp.deployments, {
    // Nothing but the apply restarts: waiting for a Deployment it did not restart is waiting in vain.
    timeoutMs: notRestarted.length ? 0 : Math.max(0, timeoutMs),
    restartedSince: since,
    now: () => deps.now().getTime(),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  });
  const waitingFor = result.deployments.filter((d) => !d.complete).map((d) => `${d.name}: ${d.waitingFor}`);
  for (const p of todo) p.report.rollout = { complete: result.complete, waitedMs: result.waitedMs, ...(waitingFor.length ? { waitingFor } : {}) };
  if (!result.complete) {
    deps.log.warn('rotation: rollout not complete in time; nothing revoked, the next run resumes', { waitingFor, clusterCount: todo.length, clusters: loggedIds(todo.map((p) => p.dp.id)) });
    return result;
  }
  // Each data plane's revoke and record, `concurrency` at once (they touch nothing shared); all
  // are tried, and the first failure is thrown once they have settled (those data planes resume).
  const failures: unknown[] = [];
  await mapBounded(todo, deps.config.concurrency, async (p) => {
    try {
      const at = deps.now().toISOString();
      const next: RotationState = { phase: 'idle', generation: p.state.generation, highest: p.state.highest, ...(p.state.revoked ? { revoked: p.state.revoked } : {}) };
      if (p.state.revoke !== undefined && p.state.revoke !== p.state.generation) {
        const api = await deps.dataPlane(p.dp);
        await revokeObject(api, p.dp, p.state.revoke, deps.log);
        next.revoked = { generation: p.state.revoke, at };
        p.report.revoked = p.state.revoke;
      }
      // prepareRotation read the entry in this run and left p.versionId current, nothing pending.
      await deps.store.setState(p.dp.id, next, { current: p.versionId });
      p.state = next;
      p.report.phase = 'idle';
    } catch (err) {
      deps.log.error('rotation: revoke not finished', { cluster: p.dp.id, reason: describeError(err) });
      failures.push(err);
    }
  });
  if (failures.length) throw failures[0];
  return result;
}
