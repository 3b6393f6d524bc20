import { describe, expect, it } from 'vitest';
import { compareOutputs, metricScorer, pairedBootstrap, sliceMetrics, weightedAucScorer } from '../../../src/ml/bootstrap';
import type { TestOutputs } from '../../../src/ml/evaluate';
import { binaryMetrics, rocAuc } from '../../../src/ml/metrics';
import { Mulberry32 } from '../../../src/policy/random';

/** n rows, a fifth positive; `signal` says how well the scores separate them. */
function outputs(n: number, signal: number, seed: number, over: Partial<TestOutputs> = {}): TestOutputs {
  const rng = new Mulberry32(seed);
  const labels = Float64Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 1 : 0));
  const out = Float64Array.from(labels, (y) => Math.min(0.999, Math.max(0.001, 0.3 + signal * (y - 0.2) + (rng.next() - 0.5) * 0.4)));
  const origin = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'ORD' : i % 3 === 1 ? 'LAX' : 'SFO'));
  return { task: 'binary', rows: n, labels, outputs: out, threshold: 0.5, classes: ['false', 'true'], categories: { origin }, ...over };
}

describe('paired bootstrap', () => {
  it('the weighted AUC equals rocAuc on the rows the weights draw', () => {
    const o = outputs(300, 0.3, 1);
    const auc = weightedAucScorer(o.labels, o.outputs);
    expect(auc(new Uint32Array(300).fill(1))).toBeCloseTo(rocAuc(o.labels, o.outputs), 12);
    const counts = Uint32Array.from({ length: 300 }, (_, i) => (i * 7) % 3);
    const rows = [...counts].flatMap((c, i) => Array<number>(c).fill(i));
    expect(auc(counts)).toBeCloseTo(rocAuc(rows.map((i) => o.labels[i]!), rows.map((i) => o.outputs[i]!)), 12);
    const f1 = metricScorer('binary', 'f1', o.labels, o.outputs, { threshold: 0.35 });
    expect(f1(counts)).toBeCloseTo(binaryMetrics(rows.map((i) => o.labels[i]!), rows.map((i) => o.outputs[i]!), 0.35)['f1']!, 12);
  });

  it('a model against itself gains exactly 0; a clearly better one has an interval above 0; a small noisy split straddles 0', () => {
    const opts = { resamples: 500, seed: 3, lowerIsBetter: false };
    const a = outputs(2000, 0.4, 1);
    expect(compareOutputs(a, a, 'auc', opts)).toEqual({ delta: 0, low: 0, high: 0, resamples: 500 });
    const better = compareOutputs(outputs(2000, 0.6, 2), outputs(2000, 0.2, 3), 'auc', opts)!;
    expect(better.delta).toBeGreaterThan(0.1);
    expect(better.low).toBeGreaterThan(0);
    expect(better.low).toBeLessThan(better.delta);
    expect(better.high).toBeGreaterThan(better.delta);
    const noisy = compareOutputs(outputs(60, 0.15, 4), outputs(60, 0.14, 5), 'auc', opts)!;
    expect(noisy.low).toBeLessThan(0);
    expect(noisy.high).toBeGreaterThan(0);
    // the same seed gives the same interval; lower-is-better metrics flip the sign of the gain
    expect(compareOutputs(outputs(2000, 0.6, 2), outputs(2000, 0.2, 3), 'auc', opts)).toEqual(better);
    const loss = compareOutputs(outputs(2000, 0.6, 2), outputs(2000, 0.2, 3), 'logLoss', { ...opts, lowerIsBetter: true })!;
    expect(loss.delta).toBeGreaterThan(0);
    expect(pairedBootstrap(10, () => 1, () => 1, opts).resamples).toBe(500);
  });

  it('slices: the metric per value of a column, most frequent first, with the gain over production', () => {
    const cand = outputs(900, 0.5, 1);
    const champ = outputs(900, 0.3, 2);
    const slices = sliceMetrics(cand, champ, 'origin', 'auc', { top: 2, minRows: 30, lowerIsBetter: false });
    expect(slices.map((s) => [s.value, s.rows])).toEqual([['LAX', 300], ['ORD', 300]]);
    for (const s of slices) {
      const rows = [...Array(900).keys()].filter((i) => cand.categories.origin![i] === s.value);
      expect(s.candidate).toBeCloseTo(rocAuc(rows.map((i) => cand.labels[i]!), rows.map((i) => cand.outputs[i]!)), 12);
      expect(s.gain).toBeCloseTo(s.candidate - s.champion!, 12);
    }
    expect(sliceMetrics(cand, null, 'origin', 'auc', { top: 5, minRows: 301, lowerIsBetter: false })).toEqual([]);
  });
});
