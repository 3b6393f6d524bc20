import { describe, expect, it } from 'vitest';
import { analyseCanaryStep, stepWeights, type VersionWindow } from '../../src/policy/canary';

const spec = { minRequestsPerStep: 100, maxErrorRate: 0.01, maxP99Ms: 50, maxMetricDrop: 0.02 };
const healthy: VersionWindow = { requests: 500, errors: 0, errorRate: 0, p99Ms: 12, accuracy: null, labelled: 0 };

describe('canary analysis', () => {
  it('splits traffic per step and hands everything over at 100%', () => {
    expect(stepWeights(3, 4, 5)).toEqual({ '3': 95, '4': 5 });
    expect(stepWeights(3, 4, 100)).toEqual({ '4': 100 });
  });

  it('passes a healthy canary', () => {
    const r = analyseCanaryStep(spec, 25, healthy, healthy);
    expect(r).toMatchObject({ passed: true, reasons: [], percent: 25, requests: 500 });
  });

  it('fails on too little traffic, errors, latency and an accuracy drop, each with a sentence', () => {
    const r = analyseCanaryStep(
      spec,
      5,
      { requests: 40, errors: 4, errorRate: 0.1, p99Ms: 80, accuracy: 0.7, labelled: 40 },
      { ...healthy, accuracy: 0.8, labelled: 400 },
    );
    expect(r.passed).toBe(false);
    expect(r.reasons).toEqual([
      expect.stringMatching(/only 40 requests reached the canary at 5%/),
      expect.stringMatching(/error rate 10\.00% is above canary\.maxErrorRate 1\.00%/),
      expect.stringMatching(/p99 latency 80\.0 ms is above canary\.maxP99Ms 50 ms/),
      expect.stringMatching(/accuracy 0\.7000 is 0\.1000 below the champion's 0\.8000/),
    ]);
  });

  it('ignores accuracy until both sides have feedback', () => {
    expect(analyseCanaryStep(spec, 50, { ...healthy, accuracy: 0.1, labelled: 5 }, healthy).passed).toBe(true);
  });
});
