// The model bundle: one file, `model.kzn`, holding the tfjs topology, the weights, the transforms
// and schema (so serving encodes exactly as training did), the naive baseline, and metadata
// (task, classes, backend, tfjs version, train spec, training summary). Its sha256 is the sha256
// of that file; the registry records it and loadBundle refuses a file that does not match.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ensureBackend, type BackendInfo } from './backend';
import { sha256Hex } from '../hashing';
import { decodeContainer, encodeContainer, type NamedTensor } from './container';
import { classesOf, encodeRows, type EncodedFeatures } from './dataset';
import { compileForward, type CompiledForward } from './forward';
import { predictEncoded, type ModelArchitecture } from './model';
import { KaizenError } from '../errors';
import type { DatasetSchema, TaskKind, TrainingSummary, TrainSpec, Transforms } from '../types';

export const BUNDLE_FILE = 'model.kzn';
const BUNDLE_MAGIC = 'KZNM';
const BUNDLE_VERSION = 1;

/** The naive fallback, from the training split: majority class with its prior, or the mean. */
export type Baseline =
  | { task: 'binary'; positiveRate: number }
  | { task: 'multiclass'; priors: number[] }
  | { task: 'regression'; mean: number };

export interface BundleMetadata {
  task: TaskKind;
  target: string;
  classes?: string[];
  backend: BackendInfo;
  tfjsVersion: string;
  trainSpec: TrainSpec;
  architecture: ModelArchitecture;
  training: TrainingSummary;
}

export interface ModelBundle {
  model: tf.LayersModel;
  schema: DatasetSchema;
  transforms: Transforms;
  baseline: Baseline;
  metadata: BundleMetadata;
  /**
   * A loaded bundle's weights never change, so it predicts through a compiled plain-JS pass
   * (src/ml/forward.ts); `forward` is null, with the reason, when tfjs must serve instead.
   * Absent on a model still training.
   */
  compiled?: { forward: CompiledForward | null; reason: string | null };
}

export type Prediction =
  | { label: string; probability: number }
  | { label: string; probabilities: Record<string, number> }
  | { value: number };

interface BundleHeader {
  format: 'kaizen-model';
  metadata: BundleMetadata;
  schema: DatasetSchema;
  transforms: Transforms;
  baseline: Baseline;
  topology: unknown;
}

// ---------------------------------------------------------------------------------------------
// Baseline
// ---------------------------------------------------------------------------------------------

/** The baseline from the encoded training targets (class indices, or standardised values + raw). */
export function computeBaseline(
  task: TaskKind,
  target: { values: ArrayLike<number>; raw?: ArrayLike<number> },
  classCount: number,
): Baseline {
  const n = target.values.length;
  if (task === 'regression') {
    const raw = target.raw ?? target.values;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += raw[i]!;
    return { task, mean: n === 0 ? 0 : sum / n };
  }
  const counts = new Array<number>(classCount).fill(0);
  for (let i = 0; i < n; i++) counts[target.values[i]!]!++;
  const priors = counts.map((c) => (n === 0 ? 1 / classCount : c / n));
  return task === 'binary' ? { task, positiveRate: priors[1] ?? 0 } : { task, priors };
}

/** The baseline's raw outputs for `rows` rows, shaped like the model's (rows × units). */
export function baselineOutputs(baseline: Baseline, rows: number, transforms: Transforms): Float32Array {
  switch (baseline.task) {
    case 'binary':
      return new Float32Array(rows).fill(baseline.positiveRate);
    case 'regression': {
      const std = transforms.targetStd !== undefined && transforms.targetStd > 0 ? transforms.targetStd : 1;
      return new Float32Array(rows).fill((baseline.mean - (transforms.targetMean ?? 0)) / std);
    }
    case 'multiclass': {
      const k = baseline.priors.length;
      const out = new Float32Array(rows * k);
      for (let i = 0; i < rows; i++) out.set(baseline.priors, i * k);
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Prediction
// ---------------------------------------------------------------------------------------------

/** Model outputs → predictions: labels, probabilities, or regression values in original units. */
export function toPredictions(
  bundle: Pick<ModelBundle, 'transforms' | 'schema'>,
  outputs: Float32Array,
  rows: number,
  threshold = 0.5,
): Prediction[] {
  const { transforms } = bundle;
  const predictions: Prediction[] = [];
  if (transforms.task === 'regression') {
    const mean = transforms.targetMean ?? 0;
    const std = transforms.targetStd !== undefined && transforms.targetStd > 0 ? transforms.targetStd : 1;
    for (let i = 0; i < rows; i++) predictions.push({ value: outputs[i]! * std + mean });
    return predictions;
  }
  const classes = classesOf(bundle);
  if (transforms.task === 'binary') {
    for (let i = 0; i < rows; i++) {
      const p = outputs[i]!;
      predictions.push({ label: p >= threshold ? classes[1]! : classes[0]!, probability: p });
    }
    return predictions;
  }
  const k = classes.length;
  for (let i = 0; i < rows; i++) {
    const probabilities: Record<string, number> = {};
    let best = 0;
    for (let j = 0; j < k; j++) {
      probabilities[classes[j]!] = outputs[i * k + j]!;
      if (outputs[i * k + j]! > outputs[i * k + best]!) best = j;
    }
    predictions.push({ label: classes[best]!, probabilities });
  }
  return predictions;
}

/** Raw model outputs (rows × units) for encoded features. */
export function bundleOutputs(bundle: ModelBundle, encoded: EncodedFeatures): Float32Array {
  if (encoded.rows === 0) return new Float32Array(0);
  const forward = bundle.compiled?.forward;
  return forward ? forward(encoded) : predictEncoded(bundle.model, encoded);
}

/**
 * Predicts for JSON instances. A missing feature or a wrong type is
 * KaizenError('InvalidInput', 'instances[3].distance: expected a number'); unknown categories go to
 * the out-of-vocabulary bucket; null values are imputed as in training.
 */
export function predict(
  bundle: ModelBundle,
  rows: readonly Record<string, unknown>[],
): { predictions: Prediction[] } {
  const encoded = encodeRows(bundle.transforms, rows);
  return { predictions: toPredictions(bundle, bundleOutputs(bundle, encoded), rows.length, decisionThreshold(bundle)) };
}

/** The threshold a binary bundle labels with: chosen at training (bundles from before: 0.5). */
export function decisionThreshold(bundle: Pick<ModelBundle, 'metadata'>): number {
  return bundle.metadata.training.decisionThreshold ?? 0.5;
}

/** The naive fallback's predictions (no feature is read, so it never fails on odd input). */
export function baselinePredict(
  bundle: Pick<ModelBundle, 'baseline' | 'transforms' | 'schema'>,
  rows: readonly unknown[],
): { predictions: Prediction[] } {
  const outputs = baselineOutputs(bundle.baseline, rows.length, bundle.transforms);
  return { predictions: toPredictions(bundle, outputs, rows.length) };
}

// ---------------------------------------------------------------------------------------------
// Serialisation
// ---------------------------------------------------------------------------------------------

export function serializeBundle(bundle: ModelBundle): Buffer {
  const header: BundleHeader = {
    format: 'kaizen-model',
    metadata: bundle.metadata,
    schema: bundle.schema,
    transforms: bundle.transforms,
    baseline: bundle.baseline,
    topology: bundle.model.toJSON(null, false),
  };
  const tensors: NamedTensor[] = bundle.model.weights.map((w) => ({
    name: w.originalName,
    shape: [...w.shape] as number[],
    data: w.read().dataSync() as Float32Array,
  }));
  return encodeContainer(BUNDLE_MAGIC, BUNDLE_VERSION, header, tensors);
}

/**
 * Rebuilds a bundle from its bytes. With `expectedSha256` (hex, optionally `sha256:`-prefixed) the
 * bytes must hash to it; either way the file's embedded digest is checked.
 */
export async function deserializeBundle(
  bytes: Uint8Array,
  expectedSha256?: string,
  what = 'model bundle',
): Promise<ModelBundle> {
  if (expectedSha256 !== undefined) {
    const want = expectedSha256.replace(/^sha256:/, '').toLowerCase();
    const got = sha256Hex(bytes);
    if (got !== want)
      throw new KaizenError('ArtifactIntegrity', `${what} has sha256 ${got}, expected ${want}`);
  }
  const { version, header, tensors } = decodeContainer<BundleHeader>(bytes, BUNDLE_MAGIC, what);
  if (version !== BUNDLE_VERSION || header.format !== 'kaizen-model') {
    throw new KaizenError(
      'ArtifactIntegrity',
      `${what} has format version ${version}; this Kaizen reads version ${BUNDLE_VERSION}`,
    );
  }
  await ensureBackend();
  const config = { modelTopology: header.topology } as Parameters<typeof tf.models.modelFromJSON>[0];
  // The custom OneHot layer is registered with tf.serialization when model.ts is imported.
  const model = await tf.models.modelFromJSON(config);
  try {
    const values = model.weights.map((w) => {
      const t = tensors.get(w.originalName);
      if (!t || t.shape.join(',') !== w.shape.join(',')) {
        throw new KaizenError(
          'ArtifactIntegrity',
          `${what}: weight ${w.originalName} is missing or has the wrong shape`,
        );
      }
      return tf.tensor(t.data, t.shape, 'float32');
    });
    model.setWeights(values);
    tf.dispose(values);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return {
    model,
    schema: header.schema,
    transforms: header.transforms,
    baseline: header.baseline,
    metadata: header.metadata,
    compiled: compileForward(model),
  };
}

/** Writes `<dir>/model.kzn`; returns the files written (relative to dir) and the file's sha256 (hex). */
export async function saveBundle(
  bundle: ModelBundle,
  dir: string,
): Promise<{ files: string[]; sha256: string }> {
  const bytes = serializeBundle(bundle);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, BUNDLE_FILE), bytes);
  return { files: [BUNDLE_FILE], sha256: sha256Hex(bytes) };
}

/** Reads `<dir>/model.kzn` (or a path to the file itself), verifying `expectedSha256` when given. */
export async function loadBundle(dir: string, expectedSha256?: string): Promise<ModelBundle> {
  const file = dir.endsWith('.kzn') ? dir : path.join(dir, BUNDLE_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new KaizenError('ArtifactIntegrity', `cannot read model bundle ${file}: ${(err as Error).message}`);
  }
  return deserializeBundle(bytes, expectedSha256, file);
}

export function disposeBundle(bundle: ModelBundle): void {
  bundle.model.dispose();
  // a disposed bundle must fail as tfjs does, not keep answering from the compiled copy
  if (bundle.compiled) bundle.compiled = { forward: null, reason: 'the bundle is disposed' };
}
