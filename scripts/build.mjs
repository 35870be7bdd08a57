// Bundles the operator CLI into dist/credsync.mjs (package.json "bin": credsync), and the Google
// Cloud Functions entry points into dist/gcf/ (deployable with `gcloud functions deploy --source
// dist/gcf`). Runs on `npm install` (prepare) and `npm run build`. Lambda bundles are made by
// serverless-esbuild during `npx serverless package`.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

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

// Google Cloud Functions: one CommonJS bundle (the framework require()s it as it is, like the
// Lambda runtime does). The Functions Framework stays outside the bundle: the server that
// Cloud Functions starts reads the functions registered in its own module instance, so the
// bundle must require() that same package, which dist/gcf/package.json names for the build.
const FRAMEWORK = '@google-cloud/functions-framework';
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
rmSync('dist/gcf', { recursive: true, force: true });
rmSync('dist/sourcemaps/gcf', { recursive: true, force: true });
const gcf = await build({
  entryPoints: ['functions/index.ts'],
  outfile: 'dist/gcf/index.js',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  ...small,
  sourcemap: 'external',
  external: [FRAMEWORK],
  metafile: true,
  logLevel: 'warning',
});
// What the bundle holds, and its source map, beside the deployable folder (not deployed).
writeFileSync('dist/gcf-meta.json', JSON.stringify(gcf.metafile));
mkdirSync('dist/sourcemaps/gcf', { recursive: true });
renameSync('dist/gcf/index.js.map', 'dist/sourcemaps/gcf/index.js.map');
writeFileSync(
  'dist/gcf/package.json',
  JSON.stringify(
    {
      name: 'flyte-credsync-gcf',
      version: pkg.version,
      private: true,
      description: 'flyte-credsync on Google Cloud Functions (bundled; see the README)',
      main: 'index.js',
      engines: { node: '>=22' },
      dependencies: { [FRAMEWORK]: pkg.dependencies[FRAMEWORK] },
    },
    null,
    2,
  ) + '\n',
);
// The configuration ships with the functions, as with Lambda: CREDSYNC_CONFIG=config/credsync.yaml.
if (existsSync('config')) {
  mkdirSync('dist/gcf/config', { recursive: true });
  cpSync('config', 'dist/gcf/config', { recursive: true });
}
