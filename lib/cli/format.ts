/** Human-readable rendering of a {@link SyncReport} (the JSON form is the report itself). */
import { formatLabels } from '../labels/plan.ts';
import type { SyncReport } from '../sync/sync.ts';

/** The human-readable report the CLI prints (the JSON form, `--json`, is the report itself). */
export function formatReport(r: SyncReport): string {
  const lines: string[] = [];
  lines.push(`${r.dryRun ? 'DRY RUN — nothing written. ' : ''}sync ${r.ok ? 'succeeded' : 'FAILED'} in ${r.durationMs} ms`);
  if (r.config?.refused)
    lines.push(`✗ configuration ${r.config.source}: version ${r.config.refused.version} REFUSED, ran version ${r.config.version}: ${r.config.refused.reason}`);
  lines.push('');
  lines.push('data planes:');
  for (const c of r.clusters) {
    if (c.status === 'failed') {
      lines.push(`  ✗ ${c.id}: failed [${c.code}] ${c.reason}`);
      lines.push(`      control plane ${c.lastGoodKept ? 'keeps its last good credential' : 'has no credential for it'}`);
    } else {
      const verb = r.dryRun ? { created: 'would create', updated: 'would add a version to', unchanged: 'unchanged in' } : { created: 'created', updated: 'new version in', unchanged: 'unchanged in' };
      lines.push(
        `  ${c.status === 'updated' ? '↻' : '✓'} ${c.id}: ${c.status} — ${verb[c.store!]} ${c.storeEntry}` +
          ` (fingerprint ${c.fingerprint}, ${c.identity})${c.tokenSecretCreated ? ', token Secret created' : ''}`,
      );
    }
  }
  if (r.discovery) {
    lines.push('');
    lines.push(`discovery: ${r.discovery.added.length ? 'added ' + r.discovery.added.join(', ') : 'added nothing'}`);
    for (const s of r.discovery.skipped) lines.push(`  ! skipped ${s.source}: ${s.reason}`);
  }
  lines.push('');
  if (r.controlPlaneError) lines.push(`control plane: NOT updated [${r.controlPlaneError.code}] ${r.controlPlaneError.reason}`);
  const cp = r.controlPlane;
  if (cp) {
    const s = cp.secret;
    lines.push(`control plane${r.dryRun ? ' (would change)' : ''}:`);
    lines.push(
      `  Secret ${s.name}: ${s.action}` +
        (s.added.length ? `; added ${s.added.join(', ')}` : '') +
        (s.changed.length ? `; changed ${s.changed.join(', ')}` : ''),
    );
    for (const c of cp.configMaps) {
      lines.push(`  ConfigMap ${c.name}: ${c.action}${c.disabledClusters.length ? ` (kept disabled: ${c.disabledClusters.join(', ')})` : ''}`);
      if (c.diff) lines.push(...c.diff.trimEnd().split('\n').map((l) => '    ' + l));
    }
    lines.push(
      cp.restarted.length
        ? `  ${r.dryRun ? 'would restart' : 'restarted'}: ${cp.restarted.join(', ')}`
        : '  no restart (nothing changed)',
    );
    for (const f of cp.restartFailures) lines.push(`  ✗ restart ${f.name} failed: ${f.reason}`);
  }
  if (r.audit) {
    lines.push(`audit: ${r.audit.recorded.length} Event(s) recorded for run ${r.runId}${r.audit.recorded.length ? ` (${r.audit.recorded.join(', ')})` : ''}`);
    for (const f of r.audit.failed) lines.push(`  ! not recorded: ${f}`);
  }
  if (r.labelsError) lines.push('', `execution-cluster labels: NOT applied [${r.labelsError.code}] ${r.labelsError.reason}`);
  if (r.labels) {
    lines.push('', `execution-cluster labels${r.labels.dryRun ? ' (plan, nothing written)' : ''}:`, formatLabels(r.labels));
    for (const p of r.labels.alreadyBroken) lines.push(`  ! ${p.scope} -> ${p.label} (set in FlyteAdmin) routes to every cluster: ${p.reason}`);
  }
  return lines.join('\n');
}
