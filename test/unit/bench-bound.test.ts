/**
 * The benchmark's critical-path bound (bench/sync-bench.ts): a data plane's chain is the union of
 * its calls' time spans, so calls one after another add up and calls in flight at once count once.
 */
import { describe, expect, it } from '@jest/globals';
import { unionMs } from '../../bench/sync/counting.ts';

describe('unionMs', () => {
  it('adds sequential spans, counts overlapping and nested spans once, in any order', () => {
    expect(unionMs([])).toBe(0);
    expect(unionMs([[0, 10], [10, 25]])).toBe(25); // Secret GET, then the reviews
    expect(unionMs([[0, 10], [2, 8]])).toBe(10); // reviews asked while the GET is in flight
    expect(unionMs([[5, 30], [0, 10], [40, 45]])).toBe(35);
    expect(unionMs([[0, 10], [0, 10]])).toBe(10);
  });
});
