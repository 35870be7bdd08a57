// Preloaded (node --require) into the Functions Framework for local runs only. The framework
// listens on every interface (server.listen(port)); this binds it to 127.0.0.1, so nothing
// outside this machine can reach a local function, and prints the address it got (so that
// --port=0 picks a free port). Cloud Functions never loads this file.
'use strict';
const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (/^\d+$/.test(String(args[0])) && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
  this.once('listening', () => {
    const a = this.address();
    if (a && typeof a === 'object') process.stderr.write(`functions-framework listening on http://${a.address}:${a.port}/\n`);
  });
  return listen.apply(this, args);
};
