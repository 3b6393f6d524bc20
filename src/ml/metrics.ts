// Pure metric functions on plain arrays: no tfjs, no I/O. Used for validation during training,
// for the test-split evaluation and for the naive baseline, so all three are computed alike.
import type { Metrics } from '../types';

type Numbers = ArrayLike<number>;

/** Probabilities are clipped to [EPS, 1 - EPS] for log loss (as scikit-learn). */
export const LOG_LOSS_EPS = 1e-15;

function check(a: Numbers, b: Numbers, what: string): number {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} labels but ${b.length} predictions`);
  return a.length;
}

/**
 * Area under the ROC curve from ranks (Mann–Whitney U); tied scores share their average rank.
 * Undefined (NaN) when only one class is present.
 */
export function rocAuc(labels: Numbers, scores: Numbers): number {
  const n = check(labels, scores, 'rocAuc');
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const rank = (i + j) / 2 + 1; // average of the 1-based ranks i+1 .. j+1
    for (let k = i; k <= j; k++) {
      if (labels[order[k]!] === 1) {
        positives++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean negative log-likelihood of 0/1 labels under probabilities of the positive class. */
export function binaryLogLoss(labels: Numbers, probabilities: Numbers): number {
  const n = check(labels, probabilities, 'binaryLogLoss');
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(1 - LOG_LOSS_EPS, Math.max(LOG_LOSS_EPS, probabilities[i]!));
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return n === 0 ? Number.NaN : sum / n;
}

export function brierScore(labels: Numbers, probabilities: Numbers): number {
  const n = check(labels, probabilities, 'brierScore');
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (probabilities[i]! - labels[i]!) ** 2;
  return n === 0 ? Number.NaN : sum / n;
}

/** Bins of the expected calibration error: ten of equal width over [0, 1]. */
export const ECE_BINS = 10;

/**
 * Expected calibration error: how far predicted probabilities are from observed frequencies, the
 * sum over ten equal-width probability bins of (share of rows in the bin) × |observed rate − mean
 * probability|. 0 is perfectly calibrated. `hits[i]` is 1 when the event the probability is for
 * happened (the positive class; for several classes, the top class being right).
 */
export function expectedCalibrationError(hits: Numbers, probabilities: Numbers): number {
  const n = check(hits, probabilities, 'expectedCalibrationError');
  if (n === 0) return Number.NaN;
  const count = new Float64Array(ECE_BINS);
  const sumP = new Float64Array(ECE_BINS);
  const sumY = new Float64Array(ECE_BINS);
  for (let i = 0; i < n; i++) {
    const p = probabilities[i]!;
    const b = Math.min(ECE_BINS - 1, Math.max(0, Math.floor(p * ECE_BINS)));
    count[b]!++;
    sumP[b]! += p;
    sumY[b]! += hits[i]!;
  }
  let ece = 0;
  for (let b = 0; b < ECE_BINS; b++) if (count[b]! > 0) ece += Math.abs(sumY[b]! - sumP[b]!) / n;
  return ece;
}

export interface BinaryCounts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export function binaryCounts(labels: Numbers, probabilities: Numbers, threshold = 0.5): BinaryCounts {
  const n = check(labels, probabilities, 'binaryCounts');
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < n; i++) {
    const predicted = probabilities[i]! >= threshold;
    if (labels[i] === 1) {
      if (predicted) c.tp++;
      else c.fn++;
    } else if (predicted) c.fp++;
    else c.tn++;
  }
  return c;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/** accuracy, precision, recall and f1 of a confusion count. */
export function countMetrics(c: BinaryCounts): Metrics {
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  return {
    accuracy: ratio(c.tp + c.tn, c.tp + c.fp + c.tn + c.fn),
    precision,
    recall,
    f1: ratio(2 * precision * recall, precision + recall),
  };
}

/**
 * accuracy, precision, recall, f1 (at `threshold`), auc, logLoss, brier, ece. Precision/recall/F1 are 0
 * when undefined (no predicted / actual positives), as scikit-learn's zero_division=0. `auc` is
 * omitted when only one class is present (it is undefined, and NaN does not survive JSON).
 */
export function binaryMetrics(labels: Numbers, probabilities: Numbers, threshold = 0.5): Metrics {
  const metrics = countMetrics(binaryCounts(labels, probabilities, threshold));
  const auc = rocAuc(labels, probabilities);
  if (!Number.isNaN(auc)) metrics['auc'] = auc;
  metrics['logLoss'] = binaryLogLoss(labels, probabilities);
  metrics['brier'] = brierScore(labels, probabilities);
  metrics['ece'] = expectedCalibrationError(labels, probabilities);
  return metrics;
}

/** What a decision threshold is chosen to maximise. */
export type ThresholdObjective = 'f1' | 'accuracy';

/**
 * The threshold t (predict positive when p >= t) that maximises F1 or accuracy on these labels:
 * one sweep over the distinct probabilities, highest first. 0.5 when there is nothing to choose
 * from (no rows, or one class only for F1). Ties go to the threshold nearest 0.5.
 */
export function bestThreshold(labels: Numbers, probabilities: Numbers, objective: ThresholdObjective): number {
  const n = check(labels, probabilities, 'bestThreshold');
  let positives = 0;
  for (let i = 0; i < n; i++) if (labels[i] === 1) positives++;
  if (n === 0 || (objective === 'f1' && positives === 0)) return 0.5;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => probabilities[b]! - probabilities[a]!);
  let tp = 0;
  let fp = 0;
  let best = 0.5;
  const at = binaryCounts(labels, probabilities, 0.5);
  let bestScore = objective === 'f1' ? ratio(2 * at.tp, 2 * at.tp + at.fp + at.fn) : (at.tp + at.tn) / n;
  for (let k = 0; k < n; ) {
    const t = probabilities[order[k]!]!;
    // every row with this probability goes positive together
    while (k < n && probabilities[order[k]!]! === t) {
      if (labels[order[k]!] === 1) tp++;
      else fp++;
      k++;
    }
    const fn = positives - tp;
    const tn = n - positives - fp;
    const score = objective === 'f1' ? ratio(2 * tp, 2 * tp + fp + fn) : (tp + tn) / n;
    if (score > bestScore || (score === bestScore && Math.abs(t - 0.5) < Math.abs(best - 0.5))) {
      best = t;
      bestScore = score;
    }
  }
  return best;
}

/** Index of the largest probability in each row of a rows × k matrix (first one on ties). */
export function argmaxRows(probabilities: Numbers, k: number): Int32Array {
  const n = Math.floor(probabilities.length / k);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probabilities[i * k + j]! > probabilities[i * k + best]!) best = j;
    out[i] = best;
  }
  return out;
}

/** confusion[true][predicted] */
export function confusionMatrix(labels: Numbers, predicted: Numbers, k: number): number[][] {
  check(labels, predicted, 'confusionMatrix');
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]!]![predicted[i]!]!++;
  return m;
}

export interface MulticlassResult {
  metrics: Metrics;
  /** recall of each class that occurs in the labels, by class name */
  perClassRecall: Record<string, number>;
  confusionMatrix: number[][];
}

/**
 * accuracy, macroF1 (over the classes present in labels or predictions, as scikit-learn) and
 * logLoss, from a rows × k probability matrix; plus per-class recall and the confusion matrix.
 */
export function multiclassMetrics(
  labels: Numbers,
  probabilities: Numbers,
  classes: readonly string[],
): MulticlassResult {
  const k = classes.length;
  if (probabilities.length !== labels.length * k)
    throw new Error(
      `multiclassMetrics: ${labels.length} labels but ${probabilities.length / k} rows of ${k} probabilities`,
    );
  const predicted = argmaxRows(probabilities, k);
  const cm = confusionMatrix(labels, predicted, k);
  const n = labels.length;
  let correct = 0;
  let logLoss = 0;
  const hits = new Float64Array(n);
  const confidence = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    hits[i] = predicted[i] === labels[i] ? 1 : 0;
    confidence[i] = probabilities[i * k + predicted[i]!]!;
    correct += hits[i]!;
    const p = Math.min(1 - LOG_LOSS_EPS, Math.max(LOG_LOSS_EPS, probabilities[i * k + labels[i]!]!));
    logLoss -= Math.log(p);
  }
  const perClassRecall: Record<string, number> = {};
  let f1Sum = 0;
  let present = 0;
  for (let c = 0; c < k; c++) {
    const tp = cm[c]![c]!;
    const actual = cm[c]!.reduce((a, b) => a + b, 0);
    const predictedC = cm.reduce((a, row) => a + row[c]!, 0);
    if (actual > 0) perClassRecall[classes[c]!] = tp / actual;
    if (actual === 0 && predictedC === 0) continue;
    present++;
    const precision = ratio(tp, predictedC);
    const recall = ratio(tp, actual);
    f1Sum += ratio(2 * precision * recall, precision + recall);
  }
  return {
    metrics: {
      accuracy: ratio(correct, n),
      macroF1: ratio(f1Sum, present),
      logLoss: n === 0 ? Number.NaN : logLoss / n,
      // top-label calibration: the top class's probability against how often it is right
      ece: expectedCalibrationError(hits, confidence),
    },
    perClassRecall,
    confusionMatrix: cm,
  };
}

/** rmse, mae and r2 (1 - SSres/SStot; when the labels are constant: 1 if exact, else 0). */
export function regressionMetrics(actual: Numbers, predicted: Numbers): Metrics {
  const n = check(actual, predicted, 'regressionMetrics');
  if (n === 0) return { rmse: Number.NaN, mae: Number.NaN, r2: Number.NaN };
  let mean = 0;
  for (let i = 0; i < n; i++) mean += actual[i]!;
  mean /= n;
  let se = 0;
  let ae = 0;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = actual[i]! - predicted[i]!;
    se += d * d;
    ae += Math.abs(d);
    ss += (actual[i]! - mean) ** 2;
  }
  return { rmse: Math.sqrt(se / n), mae: ae / n, r2: ss === 0 ? (se === 0 ? 1 : 0) : 1 - se / ss };
}
