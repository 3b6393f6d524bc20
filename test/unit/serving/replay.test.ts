import { describe, expect, it } from 'vitest';
import { spread } from '../../../src/serving/replay';

describe('replay order', () => {
  it('visits every row once per pass, far from file order', () => {
    for (const n of [1, 2, 10, 7919, 40_000]) {
      const seen = new Set(Array.from({ length: n }, (_, i) => spread(i, n)));
      expect(seen.size).toBe(n);
    }
    expect([0, 1, 2].map((i) => spread(i, 40_000))).toEqual([0, 7919, 15838]);
  });
});
