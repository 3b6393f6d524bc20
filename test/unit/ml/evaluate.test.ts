import { describe, expect, it } from 'vitest';
import {
  bestThreshold,
  binaryCounts,
  binaryMetrics,
  confusionMatrix,
  multiclassMetrics,
  regressionMetrics,
  rocAuc,
} from '../../../src/ml/evaluate';

describe('rocAuc', () => {
  it('matches hand-computed values, with ties counted as half', () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
    // positives {0.5, 0.9} vs negatives {0.5, 0.2}: 0.5 (tie) + 1 + 1 + 1 of 4 pairs
    expect(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBe(0.875);
    expect(rocAuc([0, 1, 1, 0, 1], [0.3, 0.3, 0.3, 0.3, 0.3])).toBe(0.5);
    expect(rocAuc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1])).toBe(1);
    expect(rocAuc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])).toBe(0);
    expect(rocAuc([1, 1], [0.1, 0.2])).toBeNaN();
  });
});

describe('binaryMetrics', () => {
  const y = [1, 0, 1, 1, 0, 0];
  const p = [0.9, 0.6, 0.4, 0.7, 0.2, 0.5];

  it('matches hand-computed accuracy, precision, recall, F1, AUC, log loss and Brier', () => {
    expect(binaryCounts(y, p)).toEqual({ tp: 2, fp: 2, tn: 1, fn: 1 });
    const m = binaryMetrics(y, p);
    expect(m['accuracy']).toBe(0.5);
    expect(m['precision']).toBe(0.5);
    expect(m['recall']).toBeCloseTo(2 / 3, 12);
    expect(m['f1']).toBeCloseTo(4 / 7, 12);
    expect(m['auc']).toBeCloseTo(7 / 9, 12);
    const ll =
      -(Math.log(0.9) + Math.log(0.4) + Math.log(0.4) + Math.log(0.7) + Math.log(0.8) + Math.log(0.5)) / 6;
    expect(m['logLoss']).toBeCloseTo(ll, 12);
    expect(m['brier']).toBeCloseTo(1.11 / 6, 12);
  });

  it('scores the constant baseline (the prior) with the same function', () => {
    const prior = new Array<number>(6).fill(0.5);
    const m = binaryMetrics(y, prior);
    expect(m).toMatchObject({ accuracy: 0.5, precision: 0.5, recall: 1, auc: 0.5, brier: 0.25 });
    expect(m['logLoss']).toBeCloseTo(Math.log(2), 12);
    // a prior below the threshold predicts the negative class: precision and recall are 0, not NaN
    const low = binaryMetrics(y, new Array<number>(6).fill(0.3));
    expect(low).toMatchObject({ accuracy: 0.5, precision: 0, recall: 0, f1: 0 });
  });

  it('clips probabilities of 0 and 1 in log loss and omits an undefined AUC', () => {
    const m = binaryMetrics([1, 1], [1, 0]);
    expect(m['logLoss']).toBeCloseTo(-Math.log(1e-15) / 2, 6);
    expect(m['auc']).toBeUndefined();
  });
});

describe('multiclassMetrics', () => {
  it('matches hand-computed accuracy, macro F1, per-class recall, log loss and confusion matrix', () => {
    const labels = [0, 1, 2, 2, 1];
    // prettier-ignore
    const probs = [
      0.7, 0.2, 0.1,
      0.1, 0.5, 0.4,
      0.2, 0.3, 0.5,
      0.1, 0.6, 0.3,
      0.3, 0.3, 0.4,
    ];
    const r = multiclassMetrics(labels, probs, ['a', 'b', 'c']);
    expect(r.confusionMatrix).toEqual([
      [1, 0, 0],
      [0, 1, 1],
      [0, 1, 1],
    ]);
    expect(r.metrics['accuracy']).toBe(0.6);
    expect(r.metrics['macroF1']).toBeCloseTo(2 / 3, 12);
    expect(r.perClassRecall).toEqual({ a: 1, b: 0.5, c: 0.5 });
    expect(r.metrics['logLoss']).toBeCloseTo(
      -(Math.log(0.7) + 2 * Math.log(0.5) + 2 * Math.log(0.3)) / 5,
      12,
    );
  });

  it('averages F1 over the classes that occur in labels or predictions', () => {
    const r = multiclassMetrics([0, 1], [1, 0, 0, 0, 0, 1, 0, 0], ['a', 'b', 'c', 'd']);
    expect(r.metrics).toMatchObject({ accuracy: 1, macroF1: 1 });
    expect(r.perClassRecall).toEqual({ a: 1, b: 1 });
    expect(confusionMatrix([0, 1, 1], [1, 1, 0], 2)).toEqual([
      [0, 1],
      [1, 1],
    ]);
  });
});

describe('regressionMetrics', () => {
  it('matches hand-computed RMSE, MAE and R²', () => {
    const m = regressionMetrics([3, -0.5, 2, 7], [2.5, 0, 2, 8]);
    expect(m['rmse']).toBeCloseTo(Math.sqrt(0.375), 12);
    expect(m['mae']).toBe(0.5);
    expect(m['r2']).toBeCloseTo(0.9486081370449679, 12);
  });

  it('gives R² 0 for the mean predictor and handles constant labels', () => {
    expect(regressionMetrics([1, 2, 3], [2, 2, 2])['r2']).toBe(0);
    expect(regressionMetrics([4, 4], [4, 4])['r2']).toBe(1);
    expect(regressionMetrics([4, 4], [3, 5])['r2']).toBe(0);
  });
});

describe('expected calibration error', () => {
  it("is 0 when each bin's mean probability is its observed rate, and the weighted gap otherwise", async () => {
    const { expectedCalibrationError } = await import('../../../src/ml/metrics');
    // bin [0.2, 0.3): 0.25 predicted, 1 of 4 happened; bin [0.7, 0.8): 0.75, 3 of 4
    expect(
      expectedCalibrationError([1, 0, 0, 0, 1, 1, 1, 0], [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75]),
    ).toBeCloseTo(0, 12);
    // all at 0.9, half happened: off by 0.4
    expect(expectedCalibrationError([1, 0, 1, 0], [0.9, 0.9, 0.9, 0.9])).toBeCloseTo(0.4, 12);
    // two bins: [0.1, 0.2) 2 rows at 0.1 with 1 hit (gap 0.4), [1.0] 2 rows with 2 hits (gap 0): 0.5 × 0.4
    expect(expectedCalibrationError([1, 0, 1, 1], [0.1, 0.1, 1, 1])).toBeCloseTo(0.2, 12);
    expect(expectedCalibrationError([], [])).toBeNaN();
  });

  it('is reported beside the other metrics: on P(positive) for binary, on the top class for several', () => {
    expect(binaryMetrics([1, 0, 1, 0], [0.9, 0.9, 0.9, 0.9]).ece).toBeCloseTo(0.4, 12);
    // rows: top class a at 0.8 (right), b at 0.6 (wrong): bins 0.8 → gap 0.2, 0.6 → gap 0.6
    const r = multiclassMetrics([0, 0], [0.8, 0.2, 0.4, 0.6], ['a', 'b']);
    expect(r.metrics.ece).toBeCloseTo(0.5 * 0.2 + 0.5 * 0.6, 12);
  });
});

describe('bestThreshold', () => {
  // brute force: every distinct probability (and 0.5) as a threshold, scored by binaryMetrics
  const brute = (y: number[], p: number[], objective: 'f1' | 'accuracy') =>
    Math.max(...[0.5, ...p].map((t) => binaryMetrics(y, p, t)[objective]!));

  it('finds the threshold with the highest F1 or accuracy, as a brute-force sweep does', () => {
    let seed = 3;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 20; round++) {
      const n = 30 + round * 7;
      const y = Array.from({ length: n }, () => (next() < 0.2 ? 1 : 0));
      // rounded, so ties of probability are common
      const p = y.map((v) => Math.round(Math.min(1, Math.max(0, 0.15 + 0.25 * v + (next() - 0.5) * 0.5)) * 20) / 20);
      for (const objective of ['f1', 'accuracy'] as const) {
        const t = bestThreshold(y, p, objective);
        expect(binaryMetrics(y, p, t)[objective]).toBeCloseTo(brute(y, p, objective), 12);
      }
    }
  });

  it('on a rare positive class, F1 picks a threshold below 0.5; nothing to choose gives 0.5', () => {
    const y = [0, 0, 0, 0, 0, 0, 0, 1, 1, 0];
    const p = [0.1, 0.1, 0.2, 0.1, 0.3, 0.2, 0.1, 0.35, 0.4, 0.1];
    expect(bestThreshold(y, p, 'f1')).toBe(0.35);
    expect(binaryMetrics(y, p, 0.35)['f1']).toBe(1);
    expect(bestThreshold([], [], 'f1')).toBe(0.5);
    expect(bestThreshold([0, 0], [0.2, 0.7], 'f1')).toBe(0.5);
  });
});
