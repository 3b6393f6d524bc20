import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareLocal } from '../../../src/data/prepare';
import {
  DriftAccumulator,
  INSUFFICIENT_DATA,
  accuracyDrift,
  jsDistance,
  ksStatistic,
  numericReference,
  psi,
  type DriftReport,
} from '../../../src/monitoring/drift';
import type { DatasetProfile, NumericProfile } from '../../../src/types';
import { cleanScratch, dataSpec, rng, scratch, writeCsv } from '../data/helpers';
import { categoricalProfile, numericProfile, profileOf } from './builders';

const META = {
  model: 'm',
  version: 1,
  window: { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' },
};

const scoreOf = (r: DriftReport, name: string, test: string): number =>
  r.features.find((f) => f.name === name && f.test === test)!.score;

describe('the statistics, against hand-computed values', () => {
  it('PSI is Σ (a − e)·ln(a / e)', () => {
    // 0.25·ln 2 + 0.25·ln 1.5
    expect(psi([0.5, 0.5], [0.25, 0.75])).toBeCloseTo(0.2746530721670274, 12);
    expect(psi([0.3, 0.7], [0.3, 0.7])).toBe(0);
  });

  it('PSI raises empty bins to epsilon instead of dividing by zero', () => {
    // (0.4 − 0.5)·ln 0.8 + (0.1 − 1e-4)·ln(0.1 / 1e-4); the bin empty on both sides adds nothing
    expect(psi([0.5, 0.5, 0, 0], [0.5, 0.4, 0.1, 0], 1e-4)).toBeCloseTo(0.7123991075017365, 12);
  });

  it('Jensen–Shannon distance, base 2: 0 for equal, 1 for disjoint distributions', () => {
    expect(jsDistance([0.2, 0.8], [0.2, 0.8])).toBe(0);
    expect(jsDistance([1, 0], [0, 1])).toBe(1);
    // m = (0.75, 0.25); JSD = ½·(0.5·log2(0.5/0.75) + 0.5·log2(0.5/0.25)) + ½·log2(1/0.75)
    expect(jsDistance([0.5, 0.5], [1, 0])).toBeCloseTo(0.5579230452841438, 12);
  });

  it('KS is the largest gap between the CDFs', () => {
    expect(ksStatistic([0.1, 0.5, 0.9], [0.2, 0.3, 0.95])).toBeCloseTo(0.2, 12);
  });
});

describe('numeric features', () => {
  // a discrete feature: 50% ones, 30% twos, 20% threes; the deciles are 1 and 2, and the real
  // shares of the bins (−∞, 1], (1, 2], (2, ∞) are 0.5 / 0.3 / 0.2, not the nominal tenths
  const hour = numericProfile('hour', {
    bins: { edges: [1, 2], shares: [0.5, 0.3, 0.2] },
    cdf: { values: [1, 2, 3], shares: [0.5, 0.8, 1] },
    histogram: { edges: [0.5, 1.5, 2.5, 3.5], counts: [50, 30, 20] },
  });

  const feed = (profile: NumericProfile, values: (number | null)[]): DriftReport => {
    const acc = new DriftAccumulator(profileOf([profile]), { minSamples: 1 });
    for (const v of values) acc.addRow({ [profile.name]: v });
    return acc.report(META);
  };
  const repeat = (v: number, n: number): number[] => Array.from({ length: n }, () => v);

  it('the same shares, ties and all, are no drift', () => {
    const r = feed(hour, [...repeat(1, 50), ...repeat(2, 30), ...repeat(3, 20)]);
    expect(scoreOf(r, 'hour', 'psi')).toBe(0);
    expect(scoreOf(r, 'hour', 'ks')).toBe(0);
    expect(r.drifted).toBe(false);
  });

  it('PSI over the recorded bins and KS over the recorded CDF', () => {
    // live 0.25 / 0.25 / 0.5: PSI = −0.25·ln 0.5 − 0.05·ln(0.25/0.3) + 0.3·ln 2.5
    const r = feed(hour, [...repeat(1, 25), ...repeat(2, 25), ...repeat(3, 50)]);
    expect(scoreOf(r, 'hour', 'psi')).toBeCloseTo(0.4572900925419306, 5);
    // live CDF 0.25, 0.5, 1 against 0.5, 0.8, 1
    expect(scoreOf(r, 'hour', 'ks')).toBeCloseTo(0.3, 5);
    expect(r.drifted).toBe(true);
    expect(r.driftedFeatures).toEqual(['hour']);
  });

  it('values on an edge fall in the bin the edge closes (right-closed bins)', () => {
    const ref = numericReference(hour)!;
    expect(ref.rightClosed).toBe(true);
    expect(Array.from(ref.shares).map((x) => Number(x.toFixed(12)))).toEqual([0.5, 0.3, 0.2, 0]);
    // exactly the training data, but with 2 replaced by 1.5: still in (1, 2]
    const r = feed(hour, [...repeat(1, 50), ...repeat(1.5, 30), ...repeat(3, 20)]);
    expect(scoreOf(r, 'hour', 'psi')).toBe(0);
  });

  it('missing values are a bin of their own', () => {
    const r = feed(hour, [
      ...repeat(1, 25),
      ...repeat(2, 15),
      ...repeat(3, 10),
      ...Array<null>(50).fill(null),
    ]);
    // value bins halve (0.25 / 0.15 / 0.1), missing 0.5 against 0 (raised to epsilon)
    const expected = psi([0.5, 0.3, 0.2, 0], [0.25, 0.15, 0.1, 0.5]);
    expect(scoreOf(r, 'hour', 'psi')).toBeCloseTo(expected, 5);
  });

  it('a profile from before drift detection falls back on its histogram counts', () => {
    const old = numericProfile('x', { histogram: { edges: [0, 1, 2, 3, 4], counts: [10, 20, 30, 40] } });
    const ref = numericReference(old)!;
    expect(ref.rightClosed).toBe(false);
    expect(Array.from(ref.cuts)).toEqual([1, 2, 3]);
    expect(Array.from(ref.shares).map((s) => Number(s.toFixed(12)))).toEqual([0.1, 0.2, 0.3, 0.4, 0]);
    // histogram bins are [lo, hi): 1 belongs to the second bin, values outside to the end bins
    const same = feed(old, [...repeat(-5, 10), ...repeat(1, 20), ...repeat(2.5, 30), ...repeat(9, 40)]);
    expect(scoreOf(same, 'x', 'psi')).toBe(0);
    expect(scoreOf(same, 'x', 'ks')).toBe(0);
    const moved = feed(old, [...repeat(0.5, 50), ...repeat(3.5, 50)]);
    // live 0.5 / 0 / 0 / 0.5 against 0.1 / 0.2 / 0.3 / 0.4
    expect(scoreOf(moved, 'x', 'psi')).toBeCloseTo(psi([0.1, 0.2, 0.3, 0.4], [0.5, 0, 0, 0.5]), 5);
    expect(scoreOf(moved, 'x', 'ks')).toBeCloseTo(0.4, 9);
  });

  it('booleans count as 1 / 0', () => {
    const flag = numericProfile('flag', {
      kind: 'boolean',
      bins: { edges: [0], shares: [0.7, 0.3] },
      cdf: { values: [0, 1], shares: [0.7, 1] },
    });
    const r = feed(flag, [...repeat(0, 7), ...repeat(1, 3)]);
    expect(scoreOf(r, 'flag', 'psi')).toBe(0);
    const acc = new DriftAccumulator(profileOf([flag]), { minSamples: 1 });
    for (let i = 0; i < 10; i++) acc.addRow({ flag: i < 7 ? false : true });
    expect(scoreOf(acc.report(META), 'flag', 'psi')).toBe(0);
  });
});

describe('categorical features', () => {
  // 50 a, 30 b, 20 others outside the top
  const carrier = categoricalProfile(
    'carrier',
    [
      ['a', 50],
      ['b', 30],
    ],
    { count: 100, cardinality: 5 },
  );

  it('PSI and JS over the top values, "other" and missing', () => {
    const acc = new DriftAccumulator(profileOf([carrier]), { minSamples: 1 });
    for (let i = 0; i < 100; i++) acc.addRow({ carrier: i < 40 ? 'a' : i < 70 ? 'b' : `new-${i}` });
    const r = acc.report(META);
    // live 0.4 / 0.3 / 0.3 against 0.5 / 0.3 / 0.2: −0.1·ln 0.8 + 0.1·ln 1.5
    expect(scoreOf(r, 'carrier', 'psi')).toBeCloseTo(0.06286086594223739, 5);
    expect(scoreOf(r, 'carrier', 'js')).toBeCloseTo(0.10619851439230635, 5);
    expect(r.features.find((f) => f.test === 'js')!.drifted).toBe(true);
    // PSI decides: 0.063 is under 0.1, whatever JS says
    expect(r.drifted).toBe(false);
  });

  it('topK limits the bins: values past it count as "other" on both sides', () => {
    const acc = new DriftAccumulator(profileOf([carrier]), { minSamples: 1, topK: 1 });
    for (let i = 0; i < 100; i++) acc.addRow({ carrier: i < 50 ? 'a' : i < 80 ? 'b' : 'z' });
    expect(scoreOf(acc.report(META), 'carrier', 'psi')).toBe(0);
  });

  it('numbers and booleans are compared as their text', () => {
    const code = categoricalProfile('code', [
      ['1', 50],
      ['true', 50],
    ]);
    const acc = new DriftAccumulator(profileOf([code]), { minSamples: 1 });
    for (let i = 0; i < 100; i++) acc.addRow({ code: i < 50 ? 1 : true });
    expect(scoreOf(acc.report(META), 'code', 'psi')).toBe(0);
  });
});

describe('the dataset verdict', () => {
  const cols = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      categoricalProfile(`f${i}`, [
        ['a', 50],
        ['b', 50],
      ]),
    );

  it('drifts when >= 30% of the features drift (configurable)', () => {
    const feed = (driftedCount: number, options = {}): DriftReport => {
      const acc = new DriftAccumulator(profileOf(cols(10)), { minSamples: 1, ...options });
      for (let r = 0; r < 100; r++) {
        const row: Record<string, unknown> = {};
        for (let i = 0; i < 10; i++) row[`f${i}`] = i < driftedCount ? 'a' : r % 2 ? 'a' : 'b';
        acc.addRow(row);
      }
      return acc.report(META);
    };
    expect(feed(2).drifted).toBe(false);
    expect(feed(2).driftedShare).toBe(0.2);
    expect(feed(3).drifted).toBe(true);
    expect(feed(3).driftedFeatures).toEqual(['f0', 'f1', 'f2']);
    expect(feed(2, { datasetShare: 0.2 }).drifted).toBe(true);
    expect(feed(3, { psiThreshold: 100 }).drifted).toBe(false);
  });

  it('below minSamples: "insufficient data", and no feature alarms', () => {
    const acc = new DriftAccumulator(profileOf(cols(2)), { minSamples: 500 });
    for (let r = 0; r < 499; r++) acc.addRow({ f0: 'zzz', f1: 'zzz' });
    const report = acc.report(META);
    expect(report.drifted).toBe(INSUFFICIENT_DATA);
    expect(report.driftedShare).toBeNull();
    expect(report.driftedFeatures).toEqual([]);
    expect(report.features.every((f) => !f.drifted)).toBe(true);
    expect(report.features.find((f) => f.test === 'psi')!.score).toBeGreaterThan(1);
    expect(report.reasons[0]).toMatch(/499 logged rows.*500/);
  });

  it('a feature the log never holds (a sensitive column) is skipped, not counted as missing', () => {
    const acc = new DriftAccumulator(profileOf(cols(2)), { minSamples: 1 });
    for (let r = 0; r < 100; r++) acc.addRow({ f0: r % 2 ? 'a' : 'b' });
    const report = acc.report(META);
    expect(report.skipped).toEqual([
      { name: 'f1', reason: expect.stringMatching(/never in the logged rows/) },
    ]);
    expect(report.features.map((f) => f.name)).toEqual(['f0', 'f0']);
    expect(report.drifted).toBe(false);
  });

  it('only the features asked for', () => {
    const acc = new DriftAccumulator(profileOf(cols(3)), { minSamples: 1 }, ['f1']);
    acc.addRow({ f0: 'a', f1: 'a', f2: 'a' });
    expect([...new Set(acc.report(META).features.map((f) => f.name))]).toEqual(['f1']);
  });
});

describe('prediction drift and live accuracy', () => {
  const x = categoricalProfile('x', [['a', 100]]);

  it('binary: the mean probability of the positive class against its training share', () => {
    const feed = (probs: number[], fallback = false): DriftReport => {
      const acc = new DriftAccumulator(profileOf([x], { classes: { no: 0.8, yes: 0.2 } }), {
        minSamples: 10,
      });
      for (const p of probs) {
        acc.addRecord({
          fallback,
          instances: [{ x: 'a' }],
          predictions: [{ label: p >= 0.5 ? 'yes' : 'no', probability: p }],
        });
      }
      return acc.report(META);
    };
    const calm = feed(Array.from({ length: 100 }, (_, i) => (i % 10 === 0 ? 0.6 : 0.1777777777777778)));
    expect(calm.prediction.observed['yes']).toBeCloseTo(0.22, 5);
    expect(calm.prediction.drifted).toBe(false);
    expect(calm.prediction.labels).toEqual({ yes: 0.1, no: 0.9 });
    // mean 0.6: observed (0.4, 0.6) against (0.8, 0.2)
    const moved = feed(Array.from({ length: 100 }, () => 0.6));
    expect(moved.prediction.score).toBeCloseTo(0.7167037876912219, 5);
    expect(moved.prediction.drifted).toBe(true);
    // the naive fallback's answers are not the model's predictions
    const fallback = feed(
      Array.from({ length: 100 }, () => 0.6),
      true,
    );
    expect(fallback.prediction.samples).toBe(0);
    expect(fallback.prediction.drifted).toBe(INSUFFICIENT_DATA);
  });

  it('multiclass: the mean probability of each class', () => {
    const acc = new DriftAccumulator(profileOf([x], { classes: { a: 0.5, b: 0.3, c: 0.2 } }), {
      minSamples: 1,
    });
    for (let i = 0; i < 10; i++) acc.addPrediction({ label: 'a', probabilities: { a: 0.4, b: 0.3, c: 0.3 } });
    const p = acc.report(META).prediction;
    expect(p.observed).toEqual({ a: 0.4, b: 0.3, c: 0.3 });
    expect(p.score).toBeCloseTo(0.06286086594223739, 5);
  });

  it('regression: the mean prediction against the target mean, in its standard deviations', () => {
    const target = numericProfile('y', { mean: 10, std: 2 });
    const acc = new DriftAccumulator(profileOf([x], { numeric: target }), { minSamples: 1 });
    for (const v of [10, 11, 12, 13]) acc.addPrediction({ value: v });
    const p = acc.report(META).prediction;
    expect(p.test).toBe('mean_shift');
    expect(p.observed['mean']).toBe(11.5);
    expect(p.score).toBeCloseTo(0.75, 9);
    expect(p.drifted).toBe(true);
  });

  it('live accuracy drop once feedback exists', () => {
    expect(accuracyDrift({ feedback: null, testAccuracy: 0.8 })).toBeNull();
    const a = accuracyDrift({ feedback: { labelled: 200, correct: 140 }, testAccuracy: 0.8 })!;
    expect(a.live).toBe(0.7);
    expect(a.drop).toBeCloseTo(0.1, 9);
    expect(a.drifted).toBe(true);
    expect(accuracyDrift({ feedback: { labelled: 200, correct: 155 }, testAccuracy: 0.8 })!.drifted).toBe(
      false,
    );
    expect(accuracyDrift({ feedback: { labelled: 50, correct: 10 }, testAccuracy: 0.8 })!.drifted).toBe(
      INSUFFICIENT_DATA,
    );
  });
});

// A generated dataset with a continuous, a discrete and two categorical features: prepareLocal
// profiles it as the pipeline does, and live rows come from the same generator or a shifted one.
describe('against a real training profile', () => {
  const CARRIERS = ['AA', 'UA', 'DL', 'WN', 'B6', 'AS', 'NK', 'F9'];
  const CARRIER_WEIGHTS = [30, 20, 15, 12, 10, 6, 4, 3];
  const ORIGINS = Array.from({ length: 40 }, (_, i) => `A${String(i).padStart(2, '0')}`);
  const pick = <T>(r: () => number, xs: T[], weights?: number[]): T => {
    if (!weights) return xs[Math.floor(r() * xs.length)]!;
    const total = weights.reduce((a, b) => a + b, 0);
    let u = r() * total;
    for (let i = 0; i < xs.length; i++) if ((u -= weights[i]!) < 0) return xs[i]!;
    return xs.at(-1)!;
  };
  const zipf = ORIGINS.map((_, i) => 1 / (i + 1));

  function rows(seed: number, n: number, shift = false): Record<string, unknown>[] {
    const r = rng(seed);
    const out: Record<string, unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const normal = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
      const distance = Math.round(Math.exp(6 + 0.6 * normal) * (shift ? 1.6 : 1));
      // busy mornings and evenings: many ties, uneven shares
      const hour = pick(r, [6, 7, 8, 9, 12, 15, 17, 18, 19, 21], [5, 15, 12, 6, 8, 7, 14, 16, 10, 7]);
      const carrier = pick(r, CARRIERS, CARRIER_WEIGHTS);
      const origin = shift && r() < 0.4 ? `NEW${Math.floor(r() * 10)}` : pick(r, ORIGINS, zipf);
      const late = r() < (hour >= 17 ? 0.35 : 0.15);
      out.push({ distance, hour, carrier, origin, late });
    }
    return out;
  }

  let profile: DatasetProfile;
  beforeAll(async () => {
    const dir = await scratch('kaizen-drift-test-');
    const header = ['distance', 'hour', 'carrier', 'origin', 'late'];
    const file = await writeCsv(
      path.join(dir, 'train.csv'),
      header,
      rows(1, 20_000).map((r) => header.map((h) => r[h])),
    );
    const prepared = await prepareLocal({
      spec: dataSpec({ source: file, target: 'late' }),
      specDir: dir,
      workDir: path.join(dir, 'work'),
    });
    profile = prepared.profile;
  });
  afterAll(cleanScratch);

  const check = (live: Record<string, unknown>[], options = {}): DriftReport => {
    const acc = new DriftAccumulator(profile, options);
    for (const row of live) {
      const { late: _late, ...features } = row;
      acc.addRecord({ instances: [features], predictions: [{ label: 'false', probability: 0.2 }] });
    }
    return acc.report(META);
  };

  it('the profile records decile bins with the real shares of a discrete feature', () => {
    const hour = profile.columns.find((c) => c.name === 'hour') as NumericProfile;
    expect(hour.bins).toBeDefined();
    // each bin edge is a real hour and the shares follow the generator's weights, not tenths
    for (const e of hour.bins!.edges) expect([6, 7, 8, 9, 12, 15, 17, 18, 19, 21]).toContain(e);
    expect(hour.bins!.shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    const firstShare = hour.bins!.shares[0]!;
    const hours = rows(1, 20_000).map((r) => r['hour'] as number);
    expect(firstShare).toBeCloseTo(hours.filter((h) => h <= hour.bins!.edges[0]!).length / hours.length, 9);
    expect(hour.cdf!.shares.at(-1)).toBeLessThanOrEqual(1);
  });

  it('a sample of the same distribution is not drift', () => {
    const r = check(rows(2, 5000));
    expect(r.drifted).toBe(false);
    expect(r.driftedFeatures).toEqual([]);
    for (const f of r.features) expect(f.drifted).toBe(false);
    expect(r.samples).toBe(5000);
  });

  it('a shifted sample is drift, naming the shifted features', () => {
    const r = check(rows(3, 5000, true));
    expect(r.drifted).toBe(true);
    expect(r.driftedFeatures.sort()).toEqual(['distance', 'origin']);
    expect(r.driftedShare).toBe(0.5);
    expect(scoreOf(r, 'distance', 'ks')).toBeGreaterThan(0.1);
    expect(scoreOf(r, 'origin', 'js')).toBeGreaterThan(0.1);
    expect(scoreOf(r, 'hour', 'psi')).toBeLessThan(0.02);
  });

  it('the shifted sample below minSamples is "insufficient data"', () => {
    const r = check(rows(3, 200, true));
    expect(r.drifted).toBe(INSUFFICIENT_DATA);
    expect(r.features.some((f) => f.drifted)).toBe(false);
  });
});

describe('driftOptionsFrom (thresholds of a drift monitor)', () => {
  it('takes known thresholds and names a wrong one', async () => {
    const { driftOptionsFrom } = await import('../../../src/monitoring/drift');
    expect(driftOptionsFrom(undefined)).toEqual({});
    expect(driftOptionsFrom({ psiThreshold: 0.2, minSamples: 100 })).toEqual({ psiThreshold: 0.2, minSamples: 100 });
    expect(() => driftOptionsFrom({ psi: 0.2 })).toThrow(/^thresholds\.psi: unknown drift threshold \(known: psiThreshold, /);
    expect(() => driftOptionsFrom({ minSamples: -1 })).toThrow(/^thresholds\.minSamples: expected a non-negative number/);
  });
});
