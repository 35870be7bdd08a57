/**
 * A checker of CloudWatch's embedded metric format (EMF) specification, written from the spec
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
 * tests parse what the functions print and check it with this, not with Powertools' own code.
 */
const UNITS = new Set([
  'Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes', 'Bits', 'Kilobits',
  'Megabits', 'Gigabits', 'Terabits', 'Percent', 'Count', 'Bytes/Second', 'Kilobytes/Second', 'Megabytes/Second',
  'Gigabytes/Second', 'Terabytes/Second', 'Bits/Second', 'Kilobits/Second', 'Megabits/Second', 'Gigabits/Second',
  'Terabits/Second', 'Count/Second', 'None',
]);

/** Throws, naming the first rule a document breaks. */
export function assertValidEmf(doc: Record<string, unknown>): void {
  const aws = doc['_aws'] as Record<string, unknown> | undefined;
  if (!aws || typeof aws !== 'object') throw new Error('_aws: missing');
  if (typeof aws['Timestamp'] !== 'number') throw new Error('_aws.Timestamp: must be a number');
  const directives = aws['CloudWatchMetrics'];
  if (!Array.isArray(directives) || directives.length === 0) throw new Error('_aws.CloudWatchMetrics: must be a non-empty array');
  for (const d of directives as Array<Record<string, unknown>>) {
    if (typeof d['Namespace'] !== 'string' || !d['Namespace']) throw new Error('Namespace: must be a non-empty string');
    const dims = d['Dimensions'];
    if (!Array.isArray(dims)) throw new Error('Dimensions: must be an array of dimension sets');
    for (const set of dims) {
      if (!Array.isArray(set) || set.length > 30) throw new Error('Dimensions: each set is an array of at most 30 names');
      for (const name of set) if (typeof doc[name] !== 'string') throw new Error(`dimension ${name}: must be a string member of the document`);
    }
    const metrics = d['Metrics'];
    if (!Array.isArray(metrics) || metrics.length > 100) throw new Error('Metrics: must be an array of at most 100');
    for (const m of metrics as Array<Record<string, unknown>>) {
      const name = m['Name'];
      if (typeof name !== 'string' || !name) throw new Error('Metrics: each needs a Name');
      if (m['Unit'] !== undefined && !UNITS.has(m['Unit'] as string)) throw new Error(`metric ${name}: unit ${String(m['Unit'])} is not a CloudWatch unit`);
      const v = doc[name];
      const numeric = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
      if (!(numeric(v) || (Array.isArray(v) && v.length > 0 && v.every(numeric)))) throw new Error(`metric ${name}: value must be a number or an array of numbers`);
    }
  }
}
