/**
 * What every kind of discovery (EKS, GKE) yields, and how it joins the written configuration:
 * a written entry wins over a discovered one with the same id; two discovered clusters claiming
 * one id (in one cloud or across clouds) are both skipped, with a reason.
 */
import type { DataPlane } from '../config/schema.ts';

export interface SkippedCluster {
  /** `eks:<region>/<name>` or `gke:<project>/<location>/<name>`. */
  source: string;
  reason: string;
}

export interface DiscoveryResult {
  dataPlanes: DataPlane[];
  skipped: SkippedCluster[];
}

/** How report entries name an EKS cluster. */
export const eksSource = (region: string, name: string) => `eks:${region}/${name}`;
/** How report entries name a GKE cluster. */
export const gkeSource = (project: string, location: string, name: string) => `gke:${project}/${location}/${name}`;

/** Where a discovered data plane came from, as report entries name it. */
export function discoverySource(dp: DataPlane): string {
  const a = dp.access;
  if (a.type === 'eks') return eksSource(a.region, a.clusterName);
  if (a.type === 'gke') return gkeSource(a.project, a.location, a.clusterName);
  return dp.id;
}

/** Joins discovered data planes to the written ones: written ids win; an id claimed twice by discovery is skipped (both). */
export function mergeDiscovered(written: DataPlane[], found: DiscoveryResult): DiscoveryResult {
  const ids = new Set(written.map((w) => w.id));
  const counts = new Map<string, number>();
  for (const dp of found.dataPlanes) counts.set(dp.id, (counts.get(dp.id) ?? 0) + 1);
  const skipped = [...found.skipped];
  const added: DataPlane[] = [];
  for (const dp of found.dataPlanes) {
    if (ids.has(dp.id)) continue; // written configuration overrides
    if ((counts.get(dp.id) ?? 0) > 1) {
      skipped.push({ source: discoverySource(dp), reason: `id "${dp.id}" is claimed by more than one discovered cluster` });
      continue;
    }
    added.push(dp);
  }
  return { dataPlanes: [...written, ...added], skipped };
}
