/**
 * Stable codes: a failed sync carries the code of what failed (SyncFailedError), its message stays
 * bounded and secret-free, and the table of docs/error-codes.md lists exactly the codes there are.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, isErrorCode, MAX_MESSAGE_CHARS } from '../../lib/errors.ts';
import { SyncFailedError, syncFailures } from '../../lib/runtime/invocation.ts';
import type { ClusterReport, SyncReport } from '../../lib/sync/sync.ts';
import { registerSecret } from '../../lib/util/redact.ts';

const report = (over: Partial<SyncReport> = {}): SyncReport => ({
  runId: 'run-1',
  ok: false,
  dryRun: false,
  startedAt: '2026-12-02T04:00:00.000Z',
  durationMs: 10,
  clusters: [{ id: 'dp1', status: 'updated' }],
  ...over,
});
const failed = (id: string, code: string, reason = 'down'): ClusterReport => ({ id, status: 'failed', code, reason });
const controlPlane = (restartFailures: NonNullable<SyncReport['controlPlane']>['restartFailures']): SyncReport['controlPlane'] => ({
  secret: { name: 'cluster-credentials', action: 'none', added: [], changed: [] } as unknown as NonNullable<SyncReport['controlPlane']>['secret'],
  configMaps: [],
  restarted: [],
  restartFailures,
  checksum: 'sha256:0',
  published: {},
  applied: false,
  attempts: 1,
});

describe('SyncFailedError: the code of what failed', () => {
  it('a failed data plane gives its code; the first one in report order when several failed', () => {
    const e = new SyncFailedError(report({ clusters: [{ id: 'dp1', status: 'updated' }, failed('dp2', 'CREDENTIAL_REJECTED', 'credential rejected'), failed('dp3', 'CLUSTER_UNREACHABLE')] }));
    expect(e.code).toBe('CREDENTIAL_REJECTED');
    expect(e.message).toBe('sync failed: dp2 [CREDENTIAL_REJECTED] credential rejected; dp3 [CLUSTER_UNREACHABLE] down');
  });

  it('the control plane, its restarts, labels and rotation each give their own code when nothing failed before them', () => {
    const cases: Array<[Partial<SyncReport>, string, string]> = [
      [{ controlPlaneError: { code: 'CONTROL_PLANE_BUSY', reason: 'Lease held' } }, 'CONTROL_PLANE_BUSY', 'control plane [CONTROL_PLANE_BUSY] Lease held'],
      [{ controlPlane: controlPlane([{ name: 'flyteadmin', code: 'KUBERNETES_API', reason: 'HTTP 422' }]) }, 'KUBERNETES_API', 'restart flyteadmin [KUBERNETES_API] HTTP 422'],
      [{ labelsError: { code: 'FLYTEADMIN_UNREACHABLE', reason: 'no answer' } }, 'FLYTEADMIN_UNREACHABLE', 'labels [FLYTEADMIN_UNREACHABLE] no answer'],
      [
        { labels: { ok: false, dryRun: false, written: [], changes: [], foreign: [], alreadyBroken: [], failures: [{ scope: 'p/d', code: 'FLYTEADMIN_API', reason: 'INTERNAL: boom' }] } as unknown as SyncReport['labels'] },
        'FLYTEADMIN_API',
        'label p/d [FLYTEADMIN_API] INTERNAL: boom',
      ],
      [{ rotationError: { code: 'ROLLOUT_INCOMPLETE', reason: 'not complete after 300 s' } }, 'ROLLOUT_INCOMPLETE', 'rotation [ROLLOUT_INCOMPLETE] not complete after 300 s'],
      [
        { config: { source: 'ssm:/credsync', version: '3', refused: { version: '4', code: 'CONFIG_INVALID', reason: 'dataPlanes.0.id: required' } } },
        'CONFIG_INVALID',
        'configuration ssm:/credsync version 4 refused (ran version 3): dataPlanes.0.id: required',
      ],
    ];
    for (const [over, code, line] of cases) {
      const e = new SyncFailedError(report(over));
      expect([e.code, e.message]).toEqual([code, `sync failed: ${line}`]);
    }
  });

  it('the order is the order the sync meets them: configuration, data planes, control plane, restarts, labels, rotation', () => {
    const all = report({
      config: { source: 'f.yaml', version: '1', refused: { version: '2', code: 'CONFIG_INVALID', reason: 'bad' } },
      clusters: [failed('dp1', 'CLUSTER_UNREACHABLE')],
      controlPlaneError: { code: 'CONTROL_PLANE_BUSY', reason: 'held' },
      controlPlane: controlPlane([{ name: 'flyteadmin', code: 'KUBERNETES_API', reason: 'x' }]),
      labelsError: { code: 'FLYTEADMIN_AUTH', reason: 'x' },
      rotationError: { code: 'ROLLOUT_INCOMPLETE', reason: 'x' },
    });
    expect(syncFailures(all).map((f) => f.code)).toEqual(['CONFIG_INVALID', 'CLUSTER_UNREACHABLE', 'CONTROL_PLANE_BUSY', 'KUBERNETES_API', 'FLYTEADMIN_AUTH', 'ROLLOUT_INCOMPLETE']);
    expect(new SyncFailedError(all).code).toBe('CONFIG_INVALID');
    const { config: _c, ...noConfig } = all;
    expect(new SyncFailedError(noConfig).code).toBe('CLUSTER_UNREACHABLE');
    expect(new SyncFailedError({ ...noConfig, clusters: [] }).code).toBe('CONTROL_PLANE_BUSY');
  });

  it('a code that is not one of ours is INTERNAL, and so is a report that is not ok with nothing failed', () => {
    expect(new SyncFailedError(report({ clusters: [failed('dp1', 'SOMETHING_ELSE')] })).code).toBe('INTERNAL');
    const none = new SyncFailedError(report());
    expect([none.code, none.message]).toEqual(['INTERNAL', 'sync failed: the report is not ok']);
  });

  it('stays short with 1,000 failed data planes (the first 20, then how many more), bounded with long reasons, and quotes no secret', () => {
    const many = new SyncFailedError(report({ clusters: Array.from({ length: 1000 }, (_, i) => failed(`dp${i}`, 'CLUSTER_UNREACHABLE')) }));
    expect(many.message).toBe(`sync failed: ${Array.from({ length: 20 }, (_, i) => `dp${i} [CLUSTER_UNREACHABLE] down`).join('; ')}; and 980 more failures (see the report)`);
    const token = 'eyJhbGciOiJSUzI1NiJ9.' + 'a'.repeat(300) + '.sig';
    registerSecret(token);
    const clusters = Array.from({ length: 1000 }, (_, i) => failed(`dp${i}`, 'CREDENTIAL_REJECTED', `token ${token} refused: ${'x'.repeat(2000)}`));
    const e = new SyncFailedError(report({ clusters }));
    expect(e.code).toBe('CREDENTIAL_REJECTED');
    // The bound, plus truncate()'s "… (N more characters)".
    expect(e.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 40);
    expect(e.message).toMatch(/… \(\d+ more characters\)$/);
    expect(e.message.startsWith('sync failed: dp0 [CREDENTIAL_REJECTED] token ')).toBe(true);
    expect(e.message).not.toContain(token);
    expect(e.message).not.toContain('a'.repeat(300));
  });
});

describe('docs/error-codes.md', () => {
  it('its table lists exactly the codes of lib/errors.ts, in the same order', () => {
    const page = readFileSync(fileURLToPath(new URL('../../docs/error-codes.md', import.meta.url)), 'utf8');
    const documented = [...page.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual([...ERROR_CODES]);
    expect(documented.every(isErrorCode)).toBe(true);
    expect(isErrorCode('NOT_A_CODE')).toBe(false);
  });
});
