// Paired bootstrap of a metric difference on one test split: the same resampled rows score both
// models, so the interval is of the gain itself, not of two noisy figures compared afterwards.
import { Mulberry32 } from '../policy/random';
import type { Metrics, TaskKind } from '../types';
import type { TestOutputs } from './evaluate';
import { binaryCounts, binaryLogLoss, brierScore, countMetrics, expectedCalibrationError, multiclassMetrics, regressionMetrics } from './metrics';

/** A model's score on a resample, given how many times each row was drawn. */
export type ResampleScorer = (counts: Uint32Array) => number;

export interface BootstrapInterval {
  /** The gain (candidate − other) on the full split; for lower-is-better metrics, other − candidate. */
  delta: number;
  /** The 2.5% and 97.5% percentiles of the gain over the resamples. */
  low: number;
  high: number;
  resamples: number;
}

/** Rows drawn with replacement, as counts per row; one generator for the whole bootstrap. */
function drawCounts(n: number, rng: Mulberry32, out: Uint32Array): Uint32Array {
  out.fill(0);
  for (let i = 0; i < n; i++) out[Math.floor(rng.next() * n)]!++;
  return out;
}

/**
 * The 95% interval of scoreA − scoreB (or B − A when lower is better, so a positive gain always
 * means A is better) over `resamples` paired resamples of the n rows.
 */
export function pairedBootstrap(
  n: number,
  scoreA: ResampleScorer,
  scoreB: ResampleScorer,
  options: { resamples: number; seed: number; lowerIsBetter: boolean },
): BootstrapInterval {
  const sign = options.lowerIsBetter ? -1 : 1;
  const all = new Uint32Array(n).fill(1);
  const delta = sign * (scoreA(all) - scoreB(all));
  const rng = new Mulberry32(options.seed);
  const counts = new Uint32Array(n);
  const gains: number[] = [];
  for (let r = 0; r < options.resamples; r++) {
    drawCounts(n, rng, counts);
    const g = sign * (scoreA(counts) - scoreB(counts));
    if (Number.isFinite(g)) gains.push(g);
  }
  gains.sort((a, b) => a - b);
  const at = (q: number): number => (gains.length ? gains[Math.min(gains.length - 1, Math.max(0, Math.floor(q * (gains.length - 1))))]! : Number.NaN);
  return { delta, low: at(0.025), high: at(0.975), resamples: gains.length };
}

/** ROC AUC with row weights, O(n) per call after one sort: ties count one half. */
export function weightedAucScorer(labels: ArrayLike<number>, scores: ArrayLike<number>): ResampleScorer {
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  return (w) => {
    let negBelow = 0;
    let sum = 0;
    let pos = 0;
    for (let k = 0; k < order.length; ) {
      const s = scores[order[k]!]!;
      let p = 0;
      let q = 0;
      for (; k < order.length && scores[order[k]!]! === s; k++) {
        const i = order[k]!;
        if (labels[i] === 1) p += w[i]!;
        else q += w[i]!;
      }
      sum += p * (negBelow + q / 2);
      negBelow += q;
      pos += p;
    }
    return pos === 0 || negBelow === 0 ? Number.NaN : sum / (pos * negBelow);
  };
}

/** Expands counts into the drawn row indices. */
function drawnRows(counts: Uint32Array): Uint32Array {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  const rows = new Uint32Array(total);
  let k = 0;
  for (let i = 0; i < counts.length; i++) for (let c = counts[i]!; c > 0; c--) rows[k++] = i;
  return rows;
}

/**
 * A scorer of one metric of the task over (a resample of) the test rows: `outputs` are the model's
 * raw outputs (rows × units), `labels` the encoded targets (regression: the original values, with
 * `predictions` in original units). Unknown metrics give NaN.
 */
export function metricScorer(
  task: TaskKind,
  metric: string,
  labels: ArrayLike<number>,
  outputs: ArrayLike<number>,
  options: { threshold?: number; classes?: string[] } = {},
): ResampleScorer {
  if (task === 'binary' && metric === 'auc') return weightedAucScorer(labels, outputs);
  const units = task === 'multiclass' ? (options.classes?.length ?? 1) : 1;
  return (counts) => {
    const rows = drawnRows(counts);
    const y = Float64Array.from(rows, (i) => labels[i]!);
    const out = new Float64Array(rows.length * units);
    for (let r = 0; r < rows.length; r++) for (let u = 0; u < units; u++) out[r * units + u] = outputs[rows[r]! * units + u]!;
    return pick(task, metric, y, out, options)[metric] ?? Number.NaN;
  };
}

function pick(task: TaskKind, metric: string, y: Float64Array, out: Float64Array, options: { threshold?: number; classes?: string[] }): Metrics {
  if (task === 'regression') return regressionMetrics(y, out);
  if (task === 'multiclass') return multiclassMetrics(y, out, options.classes ?? []).metrics;
  switch (metric) {
    case 'logLoss':
      return { logLoss: binaryLogLoss(y, out) };
    case 'brier':
      return { brier: brierScore(y, out) };
    case 'ece':
      return { ece: expectedCalibrationError(y, out) };
    default:
      return countMetrics(binaryCounts(y, out, options.threshold ?? 0.5));
  }
}

const scorerOf = (o: TestOutputs, metric: string): ResampleScorer =>
  metricScorer(o.task, metric, o.labels, o.outputs, { threshold: o.threshold, ...(o.classes ? { classes: o.classes } : {}) });

/** The candidate's gain over another model (or the baseline) on the same test rows, with its 95% interval. */
export function compareOutputs(
  candidate: TestOutputs,
  other: TestOutputs,
  metric: string,
  options: { resamples: number; seed: number; lowerIsBetter: boolean },
): BootstrapInterval | null {
  if (candidate.rows !== other.rows || candidate.rows === 0) return null;
  return pairedBootstrap(candidate.rows, scorerOf(candidate, metric), scorerOf(other, metric), options);
}

/** The metric on the rows of one value of a categorical column: the candidate's, the champion's, the gain. */
export interface SliceResult {
  column: string;
  value: string;
  rows: number;
  candidate: number;
  champion: number | null;
  /** candidate − champion, signed so that positive is better; null without a champion. */
  gain: number | null;
}

/** The metric per value of `column`, for its `top` most frequent values with at least `minRows` rows. */
export function sliceMetrics(
  candidate: TestOutputs,
  champion: TestOutputs | null,
  column: string,
  metric: string,
  options: { top: number; minRows: number; lowerIsBetter: boolean },
): SliceResult[] {
  const values = candidate.categories[column];
  if (!values) return [];
  const frequency = new Map<string, number>();
  for (const v of values) frequency.set(v, (frequency.get(v) ?? 0) + 1);
  const chosen = [...frequency.entries()]
    .filter(([, n]) => n >= options.minRows)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, options.top);
  const a = scorerOf(candidate, metric);
  const b = champion && champion.rows === candidate.rows ? scorerOf(champion, metric) : null;
  const sign = options.lowerIsBetter ? -1 : 1;
  return chosen.map(([value, rows]) => {
    const mask = Uint32Array.from(values, (v) => (v === value ? 1 : 0));
    const c = a(mask);
    const p = b ? b(mask) : null;
    return { column, value, rows, candidate: c, champion: p, gain: p === null ? null : sign * (c - p) };
  });
}
