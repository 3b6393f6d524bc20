// Evaluation of a trained bundle on the test split, next to the naive baseline (the training
// split's majority class with its prior, or the training mean) scored by the same functions.
import type { ModelBundle } from './bundle';
import { baselineOutputs, bundleOutputs, decisionThreshold } from './bundle';
import { classesOf, readSplit, type EncodedSplit } from './dataset';
import { binaryCounts, binaryMetrics, multiclassMetrics, regressionMetrics } from './metrics';
import type { EvaluationReport, Metrics, TaskKind, Transforms } from '../types';

export * from './metrics';

export interface ScoredOutputs {
  metrics: Metrics;
  details: Record<string, unknown>;
}

/** Scores raw model-shaped outputs (rows × units) against an encoded split's targets. */
export function scoreOutputs(
  task: TaskKind,
  transforms: Transforms,
  split: EncodedSplit,
  outputs: Float32Array,
  threshold = 0.5,
): ScoredOutputs {
  const y = split.target.values;
  switch (task) {
    case 'binary': {
      const counts = binaryCounts(y, outputs, threshold);
      return { metrics: binaryMetrics(y, outputs, threshold), details: { threshold, confusion: counts } };
    }
    case 'multiclass': {
      const classes = classesOf(split);
      const r = multiclassMetrics(y, outputs, classes);
      return {
        metrics: r.metrics,
        details: { classes, perClassRecall: r.perClassRecall, confusionMatrix: r.confusionMatrix },
      };
    }
    case 'regression': {
      const mean = transforms.targetMean ?? 0;
      const std = transforms.targetStd !== undefined && transforms.targetStd > 0 ? transforms.targetStd : 1;
      const predicted = Float64Array.from(outputs, (v) => v * std + mean);
      return { metrics: regressionMetrics(split.target.raw ?? y, predicted), details: {} };
    }
  }
}

/** Evaluates `bundle` on `<datasetDir>/test.parquet`, encoded with the bundle's own transforms. */
export async function evaluateModel(bundle: ModelBundle, datasetDir: string): Promise<EvaluationReport> {
  const meta = { schema: bundle.schema, transforms: bundle.transforms };
  const test = await readSplit(datasetDir, 'test', meta);
  const task = bundle.transforms.task;
  const model = scoreOutputs(task, bundle.transforms, test, bundleOutputs(bundle, test.features), decisionThreshold(bundle));
  const baseline = scoreOutputs(
    task,
    bundle.transforms,
    test,
    baselineOutputs(bundle.baseline, test.features.rows, bundle.transforms),
  );
  return {
    task,
    rows: test.features.rows,
    test: model.metrics,
    baseline: baseline.metrics,
    details: { ...model.details, baselineDetails: baseline.details },
  };
}

/** A bundle's raw outputs on the test split, with what scoring them needs (for the bootstrap and slices). */
export interface TestOutputs {
  task: TaskKind;
  rows: number;
  /** Encoded targets (regression: the original values). */
  labels: Float64Array;
  /** rows × units model outputs (regression: in original units). */
  outputs: Float64Array;
  threshold: number;
  classes?: string[];
  /** Each categorical feature's value per row, as a string ("(other)" for unseen or missing). */
  categories: Record<string, string[]>;
}

export async function testOutputs(bundle: ModelBundle, datasetDir: string): Promise<TestOutputs> {
  const test = await readSplit(datasetDir, 'test', { schema: bundle.schema, transforms: bundle.transforms });
  return outputsOn(bundle, test, bundleOutputs(bundle, test.features), decisionThreshold(bundle));
}

/** The naive baseline's outputs on the same rows, as TestOutputs (its threshold is 0.5: the majority). */
export async function baselineTestOutputs(bundle: ModelBundle, datasetDir: string): Promise<TestOutputs> {
  const test = await readSplit(datasetDir, 'test', { schema: bundle.schema, transforms: bundle.transforms });
  return outputsOn(bundle, test, baselineOutputs(bundle.baseline, test.features.rows, bundle.transforms), 0.5);
}

function outputsOn(bundle: ModelBundle, test: EncodedSplit, raw: Float32Array, threshold: number): TestOutputs {
  const task = bundle.transforms.task;
  let labels = Float64Array.from(test.target.values);
  let outputs = Float64Array.from(raw);
  if (task === 'regression') {
    const mean = bundle.transforms.targetMean ?? 0;
    const std = bundle.transforms.targetStd !== undefined && bundle.transforms.targetStd > 0 ? bundle.transforms.targetStd : 1;
    labels = Float64Array.from(test.target.raw ?? test.target.values);
    outputs = Float64Array.from(raw, (v) => v * std + mean);
  }
  const categories: Record<string, string[]> = {};
  test.features.categoricalNames.forEach((name, k) => {
    const t = bundle.transforms.features.find((f) => f.name === name);
    const vocabulary = t && t.kind !== 'numeric' ? t.vocabulary : [];
    categories[name] = Array.from(test.features.categorical[k]!, (i) => vocabulary[i] ?? '(other)');
  });
  return {
    task,
    rows: test.features.rows,
    labels,
    outputs,
    threshold,
    ...(task === 'regression' ? {} : { classes: classesOf(test) }),
    categories,
  };
}
