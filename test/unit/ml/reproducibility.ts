// The reproducibility checks, shared by the cpu and wasm test files (each file runs in its own
// process, so each gets its own tfjs engine and backend).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendName } from '../../../src/ml/backend';
import { disposeBundle } from '../../../src/ml/bundle';
import {
  deserializeCheckpoint,
  trainModel,
  type ProgressReport,
  type TrainResult,
} from '../../../src/ml/train';
import type { TrainSpec } from '../../../src/types';
import { makeFlightsDataset } from './make-dataset';

export function spec(backend: BackendName, overrides: Partial<TrainSpec> = {}): TrainSpec {
  return {
    hiddenUnits: [16, 8],
    epochs: 4,
    batchSize: 128,
    learningRate: 0.01,
    seed: 7,
    patience: 0,
    heartbeatEveryBatches: 4,
    backend,
    ...overrides,
  };
}

/** Every weight of the returned model as raw bits. */
export function weightBits(result: TrainResult): Uint32Array[] {
  return result.model.model.weights.map(
    (w) => new Uint32Array((w.read().dataSync() as Float32Array).slice().buffer),
  );
}

export async function trainCollecting(
  datasetDir: string,
  trainSpec: TrainSpec,
  resume?: Buffer,
): Promise<{ result: TrainResult; checkpoints: Map<number, Buffer> }> {
  const checkpoints = new Map<number, Buffer>();
  const onProgress = async (p: ProgressReport): Promise<void> => {
    if (p.checkpoint) checkpoints.set(p.epoch, p.checkpoint);
  };
  const result = await trainModel({ datasetDir, trainSpec, onProgress, ...(resume ? { resume } : {}) });
  return { result, checkpoints };
}

export function reproducibilitySuite(backend: BackendName): void {
  describe(`reproducibility on the ${backend} backend`, () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), `kaizen-ml-repro-${backend}-`));
      await makeFlightsDataset(dir, { rows: 3000, nullEvery: 41 });
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('gives bit-identical weights and checkpoints for the same dataset, spec and backend', async () => {
      const a = await trainCollecting(dir, spec(backend));
      const b = await trainCollecting(dir, spec(backend));
      expect(a.result.summary.backend).toBe(backend);
      expect(weightBits(b.result)).toEqual(weightBits(a.result));
      for (const epoch of [1, 2, 3, 4])
        expect(b.checkpoints.get(epoch)!.equals(a.checkpoints.get(epoch)!)).toBe(true);
      expect(b.result.summary.history).toEqual(a.result.summary.history);
      // ...and the check can fail: another seed trains other weights
      const c = await trainCollecting(dir, spec(backend, { seed: 8 }));
      expect(weightBits(c.result)).not.toEqual(weightBits(a.result));
      [a, b, c].forEach((r) => disposeBundle(r.result.model));
    });

    it('resumes from the epoch-2 checkpoint in a fresh model and ends bit-identical to an uninterrupted run', async () => {
      const full = await trainCollecting(dir, spec(backend));
      const epoch2 = full.checkpoints.get(2)!;
      expect(deserializeCheckpoint(epoch2).state.epoch).toBe(2);
      const resumed = await trainCollecting(dir, spec(backend), epoch2);
      expect(resumed.result.summary.resumedFromEpoch).toBe(2);
      expect([...resumed.checkpoints.keys()]).toEqual([3, 4]);
      expect(weightBits(resumed.result)).toEqual(weightBits(full.result));
      // weights, Adam moments and step, best weights, PRNG state and history all match
      expect(resumed.checkpoints.get(4)!.equals(full.checkpoints.get(4)!)).toBe(true);
      expect(resumed.result.summary.history).toEqual(full.result.summary.history);
      expect(resumed.result.summary.bestEpoch).toBe(full.result.summary.bestEpoch);
      disposeBundle(full.result.model);
      disposeBundle(resumed.result.model);
    });

    it('keeps the number of live tensors stable across epochs and frees everything afterwards', async () => {
      const before = tf.memory().numTensors;
      const counts: number[] = [];
      const result = await trainModel({
        datasetDir: dir,
        trainSpec: spec(backend, { epochs: 5 }),
        onProgress: async (p) => {
          if (p.checkpoint) counts.push(tf.memory().numTensors);
        },
      });
      expect(counts).toHaveLength(5);
      expect(new Set(counts).size).toBe(1);
      disposeBundle(result.model);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}
