/**
 * What a store entry keeps for rotation (lib/rotation drives it; every adapter stores it in its
 * backend's own terms, see ./types.ts {@link RotationMarkers}): the generation block of a credential
 * record, and the {@link RotationState} with its one-line text form (an AWS tag value, a GCP
 * annotation). The state machine that moves them is described in lib/rotation/state.ts.
 */
import { StoreError } from '../errors.ts';

/** How a generation's credential is made: a token Secret per generation, or a bounded TokenRequest token. */
export type RotationMode = 'secret' | 'tokenRequest';

/** What a credential record says about the generation it belongs to. */
export interface GenerationInfo {
  /** 1, 2, ...; 0 is a credential from before rotation (the hand-made token Secret). */
  generation: number;
  mode: RotationMode;
  /** The per-generation object on the data plane: deleting it revokes the credential. */
  object: string;
  objectUid?: string;
  issuedAt: string;
  /** tokenRequest mode only. */
  expiresAt?: string;
}

export type RotationPhase = 'idle' | 'published';

export interface RotationState {
  phase: RotationPhase;
  /** The live (current) generation. */
  generation: number;
  /** The highest generation ever minted: object names are never reused. */
  highest: number;
  /** phase `published`: when the current version was made current; a restart must be later. */
  publishedAt?: string;
  /** phase `published`: the generation to revoke once the rollout is complete. */
  revoke?: number;
  /** The last generation revoked, and when. */
  revoked?: { generation: number; at: string };
}

export const STATE_KEY = 'flyte-credsync-rotation';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

/**
 * One line of `key=value` words, valid both as an AWS tag value (letters, digits, spaces and
 * `_ . : / = + - @`) and as a GCP annotation value.
 */
export function encodeState(s: RotationState): string {
  const parts = [`phase=${s.phase}`, `gen=${s.generation}`, `max=${s.highest}`];
  if (s.publishedAt) parts.push(`at=${s.publishedAt}`);
  if (s.revoke !== undefined) parts.push(`revoke=${s.revoke}`);
  if (s.revoked) parts.push(`revoked=${s.revoked.generation}@${s.revoked.at}`);
  return parts.join(' ');
}

/**
 * Parses {@link encodeState}'s text.
 * @throws StoreError when the text is not a rotation state (someone edited the tag)
 */
export function decodeState(store: string, entry: string, text: string): RotationState {
  const bad = (why: string) => new StoreError(store, `secret ${entry}: rotation state "${text.slice(0, 120)}" is invalid (${why}); fix or remove the ${STATE_KEY} marker`);
  const kv = new Map<string, string>();
  for (const word of text.trim().split(/\s+/)) {
    const i = word.indexOf('=');
    if (i <= 0) throw bad(`"${word}" is not key=value`);
    kv.set(word.slice(0, i), word.slice(i + 1));
  }
  const int = (k: string) => {
    const v = kv.get(k);
    if (v === undefined) return undefined;
    if (!/^\d{1,9}$/.test(v)) throw bad(`${k} is not a number`);
    return Number(v);
  };
  const phase = kv.get('phase');
  if (phase !== 'idle' && phase !== 'published') throw bad('phase must be idle or published');
  const generation = int('gen');
  const highest = int('max');
  if (generation === undefined || highest === undefined) throw bad('gen and max are required');
  const at = kv.get('at');
  if (at !== undefined && !ISO.test(at)) throw bad('at is not a time');
  const state: RotationState = { phase, generation, highest };
  if (at) state.publishedAt = at;
  const revoke = int('revoke');
  if (revoke !== undefined) state.revoke = revoke;
  const revoked = kv.get('revoked');
  if (revoked !== undefined) {
    const m = /^(\d{1,9})@(.+)$/.exec(revoked);
    if (!m || !ISO.test(m[2]!)) throw bad('revoked is not <generation>@<time>');
    state.revoked = { generation: Number(m[1]), at: m[2]! };
  }
  if (phase === 'published' && !state.publishedAt) throw bad('a published state needs at');
  return state;
}

/** Canonical form of a record's generation block (fixed key order). */
export function serializeGeneration(g: GenerationInfo): GenerationInfo {
  return {
    generation: g.generation,
    mode: g.mode,
    object: g.object,
    ...(g.objectUid ? { objectUid: g.objectUid } : {}),
    issuedAt: g.issuedAt,
    ...(g.expiresAt ? { expiresAt: g.expiresAt } : {}),
  };
}

/**
 * A record's generation block as read back from the store.
 * @throws StoreError when it is not one
 */
export function parseGeneration(store: string, entry: string, v: unknown): GenerationInfo {
  const g = v as Partial<GenerationInfo> | null;
  const ok =
    !!g &&
    Number.isInteger(g.generation) &&
    g.generation! >= 0 &&
    (g.mode === 'secret' || g.mode === 'tokenRequest') &&
    typeof g.object === 'string' &&
    typeof g.issuedAt === 'string' &&
    ISO.test(g.issuedAt) &&
    (g.expiresAt === undefined || (typeof g.expiresAt === 'string' && ISO.test(g.expiresAt))) &&
    (g.objectUid === undefined || typeof g.objectUid === 'string');
  if (!ok) throw new StoreError(store, `secret ${entry}: the record's generation block is invalid`);
  return serializeGeneration(g as GenerationInfo);
}
