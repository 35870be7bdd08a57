/** Jest runs TypeScript through SWC as native ES modules (the Kubernetes client is ESM-only). */
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } },
  ],
};
// The local environments' state (etcd keeps .snap files there), the bundles and packages are not
// part of the test tree: jest would otherwise report etcd's snapshots as obsolete jest snapshots.
const modulePathIgnorePatterns = ['<rootDir>/.testenv', '<rootDir>/dist', '<rootDir>/.serverless', '<rootDir>/.esbuild'];
const common = { transform, extensionsToTreatAsEsm: ['.ts'], testEnvironment: 'node', modulePathIgnorePatterns };

export default {
  // Jest reads testTimeout only here, at the root: inside a projects[] entry it is ignored, and
  // every integration test would run under the 5 s default (too short on a loaded machine).
  // test/unit/jest-config.test.ts checks that Jest really applies it.
  testTimeout: 120000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/env/jest-global-setup.ts',
      globalTeardown: '<rootDir>/test/env/jest-global-teardown.ts',
    },
    {
      ...common,
      displayName: 'faults',
      testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
      globalSetup: '<rootDir>/test/faults/global-setup.ts',
      globalTeardown: '<rootDir>/test/faults/global-teardown.ts',
    },
  ],
};
