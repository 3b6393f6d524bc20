import { describe, expect, it } from 'vitest';
import { LiveMetrics, parseWindow, predictionScalar } from '../../../src/serving/live-metrics';

describe('LiveMetrics', () => {
  it('sums per version over the window and forgets seconds outside it', () => {
    let now = 1_000_000_000_000;
    const live = new LiveMetrics({ retentionSeconds: 120, now: () => now });
    for (let i = 1; i <= 100; i++)
      live.record('m', 1, {
        status: 200,
        latencyMs: i,
        predictionSum: 0.5,
        predictionCount: 1,
        instances: 1,
      });
    live.record('m', 2, { status: 500, latencyMs: 3 });
    live.record('m', 2, { status: 400, latencyMs: 1 });
    live.record('m', 2, { status: 200, latencyMs: 2, fallback: true });
    const w = live.window('m', 60);
    expect(w.window_seconds).toBe(60);
    expect(w.versions['1']).toMatchObject({
      requests: 100,
      errors: 0,
      errorRate: 0,
      fallbacks: 0,
      instances: 100,
      predictionMean: 0.5,
    });
    // 5% resolution of the latency histogram
    expect(w.versions['1']!.p50Ms! / 50).toBeGreaterThan(0.99);
    expect(w.versions['1']!.p50Ms! / 50).toBeLessThan(1.06);
    expect(w.versions['1']!.p99Ms! / 99).toBeGreaterThan(0.99);
    expect(w.versions['1']!.p99Ms! / 99).toBeLessThan(1.06);
    expect(w.versions['2']).toMatchObject({
      requests: 3,
      errors: 1,
      clientErrors: 1,
      fallbacks: 1,
      predictionMean: null,
    });
    expect(w.versions['2']!.errorRate).toBeCloseTo(1 / 3);

    now += 30_000;
    live.record('m', 2, { status: 200, latencyMs: 1 });
    expect(live.window('m', 10).versions).toEqual({ '2': expect.objectContaining({ requests: 1 }) });
    expect(live.window('m', 60).versions['1']!.requests).toBe(100);
    // a ring slot reused a retention period later starts from zero
    now += 120_000;
    live.record('m', 1, { status: 200, latencyMs: 1 });
    expect(live.window('m', 120).versions).toEqual({ '1': expect.objectContaining({ requests: 1 }) });
    expect(live.window('other', 60).versions).toEqual({});
  });

  it('parses windows and reduces predictions to one number', () => {
    expect(parseWindow('60s')).toBe(60);
    expect(parseWindow('5m')).toBe(300);
    expect(parseWindow('90')).toBe(90);
    expect(parseWindow(undefined)).toBe(60);
    expect(parseWindow('abc')).toBeNull();
    expect(parseWindow('10ms')).toBeNull();
    expect(predictionScalar({ label: 'true', probability: 0.7 })).toBe(0.7);
    expect(predictionScalar({ value: 12 })).toBe(12);
    expect(predictionScalar({ label: 'b', probabilities: { a: 0.2, b: 0.8 } })).toBe(0.8);
  });
});
