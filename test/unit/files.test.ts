/**
 * readRegularFile (lib/util/files.ts): what it returns is the file, byte for byte, whatever its
 * size up to the bound; a file over the bound, or one that is not a regular file, is refused.
 */
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRefusedError, readRegularFile } from '../../lib/util/files.ts';

const dir = mkdtempSync(join(tmpdir(), 'credsync-files-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('readRegularFile', () => {
  it.each([0, 1, 100, 64 * 1024 - 1, 64 * 1024, 200_000])('returns a file of %i bytes intact', async (n) => {
    const text = Array.from({ length: n }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    await expect(readRegularFile(file(`f${n}`, text), 300_000)).resolves.toBe(text);
  });

  it('returns multi-byte UTF-8 intact, and a file of exactly the bound', async () => {
    const text = 'é'.repeat(500); // 1,000 bytes
    await expect(readRegularFile(file('utf8', text), 1000)).resolves.toBe(text);
  });

  it('refuses a file one byte over the bound, and a directory', async () => {
    await expect(readRegularFile(file('over', 'x'.repeat(1001)), 1000)).rejects.toThrow(new FileRefusedError('larger than 1000 bytes (1001)', 'unreadable'));
    await expect(readRegularFile(dir, 1000)).rejects.toThrow(new FileRefusedError('not a regular file (a directory)', 'unreadable'));
  });
});
