/**
 * The layout of lib/ stays a house of floors (docs: "Layout"): read from the code's own imports,
 * - no file imports itself through others (no import circle, `import type` included);
 * - no room (a folder of lib/, or a file at its top) imports a room that imports it back, except
 *   through lib/errors.ts and lib/util/, which every room may use;
 * - rotation is on top of the ports: nothing in lib/rotation imports lib/sync, a store adapter or
 *   the Kubernetes adapters;
 * - the core asks a port for a capability, never `instanceof` an adapter class.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Every relative import of each file (static, `import type`, `export ... from`, dynamic), as paths from the root. */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of files) {
    // Comments are not imports (a TSDoc may show one).
    const text = readFileSync(join(ROOT, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    const targets = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)].map((m) => relative(ROOT, resolve(ROOT, dirname(f), m[1]!)));
    graph.set(f, [...new Set(targets)]);
  }
  return graph;
}

/** One circle of the graph, as the path that closes it, or undefined when there is none. */
function findCircle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...path.slice(path.indexOf(n)), n];
    state.set(n, 'open');
    path.push(n);
    for (const m of graph.get(n) ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    path.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of graph.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

/** The room of a file of lib/: its top folder (lib/stores) or the file itself (lib/errors.ts). */
const roomOf = (f: string) => f.split('/').slice(0, 2).join('/');
const SHARED = new Set(['lib/errors.ts', 'lib/util']);

function roomGraph(files: Map<string, string[]>): Map<string, string[]> {
  const rooms = new Map<string, Set<string>>();
  for (const [f, targets] of files) {
    const from = roomOf(f);
    if (!rooms.has(from)) rooms.set(from, new Set());
    for (const t of targets) {
      const to = roomOf(t);
      if (to !== from && t.startsWith('lib/') && !SHARED.has(to)) rooms.get(from)!.add(to);
    }
  }
  return new Map([...rooms].map(([k, v]) => [k, [...v]]));
}

const lib = importGraph(sources('lib'));

describe('layout of lib/', () => {
  it('finds the circles it is meant to find (the scan itself)', () => {
    // Prepare: a circle a -> b -> a, and a graph without one
    const circle = new Map([['a', ['b']], ['b', ['a']], ['c', ['a']]]);
    const none = new Map([['a', ['b']], ['b', []], ['c', ['a', 'b']]]);
    // Act / Assess
    expect(findCircle(circle)).toEqual(['a', 'b', 'a']);
    expect(findCircle(none)).toBeUndefined();
    expect(lib.get('lib/sync/sync.ts')).toContain('lib/sync/types.ts');
  });

  it('has no import circle between files', () => {
    expect(findCircle(lib)).toBeUndefined();
  });

  it('has no circle between rooms (other than through errors.ts and util/)', () => {
    expect(findCircle(roomGraph(lib))).toBeUndefined();
  });

  it('keeps rotation on top of the ports: no sync, no store or Kubernetes adapter', () => {
    const forbidden = /^lib\/(sync\/|stores\/(aws|gcp|memory|base)\.ts$|kube\/(client|http2)\.ts$)/;
    const wrong = [...lib].filter(([f]) => f.startsWith('lib/rotation/')).flatMap(([f, ts]) => ts.filter((t) => forbidden.test(t)).map((t) => `${f} -> ${t}`));
    expect(wrong).toEqual([]);
  });

  it('asks ports for capabilities, never instanceof an adapter class', () => {
    const adapters = /instanceof\s+(AwsSecretsManagerStore|GcpSecretManagerStore|MemoryStore|VersionedStore|KubeDataPlane|KubeControlPlane)\b/;
    const wrong = [...sources('lib'), ...sources('handlers'), ...sources('functions')].filter((f) => adapters.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(wrong).toEqual([]);
  });
});
