// Bundles the operator CLI into dist/credsync.mjs (package.json "bin": credsync), and the Google
// Cloud Functions entry points into dist/gcf/ (deployable with `gcloud functions deploy --source
// dist/gcf`). Runs on `npm install` (prepare) and `npm run build`. Lambda bundles are made by
// serverless-esbuild during `npx serverless package`.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

await build({
  entryPoints: ['lib/cli/main.ts'],
  outfile: 'dist/credsync.mjs',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  sourcemap: true,
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
await build({
  entryPoints: ['functions/index.ts'],
  outfile: 'dist/gcf/index.js',
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  sourcemap: true,
  external: [FRAMEWORK],
  logLevel: 'warning',
});
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
