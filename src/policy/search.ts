// Hyper-parameter search, the deterministic part: proposals drawn from a seed (random and grid)
// and asynchronous successive halving (ASHA) deciding what a free training slot does next. Pure:
// the search workflow keeps the trial table and calls these; the same spec and the same results
// give the same decisions, so a replay matches.
import { Mulberry32 } from './random';

/** A parameter's values: a list to choose from, or a range (log-uniform with `log`). */
export type ParameterSpace =
  readonly unknown[] | { min: number; max: number; log?: boolean; integer?: boolean };
export type SearchSpace = Readonly<Record<string, ParameterSpace>>;
export type Parameters = Record<string, unknown>;

const isRange = (p: ParameterSpace): p is { min: number; max: number; log?: boolean; integer?: boolean } =>
  !Array.isArray(p);

/** Refuses a space a search cannot draw from; each message names the parameter. */
export function checkSpace(space: SearchSpace): string[] {
  const problems: string[] = [];
  const names = Object.keys(space);
  if (names.length === 0) problems.push('search.space: name at least one parameter');
  for (const name of names) {
    const p = space[name]!;
    if (!isRange(p)) {
      if (p.length === 0) problems.push(`search.space.${name}: a list needs at least one value`);
      continue;
    }
    if (!Number.isFinite(p.min) || !Number.isFinite(p.max) || p.min > p.max) {
      problems.push(`search.space.${name}: needs finite min <= max, got min ${p.min} and max ${p.max}`);
    } else if (p.log && p.min <= 0) {
      problems.push(`search.space.${name}: a log range needs min > 0, got ${p.min}`);
    }
  }
  return problems;
}

/** Trial `index`'s parameters under random search: drawn from the seed and the index alone. */
export function randomProposal(space: SearchSpace, seed: number, index: number): Parameters {
  // one generator per trial, seeded from (seed, index): trial 7 is the same whatever came before it
  const rng = new Mulberry32((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
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
