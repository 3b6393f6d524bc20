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
});
