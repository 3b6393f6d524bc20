import { describe, expect, it } from 'vitest';
import { experimentFromFlags } from '../../src/cli/experiment';
import { decideExperiment, normalCdf, parseExperiment, twoProportionZTest } from '../../src/policy/experiment';
import { LiveMetrics } from '../../src/serving/live-metrics';

const counts = (labelled: number, correct: number, requests = labelled) => ({ requests, errors: 0, labelled, correct });

describe('statistics', () => {
  it('computes the normal CDF to 1e-7', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-2.326348)).toBeCloseTo(0.01, 6);
    expect(normalCdf(8)).toBeCloseTo(1, 7);
  });

  it('runs the pooled one-sided two-proportion z-test', () => {
    // 60/100 against 75/100: pooled 0.675, se = sqrt(0.675·0.325·0.02) = 0.066238, z = 0.15 / se
    const r = twoProportionZTest({ successes: 60, trials: 100 }, { successes: 75, trials: 100 })!;
    expect(r.z).toBeCloseTo(2.26455, 4);
    expect(r.pValue).toBeCloseTo(0.011771, 5);
    expect(twoProportionZTest({ successes: 0, trials: 0 }, { successes: 1, trials: 2 })).toBeNull();
    expect(twoProportionZTest({ successes: 10, trials: 10 }, { successes: 5, trials: 5 })).toBeNull();
  });
});

describe('decideExperiment', () => {
  const spec = parseExperiment({ challengers: [2, 3], split: [50, 25, 25], minSamples: 100, alpha: 0.05 });

  it('promotes the clearly better challenger and demotes the other', () => {
    const d = decideExperiment(spec, { version: 1, counts: counts(400, 300) }, [
      { version: 2, counts: counts(200, 190) },
      { version: 3, counts: counts(200, 152) },
    ]);
    expect(d.decision).toBe('promote');
    expect(d.winner).toBe(2);
    expect(d.alphaAdjusted).toBe(0.025);
    expect(d.arms.map((a) => [a.version, a.role, a.significant])).toEqual([[1, 'champion', false], [2, 'challenger', true], [3, 'challenger', false]]);
    expect(d.arms[1]!.pValue).toBeLessThan(1e-6);
    expect(d.arms[2]!.verdict).toMatch(/^not significantly better/);
    expect(d.reasons[0]).toMatch(/^version 2 beats the champion/);
  });

  it('keeps the champion against an equal challenger, and when evidence is short', () => {
    const equal = decideExperiment(spec, { version: 1, counts: counts(400, 300) }, [{ version: 2, counts: counts(200, 151) }, { version: 3, counts: counts(200, 149) }]);
    expect(equal).toMatchObject({ decision: 'keep', winner: null });
    expect(equal.reasons[0]).toMatch(/no challenger beat champion version 1 significantly/);
    const short = decideExperiment(spec, { version: 1, counts: counts(400, 200) }, [{ version: 2, counts: counts(99, 99) }, { version: 3, counts: counts(100, 100) }]);
    expect(short.winner).toBe(3);
    expect(short.arms[1]!.verdict).toMatch(/^insufficient data: 99 labelled/);
  });

  it('applies the Bonferroni correction: p = 0.03 wins alone, not among two challengers', () => {
    // 600/1000 vs 150/225 (66.7%): z ≈ 1.86, p ≈ 0.031
    const one = parseExperiment({ challengers: [2], split: [50, 50], minSamples: 100 });
    const c = { version: 2, counts: counts(225, 150) };
    expect(decideExperiment(one, { version: 1, counts: counts(1000, 600) }, [c]).winner).toBe(2);
    expect(decideExperiment(spec, { version: 1, counts: counts(1000, 600) }, [c, { version: 3, counts: counts(225, 130) }]).winner).toBeNull();
  });

  it('never promotes a challenger that fails more requests than the champion', () => {
    const d = decideExperiment(spec, { version: 1, counts: counts(400, 300) }, [{ version: 2, counts: { requests: 300, errors: 30, labelled: 200, correct: 195 } }, { version: 3, counts: counts(200, 150) }]);
    expect(d.winner).toBeNull();
    expect(d.arms[1]!.verdict).toMatch(/error rate 10\.00% is above the champion's/);
  });
});

describe('experiment settings', () => {
  it('defaults to 95 to 1 per challenger, 1h, 200 samples, alpha 0.05, and normalises relative weights', () => {
    const e = parseExperiment({ challengers: [2, 3, 4, 5] });
    expect(e).toEqual({ challengers: [2, 3, 4, 5], split: [95.9596, 1.0101, 1.0101, 1.0101, 1.0101], duration: '1h', minSamples: 200, alpha: 0.05, readEvery: '1m', readsPerRun: 500 });
    expect(e.split.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 9);
    expect(parseExperiment({ challengers: [2, 3, 4, 5], split: [96, 1, 1, 1, 1] }).split).toEqual([96, 1, 1, 1, 1]);
    expect(parseExperiment({ challengers: [2], split: [1, 1] }).split).toEqual([50, 50]);
  });

  it('names the wrong field', () => {
    expect(() => parseExperiment({ challengers: [2], split: [90, 5, 5] })).toThrow(/^experiment\.split: one weight for the champion and one per challenger: expected 2 numbers, got 3/);
    expect(() => parseExperiment({ challengers: [2], split: [90, 0] })).toThrow(/experiment\.split/);
    expect(() => parseExperiment({ challengers: [2, 2] })).toThrow(/experiment\.challengers: each challenger version may appear once/);
    expect(() => parseExperiment({ challengers: [] })).toThrow(/experiment\.challengers/);
    expect(() => parseExperiment({ challengers: [2], duration: 'soon' })).toThrow(/experiment\.duration/);
    expect(() => experimentFromFlags({ challengers: '2,x' })).toThrow(/--challengers must be comma-separated numbers, got "2,x"/);
    expect(() => experimentFromFlags({ challengers: '2', alpha: 'low' })).toThrow(/--alpha must be a number/);
    expect(experimentFromFlags({ challengers: '3,4', split: '90,5,5', duration: '10m', minSamples: '50', alpha: '0.01' })).toEqual({ challengers: [3, 4], split: [90, 5, 5], duration: '10m', minSamples: 50, alpha: 0.01, readEvery: '1m', readsPerRun: 500 });
  });
});

describe('LiveMetrics.since (the experiment cursor)', () => {
  it('returns whole seconds since the cursor and the next cursor, so reads neither overlap nor miss', () => {
    let now = 1_000_000_500;
    const live = new LiveMetrics({ now: () => now });
    live.record('m', 1, { status: 200, latencyMs: 1 });
    live.recordFeedback('m', 1, { correct: true });
    const first = live.since('m', 1_000_000);
    expect(first.next).toBe(1_000_000);
    expect(first.versions).toEqual({});
    now += 1000;
    live.record('m', 1, { status: 200, latencyMs: 1 });
    const second = live.since('m', first.next);
    expect(second.next).toBe(1_000_001);
    expect(second.versions['1']).toMatchObject({ requests: 1, feedback: 1, accuracy: 1 });
    now += 1000;
    const third = live.since('m', second.next);
    expect(third.versions['1']).toMatchObject({ requests: 1, feedback: 0 });
  });
});
