// esbuild plugins shared by the function bundles (serverless.yml custom.esbuild.plugins, and
// scripts/build.mjs for dist/gcf): they keep what the code never runs out of the bundles.
'use strict';
const path = require('node:path');

/**
 * @kubernetes/client-node declares no "sideEffects", so its index drags every generated model and
 * API class (and exec/attach/cp helpers) into a bundle. Its modules only define things: marking
 * them side-effect free lets esbuild keep what KubeConfig and ApiException really use.
 */
const kubernetesClientSideEffectFree = {
  name: 'kubernetes-client-side-effect-free',
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'kcn' || !/[\\/]@kubernetes[\\/]client-node[\\/]/.test(args.importer + '|' + args.path)) return undefined;
      if (!(args.path.startsWith('@kubernetes/client-node') || (args.path.startsWith('.') && /[\\/]@kubernetes[\\/]client-node[\\/]/.test(args.importer)))) return undefined;
      const r = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'kcn' });
      if (r.errors.length) return { errors: r.errors };
      // polyfill.js installs globals: keep its side effects.
      return { ...r, sideEffects: /polyfill\.js$/.test(r.path) };
    });
  },
};

/**
 * client-node's KubeConfig (config.js) takes two names from its generated client's index, which
 * re-exports every model and API class with `export *`. When KubeConfig loads lazily (the Lambda
 * handlers load the sync on first use), esbuild keeps such re-exports whole (about 380 KB). This
 * gives config.js exactly the two names, from the modules that define them; a client-node release
 * that needs more fails the build ("No matching export"), not a run.
 */
const kubernetesConfigNarrowImport = {
  name: 'kubernetes-config-narrow-import',
  setup(build) {
    build.onResolve({ filter: /^\.\/gen\/index\.js$/ }, (args) =>
      /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]config\.js$/.test(args.importer)
        ? { path: path.join(path.dirname(args.importer), 'gen', 'config-imports.js'), namespace: 'kcn-config-imports' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'kcn-config-imports' }, (args) => ({
      contents: "export { createConfiguration } from './configuration.js';\nexport { ServerConfiguration } from './servers.js';\n",
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * zod's classic API re-exports every locale (`z.locales`), about 270 KB minified; the
 * configuration's messages are English (zod's default, set by the classic API itself).
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: path.join(__dirname, 'zod-locales-en.mjs') } : undefined,
    );
  },
};

/**
 * yaml's Node build is CommonJS (119 KB in a bundle, all of it loaded: CommonJS cannot be
 * tree-shaken) and its ES module build is published as its browser build, from the same source.
 * The bundles take the ES module build (102 KB; a third less CPU to load and run, measured) with
 * the Node build's logging (./yaml-log-node.mjs: warnings through process.emitWarning). What the
 * browser build lacks is yaml's own token tracing (the LOG_TOKENS and LOG_STREAM variables).
 */
const yamlEsModules = {
  name: 'yaml-es-modules',
  setup(build) {
    build.onResolve({ filter: /^yaml$/ }, () => ({ path: path.join(path.dirname(require.resolve('yaml/package.json')), 'browser', 'index.js') }));
    build.onResolve({ filter: /^\.\.?\/log\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]yaml[\\/]browser[\\/]dist[\\/]/.test(args.importer) ? { path: path.join(__dirname, 'yaml-log-node.mjs') } : undefined,
    );
  },
};

module.exports = [kubernetesClientSideEffectFree, kubernetesConfigNarrowImport, zodEnglishOnly, yamlEsModules];
