// The validation gate ("blessing"): the candidate against an absolute threshold, the naive
// baseline and the current production model re-evaluated on the candidate's own test split.
// Pure: it returns a verdict; the workflow decides.

import type { GateReport, GateSpec, Metrics, TaskKind } from './types';

/** Metrics where lower is better; every other metric is higher-is-better. */
const LOWER_IS_BETTER = new Set(['rmse', 'mae', 'logLoss', 'brier', 'ece']);

export const DEFAULT_GATE_METRIC: Record<TaskKind, string> = { binary: 'auc', multiclass: 'macroF1', regression: 'r2' };

export function lowerIsBetter(metric: string): boolean {
  return LOWER_IS_BETTER.has(metric);
}

export interface GateCheck {
  name: 'absolute' | 'baseline' | 'champion' | 'metric';
  metric: string;
  value: number | null;
  threshold: number | null;
  passed: boolean;
  message: string;
}

export interface QualityGateReport extends GateReport {
  metric: string;
  checks: GateCheck[];
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
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(4);
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

  const base = input.baseline[metric];
  if (base !== undefined && Number.isFinite(base)) {
    const passed = better(value, base);
    checks.push({
      name: 'baseline',
      metric,
      value,
      threshold: base,
      passed,
      message: passed
        ? `${metric} ${fmt(value)} beats the naive baseline's ${fmt(base)}`
        : `${metric} ${fmt(value)} does not beat the naive baseline's ${fmt(base)}: the model has learned nothing useful; check features, epochs and learning rate`,
    });
  }

  if (input.champion) {
    const champ = input.champion[metric];
    if (champ !== undefined && Number.isFinite(champ)) {
      const threshold = lower ? champ + input.gate.maxRegression : champ - input.gate.maxRegression;
      const passed = atLeast(value, threshold);
      checks.push({
        name: 'champion',
        metric,
        value,
        threshold,
        passed,
        message: passed
          ? `${metric} ${fmt(value)} is within gate.maxRegression ${fmt(input.gate.maxRegression)} of production's ${fmt(champ)} on the same test split`
          : `${metric} ${fmt(value)} regresses more than gate.maxRegression ${fmt(input.gate.maxRegression)} from production's ${fmt(champ)} on the same test split`,
      });
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
  return report(metric, checks);
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
