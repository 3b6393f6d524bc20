// Hyper-parameter search: the spec's default configuration, random search with the full budget
// (every trial trained to train.epochs) and ASHA over the same trials (the same proposals from the
// same seed), side by side in one run, on the flight-delay data and on vega-datasets' cars.
// The searches run the workflow's own trial table (src/policy/search-table.ts: nextRun,
// startRun, completeRun) one trial at a time in this process, with real trainings that resume from
// their own checkpoints when promoted; the figures are the winners' test-split metrics, the epochs
// trained and the wall time. ASHA's winner is compared with random search's by a paired bootstrap
// on the test split.
//
//   npm run bench:search -- [--json] [--trials 18] [--epochs 9] [--rows 300000] [--only flights|cars]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { prepareLocal } from '../src/data/prepare';
import { selectBackend } from '../src/ml/backend';
import { compareOutputs } from '../src/ml/bootstrap';
import { disposeBundle, type ModelBundle } from '../src/ml/bundle';
import { readDatasetMeta, readSplit, type EncodedSplit } from '../src/ml/dataset';
import { evaluateModel, testOutputs } from '../src/ml/evaluate';
import { trainEncoded } from '../src/ml/train';
import { maximized, searchBudget, searchRungs, type SearchMetric, type SearchSpec } from '../src/policy/search';
import { completeRun, initialState, nextRun, startRun, trialScore, trialTrainSpec, type SearchState } from '../src/policy/search-table';
import { parsePipelineSpec } from '../src/policy/spec-schema';
import { lowerIsBetter } from '../src/quality-gate';
import type { Metrics, TrainSpec } from '../src/types';
import { round } from './common';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    trials: { type: 'string', default: '18' },
    epochs: { type: 'string', default: '9' },
    rows: { type: 'string', default: '300000' },
    only: { type: 'string' },
  },
});
const TRIALS = Number(args.trials);
const EPOCHS = Number(args.epochs);
const ROWS = Number(args.rows);
for (const [name, v] of [['--trials', TRIALS], ['--epochs', EPOCHS], ['--rows', ROWS]] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
}

const DATA = path.resolve(import.meta.dirname, '../node_modules/vega-datasets/data');

/** The two datasets: the demo's flight-delay model on January 2001, and cars' origin. */
const DATASETS = {
  flights: {
    spec: {
      model: 'bench-flights',
      data: {
        source: path.join(DATA, 'flights-3m.parquet'),
        where: "date < TIMESTAMP '2001-02-01'",
        derive: { late: 'delay > 15', hour: 'hour(date)', weekday: 'dayofweek(date)' },
        target: 'late',
        features: ['distance', 'hour', 'weekday', 'origin', 'destination'],
        exclude: ['delay', 'date'],
        sample: ROWS,
        split: { validation: 0.1, test: 0.2, seed: 42 },
      },
      train: { epochs: EPOCHS, seed: 43, patience: EPOCHS },
    },
    gateMetric: 'auc',
    batchSizes: [128, 256, 512],
    /** scikit-learn's HistGradientBoostingClassifier on the same rows and split (the anchor). */
    anchor: { auc: 0.708, logLoss: 0.458 },
  },
  cars: {
    spec: {
      model: 'bench-cars',
      data: {
        source: path.join(DATA, 'cars.json'),
        target: 'Origin',
        features: ['Miles_per_Gallon', 'Cylinders', 'Displacement', 'Horsepower', 'Weight_in_lbs', 'Acceleration'],
        split: { validation: 0.2, test: 0.2, seed: 42 },
      },
      train: { epochs: EPOCHS, seed: 43, patience: EPOCHS, batchSize: 32 },
    },
    gateMetric: 'accuracy',
    anchor: null,
    /** 240 training rows: smaller batches, or an epoch is one step. */
    batchSizes: [8, 16, 32],
  },
} as const;

const space = (batchSizes: readonly number[]) => ({
  hiddenUnits: [[32], [64, 32], [128, 64]],
  learningRate: { min: 3e-4, max: 3e-2, log: true },
  batchSize: [...batchSizes],
  l2: { min: 0, max: 1e-4 },
});

interface Splits {
  train: EncodedSplit;
  validation: EncodedSplit;
  dir: string;
}

interface Trained {
  bundle: ModelBundle;
  score: number;
  epochs: number;
}

interface SearchRun {
  winner: { trial: number; params: Record<string, unknown>; validation: number };
  test: Metrics;
  epochs: number;
  trials: number;
  wallSeconds: number;
}

/** One search, run by the workflow's own table, one trial at a time; promotions resume from the trial's checkpoint. */
async function search(splits: Splits, train: TrainSpec, spec: SearchSpec, metric: SearchMetric): Promise<SearchRun & { bundle: ModelBundle }> {
  const started = performance.now();
  const rungs = searchRungs(spec, train.epochs);
  const state: SearchState = initialState(searchBudget(spec));
  const checkpoints = new Map<number, Buffer>();
  const bundles = new Map<number, ModelBundle>();
  for (let run = nextRun(state, spec, rungs, metric); run; run = nextRun(state, spec, rungs, metric)) {
    startRun(state, run);
    const params = state.trials[run.trial]!.params;
    const resume = checkpoints.get(run.trial);
    const { model, summary } = await trainEncoded({
      train: splits.train,
      validation: splits.validation,
      trainSpec: trialTrainSpec(train, params, run.epochs),
      ...(resume ? { resume } : {}),
      onProgress: async (p) => {
        if (p.checkpoint) checkpoints.set(run.trial, p.checkpoint);
      },
    });
    const previous = bundles.get(run.trial);
    if (previous) disposeBundle(previous);
    bundles.set(run.trial, model);
    completeRun(state, { trial: run.trial, rung: run.rung, score: trialScore(summary, metric), bundleUri: '', bundleSha256: '', training: summary }, rungs, metric, run.epochs);
  }
  const best = state.best!;
  const bundle = bundles.get(best.trial)!;
  for (const [trial, b] of bundles) if (trial !== best.trial) disposeBundle(b);
  const test = (await evaluateModel(bundle, splits.dir)).test;
  return {
    winner: { trial: best.trial, params: best.params, validation: round(best.score, 4) },
    test: roundMetrics(test),
    epochs: state.epochsSpent,
    trials: state.trials.length,
    wallSeconds: round((performance.now() - started) / 1000, 1),
    bundle,
  };
}

const roundMetrics = (m: Metrics): Metrics => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, round(v, 4)]));

async function benchDataset(name: keyof typeof DATASETS) {
  const d = DATASETS[name];
  const spec = parsePipelineSpec({ ...d.spec, search: { strategy: 'random', trials: TRIALS, seed: 7, space: space(d.batchSizes) } });
  const workDir = await mkdtemp(path.join(os.tmpdir(), `kaizen-bench-search-${name}-`));
  try {
    const prepared = await prepareLocal({ spec: spec.data, ...(spec.task ? { task: spec.task } : {}), specDir: process.cwd(), workDir });
    const meta = await readDatasetMeta(prepared.dir);
    const splits: Splits = {
      train: await readSplit(prepared.dir, 'train', meta),
      validation: await readSplit(prepared.dir, 'validation', meta),
      dir: prepared.dir,
    };
    const task = prepared.schema.task;
    const metric: SearchMetric = task === 'binary' ? 'valAuc' : 'valLoss';

    const t0 = performance.now();
    const plain = await trainEncoded({ train: splits.train, validation: splits.validation, trainSpec: spec.train });
    const defaultRun = {
      params: { hiddenUnits: spec.train.hiddenUnits, learningRate: spec.train.learningRate, batchSize: spec.train.batchSize, l2: spec.train.l2 },
      validation: round(trialScore(plain.summary, metric), 4),
      test: roundMetrics((await evaluateModel(plain.model, splits.dir)).test),
      epochs: plain.summary.epochs,
      wallSeconds: round((performance.now() - t0) / 1000, 1),
    };
    disposeBundle(plain.model);

    const full = await search(splits, spec.train, { ...spec.search!, asha: false }, metric);
    const asha = await search(splits, spec.train, { ...spec.search!, asha: { minEpochs: 1, eta: 3 } }, metric);
    // ASHA's winner against random search's, on the same test rows
    const interval = compareOutputs(await testOutputs(asha.bundle, splits.dir), await testOutputs(full.bundle, splits.dir), d.gateMetric, {
      resamples: 1000,
      seed: 11,
      lowerIsBetter: lowerIsBetter(d.gateMetric),
    })!;
    disposeBundle(asha.bundle);
    disposeBundle(full.bundle);
    const strip = ({ bundle: _b, ...rest }: SearchRun & { bundle: ModelBundle }): SearchRun => rest;
    const epochRatio = round(asha.epochs / full.epochs, 3);
    return {
      rows: prepared.rows,
      task,
      space: space(d.batchSizes),
      searchMetric: metric,
      maximize: maximized(metric),
      gateMetric: d.gateMetric,
      default: defaultRun,
      random: strip(full),
      asha: { ...strip(asha), rungs: searchRungs({ asha: { minEpochs: 1, eta: 3 } }, EPOCHS), eta: 3 },
      ashaVsRandom: {
        metric: d.gateMetric,
        gain: round(interval.delta, 4),
        low: round(interval.low, 4),
        high: round(interval.high, 4),
        epochRatio,
        wallRatio: round(asha.wallSeconds / full.wallSeconds, 3),
      },
      checks: {
        ashaWithinRandomInterval: interval.high >= 0,
        ashaAtMostAThirdOfTheEpochs: epochRatio <= 1 / 3,
        searchMatchesOrBeatsDefault: Math.max(full.winner.validation, asha.winner.validation) * (maximized(metric) ? 1 : -1) >= defaultRun.validation * (maximized(metric) ? 1 : -1) - 1e-9,
        ...(d.anchor
          ? {
              winnerAucAtLeast070: Math.max(full.test.auc ?? 0, asha.test.auc ?? 0) >= 0.7,
              winnerLogLossNoWorseThanBoostedTrees: Math.min(full.test.logLoss ?? Infinity, asha.test.logLoss ?? Infinity) <= d.anchor.logLoss,
            }
          : {}),
      },
      ...(d.anchor ? { anchor: { model: 'HistGradientBoostingClassifier (scikit-learn, defaults)', ...d.anchor } } : {}),
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const backend = await selectBackend();
  const names = (args.only ? [args.only] : Object.keys(DATASETS)) as (keyof typeof DATASETS)[];
  const results: Record<string, unknown> = {};
  for (const name of names) {
    if (!(name in DATASETS)) throw new Error(`--only must be one of ${Object.keys(DATASETS).join(', ')}, got ${name}`);
    results[name] = await benchDataset(name);
    if (!args.json) console.error(`${name}: ${JSON.stringify(results[name])}`);
  }
  const out = {
    what: 'default configuration vs random search with the full budget vs ASHA over the same trials (same proposals), each winner scored on the test split; searches run the workflow trial table one trial at a time in this process',
    backend: backend.name,
    trials: TRIALS,
    epochs: EPOCHS,
    results,
  };
  console.log(JSON.stringify(out, null, args.json ? 0 : 2));
}

await main();
