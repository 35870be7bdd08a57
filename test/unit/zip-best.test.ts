/** scripts/bundle/zip-best.cjs: the function zips recompressed at deflate level 9, content and order unchanged, reproducibly. */
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { unzipSync, zipSync } from 'fflate';

const { recompress } = createRequire(import.meta.url)('../../scripts/bundle/zip-best.cjs') as { recompress: (file: string) => Promise<{ before: number; after: number }> };

/** A zip at the fastest level with the current time, as serverless-esbuild's archiver writes them. */
async function fastZip(file: string, entries: Record<string, Buffer>): Promise<void> {
  writeFileSync(file, zipSync(Object.fromEntries(Object.entries(entries).map(([n, d]) => [n, [d, { level: 1, mtime: new Date() }]]))));
}

describe('zip-best', () => {
  it('rewrites a zip smaller with the same entries, in the same order, and the same bytes every time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zip-best-'));
    const code = Buffer.from(Array.from({ length: 4000 }, (_, i) => `function f${i % 97}(a){return a*${i % 13}+"${(i * 7919) % 1000}"}`).join(';'));
    const entries = { 'config/credsync.yaml': Buffer.from('controlPlane: {}\n'), 'handlers/fn.cjs': code, 'handlers/vendor/x.cjs': Buffer.from('module.exports = 1;\n') };
    const file = join(dir, 'fn.zip');
    await fastZip(file, entries);
    const { before, after } = await recompress(file);
    expect(after).toBeLessThan(before);
    const out = unzipSync(readFileSync(file));
    expect(Object.keys(out)).toEqual(Object.keys(entries));
    for (const [name, data] of Object.entries(entries)) expect(Buffer.from(out[name]!).equals(data)).toBe(true);
    // Reproducible: a rebuilt zip of the same content has the same bytes (fixed dates), so an unchanged function keeps its hash.
    const first = readFileSync(file);
    await fastZip(file, entries);
    await recompress(file);
    expect(readFileSync(file).equals(first)).toBe(true);
  });
});
