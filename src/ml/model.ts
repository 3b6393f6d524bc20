// The model factory: an MLP over standardised numerics and categorical indices. Small vocabularies
// are one-hot encoded; large ones get a learned embedding. The embedding is a one-hot followed by
// a bias-free dense layer — mathematically an embedding lookup — because the wasm backend has no
// gradient kernel for gather (UnsortedSegmentSum), and one architecture must train on every backend.
import * as tf from '@tensorflow/tfjs';
import type { EncodedFeatures } from './dataset';
import type { TaskKind, TrainSpec, Transforms } from '../types';

/** Vocabularies (with their out-of-vocabulary bucket) up to this size are one-hot encoded. */
export const ONE_HOT_MAX_DEPTH = 32;
export const MAX_EMBEDDING_DIM = 16;

export interface CategoricalInput {
  feature: string;
  /** vocabulary.length + 1 (the out-of-vocabulary bucket) */
  depth: number;
  encoding: 'oneHot' | 'embedding';
  /** Width this feature contributes to the first hidden layer. */
  width: number;
}

/** Everything buildModel decides, derived deterministically from the transforms and the spec. */
export interface ModelArchitecture {
  task: TaskKind;
  numericFeatures: string[];
  categorical: CategoricalInput[];
  hiddenUnits: number[];
  outputUnits: number;
  outputActivation: 'sigmoid' | 'softmax' | 'linear';
  seed: number;
}

/** Rule of thumb for embedding sizes (≈ 1.6·n^0.56), capped. */
export function embeddingDim(depth: number): number {
  return Math.min(MAX_EMBEDDING_DIM, Math.max(2, Math.round(1.6 * depth ** 0.56)));
}

export function describeArchitecture(
  transforms: Transforms,
  trainSpec: Pick<TrainSpec, 'hiddenUnits' | 'seed'>,
): ModelArchitecture {
  const categorical: CategoricalInput[] = [];
  const numericFeatures: string[] = [];
  for (const t of transforms.features) {
    if (t.kind === 'numeric') {
      numericFeatures.push(t.name);
    } else {
      const depth = t.vocabulary.length + 1;
      const oneHot = depth <= ONE_HOT_MAX_DEPTH;
      categorical.push({
        feature: t.name,
        depth,
        encoding: oneHot ? 'oneHot' : 'embedding',
        width: oneHot ? depth : embeddingDim(depth),
      });
    }
  }
  const task = transforms.task;
  const classes = transforms.classes?.length ?? 0;
  return {
    task,
    numericFeatures,
    categorical,
    hiddenUnits: [...trainSpec.hiddenUnits],
    outputUnits: task === 'multiclass' ? classes : 1,
    outputActivation: task === 'binary' ? 'sigmoid' : task === 'multiclass' ? 'softmax' : 'linear',
    seed: trainSpec.seed,
  };
}

/** One-hot encodes an int index column [batch, 1] into [batch, depth] floats; out-of-range → all zeros. */
export class OneHot extends tf.layers.Layer {
  static readonly className = 'KaizenOneHot';
  readonly depth: number;

  constructor(args: { depth: number; name?: string }) {
    super(args);
    this.depth = args.depth;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0] ?? null, this.depth];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const indices = x.dtype === 'int32' ? x : tf.cast(x, 'int32');
      return tf.cast(tf.oneHot(tf.reshape(indices, [-1]), this.depth), 'float32');
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), depth: this.depth };
  }
}
tf.serialization.registerClass(OneHot);

/**
 * Builds a fresh, uncompiled model. Inputs, in order: `numeric` [batch, numericFeatures.length]
 * (absent when there are no numeric features), then one int32 `cat_<i>` [batch, 1] per categorical
 * feature. Every initialiser is seeded from trainSpec.seed, so the same spec builds the same weights.
 */
export function buildModel(
  transforms: Transforms,
  trainSpec: Pick<TrainSpec, 'hiddenUnits' | 'seed'>,
): tf.LayersModel {
  const arch = describeArchitecture(transforms, trainSpec);
  if (arch.task === 'multiclass' && arch.outputUnits < 2) {
    throw new Error('a multiclass model needs transforms.classes with at least two classes');
  }
  let seed = arch.seed;
  const nextSeed = (): number => (seed = (seed + 1) % 2 ** 31);
  const inputs: tf.SymbolicTensor[] = [];
  const branches: tf.SymbolicTensor[] = [];
  if (arch.numericFeatures.length > 0) {
    const numeric = tf.input({ shape: [arch.numericFeatures.length], dtype: 'float32', name: 'numeric' });
    inputs.push(numeric);
    branches.push(numeric);
  }
  arch.categorical.forEach((c, i) => {
    const input = tf.input({ shape: [1], dtype: 'int32', name: `cat_${i}` });
    inputs.push(input);
    let branch = new OneHot({ depth: c.depth, name: `onehot_${i}` }).apply(input) as tf.SymbolicTensor;
    if (c.encoding === 'embedding') {
      branch = tf.layers
        .dense({
          units: c.width,
          useBias: false,
          name: `embed_${i}`,
          kernelInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: nextSeed() }),
        })
        .apply(branch) as tf.SymbolicTensor;
    }
    branches.push(branch);
  });
  if (branches.length === 0) throw new Error('the model has no input features');
  let x =
    branches.length === 1
      ? branches[0]!
      : (tf.layers.concatenate({ name: 'features' }).apply(branches) as tf.SymbolicTensor);
  arch.hiddenUnits.forEach((units, k) => {
    x = tf.layers
      .dense({
        units,
        activation: 'relu',
        name: `hidden_${k + 1}`,
        kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed() }),
      })
      .apply(x) as tf.SymbolicTensor;
  });
  const output = tf.layers
    .dense({
      units: arch.outputUnits,
      activation: arch.outputActivation,
      name: 'output',
      kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed() }),
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs, outputs: output, name: 'kaizen_mlp' });
}

/** Tensors in the model's input order for encoded features (the caller disposes them). */
export function modelInputs(encoded: EncodedFeatures): tf.Tensor[] {
  const tensors: tf.Tensor[] = [];
  if (encoded.numericNames.length > 0)
    tensors.push(tf.tensor2d(encoded.numeric, [encoded.rows, encoded.numericNames.length], 'float32'));
  for (const column of encoded.categorical) tensors.push(tf.tensor2d(column, [encoded.rows, 1], 'int32'));
  return tensors;
}

/** Model outputs for encoded features, in chunks so memory stays bounded: rows × outputUnits. */
export function predictEncoded(model: tf.LayersModel, encoded: EncodedFeatures, chunk = 8192): Float32Array {
  const units = (model.outputs[0]?.shape[1] as number | undefined) ?? 1;
  const out = new Float32Array(encoded.rows * units);
  for (let start = 0; start < encoded.rows; start += chunk) {
    const end = Math.min(encoded.rows, start + chunk);
    const part = end - start === encoded.rows ? encoded : sliceRange(encoded, start, end);
    const values = tf.tidy(() => {
      const inputs = modelInputs(part);
      return (
        model.predict(inputs.length === 1 ? inputs[0]! : inputs) as tf.Tensor
      ).dataSync() as Float32Array;
    });
    out.set(values, start * units);
  }
  return out;
}

function sliceRange(encoded: EncodedFeatures, start: number, end: number): EncodedFeatures {
  const width = encoded.numericNames.length;
  return {
    rows: end - start,
    numericNames: encoded.numericNames,
    numeric: encoded.numeric.subarray(start * width, end * width),
    categoricalNames: encoded.categoricalNames,
    categorical: encoded.categorical.map((c) => c.subarray(start, end)),
  };
}
