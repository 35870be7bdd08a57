// Stands in for yaml's browser build's log.js in the bundles (scripts/bundle/plugins.cjs): the
// same as its Node build's dist/log.js (a warning goes through process.emitWarning, not console.warn).
import process from 'node:process';

export function debug(logLevel, ...messages) {
  if (logLevel === 'debug') console.log(...messages);
}

export function warn(logLevel, warning) {
  if (logLevel === 'debug' || logLevel === 'warn') {
    if (typeof process.emitWarning === 'function') process.emitWarning(warning);
    else console.warn(warning);
  }
}
