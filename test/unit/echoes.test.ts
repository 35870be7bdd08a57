/**
 * Echoes of what someone sent (arguments, paths, configuration values, event and request fields):
 * control characters escaped, length bounded; and log lines that list data planes stay short
 * whatever their number (the counts and the first few). The CLI's own echoes are tested through
 * the real process in test/integration/cli.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { boundedList, echo, escapeControl, loggedIds, MAX_ECHO_CHARS } from '../../lib/util/bounded.ts';
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
  });
});
