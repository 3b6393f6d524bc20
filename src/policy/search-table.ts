// The trial table of a hyper-parameter search and the rules that move it: what a free slot does
// next, what a finished child run changes, who is best. Pure, so the hyperparameterSearch workflow
// only starts children and waits, and this logic is tested without Temporal. The whole table is
// the state a coordinator run hands to the next one when it continues-as-new.
import type { PreparedDataset, TaskKind, TrainingSummary, TrainSpec } from '../types';
import {
  ashaBest,
  ashaNext,
  maximized,
  proposeTrial,
  type AshaTrial,
  type Parameters,
  type SearchMetric,
  type SearchSpec,
} from './search';

export type TrialStatus = 'running' | 'paused' | 'completed' | 'pruned' | 'failed' | 'stopped';

/** One trial: a configuration, trained rung by rung, each rung in a child workflow of its own. */
export interface TrialRecord {
  trial: number;
  params: Parameters;
  status: TrialStatus;
  /** The rung it is being trained to (running) or last reached. */
  rung: number;
  /** Epochs trained so far. */
  epochs: number;
  /** Its score at each rung it completed (index = rung). */
  scores: number[];
  /** The search metric after every epoch trained so far: the learning curve. */
  curve: number[];
  /** Set when it failed: the failure's type and message. */
  error?: { type: string; message: string };
}

/** The trial whose model goes on through the pipeline. */
export interface SearchWinner {
  trial: number;
  params: Parameters;
  score: number;
  rung: number;
  bundleUri: string;
  bundleSha256: string;
  training: TrainingSummary;
}

export interface SearchState {
  /** Trials (configurations) the search may start; `extend` raises it. */
  budget: number;
  trials: TrialRecord[];
  /** Child runs started, over every coordinator run. */
  childRuns: number;
  epochsSpent: number;
  /** Coordinator runs so far (1 + continue-as-new count). */
  coordinatorRuns: number;
  stop: { by: string; reason?: string; at: string } | null;
  best: SearchWinner | null;
  /** Signals refused, with why, so a mistyped one is visible in the status. */
  invalidSignals: { at: string; signal: string; reason: string }[];
}

/** What hyperparameterSearch takes: sent by the pipeline (or typed, with a prepared dataset's report). */
export interface SearchInput {
  /** The pipeline's workflow id; the search is `<pipeline>-search`. */
  pipelineWorkflowId: string;
  model: string;
  task: TaskKind;
  dataset: PreparedDataset;
  train: TrainSpec;
  search: SearchSpec;
  /** Carried over continue-as-new; absent on the first run. */
  state?: SearchState;
}

/** One child run: train `trial` (continuing from its own checkpoint) to `epochs`. */
export interface TrialInput {
  searchId: string;
  trial: number;
  rung: number;
  epochs: number;
  params: Parameters;
  metric: SearchMetric;
  dataset: PreparedDataset;
  train: TrainSpec;
}

export interface TrialResult {
  trial: number;
  rung: number;
  score: number;
  bundleUri: string;
  bundleSha256: string;
  training: TrainingSummary;
}

/** What the search's `status` query shows and its result holds. */
export interface SearchStatus {
  searchId: string;
  strategy: SearchSpec['strategy'];
  metric: SearchMetric;
  maximize: boolean;
  rungs: number[];
  eta: number | null;
  parallelism: number;
  budget: number;
  running: number;
  childRuns: number;
  epochsSpent: number;
  coordinatorRuns: number;
  stop: SearchState['stop'];
  best: { trial: number; params: Parameters; score: number; rung: number } | null;
  trials: TrialRecord[];
  invalidSignals: SearchState['invalidSignals'];
  done: boolean;
}

export interface SearchResult extends SearchStatus {
  winner: SearchWinner;
  space: SearchSpec['space'];
}

/** The child workflow id of one trial's rung: from the search and the trial number alone. */
export function trialWorkflowId(searchId: string, trial: number, rung: number): string {
  return `${searchId}-trial-${trial}-rung-${rung}`;
}

/** The train spec a trial's rung runs with: the pipeline's, the trial's parameters, the rung's epochs. */
export function trialTrainSpec(train: TrainSpec, params: Parameters, epochs: number): TrainSpec {
  return { ...train, ...params, epochs } as TrainSpec;
}

/** The trial's score from its training: the metric at the epoch whose weights the model keeps. */
export function trialScore(training: TrainingSummary, metric: SearchMetric): number {
  const at = training.history.find((h) => h.epoch === training.bestEpoch) ?? training.history.at(-1);
  if (!at) return Number.NaN;
  const v = metric === 'valLoss' ? at.valLoss : at.metrics[metric];
  return typeof v === 'number' ? v : Number.NaN;
}

/** The metric after each epoch of a training run. */
export function learningCurve(training: TrainingSummary, metric: SearchMetric): number[] {
  return training.history.map((h) => {
    const v = metric === 'valLoss' ? h.valLoss : h.metrics[metric];
    return typeof v === 'number' ? v : Number.NaN;
  });
}

export function initialState(budget: number): SearchState {
  return { budget, trials: [], childRuns: 0, epochsSpent: 0, coordinatorRuns: 1, stop: null, best: null, invalidSignals: [] };
}

const ashaView = (t: TrialRecord): AshaTrial => ({
  trial: t.trial,
  scores: t.scores,
  running: t.status === 'running',
  finished: t.status === 'completed' || t.status === 'failed' || t.status === 'stopped' || t.status === 'pruned',
});

export type NextRun =
  | { kind: 'promote'; trial: number; rung: number; epochs: number }
  | { kind: 'new'; trial: number; rung: 0; epochs: number; params: Parameters };

/**
 * What a free slot does now: promote a paused trial ASHA ranks high enough, else start the next
 * new trial while the budget lasts, else nothing (null).
 */
export function nextRun(state: SearchState, spec: SearchSpec, rungs: readonly number[], metric: SearchMetric): NextRun | null {
  if (state.stop) return null;
  const maximize = maximized(metric);
  const eta = spec.asha === false ? 2 : spec.asha.eta;
  const decision = ashaNext(state.trials.map(ashaView), {
    minEpochs: rungs[0]!,
    maxEpochs: rungs.at(-1)!,
    eta,
    maximize,
  });
  if (decision.kind === 'promote' && rungs.length > 1) return decision;
  if (state.trials.length >= state.budget) return null;
  const trial = state.trials.length;
  const observed = state.trials
    .filter((t) => t.scores.length > 0 && Number.isFinite(t.scores[0]))
    .map((t) => ({ params: t.params, score: t.scores[0]! }));
  return { kind: 'new', trial, rung: 0, epochs: rungs[0]!, params: proposeTrial(spec, trial, observed, maximize) };
}

/** Marks a run as started in the table. */
export function startRun(state: SearchState, run: NextRun): void {
  state.childRuns++;
  if (run.kind === 'new') {
    state.trials.push({ trial: run.trial, params: run.params, status: 'running', rung: 0, epochs: 0, scores: [], curve: [] });
  } else {
    const t = state.trials[run.trial]!;
    t.status = 'running';
    t.rung = run.rung;
  }
}

/** A child run finished: its score goes into the table, and the best trial is looked at again. */
export function completeRun(state: SearchState, result: TrialResult, rungs: readonly number[], metric: SearchMetric, targetEpochs: number): void {
  const t = state.trials[result.trial]!;
  const before = t.epochs;
  t.epochs = result.training.epochs;
  state.epochsSpent += Math.max(0, t.epochs - before);
  t.scores[result.rung] = result.score;
  t.scores.length = result.rung + 1;
  t.curve = learningCurve(result.training, metric);
  // early stopping ended it short of the rung's epochs: it has nothing left to train
  const exhausted = result.training.epochs < targetEpochs;
  t.status = result.rung >= rungs.length - 1 || exhausted ? 'completed' : 'paused';
  const best = ashaBest(state.trials.map(ashaView), maximized(metric));
  if (best && best.trial === t.trial && Number.isFinite(result.score)) {
    state.best = {
      trial: t.trial,
      params: t.params,
      score: result.score,
      rung: result.rung,
      bundleUri: result.bundleUri,
      bundleSha256: result.bundleSha256,
      training: result.training,
    };
  }
}

/** A child run failed for good (its own bad parameters, say): the trial is out, the search goes on. */
export function failRun(state: SearchState, trial: number, error: { type: string; message: string }, epochs: number | null): void {
  const t = state.trials[trial]!;
  t.status = 'failed';
  t.error = error;
  if (epochs !== null && epochs > t.epochs) {
    state.epochsSpent += epochs - t.epochs;
    t.epochs = epochs;
  }
}

/** A child run cancelled by `stop`. */
export function stopRun(state: SearchState, trial: number): void {
  state.trials[trial]!.status = 'stopped';
}

/** At the end: trials ASHA left paused were pruned. */
export function finishTable(state: SearchState): void {
  for (const t of state.trials) if (t.status === 'paused') t.status = 'pruned';
}

export function searchStatus(
  searchId: string,
  spec: SearchSpec,
  state: SearchState,
  rungs: readonly number[],
  metric: SearchMetric,
  done: boolean,
): SearchStatus {
  const b = state.best;
  return {
    searchId,
    strategy: spec.strategy,
    metric,
    maximize: maximized(metric),
    rungs: [...rungs],
    eta: spec.asha === false ? null : spec.asha.eta,
    parallelism: spec.parallelism,
    budget: state.budget,
    running: state.trials.filter((t) => t.status === 'running').length,
    childRuns: state.childRuns,
    epochsSpent: state.epochsSpent,
    coordinatorRuns: state.coordinatorRuns,
    stop: state.stop,
    best: b ? { trial: b.trial, params: b.params, score: b.score, rung: b.rung } : null,
    trials: state.trials,
    invalidSignals: state.invalidSignals,
    done,
  };
}
