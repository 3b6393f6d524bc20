import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/ml/backend';
import { decisionThreshold, deserializeBundle, disposeBundle, predict, serializeBundle } from '../../../src/ml/bundle';
import { evaluateModel } from '../../../src/ml/evaluate';
import {
  balancedClassWeights,
  deserializeCheckpoint,
  serializeCheckpoint,
  trainModel,
  validateTrainSpec,
  type ProgressReport,
} from '../../../src/ml/train';
import { KaizenError } from '../../../src/errors';
import { parsePipelineSpec } from '../../../src/policy/spec-schema';
import { makeFlightsDataset, type BuiltDataset } from './make-dataset';
import { spec, trainCollecting, weightBits } from './reproducibility';

let root: string;
let binary: BuiltDataset;

beforeAll(async () => {
  await selectBackend('cpu');
  root = await mkdtemp(path.join(os.tmpdir(), 'kaizen-ml-train-'));
  binary = await makeFlightsDataset(path.join(root, 'binary'), { rows: 2500 });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('trainModel', () => {
  it('reports heartbeats every N batches, yields to the event loop between them, and a checkpoint every epoch', async () => {
    const reports: ProgressReport[] = [];
    const loopTurns: string[] = [];
    const turnsSeenAtHeartbeat: number[] = [];
    const result = await trainModel({
      datasetDir: binary.dir,
      trainSpec: spec('cpu', { epochs: 2, batchSize: 100, heartbeatEveryBatches: 5 }),
      onProgress: async (p) => {
        reports.push(p);
        if (p.batch === undefined) return;
        turnsSeenAtHeartbeat.push(loopTurns.length);
        setImmediate(() => loopTurns.push(`${p.epoch}:${p.batch}`));
      },
    });
    // 1750 training rows / 100 = 18 batches: heartbeats after batches 5, 10, 15, then the epoch report
    const shape = reports.map((r) => (r.batch === undefined ? `epoch ${r.epoch}` : `${r.epoch}:${r.batch}`));
    expect(shape).toEqual(['1:5', '1:10', '1:15', 'epoch 1', '2:5', '2:10', '2:15', 'epoch 2']);
    expect(reports.filter((r) => r.checkpoint).map((r) => r.epoch)).toEqual([1, 2]);
    expect(reports.every((r) => r.epochs === 2 && Number.isFinite(r.metrics['loss']))).toBe(true);
    expect(reports.find((r) => r.batch)!.checkpoint).toBeUndefined();
    expect(Object.keys(reports[3]!.metrics).sort()).toEqual(['loss', 'valAccuracy', 'valAuc', 'valLoss']);
    // each heartbeat's setImmediate ran before training went on to the next heartbeat
    expect(turnsSeenAtHeartbeat).toEqual([0, 1, 2, 3, 4, 5]);
    expect(loopTurns).toEqual(['1:5', '1:10', '1:15', '2:5', '2:10', '2:15']);
    expect(result.summary).toMatchObject({ backend: 'cpu', epochs: 2, resumedFromEpoch: null });
    expect(result.summary.samplesPerSecond).toBeGreaterThan(0);
    expect(result.summary.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(result.model.metadata).toMatchObject({
      task: 'binary',
      classes: ['false', 'true'],
      target: 'late',
    });
    disposeBundle(result.model);
  });

  it('stops within one batch when the signal is aborted, rejects with an AbortError and frees its tensors', async () => {
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const seen: string[] = [];
    const run = trainModel({
      datasetDir: binary.dir,
      trainSpec: spec('cpu', { epochs: 3, batchSize: 100, heartbeatEveryBatches: 1 }),
      signal: controller.signal,
      onProgress: async (p) => {
        seen.push(`${p.epoch}:${p.batch ?? 'end'}`);
        if (p.epoch === 2 && p.batch === 3) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen.at(-1)).toBe('2:3');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fails with TrainingFailed naming the epoch when the loss becomes NaN', async () => {
    const run = trainModel({
      datasetDir: binary.dir,
      trainSpec: spec('cpu', { learningRate: 1e38, epochs: 3 }),
    });
    await expect(run).rejects.toBeInstanceOf(KaizenError);
    await expect(run).rejects.toMatchObject({
      type: 'TrainingFailed',
      message: expect.stringMatching(/^loss became (NaN|infinite) at epoch \d+; lower train.learningRate$/),
    });
  });

  it('stops early after `patience` epochs without improvement and returns the best epoch weights', async () => {
    const { result, checkpoints } = await trainCollecting(
      binary.dir,
      spec('cpu', { epochs: 30, patience: 2, learningRate: 0.05 }),
    );
    const { epochs, bestEpoch, history } = result.summary;
    expect(epochs).toBeLessThan(30);
    expect(epochs).toBe(bestEpoch + 2);
    const losses = history.map((h) => h.valLoss!);
    expect(Math.min(...losses)).toBe(losses[bestEpoch - 1]);
    // the returned weights are the best epoch's, not the last epoch's
    const last = deserializeCheckpoint(checkpoints.get(epochs)!);
    expect(last.state.stopped).toBe(true);
    const best = last.best!.map((t) => Array.from(new Uint32Array(t.data.slice().buffer)));
    expect(weightBits(result).map((w) => Array.from(w))).toEqual(best);
    expect(weightBits(result).map((w) => Array.from(w))).not.toEqual(
      last.weights.map((t) => Array.from(new Uint32Array(t.data.slice().buffer))),
    );
    // resuming a finished run trains nothing and returns the same model
    const again = await trainModel({
      datasetDir: binary.dir,
      trainSpec: spec('cpu', { epochs: 30, patience: 2, learningRate: 0.05 }),
      resume: checkpoints.get(epochs)!,
    });
    expect(again.summary).toMatchObject({ epochs, bestEpoch, resumedFromEpoch: epochs });
    expect(weightBits(again)).toEqual(weightBits(result));
    disposeBundle(result.model);
    disposeBundle(again.model);
  });

  it('refuses a checkpoint from another spec, and a corrupted one', async () => {
    const { result, checkpoints } = await trainCollecting(binary.dir, spec('cpu', { epochs: 1 }));
    disposeBundle(result.model);
    const ck = checkpoints.get(1)!;
    expect(serializeCheckpoint(deserializeCheckpoint(ck)).equals(ck)).toBe(true);
    await expect(
      trainModel({ datasetDir: binary.dir, trainSpec: spec('cpu', { seed: 99 }), resume: ck }),
    ).rejects.toMatchObject({
      type: 'TrainingFailed',
      message: expect.stringContaining('different dataset'),
    });
    const tampered = Buffer.from(ck);
    tampered[tampered.length - 100]! ^= 1;
    expect(() => deserializeCheckpoint(tampered)).toThrow(
      expect.objectContaining({ type: 'ArtifactIntegrity' }),
    );
    await expect(
      trainModel({ datasetDir: binary.dir, trainSpec: spec('cpu'), resume: tampered }),
    ).rejects.toMatchObject({ type: 'ArtifactIntegrity' });
  });

  it('rejects a bad train spec naming the field', () => {
    expect(() => validateTrainSpec(spec('cpu', { batchSize: 0 }))).toThrow(
      'train.batchSize must be a positive integer',
    );
    expect(() => validateTrainSpec(spec('cpu', { learningRate: -1 }))).toThrow('train.learningRate');
    expect(() => validateTrainSpec(spec('cpu', { hiddenUnits: [8, 0] }))).toThrow('train.hiddenUnits');
  });

  it('trains multiclass and regression models', async () => {
    const multi = await makeFlightsDataset(path.join(root, 'multi'), { rows: 1500, task: 'multiclass' });
    const m = await trainModel({ datasetDir: multi.dir, trainSpec: spec('cpu', { epochs: 2 }) });
    expect(m.model.metadata.classes).toEqual(['early', 'late', 'on_time']);
    expect(m.model.model.outputs[0]!.shape).toEqual([null, 3]);
    expect(Object.keys(m.summary.history[1]!.metrics)).toEqual(['valAccuracy']);
    disposeBundle(m.model);

    const reg = await makeFlightsDataset(path.join(root, 'reg'), { rows: 1500, task: 'regression' });
    const r = await trainModel({ datasetDir: reg.dir, trainSpec: spec('cpu', { epochs: 2 }) });
    expect(r.model.model.outputs[0]!.shape).toEqual([null, 1]);
    expect(r.summary.history[1]!.metrics['valRmse']).toBeGreaterThan(0);
    expect(r.model.baseline).toEqual({
      task: 'regression',
      mean: expect.closeTo(reg.transforms.targetMean!, 6),
    });
    disposeBundle(r.model);
  });

  it('l2 shrinks the dense kernels, changes the checkpoint fingerprint, and refuses a negative λ', async () => {
    const norm = (r: Awaited<ReturnType<typeof trainModel>>): number =>
      r.model.model.weights
        .filter((w) => w.originalName.endsWith('/kernel'))
        .reduce((n, w) => n + (w.read().dataSync() as Float32Array).reduce((a, v) => a + v * v, 0), 0);
    const plain = await trainModel({ datasetDir: binary.dir, trainSpec: spec('cpu', { epochs: 2 }) });
    const reports: ProgressReport[] = [];
    const shrunk = await trainModel({
      datasetDir: binary.dir,
      trainSpec: spec('cpu', { epochs: 2, l2: 0.01 }),
      onProgress: async (p) => void reports.push(p),
    });
    expect(norm(shrunk)).toBeLessThan(norm(plain) * 0.8);
    disposeBundle(plain.model);
    disposeBundle(shrunk.model);
    const checkpoint = reports.find((r) => r.checkpoint)!.checkpoint!;
    await expect(
      trainModel({ datasetDir: binary.dir, trainSpec: spec('cpu', { epochs: 2 }), resume: checkpoint }),
    ).rejects.toThrow('the checkpoint was made for a different dataset, transforms or train spec');
    expect(() => validateTrainSpec({ ...spec('cpu'), l2: -1 })).toThrow('train.l2 must be a number >= 0');
  });

  it('binary: the decision threshold is chosen on validation for F1 (the spec default), kept in the bundle and labels with it', async () => {
    // the spec's default; a TrainSpec without the field keeps 0.5, as bundles from before it did
    expect(parsePipelineSpec({ model: 'm', data: { source: 'x.csv', target: 'y' } }).train.decisionThreshold).toBe('f1');
    const tuned = await trainModel({ datasetDir: binary.dir, trainSpec: spec('cpu', { epochs: 3, decisionThreshold: 'f1' }) });
    const fixed = await trainModel({ datasetDir: binary.dir, trainSpec: spec('cpu', { epochs: 3, decisionThreshold: 0.5 }) });
    const t = tuned.summary.decisionThreshold!;
    expect(t).toBeGreaterThan(0);
    expect(t).toBeLessThan(0.5); // late flights are the rare class
    expect(fixed.summary.decisionThreshold).toBe(0.5);
    const a = await evaluateModel(tuned.model, binary.dir);
    const b = await evaluateModel(fixed.model, binary.dir);
    expect(a.details).toMatchObject({ threshold: t });
    expect(a.test['f1']!).toBeGreaterThan(b.test['f1']! + 0.1);
    expect(a.test['auc']).toBe(b.test['auc']); // the same weights: only the labels moved
    const bytes = serializeBundle(tuned.model);
    const loaded = await deserializeBundle(bytes);
    expect(decisionThreshold(loaded)).toBe(t);
    const rows = [{ distance: 300, hour: 18, weekday: 5, origin: 'ORD' }, { distance: 2000, hour: 6, weekday: 2, origin: 'LAX' }];
    for (const p of predict(loaded, rows).predictions as { label: string; probability: number }[]) {
      expect(p.label).toBe(p.probability >= t ? 'true' : 'false');
    }
    disposeBundle(tuned.model);
    disposeBundle(fixed.model);
    disposeBundle(loaded);
  });

  it('classWeights "balanced" weighs the rare class up: recall at 0.5 rises, AUC holds; regression refuses it', async () => {
    const plain = await trainModel({ datasetDir: binary.dir, trainSpec: spec('cpu', { epochs: 3 }) });
    const weighted = await trainModel({
      datasetDir: binary.dir,
      trainSpec: spec('cpu', { epochs: 3, classWeights: 'balanced' }),
    });
    const a = await evaluateModel(plain.model, binary.dir);
    const b = await evaluateModel(weighted.model, binary.dir);
    disposeBundle(plain.model);
    disposeBundle(weighted.model);
    // late flights are about a fifth: unweighted, the model says "not late" to nearly all of them
    expect(b.test['recall']!).toBeGreaterThan(a.test['recall']! + 0.2);
    expect(b.test['auc']!).toBeGreaterThan(a.test['auc']! - 0.05);
    expect(b.test['ece']).toBeGreaterThan(0);
    const reg = await makeFlightsDataset(path.join(root, 'reg-weights'), { rows: 600, task: 'regression' });
    await expect(
      trainModel({ datasetDir: reg.dir, trainSpec: spec('cpu', { epochs: 1, classWeights: 'balanced' }) }),
    ).rejects.toThrow('train.classWeights "balanced" applies to classification');
    expect(() => validateTrainSpec(spec('cpu', { classWeights: 'heavy' as 'balanced' }))).toThrow(
      'train.classWeights must be "none" or "balanced"',
    );
  });

  it('balanced class weights are n / (k · n_class) over the classes present', () => {
    expect(Array.from(balancedClassWeights([0, 0, 0, 1], 2))).toEqual([4 / 6, 2].map((x) => Math.fround(x)));
    expect(Array.from(balancedClassWeights([0, 2, 2, 2], 3))).toEqual(
      [2, 0, 4 / 6].map((x) => Math.fround(x)),
    );
  });
});
