import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/ml/backend';
import type { EncodedFeatures } from '../../../src/ml/dataset';
import { compileForward } from '../../../src/ml/forward';
import { buildModel, ONE_HOT_MAX_DEPTH, predictEncoded } from '../../../src/ml/model';
import type { FeatureTransform, TaskKind, Transforms } from '../../../src/types';
import { rng } from '../data/helpers';

beforeAll(async () => {
  await selectBackend('cpu');
});

const numeric = (name: string): FeatureTransform => ({ name, kind: 'numeric', impute: 0, mean: 0, std: 1 });
const categorical = (name: string, size: number): FeatureTransform => ({
  name,
  kind: 'categorical',
  impute: 'v0',
  vocabulary: Array.from({ length: size }, (_, i) => `v${i}`),
});

/** A model of the pipeline's architecture with every weight (biases too) set at random. */
function randomModel(features: FeatureTransform[], task: TaskKind, hiddenUnits: number[], seed: number) {
  const transforms: Transforms = {
    features,
    task,
    ...(task === 'multiclass' ? { classes: ['a', 'b', 'c', 'd'] } : {}),
  };
  const model = buildModel(transforms, { hiddenUnits, seed });
  const next = rng(seed);
  model.setWeights(
    model.getWeights().map((w) => tf.tensor(Float32Array.from({ length: w.size }, () => (next() - 0.5) * 0.8), w.shape)),
  );
  return { model, transforms };
}

/** Rows of standardised numerics and category indices, some out of the vocabulary's range. */
function randomRows(transforms: Transforms, rows: number, seed: number): EncodedFeatures {
  const next = rng(seed);
  const nums = transforms.features.filter((f) => f.kind === 'numeric');
  const cats = transforms.features.filter((f) => f.kind === 'categorical');
  return {
    rows,
    numericNames: nums.map((f) => f.name),
    numeric: Float32Array.from({ length: rows * nums.length }, () => (next() < 0.1 ? 0 : (next() - 0.5) * 8)),
    categoricalNames: cats.map((f) => f.name),
    categorical: cats.map((f) =>
      Int32Array.from({ length: rows }, () => Math.floor(next() * (f.vocabulary.length + 3)) - 1),
    ),
  };
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe('compiled forward pass', () => {
  const cases: [string, FeatureTransform[], TaskKind, number[]][] = [
    ['binary, one-hot and embedded categories', [numeric('a'), categorical('small', 6), numeric('b'), categorical('big', ONE_HOT_MAX_DEPTH + 40)], 'binary', [16, 8]],
    ['multiclass (softmax)', [numeric('a'), categorical('c', 3)], 'multiclass', [12]],
    ['regression (linear output)', [numeric('a'), numeric('b'), numeric('c')], 'regression', [8, 8, 4]],
    ['no numeric input, no hidden layer', [categorical('only', 50)], 'binary', []],
    ['a single numeric input', [numeric('x')], 'regression', [5]],
  ];
  for (const [name, features, task, hidden] of cases) {
    it(`matches tfjs to float32 rounding: ${name}`, () => {
      const { model, transforms } = randomModel(features, task, hidden, 7);
      const { forward, reason } = compileForward(model);
      expect(reason).toBeNull();
      for (const rows of [1, 3, 64, 300]) {
        const encoded = randomRows(transforms, rows, rows);
        const want = predictEncoded(model, encoded);
        const got = forward!(encoded);
        expect(got.length).toBe(rows * (task === 'multiclass' ? 4 : 1));
        expect(maxDifference(got, want)).toBeLessThan(1e-6);
      }
      model.dispose();
    });
  }

  it('declines a graph it does not know, saying which part, so tfjs serves it', () => {
    const input = tf.input({ shape: [3], name: 'numeric' });
    const hidden = tf.layers.dense({ units: 4, activation: 'tanh', name: 'hidden_1' }).apply(input) as tf.SymbolicTensor;
    const output = tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'output' }).apply(hidden) as tf.SymbolicTensor;
    const tanh = tf.model({ inputs: input, outputs: output });
    expect(compileForward(tanh)).toEqual({ forward: null, reason: expect.stringMatching(/hidden_1/) });

    const dropout = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(input) as tf.SymbolicTensor;
    const out2 = tf.layers.dense({ units: 1, name: 'output' }).apply(dropout) as tf.SymbolicTensor;
    expect(compileForward(tf.model({ inputs: input, outputs: out2 })).forward).toBeNull();
    tanh.dispose();
  });

  it('leaves a model whose folded category tables would be too large to tfjs', () => {
    const { model } = randomModel([categorical('c', 9)], 'binary', [4], 1);
    expect(compileForward(model, { maxTableFloats: 10 * 4 - 1 })).toEqual({
      forward: null,
      reason: 'the category tables would hold 40 numbers (at most 39)',
    });
    expect(compileForward(model, { maxTableFloats: 40 }).forward).not.toBeNull();
    model.dispose();
  });

  it('refuses encoded features of another shape', () => {
    const { model, transforms } = randomModel([numeric('a'), categorical('c', 4)], 'binary', [4], 1);
    const { forward } = compileForward(model);
    const encoded = randomRows(transforms, 2, 1);
    expect(() => forward!({ ...encoded, categorical: [] })).toThrow(/1 numeric and 0 categorical columns; the model takes 1 and 1/);
    model.dispose();
  });
});
