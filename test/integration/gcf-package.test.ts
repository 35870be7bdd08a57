/**
 * Each Google Cloud Function's deploy source (dist/gcf/<function>/, made by scripts/build.mjs) is
 * small and carries only what a GCP function can use: at most 1 MB (issue #21), the GCP store and
 * GKE clients (lib/gcp/ over gRPC, google-auth-library) and nothing of AWS (no @aws-sdk, @smithy or
 * lib/aws/ module in the bundle's esbuild metafile) nor Google's generated clients; a cold start
 * loads none of what the first invocation loads; and the folder, copied on its own as Cloud Functions
 * deploys it, loads (its chunks are all there). gcf.test.ts runs the functions themselves.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const FUNCTIONS = ['scheduled', 'clusterCreated', 'clusterDeleted', 'resync'];
/** Issue #21: each Cloud Function's deploy source at most 1 MB. */
const MAX_SOURCE_BYTES = 1_000_000;
/** AWS code: the SDK, its Smithy runtime, Powertools, and lib/aws/ (the SDK pieces EKS and SSM load). */
const AWS_CODE = /node_modules\/(@aws-sdk|@smithy|@aws-lambda-powertools|@aws-crypto)\/|^lib\/aws\//;
/** Google's generated clients and their gRPC layer: replaced by lib/gcp/. */
const GENERATED_GCP = /node_modules\/(@google-cloud\/(secret-manager|container)|google-gax|@grpc\/proto-loader)\//;
/** What a cold start must not load: the sync's clients and parsers load on first use. */
const ON_FIRST_USE = /node_modules\/(@grpc\/|protobufjs\/|google-auth-library\/|@kubernetes\/client-node\/|js-yaml\/|yaml\/)|^lib\/(gcp|stores|sync|kube)\//;

interface Meta {
  inputs: Record<string, unknown>;
  outputs: Record<string, { imports: Array<{ path: string; kind: string }>; inputs: Record<string, unknown> }>;
}
const readMeta = (fn: string) => JSON.parse(readFileSync(`dist/gcf-meta/${fn}.json`, 'utf8')) as Meta;

function files(dir: string, under = ''): string[] {
  return readdirSync(join(dir, under), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(dir, join(under, e.name)) : [join(under, e.name)]));
}
const bytes = (dir: string) => files(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);

/** The output files a cold start loads: the entry and what it imports statically. */
function atColdStart(meta: Meta, fn: string): string[] {
  const seen = new Set<string>();
  const todo = [`dist/gcf/${fn}/index.js`];
  while (todo.length) {
    const o = todo.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const i of meta.outputs[o]!.imports) if (i.kind === 'import-statement' && meta.outputs[i.path]) todo.push(i.path);
  }
  return [...seen];
}

beforeAll(() => {
  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { encoding: 'utf8', timeout: 300_000, killSignal: 'SIGKILL' });
  expect(build.stderr).toBe('');
  expect(build.status).toBe(0);
}, 320_000);

describe('Cloud Functions deploy sources (dist/gcf/<function>/)', () => {
  it('one folder per function, each at most 1 MB, holding its bundle, its chunks, package.json and the configuration only', () => {
    expect(readdirSync('dist/gcf').sort()).toEqual([...FUNCTIONS].sort());
    for (const fn of FUNCTIONS) {
      const dir = `dist/gcf/${fn}`;
      const all = files(dir);
      expect(all.filter((f) => !/^(index\.js|package\.json|config\/credsync\.yaml|chunks\/[\w-]+\.js)$/.test(f))).toEqual([]);
      expect(bytes(dir)).toBeLessThanOrEqual(MAX_SOURCE_BYTES);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      expect(pkg).toMatchObject({ type: 'module', main: 'index.js', dependencies: { '@google-cloud/functions-framework': expect.any(String) } });
      expect(Object.keys(pkg.dependencies)).toEqual(['@google-cloud/functions-framework']);
      // The metafile describes exactly what is in the folder.
      const outputs = Object.keys(readMeta(fn).outputs).filter((o) => !o.endsWith('.map'));
      expect(outputs.map((o) => o.slice(dir.length + 1)).sort()).toEqual(all.filter((f) => f.endsWith('.js')).sort());
    }
  });

  it('carries the GCP store and GKE clients and nothing of AWS or of the generated GCP clients; a cold start loads none of the sync (esbuild metafiles)', () => {
    for (const fn of FUNCTIONS) {
      const meta = readMeta(fn);
      const inputs = Object.keys(meta.inputs);
      expect(inputs.length).toBeGreaterThan(100); // the real metafile of a real bundle
      expect(inputs.filter((f) => AWS_CODE.test(f))).toEqual([]);
      expect(inputs.filter((f) => GENERATED_GCP.test(f))).toEqual([]);
      for (const must of ['lib/gcp/grpc.ts', 'lib/gcp/protos-subset.ts', 'lib/stores/gcp.ts', 'lib/clusters/gke.ts', 'lib/discovery/gke.ts'])
        expect(inputs).toContain(must);
      expect(inputs.some((f) => /node_modules\/@grpc\/grpc-js\//.test(f))).toBe(true);
      expect(inputs.some((f) => /node_modules\/google-auth-library\//.test(f))).toBe(true);
      const loaded = atColdStart(meta, fn).flatMap((o) => Object.keys(meta.outputs[o]!.inputs));
      expect(loaded).toContain(`functions/${fn}.ts`);
      expect(loaded.filter((f) => ON_FIRST_USE.test(f))).toEqual([]);
    }
  });

  it('each folder, copied on its own with only the Functions Framework installed, loads and registers its function', () => {
    for (const fn of FUNCTIONS) {
      // Prepare: the folder as deployed, the framework as `npm install` would put it there.
      const dir = join(mkdtempSync(join(tmpdir(), `credsync-gcf-${fn}-`)), fn);
      cpSync(`dist/gcf/${fn}`, dir, { recursive: true });
      mkdirSync(join(dir, 'node_modules', '@google-cloud'), { recursive: true });
      symlinkSync(resolve('node_modules/@google-cloud/functions-framework'), join(dir, 'node_modules/@google-cloud/functions-framework'));
      // Act: load it, then ask the framework's registry for the function.
      const r = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          // The registry is the framework's own module (its package exports do not name it: reached by its path).
          `import { createRequire } from 'node:module'; import path from 'node:path';
           await import(${JSON.stringify(join(dir, 'index.js'))});
           const req = createRequire(${JSON.stringify(join(dir, 'index.js'))});
           const { getRegisteredFunction } = req(path.join(path.dirname(req.resolve('@google-cloud/functions-framework')), 'function_registry.js'));
           console.log(JSON.stringify(getRegisteredFunction(${JSON.stringify(fn)})?.signatureType ?? null));`,
        ],
        { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env['PATH'] ?? '' } },
      );
      // Assess
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe(JSON.stringify(fn === 'resync' ? 'http' : 'cloudevent'));
    }
  });
});
