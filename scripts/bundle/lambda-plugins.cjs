// esbuild plugins of the Lambda bundles (serverless.yml custom.esbuild.plugins): the shared ones
// (./plugins.cjs), Node's built-ins through require(), and each function's chunks in its own zip.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { builtinModules } = require('node:module');

const BUILTINS = new Set(builtinModules);

/**
 * The bundles are ES modules; an `import` of a Node built-in there makes Node build the module's
 * ES facade, which reads every export, getters included: `node:http`'s `WebSocket` and friends
 * then load Node's internal undici (about 30 ms of a cold start, measured). Each static import of
 * a built-in is served instead by a one-line CommonJS module that require()s it (the banner in
 * serverless.yml gives the bundle its `require`), as the CommonJS bundles did.
 */
const builtinsThroughRequire = {
  name: 'builtins-through-require',
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z_/0-9]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (args.namespace === 'builtin-require' || args.kind !== 'import-statement' || !BUILTINS.has(name)) return undefined;
      return { path: name, namespace: 'builtin-require' };
    });
    build.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(`node:${args.path}`)});\n`,
      loader: 'js',
    }));
  },
};

/** Where serverless-esbuild takes files that go into one function's zip only (its ONLY_PREFIX). */
const ONLY_PREFIX = '__only_';

/**
 * Code splitting (serverless.yml: `splitting`): what only some configurations use (the SSM, EKS
 * and STS clients, kubeconfig access, FlyteAdmin's client with gRPC and protobufjs) is in chunks
 * that load on first use; what the handler loads at once is its own file plus the shared chunks
 * it imports. serverless-esbuild builds each function on its own into the same `handlers/` and
 * would put every function's chunks into every zip, so:
 * - each function's chunks go to `handlers/chunks/<fn>/` (set here: two builds may give
 *   different chunks the same name, and neither may overwrite the other's);
 * - they are copied to `__only_<fn>/handlers/chunks/<fn>/`, which serverless-esbuild puts into
 *   that function's zip only, at `handlers/chunks/<fn>/` (where the handler imports them); the
 *   originals stay for `serverless invoke local` and with their source maps, and no zip takes
 *   them (serverless.yml `!handlers/chunks/**`);
 * - `handlers/package.json` says the `.js` files there are ES modules (for Lambda and for
 *   `serverless invoke local`, which require()s the handler);
 * - what an earlier package left in a kept build folder is removed, so it cannot end up in a
 *   zip: this function's copied chunks (whatever their layout), and the CommonJS layout's
 *   `handlers/<fn>.cjs` and `handlers/vendor/` (builds of gRPC and protobufjs).
 * The function is named after its handler file (`handlers/<fn>.ts`), as in serverless.yml.
 */
const chunksPerFunction = {
  name: 'chunks-per-function',
  setup(build) {
    const { outdir, entryPoints } = build.initialOptions;
    if (!outdir || !Array.isArray(entryPoints) || entryPoints.length !== 1) throw new Error('chunks-per-function needs one entry point and esbuild outdir');
    const fn = path.basename(String(entryPoints[0])).replace(/\.[cm]?[jt]s$/, '');
    build.initialOptions.chunkNames = `chunks/${fn}/[name]-[hash]`;
    const chunks = path.join(outdir, 'chunks', fn);
    const ownChunks = path.join(path.dirname(outdir), `${ONLY_PREFIX}${fn}`, path.basename(outdir), 'chunks');
    const own = path.join(ownChunks, fn);
    build.onStart(() => {
      for (const dir of [chunks, ownChunks, path.join(outdir, 'vendor')]) fs.rmSync(dir, { recursive: true, force: true });
      for (const old of [`${fn}.cjs`, `${fn}.cjs.map`]) fs.rmSync(path.join(outdir, old), { force: true });
    });
    build.onEnd((result) => {
      if (result.errors.length || !result.metafile) return;
      fs.mkdirSync(own, { recursive: true });
      for (const out of Object.keys(result.metafile.outputs)) {
        const file = path.resolve(out);
        if (file.endsWith('.map') || path.dirname(file) !== path.resolve(chunks)) continue;
        fs.copyFileSync(file, path.join(own, path.basename(file)));
      }
      fs.writeFileSync(path.join(outdir, 'package.json'), '{ "type": "module" }\n');
    });
  },
};

module.exports = [...require('./plugins.cjs'), builtinsThroughRequire, chunksPerFunction];
// For the Google Cloud Functions bundles (./gcf-plugins.cjs).
module.exports.builtinsThroughRequire = builtinsThroughRequire;
