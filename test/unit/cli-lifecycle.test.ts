/** `credsync drain` and `credsync retire` command lines: mistakes exit 2 with the reason, before any configuration is read. */
import { describe, expect, it } from '@jest/globals';
import { main } from '../../lib/cli/main.ts';

async function run(argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, (s) => void (out += s), { write: (s: string) => ((err += s), true), isTTY: false } as never);
  return { code, out, err };
}

describe('credsync drain / retire usage', () => {
  it.each([
    [['drain'], 'drain needs --cluster ID (repeatable)'],
    [['retire'], 'retire needs --cluster ID (repeatable)'],
    [['sync', '--cancel'], '--cancel is for drain only'],
    [['drain', '--cluster', 'dp1', '--force'], '--force is for retire only'],
    [['status', '--timeout', 'soon'], '--timeout must be a whole number of seconds from 1 to 999999 (got "soon")'],
  ])('%j exits 2: %s', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`credsync: ${message}\n`);
    expect(r.out).toBe('');
  });

  it('the usage names both commands', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('credsync drain    [--config FILE] --cluster ID ... [--cancel]');
    expect(r.out).toContain('credsync retire   [--config FILE] --cluster ID ... [--force]');
  });
});
