// Stands in for zod's locales index in the bundles (scripts/bundle/plugins.cjs): English only.
export { default as en } from 'zod/v4/locales/en.js';
