// The validation gate ("blessing"): the candidate against an absolute threshold, the naive
// baseline and the current production model re-evaluated on the candidate's own test split.
// Pure: it returns a verdict; the workflow decides.

import type { BootstrapInterval, SliceResult } from './ml/bootstrap';
import type { GateReport, GateSpec, Metrics, TaskKind } from './types';

/** Metrics where lower is better; every other metric is higher-is-better. */
const LOWER_IS_BETTER = new Set(['rmse', 'mae', 'logLoss', 'brier', 'ece']);

export const DEFAULT_GATE_METRIC: Record<TaskKind, string> = { binary: 'auc', multiclass: 'macroF1', regression: 'r2' };

export function lowerIsBetter(metric: string): boolean {
  return LOWER_IS_BETTER.has(metric);
}

export interface GateCheck {
  name: 'absolute' | 'baseline' | 'champion' | 'metric' | 'slice';
  metric: string;
  value: number | null;
  threshold: number | null;
  passed: boolean;
  message: string;
  /** The paired bootstrap's gain and 95% interval behind this check, when there is one. */
  interval?: BootstrapInterval;
}

export interface QualityGateReport extends GateReport {
  metric: string;
  checks: GateCheck[];
  /** The rule comparisons used. */
  require?: 'point' | 'not_worse' | 'better';
  /** The metric per slice value, when gate.slices names columns. */
  slices?: SliceResult[];
  /** The intervals of the checks that have one, by check name (baseline, champion). */
  intervals?: Record<string, BootstrapInterval>;
}

export interface QualityGateInput {
  task: TaskKind;
  gate: GateSpec;
  candidate: Metrics;
  baseline: Metrics;
  /** The production model's metrics on the candidate's test split; null when there is none. */
  champion: Metrics | null;
  /** Why the champion could not be evaluated, when it exists but failed. */
  championError?: string | null;
  /** Paired bootstrap intervals of the candidate's gain over the baseline and production. */
  intervals?: { baseline?: BootstrapInterval | null; champion?: BootstrapInterval | null };
  slices?: SliceResult[];
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(4);
}

const signed = (x: number): string => `${x >= 0 ? '+' : ''}${fmt(x)}`;

/** "gain +0.0123 (95% CI +0.0050 to +0.0190)" */
export function fmtInterval(i: BootstrapInterval): string {
  return `gain ${signed(i.delta)} (95% CI ${signed(i.low)} to ${signed(i.high)})`;
}

export function evaluateQualityGate(input: QualityGateInput): QualityGateReport {
  const metric = input.gate.metric || DEFAULT_GATE_METRIC[input.task];
  const lower = lowerIsBetter(metric);
  const better = (a: number, b: number): boolean => (lower ? a < b : a > b);
  const atLeast = (a: number, b: number): boolean => (lower ? a <= b : a >= b);
  const checks: GateCheck[] = [];
  const value = input.candidate[metric];

  if (value === undefined || !Number.isFinite(value)) {
    const known = Object.keys(input.candidate).join(', ');
    checks.push({
      name: 'metric',
      metric,
      value: null,
      threshold: null,
      passed: false,
      message: `gate.metric "${metric}" is not a metric of this ${input.task} model; use one of: ${known}`,
    });
    return report(metric, checks);
  }

  if (input.gate.min !== undefined) {
    const passed = atLeast(value, input.gate.min);
    checks.push({
      name: 'absolute',
      metric,
      value,
      threshold: input.gate.min,
      passed,
      message: passed
        ? `${metric} ${fmt(value)} meets gate.min ${fmt(input.gate.min)}`
        : `${metric} ${fmt(value)} is ${lower ? 'above' : 'below'} the required gate.min ${fmt(input.gate.min)}; improve the model or the data, or lower gate.min`,
    });
  }

  const rule = input.gate.require ?? 'point';
  const base = input.baseline[metric];
  if (base !== undefined && Number.isFinite(base)) {
    const iv = input.intervals?.baseline ?? undefined;
    const byInterval = rule !== 'point' && iv !== undefined;
    const passed = byInterval ? iv.low > 0 : better(value, base);
    const ci = iv ? `; ${fmtInterval(iv)}` : '';
    checks.push({
      name: 'baseline',
      metric,
      value,
      threshold: base,
      passed,
      message: passed
        ? `${metric} ${fmt(value)} beats the naive baseline's ${fmt(base)}${ci}`
        : byInterval && better(value, base)
          ? `${metric} ${fmt(value)} is not surely better than the naive baseline's ${fmt(base)}: the 95% interval of the gain reaches ${signed(iv.low)} (gate.require ${rule})${ci}`
          : `${metric} ${fmt(value)} does not beat the naive baseline's ${fmt(base)}: the model has learned nothing useful; check features, epochs and learning rate${ci}`,
      ...(iv ? { interval: iv } : {}),
    });
  }

  if (input.champion) {
    const champ = input.champion[metric];
    if (champ !== undefined && Number.isFinite(champ)) {
      const threshold = lower ? champ + input.gate.maxRegression : champ - input.gate.maxRegression;
      const iv = input.intervals?.champion ?? undefined;
      const ci = iv ? `; ${fmtInterval(iv)}` : '';
      let passed: boolean;
      let message: string;
      if (rule === 'point' || !iv) {
        passed = atLeast(value, threshold);
        message = passed
          ? `${metric} ${fmt(value)} is within gate.maxRegression ${fmt(input.gate.maxRegression)} of production's ${fmt(champ)} on the same test split${ci}`
          : `${metric} ${fmt(value)} regresses more than gate.maxRegression ${fmt(input.gate.maxRegression)} from production's ${fmt(champ)} on the same test split${ci}`;
      } else if (rule === 'not_worse') {
        passed = iv.low >= -input.gate.maxRegression;
        message = passed
          ? `${metric} ${fmt(value)} is not worse than production's ${fmt(champ)}: the 95% interval of the gain stays above -gate.maxRegression ${fmt(input.gate.maxRegression)}${ci}`
          : `${metric} ${fmt(value)} may be worse than production's ${fmt(champ)}: the 95% interval of the gain reaches ${signed(iv.low)}, below -gate.maxRegression ${fmt(input.gate.maxRegression)} (gate.require not_worse)${ci}`;
      } else {
        passed = iv.low > 0;
        message = passed
          ? `${metric} ${fmt(value)} is better than production's ${fmt(champ)}: the 95% interval of the gain lies above 0${ci}`
          : `${metric} ${fmt(value)} is not surely better than production's ${fmt(champ)}: the 95% interval of the gain reaches ${signed(iv.low)} (gate.require better)${ci}`;
      }
      checks.push({ name: 'champion', metric, value, threshold, passed, message, ...(iv ? { interval: iv } : {}) });
    }
  } else if (input.championError) {
    checks.push({
      name: 'champion',
      metric,
      value,
      threshold: null,
      passed: true,
      message: `production model not compared: ${input.championError}`,
    });
  }
  const tolerance = input.gate.maxSliceRegression;
  if (tolerance !== undefined) {
    for (const s of input.slices ?? []) {
      if (s.gain === null || !Number.isFinite(s.gain) || s.gain >= -tolerance) continue;
      checks.push({
        name: 'slice',
        metric,
        value: s.candidate,
        threshold: s.champion,
        passed: false,
        message: `${metric} on ${s.column} = ${s.value} (${s.rows} rows) is ${fmt(s.candidate)} against production's ${fmt(s.champion!)}: worse by more than gate.maxSliceRegression ${fmt(tolerance)}`,
      });
    }
  }
  const intervals = Object.fromEntries(checks.filter((c) => c.interval).map((c) => [c.name, c.interval!]));
  return {
    ...report(metric, checks),
    require: rule,
    ...(Object.keys(intervals).length ? { intervals } : {}),
    ...(input.slices?.length ? { slices: input.slices } : {}),
  };
}

function report(metric: string, checks: GateCheck[]): QualityGateReport {
  const metrics: Record<string, number> = {};
  const thresholds: Record<string, number> = {};
  for (const c of checks) {
    if (c.value !== null) metrics[metric] = c.value;
    if (c.threshold !== null) thresholds[c.name] = c.threshold;
  }
  return {
    passed: checks.every((c) => c.passed),
    reasons: checks.filter((c) => !c.passed).map((c) => c.message),
    metrics,
    thresholds,
    metric,
    checks,
  };
}
