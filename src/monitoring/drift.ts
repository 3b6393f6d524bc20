// Drift of live traffic against the training data profile of a model. Pure and Temporal-free: a
// streaming accumulator takes logged rows and predictions one at a time (typed-array counters and
// a binary search over bin edges per value, nothing kept per row) and `report()` returns a verdict;
// the caller (CLI, driftMonitor workflow) decides what to do with it.
//
// Per numeric feature: PSI over the training decile bins (with their exact training shares, ties
// included) and the KS statistic against the training CDF; per categorical feature: PSI and the
// Jensen–Shannon distance over the training top-k values plus "other" (split in two: values the
// profile lists beyond the top k, and values it never saw, so new categories stand out). Missing
// values are a bin of their own. PSI decides: a feature drifts when its PSI exceeds `psiThreshold`;
// KS and JS are reported beside it, each flagged against its own threshold, but they do not vote.
import { KaizenError } from '../errors';
import type { Prediction } from '../ml/bundle';
import { ByteTable } from './byte-table';
import type { CategoricalProfile, ColumnProfile, DatasetProfile, NumericProfile, TaskKind } from '../types';

export const INSUFFICIENT_DATA = 'insufficient data';
/** A verdict: drifted or not, or too few samples to say (never an alarm). */
export type DriftVerdict = boolean | typeof INSUFFICIENT_DATA;

export interface DriftOptions {
  /** A feature drifts when its PSI exceeds this. */
  psiThreshold: number;
  /** The dataset drifts when at least this share of the evaluated features drift. */
  datasetShare: number;
  /** Below this many logged rows the verdict is "insufficient data". */
  minSamples: number;
  /** KS statistic flag for numeric features (reported; PSI decides). */
  ksThreshold: number;
  /** Jensen–Shannon distance (base 2, 0…1) flag for categorical features (reported; PSI decides). */
  jsThreshold: number;
  /** Categorical bins: the training's `topK` most frequent values, then "other", "unseen", missing. */
  topK: number;
  /**
   * Shares below this are raised to it before PSI is computed: an empty bin on either side would
   * otherwise make ln(a/e) infinite. 1e-4 caps one empty bin's term at about e·9.2.
   */
  epsilon: number;
  /** Classification: PSI of the mean predicted class probabilities against the training class shares. */
  predictionPsiThreshold: number;
  /** Regression: |mean prediction − mean training target| in training-target standard deviations. */
  predictionShiftThreshold: number;
  /** Live accuracy may fall this much (absolute) below the test accuracy before it is an alarm. */
  maxAccuracyDrop: number;
  /** Below this many labelled predictions the accuracy verdict is "insufficient data". */
  minLabelled: number;
}

export const DEFAULT_DRIFT_OPTIONS: DriftOptions = {
  psiThreshold: 0.1,
  datasetShare: 0.3,
  minSamples: 500,
  ksThreshold: 0.1,
  jsThreshold: 0.1,
  topK: 20,
  epsilon: 1e-4,
  predictionPsiThreshold: 0.1,
  predictionShiftThreshold: 0.25,
  maxAccuracyDrop: 0.05,
  minLabelled: 100,
};

/** Drift options from a workflow's or a schedule's `thresholds`: only known numeric thresholds, each named when wrong. */
export function driftOptionsFrom(thresholds: Record<string, number> | undefined): Partial<DriftOptions> {
  const out: Partial<DriftOptions> = {};
  for (const [k, v] of Object.entries(thresholds ?? {})) {
    if (!(k in DEFAULT_DRIFT_OPTIONS)) {
      throw new KaizenError('SpecInvalid', `thresholds.${k}: unknown drift threshold (known: ${Object.keys(DEFAULT_DRIFT_OPTIONS).join(', ')})`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new KaizenError('SpecInvalid', `thresholds.${k}: expected a non-negative number`);
    (out as Record<string, number>)[k] = v;
  }
  return out;
}

export type DriftTest = 'psi' | 'ks' | 'js';

export interface FeatureDrift {
  name: string;
  kind: 'numeric' | 'categorical';
  test: DriftTest;
  score: number;
  threshold: number;
  /** Score above threshold (always false with insufficient data). Only the `psi` entry decides. */
  drifted: boolean;
}

export interface PredictionDrift {
  task: TaskKind | null;
  test: 'psi' | 'mean_shift' | null;
  /** What the live predictions are compared with, in words. */
  reference: string;
  /** Predictions of the model itself (fallback answers are left out). */
  samples: number;
  score: number | null;
  threshold: number | null;
  drifted: DriftVerdict;
  /** Training side: class shares, or the target's mean and std. */
  expected: Record<string, number>;
  /** Live side: mean predicted probability per class, or the predictions' mean and std. */
  observed: Record<string, number>;
  /** Classification: share of each predicted label. */
  labels?: Record<string, number>;
}

export interface AccuracyDrift {
  labelled: number;
  correct: number;
  live: number;
  test: number;
  drop: number;
  threshold: number;
  drifted: DriftVerdict;
}

export interface DriftThresholds {
  psi: number;
  ks: number;
  js: number;
  datasetShare: number;
  minSamples: number;
  epsilon: number;
  topK: number;
  predictionPsi: number;
  predictionShift: number;
  maxAccuracyDrop: number;
  minLabelled: number;
  /** The test whose verdict counts a feature as drifted. */
  decidedBy: 'psi';
}

export interface DriftReport {
  model: string;
  version: number | null;
  window: { from: string; to: string };
  /** Logged rows (instances) in the window. */
  samples: number;
  /** The dataset verdict. */
  drifted: DriftVerdict;
  /** Share of the evaluated features whose PSI exceeds the threshold; null with insufficient data. */
  driftedShare: number | null;
  driftedFeatures: string[];
  thresholds: DriftThresholds;
  /** One entry per feature and test: psi + ks (numeric), psi + js (categorical). */
  features: FeatureDrift[];
  /** Profiled features that could not be compared, and why (e.g. never logged: a sensitive column). */
  skipped: { name: string; reason: string }[];
  prediction: PredictionDrift;
  accuracy: AccuracyDrift | null;
  /** Sentences a person can act on. */
  reasons: string[];
  /** What was read of the prediction log (set by checkDrift). */
  log?: { objects: number; records: number; rows: number; unreadable: number };
}

// ---------------------------------------------------------------------------------------------
// The statistics
// ---------------------------------------------------------------------------------------------

/**
 * Population stability index Σ (a − e)·ln(a / e) of live shares `actual` against reference shares
 * `expected`; every share is first raised to `epsilon` so empty bins stay finite.
 */
export function psi(
  expected: ArrayLike<number>,
  actual: ArrayLike<number>,
  epsilon = DEFAULT_DRIFT_OPTIONS.epsilon,
): number {
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]!, epsilon);
    const a = Math.max(actual[i] ?? 0, epsilon);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/** Jensen–Shannon distance (the square root of the divergence, base 2: 0 same, 1 disjoint). */
export function jsDistance(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]!;
    const b = q[i] ?? 0;
    const m = (a + b) / 2;
    if (a > 0) divergence += 0.5 * a * Math.log2(a / m);
    if (b > 0) divergence += 0.5 * b * Math.log2(b / m);
  }
  return Math.sqrt(Math.max(0, Math.min(1, divergence)));
}

/** KS statistic: the largest gap between two CDFs known at the same points. */
export function ksStatistic(expectedCdf: ArrayLike<number>, actualCdf: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < expectedCdf.length; i++)
    d = Math.max(d, Math.abs(expectedCdf[i]! - (actualCdf[i] ?? 0)));
  return d;
}

// ---------------------------------------------------------------------------------------------
// References: the training side of each feature, as bins the live values are counted into
// ---------------------------------------------------------------------------------------------

/**
 * A numeric feature's bins: `cuts` split the line into cuts.length + 1 fine bins, closed on the
 * right ((c[i-1], c[i]], as the profile's `bins`/`cdf`) or on the left ([c[i-1], c[i]), as its
 * histogram). The training CDF is known exactly at every cut; PSI groups fine bins into deciles.
 */
export interface NumericReference {
  name: string;
  kind: 'numeric';
  cuts: Float64Array;
  rightClosed: boolean;
  /** Training share of non-missing values <= (right-closed) or < (left-closed) each cut. */
  cdf: Float64Array;
  /** PSI bin of each fine bin. */
  group: Uint16Array;
  /** Training share of all rows in each PSI bin, then of the missing values (last). */
  shares: Float64Array;
}

export interface CategoricalReference {
  name: string;
  kind: 'categorical';
  /** How many values have bins of their own (the training's most frequent ones). */
  top: number;
  /** Every value the profile lists → its bin: its own for the first `top`, else "other". */
  index: Map<string, number>;
  /**
   * Training share of all rows per bin: each top value, "other" (listed in the profile beyond the
   * top), "unseen" (not listed at all: new categories land here), missing.
   */
  shares: Float64Array;
}

export type FeatureReference = NumericReference | CategoricalReference;

const isNumericProfile = (c: ColumnProfile): c is NumericProfile =>
  c.kind === 'numeric' || c.kind === 'boolean' || c.kind === 'timestamp';

/** PSI bins from fine bins without recorded deciles: adjacent bins merged up to about a tenth each. */
function mergeToDeciles(fine: number[]): Uint16Array {
  const group = new Uint16Array(fine.length);
  let g = 0;
  let filled = 0;
  fine.forEach((s, i) => {
    if (filled >= 0.1 - 1e-9) {
      g++;
      filled = 0;
    }
    group[i] = g;
    filled += s;
  });
  // a thin last bin joins the one before it
  if (g > 0 && filled < 0.05) for (let i = 0; i < group.length; i++) if (group[i] === g) group[i] = g - 1;
  return group;
}

/**
 * The reference of a numeric column: the profile's exact decile bins and percentile CDF when it has
 * them; else (profiles made before drift detection) its histogram, whose counts are exact too.
 */
export function numericReference(p: NumericProfile): NumericReference | null {
  const rows = p.count + p.missing;
  if (p.count <= 0 || rows <= 0) return null;
  const known = new Map<number, number>();
  let rightClosed = true;
  if (p.cdf && p.cdf.values.length > 0) p.cdf.values.forEach((v, i) => known.set(v, p.cdf!.shares[i] ?? 0));
  if (p.bins && p.bins.edges.length > 0) {
    let cum = 0;
    p.bins.edges.forEach((e, i) => {
      cum += p.bins!.shares[i] ?? 0;
      if (!known.has(e)) known.set(e, cum);
    });
  }
  if (known.size === 0) {
    const { edges, counts } = p.histogram;
    const total = counts.reduce((a, b) => a + b, 0);
    if (edges.length < 2 || total <= 0) return null;
    rightClosed = false;
    let below = 0;
    for (let i = 1; i < edges.length - 1; i++) {
      below += counts[i - 1] ?? 0;
      known.set(edges[i]!, below / total);
    }
  }
  const cuts = Float64Array.from([...known.keys()].sort((a, b) => a - b));
  const cdf = Float64Array.from(cuts, (c) => Math.min(1, Math.max(0, known.get(c)!)));
  const fine: number[] = [];
  let previous = 0;
  for (const f of cdf) {
    fine.push(Math.max(0, f - previous));
    previous = Math.max(previous, f);
  }
  fine.push(Math.max(0, 1 - previous));

  let group: Uint16Array;
  if (p.bins && p.bins.edges.length > 0) {
    const edges = new Set(p.bins.edges);
    group = new Uint16Array(fine.length);
    let g = 0;
    for (let i = 0; i < fine.length; i++) {
      group[i] = g;
      if (i < cuts.length && edges.has(cuts[i]!)) g++;
    }
  } else {
    group = mergeToDeciles(fine);
  }
  const groups = (group[group.length - 1] ?? 0) + 1;
  const present = p.count / rows;
  const shares = new Float64Array(groups + 1);
  fine.forEach((s, i) => (shares[group[i]!]! += s * present));
  shares[groups] = p.missing / rows;
  return { name: p.name, kind: 'numeric', cuts, rightClosed, cdf, group, shares };
}

/**
 * The reference of a categorical column: its `topK` most frequent training values, "other" (the
 * rest of the values the profile lists), "unseen" (values it does not list, its long tail) and missing.
 */
export function categoricalReference(p: CategoricalProfile, topK: number): CategoricalReference | null {
  const rows = p.count + p.missing;
  if (rows <= 0) return null;
  const top = Math.min(Math.max(0, topK), p.top.length);
  const index = new Map<string, number>();
  const shares = new Float64Array(top + 3);
  let listed = 0;
  p.top.forEach((t, i) => {
    if (index.has(t.value)) return;
    const bin = i < top ? i : top;
    index.set(t.value, bin);
    shares[bin]! += t.count / rows;
    listed += t.count;
  });
  shares[top + 1] = Math.max(0, p.count - listed) / rows;
  shares[top + 2] = p.missing / rows;
  return { name: p.name, kind: 'categorical', top, index, shares };
}

// ---------------------------------------------------------------------------------------------
// The accumulator
// ---------------------------------------------------------------------------------------------

/** Index of the fine bin holding `x`: a binary search over the cuts. */
function binOf(cuts: Float64Array, rightClosed: boolean, x: number): number {
  let lo = 0;
  let hi = cuts.length;
  if (rightClosed) {
    // the number of cuts < x
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cuts[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
  } else {
    // the number of cuts <= x
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cuts[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
  }
  return lo;
}

function toNumber(value: unknown, timestamp: boolean): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    // timestamps are profiled as seconds since the epoch
    if (timestamp) {
      const ms = Date.parse(value);
      return Number.isNaN(ms) ? Number(value) : ms / 1000;
    }
    return value.trim() === '' ? NaN : Number(value);
  }
  return NaN;
}

const toCategory = (value: unknown): string =>
  typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);

interface NumericColumn {
  kind: 'numeric';
  ref: NumericReference;
  timestamp: boolean;
  /** Live counts per fine bin. */
  counts: Float64Array;
  missing: number;
  present: number;
}

interface CategoricalColumn {
  kind: 'categorical';
  ref: CategoricalReference;
  /** The reference's index, probed with bytes. */
  bytes: ByteTable;
  /** Live counts per bin of the reference (top values, other, unseen, missing). */
  counts: Float64Array;
  present: number;
}

type Column = NumericColumn | CategoricalColumn;

export interface ReportMeta {
  model: string;
  version: number | null;
  window: { from: string; to: string };
  /** Live feedback joined to predictions (classification). */
  feedback?: { labelled: number; correct: number } | null;
  /** The model's accuracy on its test split, the yardstick for the live accuracy. */
  testAccuracy?: number | null;
}

/** What the accumulator reads of a prediction-log record. */
export interface LoggedRecord {
  fallback?: boolean;
  instances: readonly Record<string, unknown>[];
  predictions: readonly Prediction[];
}

/**
 * Counts live rows and predictions into the bins of a training profile. Memory is fixed by the
 * profile (a few hundred counters per feature) whatever the number of rows. Besides rows and
 * predictions as JS values, it takes values column by column (`featureId`, `addNumber`,
 * `addCategoryBytes`…): the log scanner feeds it that way straight from the bytes.
 */
export class DriftAccumulator {
  readonly options: DriftOptions;
  private readonly columns: Column[] = [];
  private readonly featureIds: ByteTable;
  private readonly skipped: { name: string; reason: string }[] = [];
  private rows = 0;

  // predictions
  private readonly task: TaskKind | null;
  private readonly classes: string[];
  private readonly classIndex: Map<string, number>;
  private readonly classIds: ByteTable;
  private readonly probabilitySums: Float64Array;
  private readonly classCounts: Float64Array;
  /** Predicted labels that are not classes of the profile. */
  private readonly otherLabels = new Map<string, number>();
  private predictions = 0;
  private positiveSum = 0;
  private positiveLabel: string | null = null;
  private negativeLabel: string | null = null;
  private valueSum = 0;
  private valueSumSq = 0;
  private readonly valueShift: number;

  constructor(
    private readonly profile: DatasetProfile,
    options: Partial<DriftOptions> = {},
    /** Compare only these features (e.g. the model's inputs); default every profiled column. */
    features?: readonly string[],
  ) {
    this.options = { ...DEFAULT_DRIFT_OPTIONS, ...options };
    const wanted = features ? new Set(features) : null;
    for (const c of profile.columns) {
      if (wanted && !wanted.has(c.name)) continue;
      if (isNumericProfile(c)) {
        const ref = numericReference(c);
        if (!ref) this.skipped.push({ name: c.name, reason: 'the training profile has no values for it' });
        else
          this.columns.push({
            kind: 'numeric',
            ref,
            timestamp: c.kind === 'timestamp',
            counts: new Float64Array(ref.cuts.length + 1),
            missing: 0,
            present: 0,
          });
      } else {
        const ref = categoricalReference(c, this.options.topK);
        if (!ref) this.skipped.push({ name: c.name, reason: 'the training profile has no rows for it' });
        else
          this.columns.push({
            kind: 'categorical',
            ref,
            bytes: new ByteTable(ref.index),
            counts: new Float64Array(ref.shares.length),
            present: 0,
          });
      }
    }
    this.featureIds = new ByteTable(this.columns.map((c, i) => [c.ref.name, i] as const));
    const classes = profile.label.classes;
    this.classes = classes ? Object.keys(classes) : [];
    this.classIndex = new Map(this.classes.map((c, i) => [c, i]));
    this.classIds = new ByteTable(this.classIndex);
    this.probabilitySums = new Float64Array(this.classes.length);
    this.classCounts = new Float64Array(this.classes.length);
    this.task = classes
      ? this.classes.length === 2
        ? 'binary'
        : 'multiclass'
      : profile.label.numeric
        ? 'regression'
        : null;
    this.valueShift = profile.label.numeric?.mean ?? 0;
  }

  // --- rows -------------------------------------------------------------------------------------

  /** One logged row: feature name → value. A feature absent from the row is not counted; null is missing. */
  addRow(row: Readonly<Record<string, unknown>>): void {
    this.rows++;
    const cols = this.columns;
    for (let i = 0; i < cols.length; i++) {
      const v = row[cols[i]!.ref.name];
      if (v !== undefined) this.addValue(i, v);
    }
  }

  addRows(rows: readonly Readonly<Record<string, unknown>>[]): void {
    for (const r of rows) this.addRow(r);
  }

  /** Counts `n` logged rows whose values come column by column. */
  addRowCount(n: number): void {
    this.rows += n;
  }

  /** The column of a feature name given as bytes (and their hashBytes), or -1 when it is not compared. */
  featureId(buf: Uint8Array, start: number, end: number, hash: number): number {
    return this.featureIds.get(buf, start, end, hash);
  }

  featureIdOf(name: string): number {
    return this.featureIds.getString(name);
  }

  isNumeric(column: number): boolean {
    return this.columns[column]!.kind === 'numeric';
  }

  /** A JS value of a column, as in a row. */
  addValue(column: number, v: unknown): void {
    const c = this.columns[column]!;
    if (v === null) this.addMissing(column);
    else if (c.kind === 'numeric')
      this.addNumber(column, typeof v === 'number' ? v : toNumber(v, c.timestamp));
    else this.addCategory(column, toCategory(v));
  }

  /** A number of a column (NaN is missing); a categorical column counts its text. */
  addNumber(column: number, x: number): void {
    const c = this.columns[column]!;
    if (c.kind === 'categorical') return this.addCategory(column, String(x));
    c.present++;
    if (x === x) c.counts[binOf(c.ref.cuts, c.ref.rightClosed, x)]!++;
    else c.missing++;
  }

  addMissing(column: number): void {
    const c = this.columns[column]!;
    c.present++;
    if (c.kind === 'numeric') c.missing++;
    else c.counts[c.counts.length - 1]!++;
  }

  addCategory(column: number, value: string): void {
    const c = this.columns[column]!;
    if (c.kind === 'numeric') return this.addNumber(column, toNumber(value, c.timestamp));
    c.present++;
    c.counts[c.ref.index.get(value) ?? c.ref.top + 1]!++;
  }

  /** The bin of a category value given as UTF-8 bytes (and their hashBytes), of a categorical column. */
  categoryBin(column: number, buf: Uint8Array, start: number, end: number, hash: number): number {
    const c = this.columns[column] as CategoricalColumn;
    const bin = c.bytes.get(buf, start, end, hash);
    return bin >= 0 ? bin : c.ref.top + 1;
  }

  /** The bin of a category value of a categorical column. */
  categoryBinOf(column: number, value: string): number {
    const c = this.columns[column] as CategoricalColumn;
    return c.ref.index.get(value) ?? c.ref.top + 1;
  }

  /** Counts a value of a categorical column by its bin (categoryBin). */
  addBin(column: number, bin: number): void {
    const c = this.columns[column] as CategoricalColumn;
    c.present++;
    c.counts[bin]!++;
  }

  // --- predictions ------------------------------------------------------------------------------

  /** One prediction of the model (not a fallback answer); anything not shaped like one is ignored. */
  addPrediction(p: Prediction): void {
    if (p === null || typeof p !== 'object') return;
    if ('value' in p) return this.addRegressionPrediction(Number(p.value));
    const label = String(p.label);
    const id = this.classIndex.get(label) ?? -1;
    if ('probability' in p) return this.addBinaryPrediction(id, label, Number(p.probability));
    if (!('probabilities' in p) || p.probabilities === null || typeof p.probabilities !== 'object') return;
    this.countLabel(id, label);
    this.predictions++;
    for (const [name, prob] of Object.entries(p.probabilities)) {
      const i = this.classIndex.get(name);
      if (i !== undefined && Number.isFinite(prob)) this.probabilitySums[i]! += prob;
    }
  }

  /** The class id of a label given as bytes, or -1. */
  classId(buf: Uint8Array, start: number, end: number, hash: number): number {
    return this.classIds.get(buf, start, end, hash);
  }

  /** A binary prediction: the label's class id (or -1 and its text) and the positive-class probability. */
  addBinaryPrediction(classId: number, label: string | null, probability: number): void {
    if (!Number.isFinite(probability)) return;
    const name = classId >= 0 ? this.classes[classId]! : (label ?? '');
    this.countLabel(classId, name);
    this.predictions++;
    // the serving rule: probability >= 0.5 answers the positive class (classes[1])
    this.positiveSum += probability;
    if (probability >= 0.5) this.positiveLabel ??= name;
    else this.negativeLabel ??= name;
  }

  addRegressionPrediction(value: number): void {
    if (!Number.isFinite(value)) return;
    const d = value - this.valueShift;
    this.valueSum += d;
    this.valueSumSq += d * d;
    this.predictions++;
  }

  private countLabel(classId: number, label: string): void {
    if (classId >= 0) this.classCounts[classId]!++;
    else this.otherLabels.set(label, (this.otherLabels.get(label) ?? 0) + 1);
  }

  /**
   * A prediction-log record: its rows always (inputs do not depend on the version that served
   * them); its predictions unless a fallback answered or `predictions` is false (another version's).
   */
  addRecord(record: LoggedRecord, predictions = true): void {
    for (const row of record.instances) this.addRow(row);
    if (predictions && !record.fallback) for (const p of record.predictions) this.addPrediction(p);
  }

  get samples(): number {
    return this.rows;
  }

  report(meta: ReportMeta): DriftReport {
    const o = this.options;
    const enough = this.rows >= o.minSamples;
    const features: FeatureDrift[] = [];
    const skipped = [...this.skipped];
    const drifted: string[] = [];
    const reasons: string[] = [];
    let evaluated = 0;
    const add = (
      name: string,
      kind: FeatureDrift['kind'],
      test: DriftTest,
      score: number,
      threshold: number,
    ): boolean => {
      const over = score > threshold;
      features.push({ name, kind, test, score: round6(score), threshold, drifted: enough && over });
      return over;
    };

    for (const c of this.columns) {
      if (c.present === 0) {
        skipped.push({
          name: c.ref.name,
          reason: 'never in the logged rows (a sensitive column, or not sent)',
        });
        continue;
      }
      evaluated++;
      const name = c.ref.name;
      if (c.kind === 'numeric') {
        const { ref } = c;
        const live = new Float64Array(ref.shares.length);
        for (let i = 0; i < c.counts.length; i++) live[ref.group[i]!]! += c.counts[i]! / c.present;
        live[live.length - 1] = c.missing / c.present;
        const p = psi(ref.shares, live, o.epsilon);
        const values = c.present - c.missing;
        const cdf = new Float64Array(ref.cuts.length);
        let below = 0;
        for (let i = 0; i < cdf.length; i++) cdf[i] = values > 0 ? (below += c.counts[i]!) / values : 0;
        // no live values at all: as far from the training CDF as can be
        const ks = values > 0 ? ksStatistic(ref.cdf, cdf) : 1;
        if (add(name, 'numeric', 'psi', p, o.psiThreshold)) {
          drifted.push(name);
          reasons.push(`${name}: PSI ${fmt(p)} > ${o.psiThreshold} (KS ${fmt(ks)})`);
        }
        add(name, 'numeric', 'ks', ks, o.ksThreshold);
      } else {
        const live = Float64Array.from(c.counts, (n) => n / c.present);
        const p = psi(c.ref.shares, live, o.epsilon);
        const js = jsDistance(c.ref.shares, live);
        if (add(name, 'categorical', 'psi', p, o.psiThreshold)) {
          drifted.push(name);
          const unseen = c.ref.top + 1;
          reasons.push(
            `${name}: PSI ${fmt(p)} > ${o.psiThreshold} (JS ${fmt(js)}; ${fmt(live[unseen]! * 100)}% of live values are not among the training's listed values, against ${fmt(c.ref.shares[unseen]! * 100)}% in training)`,
          );
        }
        add(name, 'categorical', 'js', js, o.jsThreshold);
      }
    }

    let verdict: DriftVerdict;
    let share: number | null = null;
    if (!enough || evaluated === 0) {
      verdict = INSUFFICIENT_DATA;
      reasons.length = 0;
      reasons.push(
        evaluated === 0 && enough
          ? 'no profiled feature appears in the logged rows'
          : `${this.rows} logged rows in the window, fewer than the ${o.minSamples} needed for a verdict`,
      );
    } else {
      share = drifted.length / evaluated;
      verdict = share >= o.datasetShare;
      reasons.unshift(
        `${drifted.length} of ${evaluated} features drifted (${fmt(share * 100)}%; the data drifts at >= ${fmt(o.datasetShare * 100)}%)`,
      );
    }

    const prediction = this.predictionDrift();
    if (prediction.drifted === true)
      reasons.push(
        `predictions moved: ${prediction.test} ${fmt(prediction.score ?? 0)} > ${prediction.threshold} against ${prediction.reference}`,
      );
    const accuracy = accuracyDrift(meta, o);
    if (accuracy?.drifted === true)
      reasons.push(
        `live accuracy ${fmt(accuracy.live)} is ${fmt(accuracy.drop)} below the test accuracy ${fmt(accuracy.test)} (over ${accuracy.labelled} labelled predictions)`,
      );

    return {
      model: meta.model,
      version: meta.version,
      window: meta.window,
      samples: this.rows,
      drifted: verdict,
      driftedShare: share === null ? null : round6(share),
      driftedFeatures: verdict === INSUFFICIENT_DATA ? [] : drifted,
      thresholds: {
        psi: o.psiThreshold,
        ks: o.ksThreshold,
        js: o.jsThreshold,
        datasetShare: o.datasetShare,
        minSamples: o.minSamples,
        epsilon: o.epsilon,
        topK: o.topK,
        predictionPsi: o.predictionPsiThreshold,
        predictionShift: o.predictionShiftThreshold,
        maxAccuracyDrop: o.maxAccuracyDrop,
        minLabelled: o.minLabelled,
        decidedBy: 'psi',
      },
      features,
      skipped,
      prediction,
      accuracy,
      reasons,
    };
  }

  /**
   * Prediction drift. The reference is the training label distribution of the profile; a model's
   * predicted labels differ from it even without drift (a rare class is seldom predicted), so the
   * live side is the mean predicted probability of each class, which a calibrated model keeps near
   * the class shares; for regression, the mean prediction against the training target's mean, in
   * its standard deviations (predictions are narrower than the target, so their spread is not compared).
   */
  private predictionDrift(): PredictionDrift {
    const o = this.options;
    const n = this.predictions;
    const enough = n >= o.minSamples;
    const label = this.profile.label;
    if (this.task === 'regression' && label.numeric) {
      const ref = label.numeric;
      const expected = { mean: ref.mean ?? 0, std: ref.std ?? 0 };
      const mean = n > 0 ? this.valueShift + this.valueSum / n : 0;
      const variance =
        n > 1 ? Math.max(0, (this.valueSumSq - (this.valueSum * this.valueSum) / n) / (n - 1)) : 0;
      const score = n > 0 && expected.std > 0 ? Math.abs(mean - expected.mean) / expected.std : null;
      return {
        task: 'regression',
        test: 'mean_shift',
        reference: 'the mean of the training target, in its standard deviations',
        samples: n,
        score: score === null ? null : round6(score),
        threshold: o.predictionShiftThreshold,
        drifted: !enough || score === null ? INSUFFICIENT_DATA : score > o.predictionShiftThreshold,
        expected,
        observed: { mean: round6(mean), std: round6(Math.sqrt(variance)) },
      };
    }
    if ((this.task === 'binary' || this.task === 'multiclass') && label.classes) {
      const expected = label.classes;
      const observed: Record<string, number> = {};
      if (this.task === 'binary') {
        const [a, b] = this.classes as [string, string];
        const positive =
          this.positiveLabel ?? (this.negativeLabel === a ? b : this.negativeLabel === b ? a : null);
        const negative = positive === a ? b : a;
        if (positive !== null && n > 0) {
          observed[negative] = round6(1 - this.positiveSum / n);
          observed[positive] = round6(this.positiveSum / n);
        }
      } else if (n > 0) {
        this.classes.forEach((c, i) => (observed[c] = round6(this.probabilitySums[i]! / n)));
      }
      const known = Object.keys(observed).length > 0;
      const score = known
        ? psi(
            this.classes.map((c) => expected[c] ?? 0),
            this.classes.map((c) => observed[c] ?? 0),
            o.epsilon,
          )
        : null;
      const labels: Record<string, number> = {};
      this.classes.forEach((c, i) => {
        if (this.classCounts[i]! > 0) labels[c] = round6(this.classCounts[i]! / n);
      });
      for (const [l, k] of this.otherLabels) labels[l] = round6(k / n);
      return {
        task: this.task,
        test: 'psi',
        reference: 'the class shares of the training data (live side: mean predicted probability per class)',
        samples: n,
        score: score === null ? null : round6(score),
        threshold: o.predictionPsiThreshold,
        drifted: !enough || score === null ? INSUFFICIENT_DATA : score > o.predictionPsiThreshold,
        expected,
        observed,
        labels,
      };
    }
    return {
      task: null,
      test: null,
      reference: 'none: the profile has no label distribution',
      samples: n,
      score: null,
      threshold: null,
      drifted: INSUFFICIENT_DATA,
      expected: {},
      observed: {},
    };
  }
}

/** Live accuracy against the test accuracy; null without feedback or without a test accuracy. */
export function accuracyDrift(
  input: Pick<ReportMeta, 'feedback' | 'testAccuracy'>,
  options: Pick<DriftOptions, 'maxAccuracyDrop' | 'minLabelled'> = DEFAULT_DRIFT_OPTIONS,
): AccuracyDrift | null {
  const fb = input.feedback;
  const test = input.testAccuracy;
  if (!fb || fb.labelled <= 0 || test === null || test === undefined || !Number.isFinite(test)) return null;
  const live = fb.correct / fb.labelled;
  const drop = test - live;
  return {
    labelled: fb.labelled,
    correct: fb.correct,
    live: round6(live),
    test,
    drop: round6(drop),
    threshold: options.maxAccuracyDrop,
    drifted: fb.labelled < options.minLabelled ? INSUFFICIENT_DATA : drop > options.maxAccuracyDrop,
  };
}

function round6(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
}

function fmt(x: number): string {
  return String(Number(x.toPrecision(3)));
}
