/**
 * Metrics of a run on Google Cloud Functions: one structured log entry per run, `message`
 * "sync metrics", with the run's metrics (lib/runtime/metrics.ts) under `metrics` and entry labels
 * (`logging.googleapis.com/labels`: service, function, outcome) that Cloud Logging indexes. A
 * log-based metric turns them into Cloud Monitoring metrics (docs/operations.md "Metrics").
 */
import type { Log } from '../../util/log.ts';
import { runMetrics, type MetricsSink } from '../metrics.ts';

/** A sink that logs each run's metrics as one structured entry. */
export function gcfMetrics(fn: string, log: Log): MetricsSink {
  return (report) => {
    const metrics = runMetrics(report);
    if (!metrics.length) return;
    log.info('sync metrics', {
      'logging.googleapis.com/labels': { service: 'flyte-credsync', function: fn, outcome: report.ok ? 'ok' : 'failed' },
      runId: report.runId,
      metrics: Object.fromEntries(metrics.map((m) => [m.name, m.value])),
    });
  };
}
