/**
 * Echoes of what someone sent (arguments, paths, configuration values, event and request fields):
 * control characters escaped, length bounded; and log lines that list data planes stay short
 * whatever their number (the counts and the first few). The CLI's own echoes are tested through
 * the real process in test/integration/cli.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { boundedList, countedRest, echo, escapeControl, loggedIds, MAX_ECHO_CHARS, pickRows } from '../../lib/util/bounded.ts';
import { formatReport, formatStatus, MAX_DIFF_LINES } from '../../lib/cli/format.ts';
import { formatDoctor, type ClusterDiagnosis, type DoctorReport } from '../../lib/doctor/doctor.ts';
import { formatLabels, type LabelsReport } from '../../lib/labels/plan.ts';
import type { DataPlaneStatus } from '../../lib/rotation/status.ts';
import { lineLog } from '../../lib/util/log.ts';
import { runSync, type SyncDeps } from '../../lib/sync/sync.ts';
import { finish, SyncFailedError } from '../../lib/runtime/invocation.ts';
import { resyncLogFields, parseResyncEvent } from '../../lib/runtime/requests.ts';
import { MemoryStore } from '../../lib/stores/memory.ts';
import { FakeControlPlane, FakeDataPlane, fakeToken, fakeVerifier, testConfig } from './fakes.ts';

const HOSTILE = 'dp1\u001b[31mRED\nFAKE LOG LINE\r\u009b2J\u2028x\u202eevil';

describe('echo: a value quoted back', () => {
  it('escapes every control character: C0 (ESC, newline, CR), C1, line separators, bidi overrides', () => {
    expect(echo(HOSTILE)).toBe('dp1\\x1b[31mRED\\nFAKE LOG LINE\\r\\x9b2J\\u2028x\\u202eevil');
    expect(echo(HOSTILE)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(escapeControl('a\u0000b\u007f', { json: true })).toBe('a\\u0000b\\u007f');
    // Printable text, non-ASCII letters included, is left as it is.
    expect(echo('dp-1 Zürich 東京')).toBe('dp-1 Zürich 東京');
  });

  it('is bounded whatever the input: 1 MB becomes the bound plus how long it was', () => {
    const s = echo('\u001b'.repeat(1_000_000));
    expect(s.length).toBeLessThan(MAX_ECHO_CHARS + 40);
    expect(s.endsWith('… (1000000 characters in all)')).toBe(true);
    expect(echo('x'.repeat(5000), 50)).toBe(`${'x'.repeat(50)}… (5000 characters in all)`);
    // Never half a surrogate pair at the cut.
    expect(echo('a' + '😀'.repeat(10), 2)).toBe('a… (21 characters in all)');
    // Not a string: its JSON, bounded the same way.
    expect(echo({ a: '\n' })).toBe('{"a":"\\n"}');
    expect(echo(undefined)).toBe('undefined');
  });

  it('lists: each item echoed, at most 20 items (boundedList) or 10 for a log field (loggedIds)', () => {
    expect(boundedList(['a\nb', 'c'])).toBe('a\\nb, c');
    const ids = Array.from({ length: 5000 }, (_, i) => `dp${i}`);
    expect(boundedList(ids)).toBe(`${ids.slice(0, 20).join(', ')} and 4980 more`);
    expect(loggedIds(ids)).toEqual([...ids.slice(0, 10), '… and 4990 more']);
    expect(loggedIds(['a\u001bb'])).toEqual(['a\\x1bb']);
  });

  it('a log line is one line: control characters in its message and fields are escaped, and it stays JSON', () => {
    const lines: string[] = [];
    const log = lineLog({ write: (l) => lines.push(l) });
    log.warn(`bad ${HOSTILE}`, { cluster: HOSTILE });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    expect(JSON.parse(lines[0]!.slice(lines[0]!.indexOf(' {') + 1))).toEqual({ cluster: HOSTILE });
  });

  it('the resync request: its ids are logged escaped, the first 10 and how many', () => {
    const r = parseResyncEvent({ clusters: [HOSTILE, ...Array.from({ length: 4999 }, (_, i) => `dp${i}`)] });
    const f = resyncLogFields(r);
    expect(f['clusterCount']).toBe(5000);
    expect(f['clusters']).toHaveLength(11);
    expect(JSON.stringify(f)).not.toContain('\\u001b');
    expect((f['clusters'] as string[])[0]).toBe(echo(HOSTILE, 100));
  });
});

describe('5,000 data planes: log lines that list data planes stay short (in-memory fakes)', () => {
  it('sync started / sync finished and the function\'s sync report give counts and the first few; the run\'s output is measured', async () => {
    // Prepare: 5,000 data planes, the first 50 with a token that does not authenticate.
    const ids = Array.from({ length: 5000 }, (_, i) => `dp${i}`);
    const dps = new Map(ids.map((id) => [id, new FakeDataPlane(id)]));
    const valid = new Set(ids.slice(50).map((id) => fakeToken(id)));
    const lines: string[] = [];
    const deps: SyncDeps = {
      config: testConfig(ids),
      log: lineLog({ write: (l) => lines.push(l) }),
      store: new MemoryStore(),
      verify: fakeVerifier(valid),
      dataPlane: async (dp) => dps.get(dp.id)!,
      controlPlane: async () => new FakeControlPlane(),
      now: () => new Date('2026-12-04T12:00:00Z'),
      sleep: async () => {},
    };
    // Act: the sync, then what a function logs of its report.
    const report = await runSync(deps);
    expect(() => finish(deps.log, report)).toThrow(SyncFailedError);
    // Assess: every line short; the listing lines count and list the first 10.
    const longest = Math.max(...lines.map((l) => l.length));
    const total = lines.reduce((n, l) => n + l.length + 1, 0);
    const line = (m: string) => lines.find((l) => l.startsWith(`info  ${m} {`))!;
    const fields = (m: string) => JSON.parse(line(m).slice(line(m).indexOf('{')));
    expect(fields('sync started')).toMatchObject({ clusterCount: 5000, clusters: [...ids.slice(0, 10), '… and 4990 more'] });
    expect(fields('sync finished')).toMatchObject({ counts: { clusters: 5000, failed: 50 }, failed: [...ids.slice(0, 10), '… and 40 more'] });
    expect(fields('sync report')).toMatchObject({ counts: { clusters: 5000, failed: 50 }, failureCount: 51 });
    expect(fields('sync report').failures).toHaveLength(20);
    for (const m of ['sync started', 'sync finished', 'sync report']) expect(line(m).length).toBeLessThan(8_000);
    expect(longest).toBeLessThan(8_000);
    // One short line per data plane, and a handful more: about 5,000 x 150 bytes, not megabytes per line.
    expect(lines.length).toBeLessThan(5_100);
    expect(total).toBeLessThan(1_500_000);
    process.stdout.write(`5,000 data planes: ${lines.length} log lines, ${total} bytes, longest ${longest} characters\n`);
    // The text report the CLI prints (sync, rotate, drain, retire, rollback): bounded too. The first
    // sync adds 9,900 Secret keys and a clusters.yaml diff of tens of thousands of lines.
    const text = formatReport(report);
    expect(text.length).toBeLessThan(64_000);
    const listed = text.split('\n').filter((l) => /^ {2}[✓↻✗⏏] dp\d+:/.test(l));
    // The 50 failed data planes, not 5,000 rows (all are failed or updated: 50 rows of those).
    expect(listed).toHaveLength(50);
    expect(listed.every((l) => l.startsWith('  ✗'))).toBe(true);
    expect(text).toContain('  … and 4950 more data planes not listed: 4950 updated (--json lists every one)');
  });

  it("the text report of a first sync of 1,000 data planes: the Secret's 2,000 keys and the clusters.yaml diff are cut, the rest counted", async () => {
    // Prepare: 1,000 data planes (5,000 exceed the Secret's 1 MiB: CONTROL_PLANE_TOO_LARGE), all valid.
    const ids = Array.from({ length: 1000 }, (_, i) => `dp${i}`);
    const dps = new Map(ids.map((id) => [id, new FakeDataPlane(id)]));
    const deps: SyncDeps = {
      config: testConfig(ids),
      log: lineLog({ write: () => undefined }),
      store: new MemoryStore(),
      verify: fakeVerifier(new Set(ids.map((id) => fakeToken(id)))),
      dataPlane: async (dp) => dps.get(dp.id)!,
      controlPlane: async () => new FakeControlPlane(),
      now: () => new Date('2026-12-04T12:00:00Z'),
      sleep: async () => {},
    };
    // Act
    const report = await runSync({ ...deps });
    const text = formatReport(report);
    // Assess
    expect(report.ok).toBe(true);
    expect(report.controlPlane!.secret.added).toHaveLength(2000);
    expect(text.length).toBeLessThan(64_000);
    expect(text).toMatch(/; added 2000 keys: dp0_token, dp0_cacert, .* and 1980 more\n/);
    expect(text).toContain('  … and 950 more data planes not listed: 950 updated (--json lists every one)');
    const diffLines = text.split('\n').filter((l) => /^ {4}[-+ @]/.test(l));
    expect(diffLines.length).toBeLessThanOrEqual(2 * MAX_DIFF_LINES);
    expect(text.match(/ {4}… and \d+ more lines of the diff \(--json has them all\)/g)).toHaveLength(2);
  });
});

describe('person-facing reports list at most 50 rows of a kind, the rest counted (issue #20 item 2)', () => {
  it('pickRows: every row up to 50; beyond, the first 50 notable and the first 10 others, in order', () => {
    const rows = Array.from({ length: 200 }, (_, i) => ({ i, bad: i % 20 === 0 }));
    expect(pickRows(rows.slice(0, 50), (r) => (r.bad ? 0 : 2)).shown).toHaveLength(50);
    const { shown, left } = pickRows(rows, (r) => (r.bad ? 0 : 2));
    expect(shown.map((r) => r.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 40, 60, 80, 100, 120, 140, 160, 180]);
    expect(left).toHaveLength(180);
    expect(countedRest(left, 'rows', (r) => (r.bad ? 'bad' : 'good'))).toEqual(['… and 180 more rows not listed: 180 good (--json lists every one)']);
    // Rank 0 before rank 1: failures placed late are listed before earlier changes.
    const mixed = Array.from({ length: 100 }, (_, i) => ({ i, rank: i >= 95 ? 0 : 1 }));
    expect(pickRows(mixed, (r) => r.rank).shown.map((r) => r.i)).toEqual([...Array.from({ length: 45 }, (_, i) => i), 95, 96, 97, 98, 99]);
    expect(countedRest([], 'rows', () => 'x')).toEqual([]);
  });

  it('credsync doctor: the control plane, the first 50 failing and 10 passing data planes, the rest counted by the check that failed', () => {
    const passing = (id: string): ClusterDiagnosis => ({ cluster: `data plane ${id}`, server: 'https://127.0.0.1:6443', ok: true, checks: ['access', 'reachable', 'tls', 'identity', 'authorized'].map((c) => ({ check: c as 'access', ok: true, detail: 'fine' })) });
    const unreachable = (id: string): ClusterDiagnosis => ({ cluster: `data plane ${id}`, server: 'https://127.0.0.1:1', ok: false, checks: [{ check: 'access', ok: true, detail: 'token access resolves' }, { check: 'reachable', ok: false, detail: 'TCP 127.0.0.1:1: ECONNREFUSED' }] });
    const r: DoctorReport = {
      ok: false,
      clusters: [{ ...passing('x'), cluster: 'control plane' }, ...Array.from({ length: 5000 }, (_, i) => (i % 2 ? passing(`dp${i}`) : unreachable(`dp${i}`)))],
      store: { check: 'store', kind: 'aws', ok: true, detail: 'readable' },
      owners: { ok: true, mode: 'owner', objects: [] },
    };
    const text = formatDoctor(r);
    expect(text.length).toBeLessThan(16_000);
    expect(text.split('\n')[0]).toBe('✓ control plane (https://127.0.0.1:6443)');
    expect(text.split('\n').filter((l) => l.startsWith('✗ data plane'))).toHaveLength(50);
    expect(text.split('\n').filter((l) => l.startsWith('✓ data plane'))).toHaveLength(10);
    expect(text).toContain('… and 4940 more data planes not listed: 2490 passed every check, 2450 failed at reachable (--json lists every one)');
    expect(text).toContain('doctor: PROBLEMS FOUND');
  });

  it('credsync status: the first 50 with something to say and 10 current ones, the rest counted', () => {
    const list: DataPlaneStatus[] = Array.from({ length: 5000 }, (_, i) =>
      i < 100 ? { id: `dp${i}`, mode: 'off', pending: [], error: { code: 'STORE_UNREACHABLE', reason: 'no answer' } } : { id: `dp${i}`, mode: 'off', generation: 0, fingerprint: 'sha256:ab', object: 'flyte/flyteadmin-token', pending: [] },
    );
    const text = formatStatus(list);
    expect(text.split('\n').filter((l) => l.startsWith('✗'))).toHaveLength(50);
    expect(text.split('\n').filter((l) => l.startsWith('✓'))).toHaveLength(10);
    expect(text.split('\n').at(-1)).toBe('… and 4940 more data planes not listed: 4890 current, 50 failed (--json lists every one)');
    // Few data planes: every one, as before.
    expect(formatStatus(list.slice(95, 105)).split('\n')).toHaveLength(10);
  });

  it('labels: the first 50 assignments that change, 10 unchanged, the rest counted; rows FlyteAdmin holds are echoed escaped, at most 20', () => {
    const changes = Array.from({ length: 3000 }, (_, i) => ({ scope: `p${i}/production`, project: `p${i}`, domain: 'production', label: 'team1', action: i < 60 ? ('create' as const) : ('unchanged' as const) }));
    const foreign = Array.from({ length: 500 }, (_, i) => ({ scope: `x${i}/dev${i ? '' : '\u001b[2J'}`, project: `x${i}`, domain: 'dev', label: 'gpu' }));
    const r = { changes, foreign, ok: true, dryRun: true, written: [], failures: [] } as unknown as LabelsReport;
    const text = formatLabels(r);
    expect(text.split('\n').filter((l) => l.endsWith('(would create)'))).toHaveLength(50);
    expect(text).toContain('  … and 2940 more assignments not listed: 2930 unchanged, 10 would create (--json lists every one)');
    expect(text).toContain('    x0/dev\\x1b[2J: gpu');
    expect(text).not.toContain('\u001b');
    expect(text).toContain('    … and 480 more assignments not managed by flyte-credsync (--json has them all)');
  });
});
