// A serverless plugin (serverless.yml `plugins`, after serverless-esbuild): recompresses each
// function zip at the best deflate level. serverless-esbuild writes its zips at the fastest level
// (archiver's default), about 15% larger; the content is unchanged: the same entries in the same
// order, each with a fixed date (so an unchanged function keeps its hash and is not redeployed)
// and mode 0644 (readable by the Lambda runtime).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { unzipSync } = require('fflate');
const yazl = require('yazl');

/** Entries' modification time: the zip format's earliest date, as serverless-esbuild writes them. */
const FIXED_DATE = new Date(1980, 0, 1);

/**
 * Rewrites one zip at deflate level 9 (read with fflate, written with yazl through node:zlib).
 *
 * @param file path of the zip
 * @returns its size before and after, in bytes
 */
async function recompress(file) {
  const before = fs.readFileSync(file);
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(unzipSync(before))) {
    if (name.endsWith('/')) continue; // directories are implied by the file paths
    zip.addBuffer(Buffer.from(data), name, { mtime: FIXED_DATE, mode: 0o100644, compressionLevel: 9, forceDosTimestamp: true });
  }
  zip.end();
  const chunks = [];
  for await (const c of zip.outputStream) chunks.push(c);
  const after = Buffer.concat(chunks);
  fs.writeFileSync(file, after);
  return { before: before.length, after: after.length };
}

class ZipBest {
  constructor(serverless, _options, { log } = {}) {
    this.serverless = serverless;
    this.log = log;
    const run = () => this.recompressAll();
    this.hooks = { 'after:package:createDeploymentArtifacts': run, 'after:deploy:function:packageFunction': run };
  }

  async recompressAll() {
    const base = this.serverless.serviceDir ?? this.serverless.config.servicePath;
    for (const name of this.serverless.service.getAllFunctions()) {
      const artifact = this.serverless.service.getFunction(name).package?.artifact;
      if (!artifact || !artifact.endsWith('.zip')) continue;
      const file = path.resolve(base, artifact);
      if (!fs.existsSync(file)) continue;
      const { before, after } = await recompress(file);
      this.log?.verbose?.(`zip-best: ${name} ${before} -> ${after} bytes`);
    }
  }
}

module.exports = ZipBest;
module.exports.recompress = recompress;
