/** Jest runs TypeScript through SWC as native ES modules (the Kubernetes client is ESM-only). */
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } },
  ],
};
const common = { transform, extensionsToTreatAsEsm: ['.ts'], testEnvironment: 'node' };

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/env/jest-global-setup.ts',
      globalTeardown: '<rootDir>/test/env/jest-global-teardown.ts',
      testTimeout: 120000,
    },
  ],
};
