// Bundles the operator CLI into dist/credsync.mjs (package.json "bin": credsync), and each Google
// Cloud Function into its own deploy source dist/gcf/<function>/ (`gcloud functions deploy
// <function> --source dist/gcf/<function>`). Runs on `npm install` (prepare) and `npm run build`. Lambda bundles are made by
// serverless-esbuild during `npx serverless package`.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// The same discipline as the Lambda bundles (serverless.yml custom.esbuild): minified with names
// kept, client-node's unused undici and zod's other locales left out (scripts/bundle/), heavy
// cloud clients only imported when the configuration asks for them, and a source map beside the
// bundle without the sources' text.
const small = {
  minify: true,
  keepNames: true,
  sourcemap: 'linked',
  sourcesContent: false,
  alias: {
    undici: './scripts/bundle/undici-unused.cjs',
    socks: './scripts/bundle/proxy-unused.cjs',
    'socks-proxy-agent': './scripts/bundle/proxy-unused.cjs',
    hpagent: './scripts/bundle/proxy-unused.cjs',
  },
  plugins: createRequire(import.meta.url)('./bundle/plugins.cjs'),
};

await build({
  entryPoints: ['lib/cli/main.ts'],
  outfile: 'dist/credsync.mjs',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  ...small,
  logLevel: 'warning',
  banner: {
    js:
      '#!/usr/bin/env node\n' +
      "import { createRequire as __credsyncCreateRequire } from 'node:module'; const require = __credsyncCreateRequire(import.meta.url);",
  },
});

// Google Cloud Functions: each function its own deploy source, dist/gcf/<function>/ (index.js, its
// chunks, package.json and the configuration), like the Lambda zips: an ES module with code
// splitting, so a cold start loads the entry and the shared chunks it imports, and what only some
// configurations use (kubeconfig access, gRPC with the GCP clients, google-auth-library, FlyteAdmin's
// client) loads on first use. The GCP clients are lib/gcp/ (gRPC with the descriptors' subset), not
// the generated ones; nothing of AWS is bundled (scripts/bundle/gcf-plugins.cjs). The Functions
// Framework stays outside the bundle: the server that Cloud Functions starts reads the functions
// registered in its own module instance, so the bundle must import that same package, which each
// package.json names for the build. test/integration/package.test.ts keeps each source under 1 MB.
const FRAMEWORK = '@google-cloud/functions-framework';
export const GCF_FUNCTIONS = ['scheduled', 'clusterCreated', 'clusterDeleted', 'resync'];
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
rmSync('dist/gcf', { recursive: true, force: true });
rmSync('dist/gcf-meta.json', { force: true });
rmSync('dist/sourcemaps/gcf', { recursive: true, force: true });
mkdirSync('dist/gcf-meta', { recursive: true });
for (const fn of GCF_FUNCTIONS) {
  const out = `dist/gcf/${fn}`;
  const result = await build({
    entryPoints: { index: `functions/${fn}.ts` },
    outdir: out,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // ES module builds first, as the Lambda bundles (serverless.yml mainFields).
    mainFields: ['module', 'main'],
    ...small,
    alias: { ...small.alias, '@grpc/proto-loader': './scripts/bundle/grpc-proto-loader-unused.cjs' },
    plugins: createRequire(import.meta.url)('./bundle/gcf-plugins.cjs'),
    sourcemap: 'external',
    external: [FRAMEWORK],
    metafile: true,
    logLevel: 'warning',
    banner: { js: "import { createRequire as __credsyncCreateRequire } from 'node:module'; const require = __credsyncCreateRequire(import.meta.url);" },
  });
  // What each bundle holds (the packaging test reads it), and its source maps, beside the
  // deployable folders (not deployed).
  writeFileSync(`dist/gcf-meta/${fn}.json`, JSON.stringify(result.metafile));
  for (const map of Object.keys(result.metafile.outputs).filter((o) => o.endsWith('.map'))) {
    const to = path.join('dist/sourcemaps/gcf', fn, path.relative(out, map));
    mkdirSync(path.dirname(to), { recursive: true });
    renameSync(map, to);
  }
  writeFileSync(
    `${out}/package.json`,
    JSON.stringify(
      {
        name: `flyte-credsync-gcf-${fn.toLowerCase()}`,
        version: pkg.version,
        private: true,
        description: `flyte-credsync's Cloud Function ${fn} (bundled; see docs)`,
        type: 'module',
        main: 'index.js',
        engines: { node: '>=22' },
        dependencies: { [FRAMEWORK]: pkg.dependencies[FRAMEWORK] },
      },
      null,
      2,
    ) + '\n',
  );
  // The configuration ships with the function, as with Lambda: CREDSYNC_CONFIG=config/credsync.yaml.
  if (existsSync('config')) {
    mkdirSync(`${out}/config`, { recursive: true });
    cpSync('config', `${out}/config`, { recursive: true });
  }
}
