import { describe, expect, it } from 'vitest';
import { evaluateQualityGate } from '../../src/quality-gate';

const base = { task: 'binary' as const, gate: { maxRegression: 0.005 }, baseline: { auc: 0.5, logLoss: 0.5 }, champion: null };

describe('evaluateQualityGate', () => {
  it('passes a candidate that beats the baseline, with the default metric of its task', () => {
    const r = evaluateQualityGate({ ...base, candidate: { auc: 0.7, logLoss: 0.45 } });
    expect(r).toMatchObject({ passed: true, reasons: [], metric: 'auc' });
    expect(r.checks.map((c) => c.name)).toEqual(['baseline']);
  });

  it('fails below gate.min, naming the threshold', () => {
    const r = evaluateQualityGate({ ...base, gate: { ...base.gate, min: 0.8 }, candidate: { auc: 0.7 } });
    expect(r.passed).toBe(false);
    expect(r.reasons[0]).toMatch(/auc 0\.7000 is below the required gate\.min 0\.8000/);
    expect(r.thresholds.absolute).toBe(0.8);
  });

  it('fails a candidate that does not beat the naive baseline', () => {
    const r = evaluateQualityGate({ ...base, candidate: { auc: 0.5 } });
    expect(r.passed).toBe(false);
    expect(r.reasons[0]).toMatch(/does not beat the naive baseline/);
  });

  it('fails a regression beyond maxRegression against production on the same split, and allows one within it', () => {
    const champion = { auc: 0.7 };
    expect(evaluateQualityGate({ ...base, champion, candidate: { auc: 0.69 } }).reasons[0]).toMatch(/regresses more than gate\.maxRegression/);
    expect(evaluateQualityGate({ ...base, champion, candidate: { auc: 0.696 } }).passed).toBe(true);
  });

  it('understands lower-is-better metrics', () => {
    const gate = { metric: 'logLoss', min: 0.48, maxRegression: 0.01 };
    expect(evaluateQualityGate({ ...base, gate, candidate: { logLoss: 0.47 }, champion: { logLoss: 0.465 } }).passed).toBe(true);
    const r = evaluateQualityGate({ ...base, gate, candidate: { logLoss: 0.49 }, champion: { logLoss: 0.465 } });
    expect(r.reasons).toHaveLength(2);
    expect(r.reasons[0]).toMatch(/above the required gate\.min/);
  });

  it('names an unknown metric with the ones that exist', () => {
    const r = evaluateQualityGate({ ...base, gate: { metric: 'acuracy', maxRegression: 0 }, candidate: { auc: 0.7, accuracy: 0.8 } });
    expect(r.passed).toBe(false);
    expect(r.reasons[0]).toMatch(/"acuracy" is not a metric.*auc, accuracy/);
  });

  it('uses r2 for regression and macroF1 for multiclass by default', () => {
    expect(evaluateQualityGate({ ...base, task: 'regression', baseline: { r2: 0 }, candidate: { r2: 0.3 } }).metric).toBe('r2');
    expect(evaluateQualityGate({ ...base, task: 'multiclass', baseline: { macroF1: 0.1 }, candidate: { macroF1: 0.3 } }).metric).toBe('macroF1');
  });
  describe('gate.require decides on the paired bootstrap interval', () => {
    const champion = { auc: 0.7 };
    const iv = (delta: number, low: number, high: number) => ({ delta, low, high, resamples: 1000 });
    const gate = (require: 'point' | 'not_worse' | 'better') => ({ maxRegression: 0.005, require });
    it('point: the point estimates decide, the interval is only reported', () => {
      const r = evaluateQualityGate({ ...base, gate: gate('point'), champion, candidate: { auc: 0.702 }, intervals: { baseline: iv(0.2, 0.18, 0.22), champion: iv(0.002, -0.02, 0.024) } });
      expect(r.passed).toBe(true);
      expect(r.intervals).toEqual({ baseline: iv(0.2, 0.18, 0.22), champion: iv(0.002, -0.02, 0.024) });
      expect(r.checks.find((c) => c.name === 'champion')?.message).toMatch(/gain \+0\.0020 \(95% CI -0\.0200 to \+0\.0240\)/);
    });
    it('not_worse: blocks when the interval reaches below -maxRegression, passes when it stays above', () => {
      const wide = evaluateQualityGate({ ...base, gate: gate('not_worse'), champion, candidate: { auc: 0.702 }, intervals: { baseline: iv(0.2, 0.18, 0.22), champion: iv(0.002, -0.02, 0.024) } });
      expect(wide.passed).toBe(false);
      expect(wide.reasons[0]).toMatch(/may be worse than production's 0\.7000: the 95% interval of the gain reaches -0\.0200, below -gate\.maxRegression 0\.0050 \(gate\.require not_worse\)/);
      expect(evaluateQualityGate({ ...base, gate: gate('not_worse'), champion, candidate: { auc: 0.699 }, intervals: { baseline: iv(0.2, 0.18, 0.22), champion: iv(-0.001, -0.004, 0.002) } }).passed).toBe(true);
    });
    it('better: needs the whole interval above 0, over production and over the baseline', () => {
      expect(evaluateQualityGate({ ...base, gate: gate('better'), champion, candidate: { auc: 0.71 }, intervals: { baseline: iv(0.2, 0.18, 0.22), champion: iv(0.01, 0.002, 0.02) } }).passed).toBe(true);
      const same = evaluateQualityGate({ ...base, gate: gate('better'), champion, candidate: { auc: 0.7 }, intervals: { baseline: iv(0.2, 0.18, 0.22), champion: iv(0, 0, 0) } });
      expect(same.reasons).toEqual([expect.stringMatching(/is not surely better than production's 0\.7000: the 95% interval of the gain reaches \+0 \(gate\.require better\)/)]);
      const base2 = evaluateQualityGate({ ...base, gate: gate('better'), champion: null, candidate: { auc: 0.51 }, intervals: { baseline: iv(0.01, -0.01, 0.03) } });
      expect(base2.reasons[0]).toMatch(/is not surely better than the naive baseline's 0\.5000/);
    });
    it('blocks a candidate worse than production on a slice by more than gate.maxSliceRegression', () => {
      const slices = [
        { column: 'origin', value: 'ORD', rows: 300, candidate: 0.7, champion: 0.71, gain: -0.01 },
        { column: 'origin', value: 'LAX', rows: 200, candidate: 0.6, champion: 0.68, gain: -0.08 },
      ];
      const reported = evaluateQualityGate({ ...base, champion, candidate: { auc: 0.7 }, slices });
      expect(reported.passed).toBe(true);
      expect(reported.slices).toEqual(slices);
      const blocked = evaluateQualityGate({ ...base, gate: { maxRegression: 0.005, maxSliceRegression: 0.05 }, champion, candidate: { auc: 0.7 }, slices });
      expect(blocked.reasons).toEqual([expect.stringMatching(/auc on origin = LAX \(200 rows\) is 0\.6000 against production's 0\.6800: worse by more than gate\.maxSliceRegression 0\.0500/)]);
    });
  });
});
