/**
 * When did the control plane's content (the credentials Secret's data and each ConfigMap's
 * clusters.yaml) last differ from what it holds now? The restart rule (./restart.ts) needs it: a
 * pod that started while other content was live (Helm's, Argo CD's, a `kubectl edit`'s, or an
 * older rendering of ours) loaded that content and is behind, whatever its pod template says.
 *
 * The answer is kept in the cluster, never in memory, so any run (and a run after a killed one)
 * derives the same:
 *
 * - **managedFields** say which field manager last changed a data key and when (the API server's
 *   clock, whole seconds; the same clock as a pod's creationTimestamp). Content credsync did not
 *   write is judged by it: every pod created at or before its last change is behind.
 * - **a content stamp** ({@link CONTENT_ANNOTATION}) that credsync writes with each write of its own:
 *   the hash of the content it wrote, since when the control plane has held that content, and the
 *   intervals in between when another writer's content was live (a revert credsync repaired). When
 *   the live content is the stamped one, a pod is behind if it was created at or before `since` or
 *   inside one of those intervals. A pod created after credsync's write of the same content and
 *   before the other writer's revert loaded the right content and is not restarted: a writer
 *   that only reverts the ConfigMaps (Argo CD self-heal) causes repairs, not restarts.
 * - **write ids** in the same stamp: a random id of credsync's write that set `since`, and one of
 *   each write that ended an interval (the repair). credsync's restarts record the id of the
 *   latest of these on the pod template ({@link RESTARTED_AFTER_ANNOTATION}); a restart is sent
 *   only after its writes are read back, so a pod whose ReplicaSet carries an id was created after
 *   that write, whatever the second (whole-second times cannot tell a pod created in the same
 *   second as the write, before it, from one created after it): `since` and the intervals up to
 *   that write do not make it behind; later intervals still do. A pod without an id is judged by
 *   the times alone, inclusive (created in the second of credsync's write: behind).
 * - **a repair count** in the same stamp: repairs of a revert of credsync's own content within
 *   {@link FIGHT_WINDOW_MS}. Past `controlPlane.maxRepairsPerHour` (default {@link FIGHT_LIMIT})
 *   the control plane is *contested* (two writers
 *   keep reverting each other): the sync still repairs, but no longer restarts for the reverts,
 *   and fails with `CONTROL_PLANE_CONTESTED` naming the other writer.
 *
 * Times without an explicit value in the stamp (`since`, an interval's end) mean "the time of
 * credsync's write that set this stamp", read from credsync's own managedFields entry; every later
 * write of credsync that keeps the stamp writes them out explicitly.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Annotation (JSON) on each object credsync writes: see {@link ContentStamp}. */
export const CONTENT_ANNOTATION = 'flyte-credsync.io/content';
/**
 * Pod-template annotation set by credsync's restarts: the write ids ({@link ContentStamp.write},
 * comma-separated) of the content the Deployment was restarted for. Its pods were created after
 * those writes.
 */
export const RESTARTED_AFTER_ANNOTATION = 'flyte-credsync.io/restarted-after';
/** credsync's field manager (lib/kube/client.ts writes with it). */
export const CREDSYNC_MANAGER = 'flyte-credsync';
/** Repairs of reverts within this window count towards {@link FIGHT_LIMIT}. */
export const FIGHT_WINDOW_MS = 60 * 60 * 1000;
/**
 * More repairs of reverts than this within {@link FIGHT_WINDOW_MS}: contested (see the module
 * header). The default of `controlPlane.maxRepairsPerHour`.
 */
export const FIGHT_LIMIT = 3;
/** Intervals of foreign content kept in a stamp; older ones are merged (a wider interval: more restarts, never fewer). */
const MAX_INTERVALS = 4;

export interface ContentStamp {
  /** sha256 of the content credsync wrote. */
  hash: string;
  /** Since when the control plane holds this content (absent: credsync's write that set the stamp). */
  since?: string;
  /**
   * [from, to, id] when another writer's content was live instead (to null: until credsync's
   * write that set the stamp; id: that write's id, absent in stamps of earlier versions).
   */
  foreign?: Interval[];
  /** Repairs of reverts: how many since `at` (credsync's clock), and the writer of the last one. */
  repairs?: { n: number; at: string; by: string };
  /** A random id of credsync's write that set `since` (absent in stamps of earlier versions). */
  write?: string;
}

/** A stamp's interval of another writer's content: [from, to, id of the repair write that ended it]. */
type Interval = [string, string | null] | [string, string | null, string];

/** An object as the stamp logic reads it. */
export interface ContentObject {
  annotations: Record<string, string>;
  owners?: Array<{ manager: string; time?: string; dataKeys: string[] }>;
}

/** When pods may have started on other content than the live one (whole seconds, API server clock). */
export interface StaleTimes {
  /** A pod created at or before this time is behind (`strict`: before it only). */
  upTo?: string;
  /**
   * Set when `upTo` is another writer's change: a pod created in the same second is taken as
   * created after it (Helm writes the ConfigMaps before the Deployments whose rollout creates the
   * pods). credsync's own changes stay inclusive: its restarts carry the write's id instead
   * ({@link write}).
   */
  strict?: boolean;
  /** A pod created within one of these (inclusive) is behind; the third element is the id of the write that ended it. */
  intervals: Array<[string, string] | [string, string, string]>;
  /**
   * The id of credsync's write at `upTo`, when the live content is its stamped content: a pod
   * whose ReplicaSet was restarted after that write ({@link RESTARTED_AFTER_ANNOTATION}) is not
   * behind for `upTo`, nor, after an interval's id, for that interval or an earlier one.
   */
  write?: string;
}

/** The hash a stamp records: sha256 over each key and value, length-prefixed, in key order. */
export function contentHash(content: Readonly<Record<string, Buffer | string>>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(content).sort()) {
    const v = content[k]!;
    const buf = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    h.update(`${Buffer.byteLength(k)}:${k}${buf.length}:`).update(buf);
  }
  return 'sha256:' + h.digest('hex');
}

/** A write id: 16 hex digits (random). */
const WRITE_ID = /^[0-9a-f]{16}$/;
const newWriteId = () => randomBytes(8).toString('hex');

const isTime = (t: unknown): t is string => typeof t === 'string' && !Number.isNaN(Date.parse(t));

/** The stamp on an object, or undefined (absent or not ours: unreadable stamps are ignored). */
export function readStamp(annotations: Record<string, string>): ContentStamp | undefined {
  const raw = annotations[CONTENT_ANNOTATION];
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as ContentStamp;
    if (typeof v?.hash !== 'string') return undefined;
    const out: ContentStamp = { hash: v.hash };
    if (isTime(v.since)) out.since = v.since;
    if (Array.isArray(v.foreign))
      out.foreign = v.foreign.flatMap((i): Interval[] =>
        Array.isArray(i) && isTime(i[0]) && (i[1] === null || isTime(i[1])) ? [typeof i[2] === 'string' && WRITE_ID.test(i[2]) ? [i[0], i[1], i[2]] : [i[0], i[1]]] : [],
      );
    if (v.repairs && Number.isInteger(v.repairs.n) && isTime(v.repairs.at) && typeof v.repairs.by === 'string') out.repairs = { n: v.repairs.n, at: v.repairs.at, by: v.repairs.by };
    if (typeof v.write === 'string' && WRITE_ID.test(v.write)) out.write = v.write;
    return out;
  } catch {
    return undefined;
  }
}

const latest = (times: Array<string | undefined>): string | undefined =>
  times.filter(isTime).reduce<string | undefined>((a, t) => (a === undefined || Date.parse(t) > Date.parse(a) ? t : a), undefined);

/** The time of credsync's last write of this object (its managedFields entry). */
function credsyncTime(o: ContentObject): string | undefined {
  return latest((o.owners ?? []).filter((w) => w.manager === CREDSYNC_MANAGER).map((w) => w.time));
}

/** Who last changed the content keys, and when (undefined without managedFields). */
export function lastContentWriter(o: ContentObject, keys: (k: string) => boolean): { manager: string; at: string } | undefined {
  let out: { manager: string; at: string } | undefined;
  for (const w of o.owners ?? [])
    if (w.time && w.dataKeys.some(keys) && (!out || Date.parse(w.time) > Date.parse(out.at))) out = { manager: w.manager, at: w.time };
  return out;
}

/** The stamp with its implicit times made explicit (credsync's write that set it). */
function resolve(s: ContentStamp, o: ContentObject): ContentStamp {
  const mine = credsyncTime(o);
  const out: ContentStamp = { hash: s.hash };
  const since = s.since ?? mine;
  if (since) out.since = since;
  const foreign = (s.foreign ?? []).map(([f, t, id]): Interval => (id ? [f, t ?? mine ?? null, id] : [f, t ?? mine ?? null]));
  if (foreign.length) out.foreign = foreign;
  if (s.repairs) out.repairs = s.repairs;
  if (s.write) out.write = s.write;
  return out;
}

/**
 * When pods may have started on other content than the live one.
 * @param liveHash the hash of the live content ({@link contentHash})
 * @param keys which data keys are content (the ConfigMap's clusters.yaml; every key of the Secret)
 */
export function staleTimes(o: ContentObject, liveHash: string, keys: (k: string) => boolean): StaleTimes {
  const stamp = readStamp(o.annotations);
  if (stamp && stamp.hash === liveHash) {
    const r = resolve(stamp, o);
    return {
      ...(r.since ? { upTo: r.since } : {}),
      intervals: (r.foreign ?? []).flatMap(([f, t, id]): StaleTimes['intervals'] => (t ? [id ? [f, t, id] : [f, t]] : [])),
      ...(r.write ? { write: r.write } : {}),
    };
  }
  // Not (or no longer) the content credsync stamped: everything before its last change is behind.
  const w = lastContentWriter(o, keys);
  return { ...(w ? { upTo: w.at, ...(w.manager !== CREDSYNC_MANAGER ? { strict: true } : {}) } : {}), intervals: [] };
}

/** What a write of credsync does to the stamp. */
export interface StampedWrite {
  /** The annotation value to write. */
  annotation: string;
  /** The content replaced was last written by another field manager (`at`: when). */
  replaced?: { manager: string; at: string };
  /** A revert of credsync's own content, repaired: the stamp's repair count after this write. */
  repairs?: { n: number; at: string; by: string };
}

/**
 * The stamp a write of credsync carries.
 * @param liveHash / desiredHash the content's hash before and after the write
 * @param now credsync's clock (the repair count's window)
 */
export function stampForWrite(o: ContentObject, liveHash: string, desiredHash: string, keys: (k: string) => boolean, now: Date): StampedWrite {
  const old = readStamp(o.annotations);
  const resolved = old && resolve(old, o);
  const writer = lastContentWriter(o, keys);
  const replaced = liveHash !== desiredHash && writer && writer.manager !== CREDSYNC_MANAGER ? { replaced: writer } : {};
  if (liveHash === desiredHash) {
    // The content stays: the stamp too (its times written out), or a first stamp whose `since` is
    // when the content was last changed, whoever changed it.
    if (resolved && old!.hash === liveHash) return { annotation: JSON.stringify(resolved) };
    return { annotation: JSON.stringify({ hash: desiredHash, ...(writer ? { since: writer.at } : {}) }) };
  }
  if (resolved && resolved.hash === desiredHash && liveHash !== desiredHash) {
    // A revert of our content, repaired: the other writer's content was live from its last change until this write.
    const from = writer && writer.manager !== CREDSYNC_MANAGER ? writer.at : resolved.since;
    const write = newWriteId();
    let foreign: Interval[] = [...(resolved.foreign ?? []), ...(from ? [[from, null, write] as Interval] : [])];
    // Merged: from the first's start to the second's end, ended by the second's write.
    while (foreign.length > MAX_INTERVALS) foreign = [[foreign[0]![0], ...foreign[1]!.slice(1)] as Interval, ...foreign.slice(2)];
    const within = resolved.repairs && now.getTime() - Date.parse(resolved.repairs.at) < FIGHT_WINDOW_MS;
    const by = writer?.manager ?? 'unknown';
    const repairs = within ? { n: resolved.repairs!.n + 1, at: resolved.repairs!.at, by } : { n: 1, at: now.toISOString(), by };
    const stamp: ContentStamp = {
      hash: desiredHash,
      ...(resolved.since ? { since: resolved.since } : {}),
      ...(resolved.write ? { write: resolved.write } : {}),
      ...(foreign.length ? { foreign } : {}),
      repairs,
    };
    return { annotation: JSON.stringify(stamp), ...replaced, repairs };
  }
  // New content: live from this write on. A repair count within its window is kept (a revert repaired with a new rendering still counts).
  const keep = resolved?.repairs && now.getTime() - Date.parse(resolved.repairs.at) < FIGHT_WINDOW_MS ? { repairs: resolved.repairs } : {};
  return { annotation: JSON.stringify({ hash: desiredHash, ...keep, write: newWriteId() }), ...replaced };
}

/**
 * Whether a pod created at `created` may have loaded other content (compared in whole seconds,
 * inclusive). `restartedAfter`: the write ids its ReplicaSet was restarted after (see the module
 * header): the pod was created after each of those writes, so what came before one does not
 * make it behind.
 */
export function createdWhileStale(created: string, stale: readonly StaleTimes[], opts: { ignoreIntervals?: boolean; restartedAfter?: ReadonlySet<string> } = {}): boolean {
  const sec = (t: string) => Math.floor(Date.parse(t) / 1000);
  const c = sec(created);
  if (Number.isNaN(c)) return true;
  const carried = (id: string | undefined) => id !== undefined && !!opts.restartedAfter?.has(id);
  return stale.some((s) => {
    // The latest of this object's writes the pod was created after: -1 for the one at `upTo`, i for interval i's end.
    let after = carried(s.write) ? -1 : -2;
    s.intervals.forEach(([, , id], i) => void (carried(id) && (after = i)));
    if (after === -2 && s.upTo !== undefined && (s.strict ? c < sec(s.upTo) : c <= sec(s.upTo))) return true;
    return !opts.ignoreIntervals && s.intervals.some(([f, t], i) => i > after && c >= sec(f) && c <= sec(t));
  });
}

/** The write ids a restart records ({@link RESTARTED_AFTER_ANNOTATION}): each object's latest, sorted. */
export function restartedAfterValue(stale: readonly StaleTimes[]): string | undefined {
  const latest = (s: StaleTimes) => [...s.intervals].reverse().find((i) => i[2])?.[2] ?? s.write;
  const ids = [...new Set(stale.flatMap((s) => latest(s) ?? []))].sort();
  return ids.length ? ids.join(',') : undefined;
}

/** The write ids an annotation value names (unreadable entries are left out). */
export function parseRestartedAfter(value: string | undefined): Set<string> {
  return new Set((value ?? '').split(',').filter((id) => WRITE_ID.test(id)));
}

/**
 * Whether a stamp's repair count says contested (see the module header).
 * @param limit more repairs than this within the window: contested (`controlPlane.maxRepairsPerHour`; default {@link FIGHT_LIMIT})
 */
export function contested(stamp: ContentStamp | undefined, now: Date, limit = FIGHT_LIMIT): boolean {
  const r = stamp?.repairs;
  return !!r && r.n > limit && now.getTime() - Date.parse(r.at) < FIGHT_WINDOW_MS;
}

/** What a contested control plane's failure says: the other writer, how often, and the way out. */
export function contestedLine(c: { by: string; repairs: number; since: string }): string {
  return (
    `${c.by} keeps reverting clusters.yaml (${c.repairs} repairs since ${c.since}); repaired again, ` +
    'but Deployments are no longer restarted for its reverts. Let one writer own clusters.yaml: ' +
    'the chart (controlPlane.mode: gitops, with `credsync export-values` in git) or credsync (take the ConfigMaps out of the other writer\'s sync)'
  );
}
