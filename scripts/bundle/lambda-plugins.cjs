// esbuild plugins of the Lambda bundles (serverless.yml custom.esbuild.plugins): the shared ones
// (./plugins.cjs), and FlyteAdmin's transport kept out of the file every cold start compiles.
'use strict';
const path = require('node:path');

/**
 * gRPC and protobufjs serve only FlyteAdmin's client (lib/labels/), which loads when `labels` is
 * configured. Bundled into the handler they would still be compiled at every cold start (a third
 * of the file). Each is built instead into a file of its own beside the handler,
 * `handlers/vendor/<name>.cjs` (in every zip), which the handler require()s on first use. Neither
 * shares a module with the handler's bundle (gRPC's .proto loader is left out:
 * grpc-proto-loader-unused.cjs), so no code runs twice and no state is split.
 * `vendor/<name>-meta.json` says what each holds (the packaging test reads it).
 */
const VENDOR = { '@grpc/grpc-js': 'grpc-js', 'protobufjs/light.js': 'protobufjs-light' };
const built = new Map();

function buildVendor(esbuild, outdir) {
  if (!built.has(outdir))
    built.set(
      outdir,
      Promise.all(
        Object.entries(VENDOR).map(async ([pkg, name]) => {
          const r = await esbuild.build({
            entryPoints: [require.resolve(pkg)],
            outfile: path.join(outdir, 'vendor', `${name}.cjs`),
            bundle: true,
            platform: 'node',
            target: 'node22',
            format: 'cjs',
            minify: true,
            keepNames: true,
            sourcemap: 'external',
            sourcesContent: false,
            metafile: true,
            alias: { '@grpc/proto-loader': path.join(__dirname, 'grpc-proto-loader-unused.cjs') },
            logLevel: 'warning',
          });
          require('node:fs').writeFileSync(path.join(outdir, 'vendor', `${name}-meta.json`), JSON.stringify(r.metafile));
        }),
      ),
    );
  return built.get(outdir);
}

const flyteAdminTransportApart = {
  name: 'flyteadmin-transport-apart',
  setup(build) {
    const outdir = build.initialOptions.outdir;
    if (!outdir) throw new Error('flyteadmin-transport-apart needs esbuild outdir');
    build.onResolve({ filter: /^(@grpc\/grpc-js|protobufjs\/light\.js)$/ }, (args) => ({ path: `./vendor/${VENDOR[args.path]}.cjs`, external: true }));
    build.onEnd(async (result) => {
      if (!result.errors.length) await buildVendor(build.esbuild, outdir);
    });
  },
};

module.exports = [...require('./plugins.cjs'), flyteAdminTransportApart];
