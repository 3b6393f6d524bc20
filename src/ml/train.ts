// The training loop. Our own loop (not model.fit) so that everything that decides the result is
// ours and can be checkpointed: a seeded per-epoch shuffle, Adam's full state, early stopping's
// counters and the best weights. The same dataset + spec + backend give bit-identical weights, and
// a run resumed from any epoch checkpoint ends bit-identical to an uninterrupted one.
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendInfo } from './backend';
import { computeBaseline, type ModelBundle } from './bundle';
import { sha256Hex } from '../hashing';
import { decodeContainer, encodeContainer, type NamedTensor } from './container';
import { classesOf, readDatasetMeta, readSplit, sliceEncoded, type EncodedSplit } from './dataset';
import { bestThreshold, rocAuc } from './metrics';
import {
  buildModel,
  describeArchitecture,
  modelInputs,
  predictEncoded,
  type ModelArchitecture,
} from './model';
import { Mulberry32 } from '../policy/random';
import { KaizenError } from '../errors';
import type { Metrics, TaskKind, TrainingProgress, TrainingSummary, TrainSpec } from '../types';

export type ProgressReport = TrainingProgress & { checkpoint?: Buffer };

export interface TrainInput {
  datasetDir: string;
  trainSpec: TrainSpec;
  /** A checkpoint from a previous attempt's onProgress: training continues after its epoch. */
  resume?: Buffer;
  /** Called every `heartbeatEveryBatches` batches (no checkpoint) and after every epoch (with one). */
  onProgress?: (p: ProgressReport) => Promise<void>;
  /** Aborting stops training before the next batch and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface TrainResult {
  model: ModelBundle;
  summary: TrainingSummary;
}

/** Early-stopping and shuffle state after `epoch` completed epochs. */
export interface LoopState {
  epoch: number;
  rngState: number;
  /** Lowest monitored loss so far (validation loss, or training loss without a validation split). */
  bestScore: number | null;
  bestEpoch: number;
  /** Epochs since the last improvement. */
  wait: number;
  /** Early stopping fired: nothing is left to train. */
  stopped: boolean;
  history: TrainingSummary['history'];
}

export interface Checkpoint {
  /** Identifies the dataset, transforms and spec the checkpoint belongs to. */
  fingerprint: string;
  backend: string;
  state: LoopState;
  weights: NamedTensor[];
  optimizer: { iterations: number; accBeta1: number; accBeta2: number; m: NamedTensor[]; v: NamedTensor[] };
  best: NamedTensor[] | null;
}

const CHECKPOINT_MAGIC = 'KZCK';
const CHECKPOINT_VERSION = 1;
const ADAM = { beta1: 0.9, beta2: 0.999 } as const;
/** Progress within an epoch at least this often (training activities heartbeat on it). */
export const PROGRESS_EVERY_MS = 2_000;

// tfjs keeps Adam's bias-correction powers in these variables and setWeights() recomputes them with
// pow(), which differs in the last bits from the repeated products of an uninterrupted run; we save
// and restore them exactly.
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint format
// ---------------------------------------------------------------------------------------------

interface CheckpointHeader {
  format: 'kaizen-checkpoint';
  fingerprint: string;
  backend: string;
  state: LoopState;
  optimizer: { iterations: number; accBeta1: number; accBeta2: number; moments: number };
  weights: number;
  best: boolean;
}

/** A single binary buffer (see container.ts): header JSON + weights, Adam moments and best weights. */
export function serializeCheckpoint(c: Checkpoint): Buffer {
  const header: CheckpointHeader = {
    format: 'kaizen-checkpoint',
    fingerprint: c.fingerprint,
    backend: c.backend,
    state: c.state,
    optimizer: {
      iterations: c.optimizer.iterations,
      accBeta1: c.optimizer.accBeta1,
      accBeta2: c.optimizer.accBeta2,
      moments: c.optimizer.m.length,
    },
    weights: c.weights.length,
    best: c.best !== null,
  };
  const rename = (prefix: string, list: NamedTensor[]): NamedTensor[] =>
    list.map((t, i) => ({ ...t, name: `${prefix}/${i}` }));
  return encodeContainer(CHECKPOINT_MAGIC, CHECKPOINT_VERSION, header, [
    ...rename('weights', c.weights),
    ...rename('adam/m', c.optimizer.m),
    ...rename('adam/v', c.optimizer.v),
    ...rename('best', c.best ?? []),
  ]);
}

export function deserializeCheckpoint(bytes: Uint8Array): Checkpoint {
  const { version, header, tensors } = decodeContainer<CheckpointHeader>(
    bytes,
    CHECKPOINT_MAGIC,
    'training checkpoint',
  );
  if (version !== CHECKPOINT_VERSION || header.format !== 'kaizen-checkpoint') {
    throw new KaizenError(
      'ArtifactIntegrity',
      `training checkpoint has format version ${version}; this Kaizen reads version ${CHECKPOINT_VERSION}`,
    );
  }
  const list = (prefix: string, n: number): NamedTensor[] =>
    Array.from({ length: n }, (_, i) => {
      const t = tensors.get(`${prefix}/${i}`);
      if (!t) throw new KaizenError('ArtifactIntegrity', `training checkpoint lacks tensor ${prefix}/${i}`);
      return t;
    });
  return {
    fingerprint: header.fingerprint,
    backend: header.backend,
    state: header.state,
    weights: list('weights', header.weights),
    optimizer: {
      iterations: header.optimizer.iterations,
      accBeta1: header.optimizer.accBeta1,
      accBeta2: header.optimizer.accBeta2,
      m: list('adam/m', header.optimizer.moments),
      v: list('adam/v', header.optimizer.moments),
    },
    best: header.best ? list('best', header.weights) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

export function validateTrainSpec(spec: TrainSpec): void {
  const positiveInt = (v: number): boolean => Number.isInteger(v) && v > 0;
  const bad = (field: string, want: string): never => {
    throw new KaizenError('TrainingFailed', `train.${field} must be ${want}`);
  };
  if (!positiveInt(spec.epochs)) bad('epochs', 'a positive integer');
  if (!positiveInt(spec.batchSize)) bad('batchSize', 'a positive integer');
  if (!(spec.learningRate > 0) || !Number.isFinite(spec.learningRate))
    bad('learningRate', 'a positive number');
  if (!Number.isInteger(spec.seed)) bad('seed', 'an integer');
  if (!Number.isInteger(spec.patience) || spec.patience < 0)
    bad('patience', 'an integer >= 0 (0 disables early stopping)');
  if (!Number.isInteger(spec.heartbeatEveryBatches) || spec.heartbeatEveryBatches < 0)
    bad('heartbeatEveryBatches', 'an integer >= 0');
  if (!Array.isArray(spec.hiddenUnits) || !spec.hiddenUnits.every(positiveInt))
    bad('hiddenUnits', 'a list of positive integers');
  if (spec.classWeights !== undefined && spec.classWeights !== 'none' && spec.classWeights !== 'balanced')
    bad('classWeights', '"none" or "balanced"');
  if (spec.l2 !== undefined && !(spec.l2 >= 0 && Number.isFinite(spec.l2))) bad('l2', 'a number >= 0');
  const t = spec.decisionThreshold;
  if (t !== undefined && t !== 'f1' && t !== 'accuracy' && !(typeof t === 'number' && t > 0 && t < 1))
    bad('decisionThreshold', '"f1", "accuracy" or a number between 0 and 1');
}

/**
 * Loss weight per class for `classWeights: "balanced"`: n / (k · n_c) over the k classes present
 * in the training split; null without weighting.
 */
export function balancedClassWeights(labels: ArrayLike<number>, classCount: number): Float32Array {
  const counts = new Float64Array(classCount);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  const present = counts.filter((c) => c > 0).length;
  return Float32Array.from(counts, (c) => (c > 0 ? labels.length / (present * c) : 0));
}

/** Trains on `<datasetDir>/train.parquet`, validating on `validation.parquet` after every epoch. */
export async function trainModel(input: TrainInput): Promise<TrainResult> {
  const spec = input.trainSpec;
  validateTrainSpec(spec);
  const backend = await selectBackend(spec.backend);
  const meta = await readDatasetMeta(input.datasetDir);
  const [train, validation] = await Promise.all([
    readSplit(input.datasetDir, 'train', meta),
    readSplit(input.datasetDir, 'validation', meta),
  ]);
  if (train.features.rows === 0)
    throw new KaizenError('TrainingFailed', `${input.datasetDir}/train.parquet has no rows`);
  return runTraining({ ...input, train, validation, backend });
}

export interface TrainEncodedInput extends Omit<TrainInput, 'datasetDir'> {
  train: EncodedSplit;
  validation: EncodedSplit;
}

/**
 * trainModel on splits already read and encoded (readSplit): for callers that train several
 * models on one dataset (hyper-parameter search) and for benchmarks of the loop alone.
 */
export async function trainEncoded(input: TrainEncodedInput): Promise<TrainResult> {
  validateTrainSpec(input.trainSpec);
  const backend = await selectBackend(input.trainSpec.backend);
  if (input.train.features.rows === 0)
    throw new KaizenError('TrainingFailed', 'the training split has no rows');
  return runTraining({ ...input, backend });
}

interface LoopInput extends TrainEncodedInput {
  backend: BackendInfo;
}

async function runTraining(input: LoopInput): Promise<TrainResult> {
  const { train, validation, trainSpec: spec, backend, signal } = input;
  const task = train.transforms.task;
  const classCount = task === 'regression' ? 1 : classesOf(train).length;
  if (spec.classWeights === 'balanced' && task === 'regression') {
    throw new KaizenError(
      'TrainingFailed',
      'train.classWeights "balanced" applies to classification; this target is a regression',
    );
  }
  const classWeight =
    spec.classWeights === 'balanced'
      ? balancedClassWeights(train.target.values, task === 'binary' ? 2 : classCount)
      : null;
  const architecture = describeArchitecture(train.transforms, spec);
  const fingerprint = checkpointFingerprint(train, spec, architecture);

  const model = buildModel(train.transforms, spec);
  const optimizer = tf.train.adam(spec.learningRate, ADAM.beta1, ADAM.beta2);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const penalty = spec.l2 ? { l2: spec.l2, kernels: model.trainableWeights.filter((w) => w.originalName.endsWith('/kernel')).map((w) => w.read()) } : null;
  const rng = new Mulberry32(spec.seed);
  let state: LoopState = {
    epoch: 0,
    rngState: rng.state,
    bestScore: null,
    bestEpoch: 0,
    wait: 0,
    stopped: false,
    history: [],
  };
  let best: Float32Array[] | null = null;
  let resumedFromEpoch: number | null = null;
  let samples = 0;
  const started = performance.now();

  try {
    if (signal?.aborted) throw abortReason(signal);
    if (input.resume) {
      const c = deserializeCheckpoint(input.resume);
      if (c.fingerprint !== fingerprint) {
        throw new KaizenError(
          'TrainingFailed',
          'the checkpoint was made for a different dataset, transforms or train spec; train from scratch',
        );
      }
      await restoreCheckpoint(c, model, optimizer);
      state = structuredClone(c.state);
      best = c.best ? c.best.map((t) => t.data as Float32Array) : null;
      rng.state = state.rngState;
      resumedFromEpoch = state.epoch;
    }

    const n = train.features.rows;
    const batchesPerEpoch = Math.ceil(n / spec.batchSize);
    while (state.epoch < spec.epochs && !state.stopped) {
      const epoch = state.epoch + 1;
      const order = rng.permutation(n);
      let lossSum = 0;
      let lastProgress = performance.now();
      for (let b = 0; b < batchesPerEpoch; b++) {
        if (signal?.aborted) throw abortReason(signal);
        const indices = order.subarray(b * spec.batchSize, Math.min(n, (b + 1) * spec.batchSize));
        const loss = trainBatch(model, optimizer, variables, task, classCount, train, indices, classWeight, penalty);
        if (!Number.isFinite(loss)) {
          throw new KaizenError(
            'TrainingFailed',
            `loss became ${Number.isNaN(loss) ? 'NaN' : 'infinite'} at epoch ${epoch}; lower train.learningRate`,
            {
              epoch,
              batch: b + 1,
            },
          );
        }
        lossSum += loss * indices.length;
        samples += indices.length;
        // progress (and a chance for Temporal heartbeats to go out) by time, whatever a batch costs
        const due =
          performance.now() - lastProgress >= PROGRESS_EVERY_MS ||
          (spec.heartbeatEveryBatches > 0 && (b + 1) % spec.heartbeatEveryBatches === 0);
        if (due && b + 1 < batchesPerEpoch) {
          lastProgress = performance.now();
          const seen = Math.min(n, (b + 1) * spec.batchSize);
          await input.onProgress?.({
            epoch,
            epochs: spec.epochs,
            batch: b + 1,
            metrics: { loss: lossSum / seen },
          });
          // Let timers and I/O (Temporal heartbeats) run between batches.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      if (signal?.aborted) throw abortReason(signal);

      const trainLoss = lossSum / n;
      const evaluation =
        validation.features.rows > 0 ? validationMetrics(model, task, classCount, validation) : null;
      const score = evaluation ? evaluation.loss : trainLoss;
      if (!Number.isFinite(score)) {
        throw new KaizenError(
          'TrainingFailed',
          `validation loss became ${Number.isNaN(score) ? 'NaN' : 'infinite'} at epoch ${epoch}; lower train.learningRate`,
          { epoch },
        );
      }
      state.history.push({
        epoch,
        loss: trainLoss,
        ...(evaluation ? { valLoss: evaluation.loss } : {}),
        metrics: evaluation?.metrics ?? {},
      });
      if (state.bestScore === null || score < state.bestScore) {
        state.bestScore = score;
        state.bestEpoch = epoch;
        state.wait = 0;
        best = snapshotWeights(model);
      } else {
        state.wait++;
        if (spec.patience > 0 && state.wait >= spec.patience) state.stopped = true;
      }
      state.epoch = epoch;
      state.rngState = rng.state;

      if (input.onProgress) {
        const checkpoint = serializeCheckpoint(
          await captureCheckpoint(fingerprint, backend.name, state, model, optimizer, best),
        );
        const metrics: Metrics = {
          loss: trainLoss,
          ...(evaluation ? { valLoss: evaluation.loss, ...evaluation.metrics } : {}),
        };
        await input.onProgress({ epoch, epochs: spec.epochs, metrics, checkpoint });
      }
    }
    const seconds = (performance.now() - started) / 1000;

    if (best) restoreWeights(model, best);
    const decisionThreshold = task === 'binary' ? chooseThreshold(model, validation, spec) : undefined;
    const summary: TrainingSummary = {
      backend: backend.name,
      epochs: state.epoch,
      bestEpoch: state.bestEpoch,
      resumedFromEpoch,
      samplesPerSecond: seconds > 0 ? Math.round((samples / seconds) * 10) / 10 : 0,
      history: state.history,
      ...(decisionThreshold !== undefined ? { decisionThreshold } : {}),
    };
    const bundle: ModelBundle = {
      model,
      schema: train.schema,
      transforms: train.transforms,
      baseline: computeBaseline(task, train.target, classCount),
      metadata: {
        task,
        target: train.schema.target,
        ...(task === 'regression' ? {} : { classes: classesOf(train) }),
        backend,
        tfjsVersion: tf.version.tfjs,
        trainSpec: spec,
        architecture,
        training: summary,
      },
    };
    return { model: bundle, summary };
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    optimizer.dispose();
  }
}

function abortReason(signal: AbortSignal): Error {
  if (signal.reason instanceof Error) return signal.reason;
  const err = new Error(
    `training was aborted${signal.reason === undefined ? '' : `: ${String(signal.reason)}`}`,
  );
  err.name = 'AbortError';
  return err;
}

function checkpointFingerprint(
  train: EncodedSplit,
  spec: TrainSpec,
  architecture: ModelArchitecture,
): string {
  const identity = {
    architecture,
    batchSize: spec.batchSize,
    learningRate: spec.learningRate,
    seed: spec.seed,
    // only when set: checkpoints made before the field existed keep their fingerprint
    ...(spec.classWeights === 'balanced' ? { classWeights: 'balanced' } : {}),
    ...(spec.l2 ? { l2: spec.l2 } : {}),
    rows: train.features.rows,
    target: train.schema.target,
    transforms: train.transforms,
  };
  return sha256Hex(Buffer.from(JSON.stringify(identity), 'utf8'));
}

/** The per-sample mean loss of a batch, as the optimiser minimises it. */
function batchLoss(
  task: TaskKind,
  classCount: number,
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  rowWeights: tf.Tensor | null,
): tf.Scalar {
  const weighted = (perRow: tf.Tensor): tf.Scalar =>
    tf.mean(rowWeights ? tf.mul(perRow.reshape([-1]), rowWeights) : perRow);
  switch (task) {
    case 'binary':
      return weighted(tf.metrics.binaryCrossentropy(yTrue, yPred));
    case 'multiclass':
      return weighted(
        tf.metrics.categoricalCrossentropy(
          tf.cast(tf.oneHot(yTrue as tf.Tensor1D, classCount), 'float32'),
          yPred,
        ),
      );
    case 'regression':
      return tf.mean(tf.metrics.meanSquaredError(yTrue, yPred));
  }
}

function trainBatch(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  task: TaskKind,
  classCount: number,
  split: EncodedSplit,
  indices: Uint32Array,
  classWeight: Float32Array | null,
  penalty: { l2: number; kernels: tf.Tensor[] } | null,
): number {
  const batch = sliceEncoded(split.features, indices);
  const rows = indices.length;
  const labels = task === 'multiclass' ? new Int32Array(rows) : new Float32Array(rows);
  for (let i = 0; i < rows; i++) labels[i] = split.target.values[indices[i]!]!;
  const weights = classWeight ? Float32Array.from(labels, (l) => classWeight[l]!) : null;
  const cost = tf.tidy(() => {
    const xs = modelInputs(batch);
    const y =
      task === 'multiclass' ? tf.tensor1d(labels, 'int32') : tf.tensor2d(labels, [rows, 1], 'float32');
    const w = weights ? tf.tensor1d(weights, 'float32') : null;
    return optimizer.minimize(
      () => {
        const loss = batchLoss(
          task,
          classCount,
          y,
          model.apply(xs.length === 1 ? xs[0]! : xs, { training: true }) as tf.Tensor,
          w,
        );
        if (!penalty) return loss;
        return tf.add(loss, tf.mul(penalty.l2, tf.addN(penalty.kernels.map((k) => tf.sum(tf.square(k)))))) as tf.Scalar;
      },
      true,
      variables,
    )!;
  });
  const value = cost.dataSync()[0]!;
  cost.dispose();
  return value;
}

/** Validation loss (the training loss, in float64 from the predictions) and the task's metric. */
function validationMetrics(
  model: tf.LayersModel,
  task: TaskKind,
  classCount: number,
  split: EncodedSplit,
): { loss: number; metrics: Metrics } {
  const out = predictEncoded(model, split.features);
  const y = split.target.values;
  const n = y.length;
  const eps = tf.backend().epsilon();
  let loss = 0;
  switch (task) {
    case 'binary': {
      let correct = 0;
      for (let i = 0; i < n; i++) {
        const p = Math.min(1 - eps, Math.max(eps, out[i]!));
        loss -= y[i] === 1 ? Math.log(p) : Math.log(1 - p);
        if ((out[i]! >= 0.5 ? 1 : 0) === y[i]) correct++;
      }
      const metrics: Metrics = { valAccuracy: correct / n };
      const auc = rocAuc(y, out);
      if (!Number.isNaN(auc)) metrics['valAuc'] = auc;
      return { loss: loss / n, metrics };
    }
    case 'multiclass': {
      let correct = 0;
      for (let i = 0; i < n; i++) {
        const k = y[i]!;
        loss -= Math.log(Math.min(1 - eps, Math.max(eps, out[i * classCount + k]!)));
        let best = 0;
        for (let j = 1; j < classCount; j++)
          if (out[i * classCount + j]! > out[i * classCount + best]!) best = j;
        if (best === k) correct++;
      }
      return { loss: loss / n, metrics: { valAccuracy: correct / n } };
    }
    case 'regression': {
      const std =
        split.transforms.targetStd !== undefined && split.transforms.targetStd > 0
          ? split.transforms.targetStd
          : 1;
      for (let i = 0; i < n; i++) loss += (out[i]! - y[i]!) ** 2;
      return { loss: loss / n, metrics: { valRmse: Math.sqrt(loss / n) * std } };
    }
  }
}

/** The binary decision threshold: fixed by the spec, or the validation split's best for its objective. */
function chooseThreshold(model: tf.LayersModel, validation: EncodedSplit, spec: TrainSpec): number {
  const rule = spec.decisionThreshold ?? 0.5;
  if (typeof rule === 'number') return rule;
  if (validation.features.rows === 0) return 0.5;
  return bestThreshold(validation.target.values, predictEncoded(model, validation.features), rule);
}

function snapshotWeights(model: tf.LayersModel): Float32Array[] {
  // slice(): the cpu backend hands out its own storage, which later steps overwrite.
  return model.weights.map((w) => (w.read().dataSync() as Float32Array).slice());
}

function restoreWeights(model: tf.LayersModel, values: readonly Float32Array[]): void {
  const tensors = model.weights.map((w, i) => tf.tensor(values[i]!, w.shape as number[], 'float32'));
  model.setWeights(tensors);
  tf.dispose(tensors);
}

async function captureCheckpoint(
  fingerprint: string,
  backend: string,
  state: LoopState,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  best: Float32Array[] | null,
): Promise<Checkpoint> {
  const weights = model.weights.map((w) => ({
    name: w.originalName,
    shape: [...w.shape] as number[],
    data: w.read().dataSync() as Float32Array,
  }));
  const saved = await optimizer.getWeights();
  const [iterations, ...moments] = saved;
  const iterationCount = iterations ? (iterations.tensor.dataSync()[0] ?? 0) : 0;
  iterations?.tensor.dispose(); // a fresh scalar made by getWeights(); the moments are live variables
  const toNamed = (s: { name: string; tensor: tf.Tensor }): NamedTensor => ({
    name: s.name,
    shape: [...s.tensor.shape],
    data: s.tensor.dataSync() as Float32Array,
  });
  const half = moments.length / 2;
  const internals = optimizer as unknown as AdamInternals;
  return {
    fingerprint,
    backend,
    state,
    weights,
    optimizer: {
      iterations: iterationCount,
      accBeta1: internals.accBeta1.dataSync()[0]!,
      accBeta2: internals.accBeta2.dataSync()[0]!,
      m: moments.slice(0, half).map(toNamed),
      v: moments.slice(half).map(toNamed),
    },
    best: best
      ? model.weights.map((w, i) => ({
          name: w.originalName,
          shape: [...w.shape] as number[],
          data: best[i]!,
        }))
      : null,
  };
}

async function restoreCheckpoint(
  c: Checkpoint,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
): Promise<void> {
  if (
    c.weights.length !== model.weights.length ||
    c.weights.some((t, i) => t.shape.join(',') !== model.weights[i]!.shape.join(','))
  ) {
    throw new KaizenError('TrainingFailed', 'the checkpoint does not fit this model; train from scratch');
  }
  restoreWeights(
    model,
    c.weights.map((t) => t.data as Float32Array),
  );
  const iterations = tf.scalar(c.optimizer.iterations, 'int32');
  const moments = [...c.optimizer.m, ...c.optimizer.v].map((t) => ({
    name: t.name,
    tensor: tf.tensor(t.data, t.shape, 'float32'),
  }));
  await optimizer.setWeights([{ name: 'iter', tensor: iterations }, ...moments]);
  tf.dispose([iterations, ...moments.map((m) => m.tensor)]);
  const internals = optimizer as unknown as AdamInternals;
  // float32 values round-trip exactly through the float64 JSON numbers.
  tf.tidy(() => {
    internals.accBeta1.assign(tf.scalar(c.optimizer.accBeta1, 'float32'));
    internals.accBeta2.assign(tf.scalar(c.optimizer.accBeta2, 'float32'));
  });
}
