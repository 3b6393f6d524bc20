// Canary analysis, Flagger-style: after each step the canary's live window is compared with the
// champion's. Pure: it returns a verdict; the canaryRollout workflow decides.

import type { CanarySpec, GateReport } from '../types';

/** Live figures of one version over the analysis window (from the production server). */
export interface VersionWindow {
  requests: number;
  errors: number;
  errorRate: number;
  p99Ms: number;
  /** Live accuracy from feedback; null until labels arrive. */
  accuracy: number | null;
  /** Labelled predictions behind `accuracy`. */
  labelled: number;
}

export interface CanaryStepReport extends GateReport {
  percent: number;
  requests: number;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/** The traffic split for a step: the canary gets `percent`, the champion the rest. */
export function stepWeights(champion: number, canary: number, percent: number): Record<string, number> {
  if (percent >= 100) return { [String(canary)]: 100 };
  return { [String(champion)]: 100 - percent, [String(canary)]: percent };
}

export function analyseCanaryStep(
  spec: Pick<CanarySpec, 'minRequestsPerStep' | 'maxErrorRate' | 'maxP99Ms' | 'maxMetricDrop'>,
  percent: number,
  canary: VersionWindow,
  champion: VersionWindow | null,
): CanaryStepReport {
  const reasons: string[] = [];
  if (canary.requests < spec.minRequestsPerStep) {
    reasons.push(
      `only ${canary.requests} requests reached the canary at ${percent}% (canary.minRequestsPerStep ${spec.minRequestsPerStep}); not enough evidence to go on`,
    );
  }
  if (canary.errorRate > spec.maxErrorRate) {
    reasons.push(`canary error rate ${pct(canary.errorRate)} is above canary.maxErrorRate ${pct(spec.maxErrorRate)}`);
  }
  if (canary.requests > 0 && canary.p99Ms > spec.maxP99Ms) {
    reasons.push(`canary p99 latency ${canary.p99Ms.toFixed(1)} ms is above canary.maxP99Ms ${spec.maxP99Ms} ms`);
  }
  let drop: number | null = null;
  if (champion && canary.accuracy !== null && champion.accuracy !== null) {
    drop = champion.accuracy - canary.accuracy;
    if (drop > spec.maxMetricDrop) {
      reasons.push(
        `canary live accuracy ${canary.accuracy.toFixed(4)} is ${drop.toFixed(4)} below the champion's ${champion.accuracy.toFixed(4)} (canary.maxMetricDrop ${spec.maxMetricDrop})`,
      );
    }
  }
  const metrics: Record<string, number> = {
    requests: canary.requests,
    errorRate: canary.errorRate,
    p99Ms: canary.p99Ms,
  };
  if (canary.accuracy !== null) metrics.accuracy = canary.accuracy;
  if (drop !== null) metrics.accuracyDrop = drop;
  if (champion) {
    metrics.championRequests = champion.requests;
    metrics.championErrorRate = champion.errorRate;
    metrics.championP99Ms = champion.p99Ms;
  }
  return {
    passed: reasons.length === 0,
    reasons,
    metrics,
    thresholds: {
      minRequestsPerStep: spec.minRequestsPerStep,
      maxErrorRate: spec.maxErrorRate,
      maxP99Ms: spec.maxP99Ms,
      maxMetricDrop: spec.maxMetricDrop,
    },
    percent,
    requests: canary.requests,
  };
}
