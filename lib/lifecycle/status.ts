/**
 * `credsync status`'s drain part: which data planes the control plane holds as draining (the
 * ConfigMaps' draining annotation, and the configuration), since when, and their unfinished
 * executions, counted on each data plane; for one whose cluster was deleted (its store entry says
 * so: lib/stores/lifecycle.ts), the deletion and the count recorded then instead. Writes nothing.
 */
import type { Config, DataPlane } from '../config/schema.ts';
import { drainingSince } from '../controlplane/apply.ts';
import type { ConfigMapObject, ControlPlaneApi, DataPlaneApi } from '../kube/ports.ts';
import type { Log } from '../util/log.ts';

/** What the drain status reads: the configuration, the control plane and each draining data plane. */
export interface DrainStatusDeps {
  config: Config;
  controlPlane(): Promise<Pick<ControlPlaneApi, 'getConfigMap'>>;
  dataPlane(dp: DataPlane): Promise<DataPlaneApi>;
  log: Log;
  now?: () => Date;
  /** The store: a data plane whose entry records its cluster's deletion is not counted (default: every one is). */
  store?: unknown;
}
import { drainStep, type DrainReport } from './drain.ts';
import { isDeletedDrain, isLifecycleStore } from '../stores/lifecycle.ts';
import { mapBounded } from '../util/log.ts';

/**
 * @param opts.clusters only these data planes (default: all)
 * @returns data plane id -> its drain report, for each draining one
 * @throws the control plane's read errors
 */
export async function drainStatus(deps: DrainStatusDeps, opts: { clusters?: string[] } = {}): Promise<Map<string, DrainReport>> {
  const cp = deps.config.controlPlane;
  const now = deps.now ?? (() => new Date());
  const api = await deps.controlPlane();
  const cms = (await Promise.all(cp.configMaps.map((n) => api.getConfigMap(cp.namespace, n)))).filter((c): c is ConfigMapObject => !!c);
  const since = drainingSince(deps.config, cms, {}, now().toISOString());
  if (opts.clusters) for (const id of [...since.keys()]) if (!opts.clusters.includes(id)) since.delete(id);
  const deleted = new Map<string, DrainReport>();
  const store = deps.store;
  if (isLifecycleStore(store))
    await mapBounded([...since.keys()], deps.config.concurrency, async (id) => {
      const state = (await store.lifecycle(id).catch(() => undefined))?.state;
      if (!isDeletedDrain(state)) return; // unreadable: counted as usual, which says what fails
      deleted.set(id, { since: since.get(id)!, clusterDeleted: { at: state!.at, ...(state!.forced !== undefined ? { unfinished: state!.forced } : {}) } });
      since.delete(id);
    });
  const counted = since.size ? await drainStep(deps.config, since, deps.dataPlane, now, deps.log) : new Map<string, DrainReport>();
  return new Map([...counted, ...deleted]);
}
