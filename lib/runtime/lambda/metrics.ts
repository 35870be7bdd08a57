/**
 * CloudWatch metrics of a run on Lambda, through Powertools for AWS Lambda (Metrics): one
 * embedded-metric-format (EMF) document per run on stdout, which CloudWatch Logs turns into
 * metrics in namespace `FlyteCredsync` with dimensions `service` (flyte-credsync) and `function`
 * (scheduled, clusterCreated, resync). serverless.yml's alarms read them.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Log } from '../../util/log.ts';
import { runMetrics, type MetricsSink } from '../metrics.ts';

export const METRICS_NAMESPACE = 'FlyteCredsync';
export const METRICS_SERVICE = 'flyte-credsync';

/**
 * A sink that publishes each run's metrics as one EMF document.
 *
 * @param fn the entry point, the `function` dimension
 * @param write where the document goes, one line (default: stdout, where CloudWatch Logs reads it)
 */
export function lambdaMetrics(fn: string, log: Log, write: (line: string) => void = (l) => void process.stdout.write(l + '\n')): MetricsSink {
  return (report) => {
    try {
      const metrics = runMetrics(report);
      if (!metrics.length) return;
      const m = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE, defaultDimensions: { function: fn }, logger: log });
      for (const x of metrics) m.addMetric(x.name, MetricUnit[x.unit], x.value);
      m.addMetadata('runId', report.runId);
      // Powertools builds the EMF document; it is written as one line, as publishStoredMetrics does.
      write(JSON.stringify(m.serializeMetrics()));
      m.clearMetrics();
    } catch (err) {
      log.warn('metrics not published', { runId: report.runId, reason: (err as Error).message });
    }
  };
}
