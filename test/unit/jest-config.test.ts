/**
 * The suite's own configuration, read by Jest's own reader (jest-config, the code the runner
 * uses): the integration tests' timeout is one Jest applies (a `testTimeout` inside a
 * `projects[]` entry is silently ignored, and every test then runs under 5 s).
 */
import { describe, expect, it } from '@jest/globals';
import { readConfigs } from 'jest-config';

describe('jest configuration', () => {
  it('applies a 120 s test timeout to every project, integration included (set at the root)', async () => {
    // Prepare / Act: what `jest` reads from jest.config.js, as the runner does.
    const { globalConfig, configs } = await readConfigs({ $0: 'jest', _: [] }, [process.cwd()]);
    // Assess: the timeout lives in the global config, the only place Jest takes it from.
    expect(globalConfig.testTimeout).toBe(120_000);
    expect(configs.map((c) => c.displayName?.name)).toEqual(['unit', 'integration', 'faults']); // faults: npm run faults
  });
});
