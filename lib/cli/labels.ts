/**
 * The CLI's labels commands:
 *
 *   credsync labels plan|apply --config FILE [--json]
 *   credsync export-values --config FILE [--out FILE] [--json]
 */
import { writeFile } from 'node:fs/promises';
import { exportValues } from '../gitops/values.ts';
import { formatLabels, type LabelsReport } from '../labels/plan.ts';
import { connectFlyteAdmin, runLabels } from '../labels/run.ts';
import { CredsyncError, describeError, errorCode } from '../errors.ts';
import { prepare } from '../runtime/invocation.ts';
import type { Log } from '../util/log.ts';

/** `credsync labels plan|apply`: the report (the caller prints it); plan writes nothing. */
export async function labelsCommand(log: Log, opts: { configPath?: string; apply: boolean }): Promise<LabelsReport> {
  const { config, deps } = await prepare(log, opts.configPath ? { configPath: opts.configPath } : {});
  const labels = config.labels;
  if (!labels) throw new CredsyncError('CONFIG_INVALID', 'the configuration has no labels section (labels.flyteadmin and labels.assignments)');
  return runLabels(config, { controlPlane: deps.controlPlane, flyteAdmin: () => connectFlyteAdmin(labels.flyteadmin, deps.store) }, { dryRun: !opts.apply });
}

export function formatLabelsReport(r: LabelsReport): string {
  const head = r.dryRun ? 'labels plan (nothing written):' : `labels apply ${r.ok ? 'succeeded' : 'FAILED'}:`;
  return [head, formatLabels(r) || '  (no assignments)'].join('\n');
}

/** `credsync export-values`: writes the values file (or returns its text for stdout). */
export async function exportValuesCommand(log: Log, opts: { configPath?: string; out?: string }): Promise<{ text: string; missing: string[] }> {
  const { config, deps } = await prepare(log, opts.configPath ? { configPath: opts.configPath } : {});
  // What the control plane lists now: data planes that left the configuration stay, disabled.
  const cp = config.controlPlane;
  let live: string | undefined;
  try {
    live = (await (await deps.controlPlane()).getConfigMap(cp.namespace, cp.configMaps[0]!))?.data[cp.configKey];
  } catch (err) {
    if (errorCode(err) === 'DEADLINE') throw err;
    log.warn('cannot read the control plane: data planes that left the configuration are not kept in the values (disabled) this time', { code: errorCode(err), reason: describeError(err) });
  }
  const r = await exportValues(config, deps.store, live);
  for (const id of r.missing) log.warn('data plane left out of the values: no stored credential yet (run credsync sync first)', { cluster: id });
  for (const id of r.kept) log.info('data plane kept in the values, disabled: it left the configuration', { cluster: id });
  if (opts.out) await writeFile(opts.out, r.text, { mode: 0o644 });
  return r;
}
