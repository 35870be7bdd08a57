// Bundles the operator CLI into dist/credsync.mjs (package.json "bin": credsync).
// Runs on `npm install` (prepare) and `npm run build`. Lambda bundles are made by
// serverless-esbuild during `npx serverless package`.
import { build } from 'esbuild';

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
