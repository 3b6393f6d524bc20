import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/ml/backend';
import {
  BUNDLE_FILE,
  baselinePredict,
  disposeBundle,
  loadBundle,
  predict,
  saveBundle,
  type ModelBundle,
  type Prediction,
} from '../../../src/ml/bundle';
import { encodeRows, readSplit } from '../../../src/ml/dataset';
import { predictEncoded } from '../../../src/ml/model';
import { binaryMetrics, evaluateModel } from '../../../src/ml/evaluate';
import { trainModel } from '../../../src/ml/train';
import { KaizenError } from '../../../src/errors';
import { makeFlightsDataset, type BuiltDataset } from './make-dataset';
import { spec } from './reproducibility';

/** Same labels, and probabilities/values equal to float32 rounding (compiled pass vs tfjs). */
function expectSamePredictions(got: Prediction[], want: Prediction[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    const w = want[i]!;
    expect(Object.keys(g)).toEqual(Object.keys(w));
    if ('label' in g && 'label' in w) expect(g.label).toBe(w.label);
    const numbers = (p: Prediction): number[] =>
      'value' in p ? [p.value] : 'probability' in p ? [p.probability] : Object.values(p.probabilities);
    const [a, b] = [numbers(g), numbers(w)];
    expect(a.length).toBe(b.length);
    a.forEach((x, k) => expect(Math.abs(x - b[k]!)).toBeLessThan(1e-6));
  });
}

let root: string;
let data: BuiltDataset;
let bundle: ModelBundle;

const instances = [
  { distance: 1000, hour: 18, origin: 'ORD', weekday: 5 },
  { distance: 300, hour: 7, origin: 'ATL', weekday: 1 },
  { distance: null, hour: 22, origin: 'SFO', weekday: 6 },
];

beforeAll(async () => {
  await selectBackend('cpu');
  root = await mkdtemp(path.join(os.tmpdir(), 'kaizen-ml-bundle-'));
  data = await makeFlightsDataset(path.join(root, 'data'), { rows: 2500, nullEvery: 29 });
  bundle = (await trainModel({ datasetDir: data.dir, trainSpec: spec('cpu', { epochs: 2 }) })).model;
});
afterAll(async () => {
  disposeBundle(bundle);
  await rm(root, { recursive: true, force: true });
});

describe('model bundle', () => {
  it('saves one file whose sha256 is deterministic, and loads it back to identical predictions', async () => {
    const dir = path.join(root, 'saved');
    const saved = await saveBundle(bundle, dir);
    expect(saved.files).toEqual([BUNDLE_FILE]);
    const bytes = await readFile(path.join(dir, BUNDLE_FILE));
    expect(saved.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await saveBundle(bundle, path.join(root, 'saved-again'))).sha256).toBe(saved.sha256);

    const loaded = await loadBundle(dir, saved.sha256);
    expect(loaded.transforms).toEqual(bundle.transforms);
    expect(loaded.schema).toEqual(bundle.schema);
    expect(loaded.baseline).toEqual(bundle.baseline);
    expect(loaded.metadata).toEqual(bundle.metadata);
    expect(loaded.metadata).toMatchObject({
      task: 'binary',
      classes: ['false', 'true'],
      tfjsVersion: '4.22.0',
      backend: { name: 'cpu' },
    });
    // the weights come back exactly (tfjs gives identical outputs) …
    const encoded = encodeRows(bundle.transforms, instances);
    expect(predictEncoded(loaded.model, encoded)).toEqual(predictEncoded(bundle.model, encoded));
    // … and the loaded bundle predicts through the compiled pass, to float32 rounding
    expect(loaded.compiled).toMatchObject({ reason: null });
    expectSamePredictions(predict(loaded, instances).predictions, predict(bundle, instances).predictions);
    expect(await loadBundle(path.join(dir, BUNDLE_FILE), `sha256:${saved.sha256}`)).toBeTruthy();
    disposeBundle(loaded);
  });

  it('refuses a tampered file or a wrong sha256 with ArtifactIntegrity', async () => {
    const dir = path.join(root, 'tampered');
    const { sha256 } = await saveBundle(bundle, dir);
    const file = path.join(dir, BUNDLE_FILE);
    const bytes = await readFile(file);
    await expect(loadBundle(dir, 'f'.repeat(64))).rejects.toMatchObject({
      type: 'ArtifactIntegrity',
      message: expect.stringContaining(`has sha256 ${sha256}`),
    });
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 1000]! ^= 0x01; // one bit of one weight
    await writeFile(file, tampered);
    await expect(loadBundle(dir, sha256)).rejects.toBeInstanceOf(KaizenError);
    await expect(loadBundle(dir, sha256)).rejects.toMatchObject({ type: 'ArtifactIntegrity' });
    // without the recorded hash, the file's own digest still catches it
    await expect(loadBundle(dir)).rejects.toMatchObject({
      type: 'ArtifactIntegrity',
      message: expect.stringContaining('embedded sha256'),
    });
    await writeFile(file, bytes.subarray(0, 20));
    await expect(loadBundle(dir)).rejects.toMatchObject({ type: 'ArtifactIntegrity' });
    await expect(loadBundle(path.join(root, 'missing'))).rejects.toMatchObject({ type: 'ArtifactIntegrity' });
  });

  it('predicts labels with the positive-class probability, imputes nulls and buckets unknown categories', () => {
    const { predictions } = predict(bundle, instances);
    expect(predictions).toHaveLength(3);
    for (const p of predictions) {
      expect(p).toEqual({ label: expect.stringMatching(/^(true|false)$/), probability: expect.any(Number) });
      const { label, probability } = p as { label: string; probability: number };
      expect(label).toBe(probability >= 0.5 ? 'true' : 'false');
    }
    const distance = bundle.transforms.features.find((f) => f.name === 'distance')!;
    expect(distance.kind).toBe('numeric');
    const impute = distance.kind === 'numeric' ? distance.impute : 0;
    const row = instances[2]!;
    expect(predict(bundle, [row]).predictions).toEqual(
      predict(bundle, [{ ...row, distance: impute }]).predictions,
    );
    expect(predict(bundle, [{ ...row, origin: 'ZZZ' }]).predictions).toEqual(
      predict(bundle, [{ ...row, origin: 'QQQ' }]).predictions,
    );
    expect(predict(bundle, [{ ...row, origin: 'ZZZ' }]).predictions).not.toEqual(
      predict(bundle, [{ ...row, origin: 'ORD' }]).predictions,
    );
    expect(predict(bundle, []).predictions).toEqual([]);
  });

  it('rejects a missing feature or a wrong type with InvalidInput naming the field', () => {
    const bad = [...instances, { distance: '1000', hour: 3, origin: 'ORD', weekday: 1 }];
    expect(() => predict(bundle, bad)).toThrow(
      expect.objectContaining({
        type: 'InvalidInput',
        message: 'instances[3].distance: expected a number, got string',
      }),
    );
    expect(() => predict(bundle, [{ distance: 1, origin: 'ORD', weekday: 1 }])).toThrow(
      'instances[0].hour: missing; expected a number',
    );
  });

  it('stores the naive baseline: the training majority class with its prior', async () => {
    const train = await readSplit(data.dir, 'train');
    const positives = train.target.values.reduce((a, b) => a + b, 0);
    const rate = positives / train.features.rows;
    expect(bundle.baseline).toEqual({ task: 'binary', positiveRate: rate });
    const { predictions } = baselinePredict(bundle, [{}, { anything: 'goes' }]);
    expect(predictions).toEqual([
      { label: rate >= 0.5 ? 'true' : 'false', probability: Math.fround(rate) },
      { label: rate >= 0.5 ? 'true' : 'false', probability: Math.fround(rate) },
    ]);
  });

  it('evaluates on the test split next to the baseline, scored by the same functions', async () => {
    const report = await evaluateModel(bundle, data.dir);
    expect(report.task).toBe('binary');
    expect(report.rows).toBe(data.rows.test);
    expect(Object.keys(report.test).sort()).toEqual([
      'accuracy',
      'auc',
      'brier',
      'ece',
      'f1',
      'logLoss',
      'precision',
      'recall',
    ]);
    const test = await readSplit(data.dir, 'test');
    const rate = (bundle.baseline as { positiveRate: number }).positiveRate;
    expect(report.baseline).toEqual(
      binaryMetrics(test.target.values, new Float32Array(test.features.rows).fill(rate)),
    );
    expect(report.baseline['auc']).toBe(0.5);
    expect(report.test['auc']).toBeGreaterThan(0.5);
    const confusion = (report.details as { confusion: Record<string, number> }).confusion;
    expect(confusion['tp']! + confusion['fp']! + confusion['tn']! + confusion['fn']!).toBe(report.rows);
  });

  it('predicts class probabilities for multiclass and values in original units for regression', async () => {
    const multi = await makeFlightsDataset(path.join(root, 'multi'), { rows: 1200, task: 'multiclass' });
    const m = (await trainModel({ datasetDir: multi.dir, trainSpec: spec('cpu', { epochs: 1 }) })).model;
    const saved = await saveBundle(m, path.join(root, 'multi-bundle'));
    const loaded = await loadBundle(path.join(root, 'multi-bundle'), saved.sha256);
    const mp = predict(loaded, instances).predictions;
    expectSamePredictions(mp, predict(m, instances).predictions);
    for (const p of mp) {
      const { label, probabilities } = p as { label: string; probabilities: Record<string, number> };
      expect(Object.keys(probabilities)).toEqual(['early', 'late', 'on_time']);
      expect(Object.values(probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(probabilities[label]).toBe(Math.max(...Object.values(probabilities)));
    }
    const mr = await evaluateModel(loaded, multi.dir);
    expect(Object.keys(mr.test).sort()).toEqual(['accuracy', 'ece', 'logLoss', 'macroF1']);
    expect(mr.details).toHaveProperty('confusionMatrix');
    [m, loaded].forEach(disposeBundle);

    const reg = await makeFlightsDataset(path.join(root, 'reg'), { rows: 1200, task: 'regression' });
    const r = (await trainModel({ datasetDir: reg.dir, trainSpec: spec('cpu', { epochs: 1 }) })).model;
    const rp = predict(r, instances).predictions;
    expect(rp.every((p) => 'value' in p && Number.isFinite(p.value))).toBe(true);
    expect(baselinePredict(r, [{}]).predictions).toEqual([
      { value: expect.closeTo(reg.transforms.targetMean!, 3) },
    ]);
    const rr = await evaluateModel(r, reg.dir);
    expect(Object.keys(rr.test).sort()).toEqual(['mae', 'r2', 'rmse']);
    expect(rr.baseline['r2']).toBeLessThanOrEqual(0);
    disposeBundle(r);
  });
});
