/** Run metrics: the EMF document Powertools builds on Lambda, and the Cloud Logging entry on GCF. */
import { describe, expect, it } from '@jest/globals';
import { gcfMetrics } from '../../lib/runtime/gcf/metrics.ts';
import { lambdaMetrics } from '../../lib/runtime/lambda/metrics.ts';
import { runMetrics } from '../../lib/runtime/metrics.ts';
import type { SyncReport } from '../../lib/sync/sync.ts';
import { silentLog, type LogFields } from '../../lib/util/log.ts';
import { assertValidEmf } from './emf.ts';

const report = (over: Partial<SyncReport> = {}): SyncReport => ({
  runId: 'run-1',
  ok: false,
  dryRun: false,
  startedAt: '2026-11-23T12:00:00.000Z',
  durationMs: 1234,
  clusters: [
    { id: 'dp1', status: 'updated' },
    { id: 'dp2', status: 'unchanged' },
    { id: 'dp3', status: 'unchanged' },
    { id: 'dp4', status: 'failed', code: 'CLUSTER_UNREACHABLE', reason: 'down' },
  ],
  controlPlane: {
    secret: { name: 'cluster-credentials', action: 'update', added: [], changed: ['dp1_token'] },
    configMaps: [],
    restarted: ['flyteadmin', 'syncresources'],
    restartFailures: [],
    checksum: 'sha256:0',
    published: {},
    applied: true,
    attempts: 1,
  },
  ...over,
});

describe('run metrics', () => {
  it('counts what the report says', () => {
    expect(runMetrics(report())).toEqual([
      { name: 'DataPlanesUpdated', unit: 'Count', value: 1 },
      { name: 'DataPlanesUnchanged', unit: 'Count', value: 2 },
      { name: 'DataPlanesFailed', unit: 'Count', value: 1 },
      { name: 'DeploymentsRestarted', unit: 'Count', value: 2 },
      { name: 'ControlPlaneWritten', unit: 'Count', value: 1 },
      { name: 'RunFailed', unit: 'Count', value: 1 },
      { name: 'RunDuration', unit: 'Milliseconds', value: 1234 },
      { name: 'ControlPlaneRevertsRepaired', unit: 'Count', value: 0 },
      { name: 'ControlPlaneContested', unit: 'Count', value: 0 },
    ]);
    expect(runMetrics(report({ dryRun: true }))).toEqual([]);
  });

  it('on Lambda: one valid EMF document per run, namespace FlyteCredsync, dimensions service and function', () => {
    // Prepare
    const lines: string[] = [];
    // Act
    lambdaMetrics('scheduled', silentLog, (l) => lines.push(l))(report());
    // Assess
    expect(lines).toHaveLength(1);
    const doc = JSON.parse(lines[0]!) as Record<string, unknown>;
    assertValidEmf(doc);
    const cw = (doc['_aws'] as { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> }).CloudWatchMetrics[0]!;
    expect(cw.Namespace).toBe('FlyteCredsync');
    expect(cw.Dimensions).toEqual([['service', 'function']]);
    expect(cw.Metrics.map((m) => [m.Name, m.Unit])).toEqual([
      ['DataPlanesUpdated', 'Count'],
      ['DataPlanesUnchanged', 'Count'],
      ['DataPlanesFailed', 'Count'],
      ['DeploymentsRestarted', 'Count'],
      ['ControlPlaneWritten', 'Count'],
      ['RunFailed', 'Count'],
      ['RunDuration', 'Milliseconds'],
      ['ControlPlaneRevertsRepaired', 'Count'],
      ['ControlPlaneContested', 'Count'],
    ]);
    expect(doc).toMatchObject({ service: 'flyte-credsync', function: 'scheduled', DataPlanesFailed: 1, RunFailed: 1, RunDuration: 1234, runId: 'run-1' });
  });

  it('a dry run publishes nothing', () => {
    const lines: string[] = [];
    lambdaMetrics('resync', silentLog, (l) => lines.push(l))(report({ dryRun: true }));
    expect(lines).toEqual([]);
  });

  it('on Cloud Functions: one "sync metrics" entry with Cloud Logging labels', () => {
    const entries: Array<[string, LogFields | undefined]> = [];
    const log = { ...silentLog, info: (m: string, f?: LogFields) => void entries.push([m, f]) };
    gcfMetrics('clusterCreated', log)(report({ ok: true, clusters: [{ id: 'dp1', status: 'unchanged' }] }));
    expect(entries).toEqual([
      [
        'sync metrics',
        {
          'logging.googleapis.com/labels': { service: 'flyte-credsync', function: 'clusterCreated', outcome: 'ok' },
          runId: 'run-1',
          metrics: {
            DataPlanesUpdated: 0,
            DataPlanesUnchanged: 1,
            DataPlanesFailed: 0,
            DeploymentsRestarted: 2,
            ControlPlaneWritten: 1,
            RunFailed: 0,
            RunDuration: 1234,
            ControlPlaneRevertsRepaired: 0,
            ControlPlaneContested: 0,
          },
        },
      ],
    ]);
  });
});

describe('contest metrics', () => {
  it('count the objects whose revert by another writer was repaired, and say 1 when contested; 0 and 0 on a run without reverts', () => {
    const cp = report().controlPlane!;
    const reverted = report({
      controlPlane: {
        ...cp,
        replaced: [
          { object: 'ConfigMap/flyte-admin-clusters-config', manager: 'argocd-application-controller', at: '2026-11-23T11:59:00Z', repairs: 4 },
          { object: 'ConfigMap/flyte-clusterresourcesync-config', manager: 'argocd-application-controller', at: '2026-11-23T11:59:00Z', repairs: 4 },
          // Content another writer wrote that was not a revert of credsync's (a first take-over): not a repair.
          { object: 'Secret/cluster-credentials', manager: 'kubectl-edit', at: '2026-11-23T11:59:00Z' },
        ],
        contested: { by: 'argocd-application-controller', repairs: 4, since: '2026-11-23T11:00:00Z' },
      },
    });
    const pick = (r: SyncReport) => runMetrics(r).filter((m) => m.name.startsWith('ControlPlaneRevertsRepaired') || m.name === 'ControlPlaneContested').map((m) => [m.name, m.value]);
    expect(pick(reverted)).toEqual([['ControlPlaneRevertsRepaired', 2], ['ControlPlaneContested', 1]]);
    expect(pick(report())).toEqual([['ControlPlaneRevertsRepaired', 0], ['ControlPlaneContested', 0]]);
    // A run that did not reach the control plane publishes neither.
    expect(pick(report({ controlPlane: undefined }))).toEqual([]);
    const lines: string[] = [];
    lambdaMetrics('scheduled', silentLog, (l) => lines.push(l))(reverted);
    const doc = JSON.parse(lines[0]!) as Record<string, unknown>;
    assertValidEmf(doc);
    expect(doc).toMatchObject({ ControlPlaneRevertsRepaired: 2, ControlPlaneContested: 1 });
  });
});

describe('rotation metrics', () => {
  it('count rotations, overdue credentials and the oldest live generation, only when data planes rotate', () => {
    const rotation = (over: Record<string, unknown>) => ({ mode: 'secret' as const, generation: 2, rotated: false, phase: 'idle' as const, ...over });
    const r = report({
      startedAt: '2026-11-23T12:00:00.000Z',
      durationMs: 0,
      clusters: [
        { id: 'dp1', status: 'updated', rotation: rotation({ rotated: true, issuedAt: '2026-11-23T12:00:00.000Z', dueAt: '2026-11-30T12:00:00.000Z' }) },
        { id: 'dp2', status: 'unchanged', rotation: rotation({ issuedAt: '2026-11-13T12:00:00.000Z', dueAt: '2026-11-20T12:00:00.000Z' }) },
        { id: 'dp3', status: 'unchanged' },
      ],
    });
    expect(runMetrics(r).slice(9)).toEqual([
      { name: 'DataPlanesRotated', unit: 'Count', value: 1 },
      { name: 'RotationsOverdue', unit: 'Count', value: 1 },
      { name: 'OldestCredentialAgeSeconds', unit: 'Seconds', value: 10 * 86400 },
    ]);
    const lines: string[] = [];
    lambdaMetrics('scheduled', silentLog, (l) => lines.push(l))(r);
    assertValidEmf(JSON.parse(lines[0]!) as Record<string, unknown>);
    expect(runMetrics(report()).map((m) => m.name)).not.toContain('DataPlanesRotated');
  });
});

describe('label metrics', () => {
  const labels = (over: Partial<NonNullable<SyncReport['labels']>> = {}): NonNullable<SyncReport['labels']> => ({
    ok: true,
    dryRun: false,
    changes: [
      { scope: 'p/production', project: 'p', domain: 'production', label: 'team1', action: 'create' },
      { scope: 'p/staging', project: 'p', domain: 'staging', label: 'team1', current: 'gpu', action: 'update' },
      { scope: 'p/development', project: 'p', domain: 'development', label: 'team1', current: 'team1', action: 'unchanged' },
    ],
    foreign: [{ scope: 'q/production', label: 'legacy' }],
    written: ['p/production', 'p/staging'],
    failures: [],
    alreadyBroken: [],
    ...over,
  });

  it('count rows applied, unchanged and foreign, and routing refusals, only when labels ran', () => {
    expect(runMetrics(report({ labels: labels() })).slice(9)).toEqual([
      { name: 'LabelRowsApplied', unit: 'Count', value: 2 },
      { name: 'LabelRowsUnchanged', unit: 'Count', value: 1 },
      { name: 'LabelRowsForeign', unit: 'Count', value: 1 },
      { name: 'LabelRoutingRefusals', unit: 'Count', value: 0 },
    ]);
    // Refused by the routing guard: nothing written, the refusals counted.
    const refused = report({ controlPlane: undefined, controlPlaneError: { code: 'LABEL_ROUTING', reason: 'refusing', refusedAssignments: 3 }, labels: labels({ dryRun: true, written: [] }) });
    expect(runMetrics(refused).slice(5)).toEqual([
      { name: 'RunFailed', unit: 'Count', value: 1 },
      { name: 'RunDuration', unit: 'Milliseconds', value: 1234 },
      { name: 'LabelRowsApplied', unit: 'Count', value: 0 },
      { name: 'LabelRowsUnchanged', unit: 'Count', value: 1 },
      { name: 'LabelRowsForeign', unit: 'Count', value: 1 },
      { name: 'LabelRoutingRefusals', unit: 'Count', value: 3 },
    ]);
    // FlyteAdmin unreachable: labels ran and failed, zeros are published.
    expect(runMetrics(report({ labelsError: { code: 'FLYTEADMIN_UNREACHABLE', reason: 'down' } })).map((m) => m.name).slice(9)).toEqual(['LabelRowsApplied', 'LabelRowsUnchanged', 'LabelRowsForeign', 'LabelRoutingRefusals']);
    // No labels: none of them.
    expect(runMetrics(report()).map((m) => m.name).filter((n) => n.startsWith('Label'))).toEqual([]);
  });

  it('keep the EMF document valid on Lambda and the entry shape on Cloud Functions', () => {
    const lines: string[] = [];
    lambdaMetrics('scheduled', silentLog, (l) => lines.push(l))(report({ labels: labels() }));
    const doc = JSON.parse(lines[0]!) as Record<string, unknown>;
    assertValidEmf(doc);
    const cw = (doc['_aws'] as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string; Unit: string }> }> }).CloudWatchMetrics[0]!;
    expect(cw.Metrics.slice(9)).toEqual([
      { Name: 'LabelRowsApplied', Unit: 'Count' },
      { Name: 'LabelRowsUnchanged', Unit: 'Count' },
      { Name: 'LabelRowsForeign', Unit: 'Count' },
      { Name: 'LabelRoutingRefusals', Unit: 'Count' },
    ]);
    expect(doc).toMatchObject({ LabelRowsApplied: 2, LabelRowsUnchanged: 1, LabelRowsForeign: 1, LabelRoutingRefusals: 0 });
    const entries: Array<[string, LogFields | undefined]> = [];
    gcfMetrics('scheduled', { ...silentLog, info: (m: string, f?: LogFields) => void entries.push([m, f]) })(report({ labels: labels() }));
    expect(entries).toHaveLength(1);
    expect(entries[0]![1]).toEqual({
      'logging.googleapis.com/labels': { service: 'flyte-credsync', function: 'scheduled', outcome: 'failed' },
      runId: 'run-1',
      metrics: expect.objectContaining({ DataPlanesFailed: 1, LabelRowsApplied: 2, LabelRowsUnchanged: 1, LabelRowsForeign: 1, LabelRoutingRefusals: 0 }),
    });
  });
});

describe('assertValidEmf', () => {
  it('refuses documents CloudWatch would not turn into metrics', () => {
    const ok = { _aws: { Timestamp: 1, CloudWatchMetrics: [{ Namespace: 'N', Dimensions: [['d']], Metrics: [{ Name: 'M', Unit: 'Count' }] }] }, d: 'x', M: 1 };
    expect(() => assertValidEmf(ok)).not.toThrow();
    expect(() => assertValidEmf({ ...ok, M: 'one' })).toThrow('metric M: value must be a number or an array of numbers');
    expect(() => assertValidEmf({ ...ok, d: undefined })).toThrow('dimension d: must be a string member of the document');
    expect(() => assertValidEmf({ ...ok, _aws: { ...ok._aws, Timestamp: 'now' } })).toThrow('_aws.Timestamp: must be a number');
    expect(() => assertValidEmf({ ...ok, _aws: { ...ok._aws, CloudWatchMetrics: [{ ...ok._aws.CloudWatchMetrics[0]!, Metrics: [{ Name: 'M', Unit: 'Parsecs' }] }] } })).toThrow(
      'metric M: unit Parsecs is not a CloudWatch unit',
    );
  });
});
