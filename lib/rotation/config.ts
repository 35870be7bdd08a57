/**
 * Rotation's policy over the settings of lib/config/rotation.ts: which settings a data plane runs
 * with, when a credential is due, and the refusal of a rotation command for data planes that do
 * not rotate.
 */
import type { Config, DataPlane } from '../config/schema.ts';
import { rotationSettings, type RotationSettings } from '../config/rotation.ts';
import { CredsyncError } from '../errors.ts';
import { boundedList } from '../util/bounded.ts';

/** The settings for a data plane, or undefined when it does not rotate. */
export function settingsFor(cfg: Config, dp: DataPlane): RotationSettings | undefined {
  return rotationSettings(cfg.rotation, dp.rotation);
}

/**
 * When a credential issued at `issuedAt` is due for rotation: after `every`, and in tokenRequest
 * mode at the latest at two thirds of its lifetime. Undefined: never by age.
 */
export function dueAt(s: RotationSettings, issuedAt: Date, expiresAt?: Date): Date | undefined {
  const candidates: number[] = [];
  if (s.everySeconds !== undefined) candidates.push(issuedAt.getTime() + s.everySeconds * 1000);
  if (expiresAt) candidates.push(issuedAt.getTime() + ((expiresAt.getTime() - issuedAt.getTime()) * 2) / 3);
  return candidates.length ? new Date(Math.min(...candidates)) : undefined;
}

/**
 * Refuses a rotation command for data planes that do not rotate, before anything is read or
 * written: rotation asked of a data plane without rotation settings would otherwise be a plain
 * sync (or nothing at all) that looks like success.
 *
 * @param what the command, for the message (`rotate --now`, `rollback`, ...)
 * @param clusters the data planes asked for by id; none: every configured one, of which at least
 *   one must rotate (the others are synced as usual)
 * @throws CredsyncError `ROTATION_NOT_CONFIGURED` naming the data planes without rotation settings
 */
export function requireRotation(cfg: Config, what: string, clusters?: readonly string[]): void {
  const asked = clusters?.length ? cfg.dataPlanes.filter((d) => clusters.includes(d.id)) : cfg.dataPlanes;
  const off = asked.filter((d) => !rotationSettings(cfg.rotation, d.rotation)).map((d) => d.id);
  if (clusters?.length ? off.length === 0 : off.length < asked.length) return;
  const which = clusters?.length ? `data plane(s) ${boundedList(off)} have no rotation settings` : `none of the configured data planes (${boundedList(off)}) has rotation settings`;
  throw new CredsyncError(
    'ROTATION_NOT_CONFIGURED',
    `${what}: ${which} (add "rotation:" to the configuration, or to the data plane under dataPlanes[].rotation); nothing was done`,
  );
}
