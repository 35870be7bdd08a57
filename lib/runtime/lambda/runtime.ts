/**
 * The invocation path of a Lambda function (../invocation.ts: configuration, store, Kubernetes
 * and cloud clients, the sync) and its metrics sink, loaded by the first invocation rather than
 * while the function's module loads: the bundle still holds them, but a cold start evaluates them
 * only when an event needs them (bench/RESULTS.md "Cold start"), then they stay loaded.
 */
import type { MetricsSink } from '../metrics.ts';
import { log } from './adapter.ts';

export type Runtime = typeof import('./invoke.ts') & { metrics: MetricsSink };

/**
 * @param fn the entry point, the metrics' `function` dimension
 * @returns a loader that imports the runtime once and then returns the same one
 */
export function lazyRuntime(fn: string): () => Promise<Runtime> {
  let loaded: Promise<Runtime> | undefined;
  return () =>
    (loaded ??= Promise.all([import('./invoke.ts'), import('./metrics.ts')]).then(([invocation, { lambdaMetrics }]) => ({
      ...invocation,
      metrics: lambdaMetrics(fn, log),
    })));
}
