import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { currentBackend, ensureBackend, selectBackend } from '../../../src/ml/backend';
import { KaizenError } from '../../../src/errors';

function tfjsNodeInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

describe('selectBackend', () => {
  it('uses the best available backend: tfjs-node if installed, else wasm loaded from disk', async () => {
    const info = await selectBackend();
    expect(info.name).toBe(tfjsNodeInstalled() ? 'tensorflow' : 'wasm');
    expect(info.tfjsVersion).toBe(tf.version.tfjs);
    expect(tf.getBackend()).toBe(info.name);
    if (info.name === 'wasm') {
      expect(info.backendVersion).toBe(tf.version.tfjs);
      expect(info.details).toMatchObject({ simd: true, binary: 'tfjs-backend-wasm-simd.wasm', threads: 1 });
    }
    expect(currentBackend()).toEqual(info);
    expect(await ensureBackend()).toEqual(info);
  });

  it('is idempotent, switches when forced, and computes correctly on each backend', async () => {
    for (const name of ['cpu', 'wasm', 'cpu', 'cpu', 'wasm'] as const) {
      const info = await selectBackend(name);
      expect(info.name).toBe(name);
      expect(tf.getBackend()).toBe(name);
      const sum = tf.tidy(() => tf.sum(tf.tensor1d([1.5, 2.5, 3])).dataSync()[0]);
      expect(sum).toBe(7);
    }
    const concurrent = await Promise.all([selectBackend('cpu'), selectBackend('wasm'), selectBackend('cpu')]);
    expect(concurrent.map((i) => i.name)).toEqual(['cpu', 'wasm', 'cpu']);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('fails with TrainingFailed when a forced backend is not available', async () => {
    if (tfjsNodeInstalled()) return;
    const err = await selectBackend('tensorflow').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KaizenError);
    expect(err).toMatchObject({
      type: 'TrainingFailed',
      message: expect.stringMatching(/^train.backend "tensorflow" is not available: /),
    });
    // the failed attempt left the previous backend in place
    expect(tf.getBackend()).toBe('cpu');
    await expect(selectBackend('gpu' as 'cpu')).rejects.toThrow(
      'train.backend "gpu" is not one of tensorflow, wasm, cpu',
    );
  });
});
