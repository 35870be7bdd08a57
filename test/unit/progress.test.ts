/** The CLI's progress line: only on a terminal, never with --json, cleared before the report. */
import { describe, expect, it } from '@jest/globals';
import { progressLine } from '../../lib/cli/progress.ts';

function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { s: { isTTY, write: (x: string) => writes.push(x) }, writes };
}

describe('progressLine', () => {
  it('on a terminal: redraws one line in place and clears it at the end', () => {
    const { s, writes } = stream(true);
    let t = 0;
    const p = progressLine(s, true, 100, () => t);
    p.update({ done: 1, total: 3, failed: 0 });
    t = 50;
    p.update({ done: 2, total: 3, failed: 1 }); // within the interval: skipped
    t = 60;
    p.update({ done: 3, total: 3, failed: 1 }); // the last one always shows
    p.end();
    expect(writes).toEqual([
      '\r\x1b[2Kcredsync: 1/3 data planes done',
      '\r\x1b[2Kcredsync: 3/3 data planes done, 1 failed',
      '\r\x1b[2K',
    ]);
  });

  it('writes nothing when the stream is not a terminal, or when disabled (--json)', () => {
    for (const [tty, enabled] of [[false, true], [true, false]] as const) {
      const { s, writes } = stream(tty);
      const p = progressLine(s, enabled, 0);
      p.update({ done: 1, total: 1, failed: 0 });
      p.end();
      expect(writes).toEqual([]);
    }
  });
});
