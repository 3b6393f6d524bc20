import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/ml/backend';
import { encodeRows } from '../../../src/ml/dataset';
import { OneHot, buildModel, describeArchitecture, modelInputs, predictEncoded } from '../../../src/ml/model';
import type { Transforms } from '../../../src/types';

const airports = Array.from({ length: 300 }, (_, i) => `A${i}`);
const transforms: Transforms = {
  task: 'binary',
  classes: ['false', 'true'],
  features: [
    { name: 'distance', kind: 'numeric', impute: 700, mean: 700, std: 500 },
    { name: 'origin', kind: 'categorical', impute: 'A0', vocabulary: airports },
    { name: 'hour', kind: 'numeric', impute: 12, mean: 12, std: 5 },
    { name: 'weekday', kind: 'categorical', impute: '1', vocabulary: ['0', '1', '2', '3', '4', '5', '6'] },
  ],
};
const trainSpec = { hiddenUnits: [16, 8], seed: 3 };

const bits = (m: tf.LayersModel): number[][] =>
  m.getWeights().map((w) => Array.from(new Uint32Array((w.dataSync() as Float32Array).slice().buffer)));

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('buildModel', () => {
  it('one-hot encodes small vocabularies and embeds large ones', () => {
    const arch = describeArchitecture(transforms, trainSpec);
    expect(arch.numericFeatures).toEqual(['distance', 'hour']);
    expect(arch.categorical).toEqual([
      { feature: 'origin', depth: 301, encoding: 'embedding', width: 16 },
      { feature: 'weekday', depth: 8, encoding: 'oneHot', width: 8 },
    ]);
    const model = buildModel(transforms, trainSpec);
    expect(model.inputs.map((i) => [i.name, i.dtype, i.shape])).toEqual([
      ['numeric', 'float32', [null, 2]],
      ['cat_0', 'int32', [null, 1]],
      ['cat_1', 'int32', [null, 1]],
    ]);
    // embed 301×16 (no bias) + hidden (2+16+8)×16+16 + hidden 16×8+8 + output 8×1+1
    expect(model.countParams()).toBe(301 * 16 + (26 * 16 + 16) + (16 * 8 + 8) + (8 + 1));
    expect(model.outputs[0]!.shape).toEqual([null, 1]);
    expect(model.getLayer('output').getConfig()['activation']).toBe('sigmoid');
    model.dispose();
  });

  it('builds softmax and linear heads for multiclass and regression', () => {
    const multi = buildModel({ ...transforms, task: 'multiclass', classes: ['a', 'b', 'c'] }, trainSpec);
    expect(multi.outputs[0]!.shape).toEqual([null, 3]);
    expect(multi.getLayer('output').getConfig()['activation']).toBe('softmax');
    const reg = buildModel(
      { ...transforms, task: 'regression', classes: undefined, targetMean: 1, targetStd: 2 },
      trainSpec,
    );
    expect(reg.outputs[0]!.shape).toEqual([null, 1]);
    expect(reg.getLayer('output').getConfig()['activation']).toBe('linear');
    expect(() => buildModel({ ...transforms, task: 'multiclass', classes: ['a'] }, trainSpec)).toThrow(
      'at least two classes',
    );
    multi.dispose();
    reg.dispose();
  });

  it('is reproducible: the same seed builds bit-identical weights, another seed does not', () => {
    const a = buildModel(transforms, trainSpec);
    const b = buildModel(transforms, trainSpec);
    const c = buildModel(transforms, { ...trainSpec, seed: 4 });
    expect(bits(b)).toEqual(bits(a));
    expect(bits(c)).not.toEqual(bits(a));
    [a, b, c].forEach((m) => m.dispose());
  });

  it('predicts from encoded rows, and the OneHot layer maps out-of-range indices to zeros', () => {
    const model = buildModel(transforms, trainSpec);
    const encoded = encodeRows(transforms, [
      { distance: 100, origin: 'A7', hour: 3, weekday: 2 },
      { distance: null, origin: 'ZZZ', hour: 23, weekday: 9 },
    ]);
    const inputs = modelInputs(encoded);
    expect(inputs.map((t) => t.shape)).toEqual([
      [2, 2],
      [2, 1],
      [2, 1],
    ]);
    tf.dispose(inputs);
    const p = predictEncoded(model, encoded, 1);
    expect(p).toHaveLength(2);
    expect(Array.from(p).every((v) => v > 0 && v < 1)).toBe(true);
    // chunking does not change the result
    expect(Array.from(predictEncoded(model, encoded))).toEqual(Array.from(p));
    model.dispose();

    const layer = new OneHot({ depth: 3 });
    const out = tf.tidy(() =>
      (layer.apply(tf.tensor2d([[0], [2], [5]], [3, 1], 'int32')) as tf.Tensor).arraySync(),
    );
    expect(out).toEqual([
      [1, 0, 0],
      [0, 0, 1],
      [0, 0, 0],
    ]);
    expect(layer.computeOutputShape([null, 1])).toEqual([null, 3]);
  });
});
