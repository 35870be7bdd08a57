/** Human-readable rendering of a {@link SyncReport} (the JSON form is the report itself). */
import { formatLabels } from '../labels/plan.ts';
import { formatOwnership } from '../controlplane/owners.ts';
import { contestedLine } from '../controlplane/content.ts';
import type { SyncReport } from '../sync/sync.ts';
import type { DataPlaneStatus } from '../rotation/status.ts';
import type { RotationReport } from '../rotation/rotate.ts';
import type { DrainReport } from '../lifecycle/drain.ts';
import type { RetireReport } from '../lifecycle/reports.ts';
import { boundedLines, boundedList, countedRest, MAX_ECHO_ITEMS, pickRows } from '../util/bounded.ts';

/** Lines of one ConfigMap's clusters.yaml diff the text report shows (a first sync of 5,000 data planes is 80,000). */
export const MAX_DIFF_LINES = 200;

/**
 * The human-readable report the CLI prints (the JSON form, `--json`, is the report itself).
 * Bounded whatever the number of data planes: with more than 50 (MAX_REPORT_ROWS) it lists 50
 * that failed or changed (failures first) and the first 10 unchanged, and counts the rest by status;
 * every other list (Secret keys, out of routing, draining, the diff) is cut the same way.
 */
export function formatReport(r: SyncReport): string {
  const lines: string[] = [];
  lines.push(`${r.dryRun ? 'DRY RUN — nothing written. ' : ''}sync ${r.ok ? 'succeeded' : 'FAILED'} in ${r.durationMs} ms`);
  if (r.config?.refused)
    lines.push(`✗ configuration ${r.config.source}: version ${r.config.refused.version} REFUSED, ran version ${r.config.version}: ${r.config.refused.reason}`);
  lines.push('');
  lines.push('data planes:');
  const rows = pickRows(r.clusters, (c) => (c.status === 'failed' || c.retire?.error ? 0 : c.status !== 'unchanged' || c.retire || c.tokenSecretCreated || c.rotation?.rotated || c.rotation?.wouldRotate ? 1 : 2));
  for (const c of rows.shown) {
    if (c.retire) {
      lines.push(`  ${c.retire.error ? '✗' : '⏏'} ${c.id}: ${formatRetire(c.retire)}`);
      continue;
    }
    if (c.status === 'failed') {
      lines.push(`  ✗ ${c.id}: failed [${c.code}] ${c.reason}`);
      const held = c.published?.credential;
      lines.push(
        !c.published
          ? '      control plane not updated (see below)'
          : `      control plane ${r.dryRun ? 'would hold' : 'holds'} ${held ? `its last good credential ${held}` : 'no credential for it'}` +
              (c.publishedStillVerifies ? ', which still verifies and stays routed' : ''),
      );
    } else {
      const verb = r.dryRun ? { created: 'would create', updated: 'would add a version to', unchanged: 'unchanged in' } : { created: 'created', updated: 'new version in', unchanged: 'unchanged in' };
      lines.push(
        `  ${c.status === 'updated' ? '↻' : '✓'} ${c.id}: ${c.status} — ${verb[c.store!]} ${c.storeEntry}` +
          ` (fingerprint ${c.fingerprint}, ${c.identity})${c.tokenSecretCreated ? ', token Secret created' : ''}`,
      );
      if (c.rotation) lines.push(`      ${formatRotation(c.rotation)}`);
    }
  }
  lines.push(...countedRest(rows.left, 'data planes', (c) => (c.retire ? 'retiring' : c.status), '  '));
  const unrouted = r.clusters.filter((c) => c.published?.unrouted);
  for (const c of unrouted.slice(0, MAX_ECHO_ITEMS)) {
    const p = c.published!;
    const kept = p.keptInLabels.length ? `; kept in ${boundedList(p.keptInLabels)} (its last enabled member)` : '';
    lines.push(`  ! ${c.id}: out of routing until its credential verifies again${kept}`);
  }
  if (unrouted.length > MAX_ECHO_ITEMS) lines.push(`  ! … and ${unrouted.length - MAX_ECHO_ITEMS} more out of routing (--json lists every one)`);
  const draining: string[] = [];
  for (const c of r.clusters) {
    if (c.retire && c.drain?.unfinished === undefined) continue;
    if (c.drain) draining.push(`  ⏾ ${c.id}: ${formatDrain(c.drain)}`);
    else if (c.published?.drainingSince) draining.push(`  ⏾ ${c.id}: draining since ${c.published.drainingSince} (disabled, in no label; credential kept for aborts)`);
  }
  lines.push(...boundedLines(draining, MAX_ECHO_ITEMS, '  ⏾ ', 'draining'));
  if (r.discovery) {
    lines.push('');
    lines.push(`discovery: ${r.discovery.added.length ? `added ${r.discovery.added.length > MAX_ECHO_ITEMS ? `${r.discovery.added.length}: ` : ''}${boundedList(r.discovery.added)}` : 'added nothing'}`);
    lines.push(...boundedLines(r.discovery.skipped.map((s) => `  ! skipped ${s.source}: ${s.reason}`), MAX_ECHO_ITEMS, '  ! ', 'skipped'));
  }
  lines.push('');
  if (r.rotationError) lines.push(`rotation: NOT finished [${r.rotationError.code}] ${r.rotationError.reason}`);
  if (r.controlPlaneError) lines.push(`control plane: NOT updated [${r.controlPlaneError.code}] ${r.controlPlaneError.reason}`);
  const cp = r.controlPlane;
  if (cp) {
    const s = cp.secret;
    lines.push(`control plane${r.dryRun ? ' (would change)' : ''}:`);
    lines.push(
      `  Secret ${s.name}: ${s.action}` +
        (s.added.length ? `; added ${keys(s.added)}` : '') +
        (s.changed.length ? `; changed ${keys(s.changed)}` : ''),
    );
    for (const c of cp.configMaps) {
      if (cp.mode === 'gitops') {
        lines.push(`  ConfigMap ${c.name}: not written (mode gitops: the chart's)`);
        continue;
      }
      lines.push(`  ConfigMap ${c.name}: ${c.action}${c.disabledClusters.length ? ` (kept disabled: ${boundedList(c.disabledClusters)})` : ''}`);
      if (c.diff) lines.push(...boundedLines(c.diff.trimEnd().split('\n').map((l) => '    ' + l), MAX_DIFF_LINES, '    ', 'lines of the diff'));
    }
    if (cp.drift) {
      lines.push(`  ✗ [${cp.drift.code}] clusters.yaml differs from the configuration (${cp.drift.count}):`);
      lines.push(...cp.drift.items.map((i) => `      - ${i}`));
      lines.push(`    commit these flyte-core values${cp.drift.valuesTruncated ? ' (cut short: credsync export-values writes them whole)' : ''}, then helm upgrade (or let Argo CD / Flux sync):`);
      lines.push(...cp.drift.values.trimEnd().split('\n').map((l) => '      ' + l));
    }
    lines.push(...formatOwnership(cp.owners ?? [], { indent: '  ' }));
    for (const x of cp.replaced ?? [])
      lines.push(`  ! ${x.object}: ${r.dryRun ? 'would replace' : 'replaced'} content last written by ${x.manager} at ${x.at}${x.repairs ? ` (its revert repaired ${x.repairs} time(s) within the hour)` : ''}`);
    if (cp.contested) lines.push(`  ✗ [CONTROL_PLANE_CONTESTED] ${contestedLine(cp.contested)}`);
    lines.push(
      cp.restarted.length
        ? `  ${r.dryRun ? 'would restart' : 'restarted'}: ${cp.restarted.join(', ')}`
        : '  no restart (nothing changed)',
    );
    for (const name of cp.restarted) if (cp.restartReasons?.[name]) lines.push(`    ${name}: ${cp.restartReasons[name]}`);
    for (const f of cp.restartFailures) lines.push(`  ✗ restart ${f.name} failed: [${f.code}] ${f.reason}`);
  }
  if (r.audit) {
    lines.push(`audit: ${r.audit.recorded.length} Event(s) recorded for run ${r.runId}${r.audit.recorded.length ? ` (${boundedList(r.audit.recorded)})` : ''}`);
    lines.push(...boundedLines(r.audit.failed.map((f) => `  ! not recorded: ${f}`), MAX_ECHO_ITEMS, '  ! ', 'not recorded'));
  }
  if (r.labelsError) lines.push('', `execution-cluster labels: NOT applied [${r.labelsError.code}] ${r.labelsError.reason}`);
  if (r.labels) {
    lines.push('', `execution-cluster labels${r.labels.dryRun ? ' (plan, nothing written)' : ''}:`, formatLabels(r.labels));
    lines.push(...boundedLines(r.labels.alreadyBroken.map((p) => `  ! ${p.scope} -> ${p.label} (set in FlyteAdmin) routes to every cluster: ${p.reason}`), MAX_ECHO_ITEMS, '  ! ', 'broken label assignments'));
  }
  return lines.join('\n');
}

/** Data keys of the Secret, bounded: `dp1_token, dp1_cacert`, or `10000 keys: dp0_token, ... and 9980 more`. */
const keys = (k: readonly string[]) => `${k.length > MAX_ECHO_ITEMS ? `${k.length} keys: ` : ''}${boundedList(k)}`;

/** One line on a retiring or retired data plane. */
export function formatRetire(r: RetireReport): string {
  if (r.phase === 'draining' && !r.wouldRetire) {
    // A cluster-deleted event was handled; retirement follows once the drain is in effect.
    const lost = r.forced?.unfinished;
    return [
      `cluster DELETED at ${r.decidedAt}; draining, retires once flyteadmin and syncresources rolled out without it`,
      lost === undefined ? 'unfinished executions: unknown, cluster gone' : `${lost} unfinished execution(s) lost with it`,
      ...(r.error ? [`NOT recorded [${r.error.code}] ${r.error.reason}`] : []),
    ].join('; ');
  }
  const parts = [r.wouldRetire ? 'would retire now' : r.phase === 'retired' ? 'retired' : `retiring (${r.phase})`, `decided ${r.decidedAt}`];
  if (r.forced?.reason === 'deleted') parts.push(`FORCED (cluster deleted) with ${r.forced.unfinished === undefined ? 'an unknown number of (cluster gone)' : r.forced.unfinished} unfinished execution(s)`);
  else if (r.forced) parts.push(`FORCED (${r.forced.reason}) with ${r.forced.unfinished ?? 'an unknown number of'} unfinished execution(s)`);
  if (r.revoke === 'done') parts.push(`credential revoked${r.revokedObjects ? ` (${boundedList(r.revokedObjects)} deleted)` : ''}`);
  if (r.revoke === 'skipped') parts.push(`credential NOT revoked: ${r.revokeSkipped ?? 'the data plane did not answer'}`);
  if (r.deletionDate) parts.push(`store entry deleted for good after ${r.deletionDate} (restorable until then)`);
  if (r.error) parts.push(`NOT finished [${r.error.code}] ${r.error.reason}`);
  return parts.join('; ');
}

/** One line on a draining data plane: since when, what still runs there. */
export function formatDrain(d: DrainReport): string {
  const parts = [`draining since ${d.since}`];
  if (d.clusterDeleted)
    parts.push(
      `its cluster was DELETED at ${d.clusterDeleted.at} (${d.clusterDeleted.unfinished === undefined ? 'unfinished executions unknown, cluster gone' : `${d.clusterDeleted.unfinished} unfinished execution(s) lost`}); retires once the drain is in effect`,
    );
  else if (d.error) parts.push(`executions NOT counted [${d.error.code}] ${d.error.reason}`);
  else if (d.unfinished === 0) parts.push('no unfinished execution');
  else {
    const o = d.executions?.[0];
    const age = o?.ageSeconds !== undefined ? `, ${Math.floor(o.ageSeconds / 3600)}h${String(Math.floor((o.ageSeconds % 3600) / 60)).padStart(2, '0')}m old` : '';
    parts.push(`${d.unfinished} unfinished execution(s)${o ? `, oldest ${o.namespace}/${o.executionId} (${o.phase}${age})` : ''}`);
  }
  if (d.maxDrainTimeElapsed) parts.push('maxDrainTime elapsed');
  return parts.join('; ');
}

/** One line on what rotation did for a data plane. */
function formatRotation(r: RotationReport): string {
  const parts = [`generation ${r.generation} (${r.mode})`];
  if (r.rotated) parts.push(`rotated (${r.reason})`);
  if (r.wouldRotate) parts.push(`would rotate (${r.reason})`);
  if (r.discardedPending !== undefined) parts.push(`discarded staged generation ${r.discardedPending} (failed verification)`);
  if (r.rollout) parts.push(r.rollout.complete ? `rolled out in ${Math.round(r.rollout.waitedMs / 1000)} s` : `rollout NOT complete: ${r.rollout.waitingFor?.join('; ')}`);
  if (r.revoked !== undefined) parts.push(`revoked generation ${r.revoked}`);
  if (r.phase === 'published') parts.push('rollout and revoke outstanding (next run)');
  if (r.expiresAt) parts.push(`expires ${r.expiresAt}`);
  if (r.dueAt) parts.push(`next rotation due ${r.dueAt}`);
  return parts.join('; ');
}

/**
 * `credsync status` as text; with more than 50 data planes (MAX_REPORT_ROWS), 50 with something
 * to say (errors first, then work outstanding, a drain, nothing stored) and the first 10 others,
 * the rest counted.
 */
export function formatStatus(list: DataPlaneStatus[]): string {
  const lines: string[] = [];
  const kind = (s: DataPlaneStatus) => (s.error ? 'failed' : s.empty ? 'with nothing stored' : s.pending.length ? 'with work outstanding' : s.drain ? 'draining' : 'current');
  const rows = pickRows(list, (s) => (s.error || s.drain?.error ? 0 : kind(s) !== 'current' ? 1 : 2));
  for (const s of rows.shown) {
    if (s.error) lines.push(`✗ ${s.id}: [${s.error.code}] ${s.error.reason}`);
    else if (s.empty) lines.push(`· ${s.id}: nothing stored yet (${s.mode === 'off' ? 'does not rotate' : `rotation ${s.mode}`})`);
    else {
      const age = s.ageSeconds !== undefined ? `, age ${Math.floor(s.ageSeconds / 3600)}h${String(Math.floor((s.ageSeconds % 3600) / 60)).padStart(2, '0')}m` : '';
      lines.push(`${s.pending.length ? '…' : '✓'} ${s.id}: generation ${s.generation} (${s.mode === 'off' ? 'does not rotate' : s.mode}) ${s.object}, fingerprint ${s.fingerprint}${age}`);
      if (s.expiresAt) lines.push(`    expires ${s.expiresAt}`);
      if (s.dueAt) lines.push(`    next rotation due ${s.dueAt}`);
      for (const p of s.pending) lines.push(`    outstanding: ${p}`);
      if (s.lastRevoked) lines.push(`    last revoked: generation ${s.lastRevoked.generation} at ${s.lastRevoked.at}`);
    }
    if (s.drain) lines.push(`    ${formatDrain(s.drain)}`);
  }
  lines.push(...countedRest(rows.left, 'data planes', kind));
  return lines.join('\n');
}
