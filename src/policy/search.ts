// Hyper-parameter search, the deterministic part: proposals drawn from a seed (random and grid)
// and asynchronous successive halving (ASHA) deciding what a free training slot does next. Pure:
// the search workflow keeps the trial table and calls these; the same spec and the same results
// give the same decisions, so a replay matches.
import { Mulberry32 } from './random';
import type { TaskKind } from '../types';

/** Validation metrics a trial reports (from training's per-epoch validation). */
export const SEARCH_METRICS = ['valLoss', 'valAuc', 'valAccuracy', 'valRmse'] as const;
export type SearchMetric = (typeof SEARCH_METRICS)[number];

/** Which metrics a task's validation reports. */
const METRICS_OF: Record<TaskKind, readonly SearchMetric[]> = {
  binary: ['valLoss', 'valAuc', 'valAccuracy'],
  multiclass: ['valLoss', 'valAccuracy'],
  regression: ['valLoss', 'valRmse'],
};

export function searchMetricsOf(task: TaskKind): readonly SearchMetric[] {
  return METRICS_OF[task];
}

export const maximized = (metric: SearchMetric): boolean => metric === 'valAuc' || metric === 'valAccuracy';

export function defaultSearchMetric(task: TaskKind): SearchMetric {
  return task === 'binary' ? 'valAuc' : 'valLoss';
}

/** The `search` block of a pipeline spec, as the spec schema leaves it (defaults applied). */
export interface SearchSpec {
  trials?: number;
  parallelism: number;
  strategy: 'random' | 'grid' | 'tpe';
  seed: number;
  metric?: SearchMetric;
  space: SearchSpace;
  asha: false | { minEpochs: number; eta: number };
  continueAsNewEvery: number;
  gridSteps: number;
}

/** Trials a search starts unless extended: `trials`, else the grid's size (grid) or 20. */
export function searchBudget(spec: Pick<SearchSpec, 'trials' | 'strategy' | 'space' | 'gridSteps'>): number {
  return spec.trials ?? (spec.strategy === 'grid' ? gridSize(spec.space, spec.gridSteps) : 20);
}

/** The rung epochs of a search over a training of `epochs` epochs. */
export function searchRungs(spec: Pick<SearchSpec, 'asha'>, epochs: number): number[] {
  if (spec.asha === false) return [epochs];
  return rungEpochs({ minEpochs: Math.min(spec.asha.minEpochs, epochs), maxEpochs: epochs, eta: spec.asha.eta });
}

/** One finished observation TPE learns from: a trial's parameters and its score. */
export interface Observation {
  params: Parameters;
  score: number;
}

/** Trial `index`'s parameters under the spec's strategy (TPE learns from `observed`). */
export function proposeTrial(
  spec: Pick<SearchSpec, 'strategy' | 'space' | 'seed' | 'gridSteps'>,
  index: number,
  observed: readonly Observation[],
  maximize: boolean,
): Parameters {
  switch (spec.strategy) {
    case 'grid':
      return gridProposal(spec.space, index, spec.gridSteps);
    case 'tpe':
      return tpeProposal(spec.space, spec.seed, index, observed, maximize);
    case 'random':
      return randomProposal(spec.space, spec.seed, index);
  }
}

/** A parameter's values: a list to choose from, or a range (log-uniform with `log`). */
export type ParameterSpace =
  readonly unknown[] | { min: number; max: number; log?: boolean; integer?: boolean };
export type SearchSpace = Readonly<Record<string, ParameterSpace>>;
export type Parameters = Record<string, unknown>;

const isRange = (p: ParameterSpace): p is { min: number; max: number; log?: boolean; integer?: boolean } =>
  !Array.isArray(p);

/** Trial `index`'s parameters under random search: drawn from the seed and the index alone. */
export function randomProposal(space: SearchSpace, seed: number, index: number): Parameters {
  const rng = trialRng(seed, index);
  const out: Parameters = {};
  for (const name of Object.keys(space).sort()) {
    const p = space[name]!;
    const u = rng.next();
    if (!isRange(p)) {
      out[name] = p[Math.min(p.length - 1, Math.floor(u * p.length))];
      continue;
    }
    let v = p.log
      ? Math.exp(Math.log(p.min) + u * (Math.log(p.max) - Math.log(p.min)))
      : p.min + u * (p.max - p.min);
    if (p.integer) v = Math.min(p.max, Math.round(v));
    out[name] = v;
  }
  return out;
}

/** One generator per trial, seeded from (seed, index): trial 7 is the same whatever came before it. */
function trialRng(seed: number, index: number): Mulberry32 {
  return new Mulberry32((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
}

/** How many points a grid has: ranges are cut into `steps` points (ends included). */
export function gridSize(space: SearchSpace, steps: number): number {
  return Object.values(space).reduce<number>(
    (n, p) => n * (isRange(p) ? (p.min === p.max ? 1 : steps) : p.length),
    1,
  );
}

/** Trial `index`'s parameters under grid search: the grid's points in a fixed order, wrapping round. */
export function gridProposal(space: SearchSpace, index: number, steps = 3): Parameters {
  let rest = index % gridSize(space, steps);
  const out: Parameters = {};
  for (const name of Object.keys(space).sort()) {
    const p = space[name]!;
    const values = isRange(p) ? rangePoints(p, steps) : p;
    out[name] = values[rest % values.length];
    rest = Math.floor(rest / values.length);
  }
  return out;
}

function rangePoints(
  p: { min: number; max: number; log?: boolean; integer?: boolean },
  steps: number,
): number[] {
  if (p.min === p.max) return [p.min];
  return Array.from({ length: steps }, (_, i) => {
    const t = i / (steps - 1);
    const v = p.log
      ? Math.exp(Math.log(p.min) + t * (Math.log(p.max) - Math.log(p.min)))
      : p.min + t * (p.max - p.min);
    return p.integer ? Math.round(v) : v;
  });
}

// ---------------------------------------------------------------------------------------------
// ASHA (Li et al., "A System for Massively Parallel Hyperparameter Tuning", 2020)
// ---------------------------------------------------------------------------------------------

export interface AshaOptions {
  /** Epochs of the first rung. */
  minEpochs: number;
  /** Epochs no trial goes past. */
  maxEpochs: number;
  /** Reduction factor η: the top 1/η of a rung's trials go up. */
  eta: number;
  /** Whether a higher score is better. */
  maximize: boolean;
}

/** The epochs at which trials are compared: minEpochs·η^k, up to maxEpochs (always the last). */
export function rungEpochs(o: Pick<AshaOptions, 'minEpochs' | 'maxEpochs' | 'eta'>): number[] {
  const out: number[] = [];
  for (let e = o.minEpochs; e < o.maxEpochs; e *= o.eta) out.push(Math.round(e));
  out.push(o.maxEpochs);
  return [...new Set(out)];
}

/** One trial as ASHA sees it: the scores it reached at each rung (index = rung). */
export interface AshaTrial {
  trial: number;
  /** Score at rung k, for every rung it completed. */
  scores: readonly number[];
  /** Running now (its next rung is being trained). */
  running: boolean;
  /** Failed or stopped: never promoted. */
  finished: boolean;
}

export type AshaDecision =
  { kind: 'promote'; trial: number; rung: number; epochs: number } | { kind: 'new'; rung: 0; epochs: number };

/**
 * What a free slot does: promote a paused trial that ranks in the top ⌊n/η⌋ of the n trials that
 * reached its rung (highest rung first), else start a new trial at rung 0. Nothing waits for a rung
 * to fill: a trial goes up as soon as it ranks high enough among those that have reached it.
 */
export function ashaNext(trials: readonly AshaTrial[], o: AshaOptions): AshaDecision {
  const rungs = rungEpochs(o);
  for (let k = rungs.length - 2; k >= 0; k--) {
    const reached = trials.filter((t) => t.scores.length > k);
    const top = Math.floor(reached.length / o.eta);
    if (top === 0) continue;
    const ranked = [...reached].sort(
      (a, b) => compare(a.scores[k]!, b.scores[k]!, o.maximize) || a.trial - b.trial,
    );
    // paused at rung k: reached it, went no further, not running, not finished
    const candidate = ranked
      .slice(0, top)
      .find((t) => t.scores.length === k + 1 && !t.running && !t.finished);
    if (candidate) return { kind: 'promote', trial: candidate.trial, rung: k + 1, epochs: rungs[k + 1]! };
  }
  return { kind: 'new', rung: 0, epochs: rungs[0]! };
}

/** Negative when `a` is better. NaN (a failed evaluation) ranks last. */
function compare(a: number, b: number, maximize: boolean): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return maximize ? b - a : a - b;
}

/** The best trial so far: the best score at the highest rung any trial reached (ties: the lower trial number). */
export function ashaBest(trials: readonly AshaTrial[], maximize: boolean): AshaTrial | null {
  let best: AshaTrial | null = null;
  for (const t of trials) {
    if (t.scores.length === 0) continue;
    if (!best || t.scores.length > best.scores.length) best = t;
    else if (t.scores.length === best.scores.length) {
      const c = compare(t.scores.at(-1)!, best.scores.at(-1)!, maximize);
      if (c < 0 || (c === 0 && t.trial < best.trial)) best = t;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// TPE (Bergstra et al., "Algorithms for Hyper-Parameter Optimization", 2011), univariate
// ---------------------------------------------------------------------------------------------

export interface TpeOptions {
  /** Random proposals before TPE starts modelling. */
  startup: number;
  /** Fraction of the observations that count as good. */
  gamma: number;
  /** Candidates drawn from the good model; the one with the best l(x)/g(x) wins. */
  candidates: number;
}

export const TPE_DEFAULTS: TpeOptions = { startup: 10, gamma: 0.25, candidates: 24 };

/**
 * Trial `index`'s parameters under TPE: the observations are split into the best γ (good) and the
 * rest (bad); for each parameter a Parzen estimator of each group is built, candidates are drawn
 * from the good one and the one maximising l(x)/g(x) is kept. Random until `startup` observations.
 * Deterministic: the same seed, index and observations give the same parameters.
 */
export function tpeProposal(
  space: SearchSpace,
  seed: number,
  index: number,
  observed: readonly Observation[],
  maximize: boolean,
  options: TpeOptions = TPE_DEFAULTS,
): Parameters {
  const usable = observed.filter((o) => Number.isFinite(o.score));
  if (usable.length < options.startup) return randomProposal(space, seed, index);
  const ranked = [...usable].sort((a, b) => (maximize ? b.score - a.score : a.score - b.score));
  const nGood = Math.max(1, Math.ceil(options.gamma * ranked.length));
  const good = ranked.slice(0, nGood);
  const bad = ranked.slice(nGood);
  const rng = trialRng(seed, index);
  const out: Parameters = {};
  for (const name of Object.keys(space).sort()) {
    const p = space[name]!;
    if (!isRange(p)) {
      const key = (v: unknown): string => JSON.stringify(v);
      const keys = p.map(key);
      const weights = (group: readonly Observation[]): number[] => {
        const counts = keys.map(() => 1); // a prior of one observation per value
        for (const o of group) {
          const j = keys.indexOf(key(o.params[name]));
          if (j >= 0) counts[j]!++;
        }
        const total = counts.reduce((a, b) => a + b, 0);
        return counts.map((c) => c / total);
      };
      const l = weights(good);
      const g = weights(bad);
      let bestJ = 0;
      let bestRatio = -Infinity;
      for (let c = 0; c < options.candidates; c++) {
        const j = sampleCategorical(l, rng.next());
        const ratio = Math.log(l[j]!) - Math.log(g[j]!);
        if (ratio > bestRatio) [bestJ, bestRatio] = [j, ratio];
      }
      out[name] = p[bestJ];
      continue;
    }
    if (p.min === p.max) {
      out[name] = p.min;
      continue;
    }
    // work on [0, 1]: log-transformed for log ranges
    const lo = p.log ? Math.log(p.min) : p.min;
    const hi = p.log ? Math.log(p.max) : p.max;
    const toUnit = (v: unknown): number | null => {
      if (typeof v !== 'number' || !Number.isFinite(v)) return null;
      const x = p.log ? Math.log(Math.max(v, p.min)) : v;
      return Math.min(1, Math.max(0, (x - lo) / (hi - lo)));
    };
    const points = (group: readonly Observation[]): number[] =>
      group.map((o) => toUnit(o.params[name])).filter((u): u is number => u !== null);
    const lPts = points(good);
    const gPts = points(bad);
    const lWidth = bandwidth(lPts.length);
    const gWidth = bandwidth(gPts.length);
    let bestU = 0.5;
    let bestRatio = -Infinity;
    for (let c = 0; c < options.candidates; c++) {
      const u = sampleParzen(lPts, lWidth, rng);
      const ratio = Math.log(parzenDensity(lPts, lWidth, u)) - Math.log(parzenDensity(gPts, gWidth, u));
      if (ratio > bestRatio) [bestU, bestRatio] = [u, ratio];
    }
    let v = lo + bestU * (hi - lo);
    if (p.log) v = Math.exp(v);
    v = Math.min(p.max, Math.max(p.min, v));
    if (p.integer) v = Math.min(p.max, Math.round(v));
    out[name] = v;
  }
  return out;
}

function sampleCategorical(weights: readonly number[], u: number): number {
  let acc = 0;
  for (let j = 0; j < weights.length; j++) {
    acc += weights[j]!;
    if (u < acc) return j;
  }
  return weights.length - 1;
}

/** Kernel width on [0, 1] for n points (Scott's rule on a unit range), kept in [0.03, 0.5]. */
function bandwidth(n: number): number {
  return Math.min(0.5, Math.max(0.03, 0.5 * Math.pow(n + 1, -0.2)));
}

/** A mixture of the points' kernels and a flat prior over [0, 1] (weight of one point). */
function parzenDensity(points: readonly number[], width: number, u: number): number {
  let sum = 1; // the prior: density 1 on [0, 1]
  for (const m of points) {
    const z = (u - m) / width;
    sum += Math.exp(-0.5 * z * z) / (width * Math.sqrt(2 * Math.PI));
  }
  return sum / (points.length + 1);
}

function sampleParzen(points: readonly number[], width: number, rng: Mulberry32): number {
  const k = Math.floor(rng.next() * (points.length + 1));
  if (k === points.length) return rng.next(); // the prior
  for (let attempt = 0; attempt < 16; attempt++) {
    // Box–Muller
    const u1 = Math.max(rng.next(), 1e-12);
    const u2 = rng.next();
    const u = points[k]! + width * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    if (u >= 0 && u <= 1) return u;
  }
  return Math.min(1, Math.max(0, points[k]!));
}
