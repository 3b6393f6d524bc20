import type { FastifyInstance } from 'fastify';
import { promote } from '../../helpers/production';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Prediction } from '../../../src/ml/bundle';
import { MicroBatcher } from '../../../src/serving/batcher';
import { buildServer } from '../../../src/serving/server';
import { memoryRegistry, registerBytes, trainTinyModels, type TinyModels } from './fixtures';

type Row = Record<string, unknown>;
const fake = () => {
  const calls: number[] = [];
  const run = (rows: readonly Row[]): Prediction[] => {
    calls.push(rows.length);
    if (rows.some((r) => r.bad)) throw new Error('bad row');
    return rows.map((r) => ({ value: r.x as number }));
  };
  return { calls, run };
};

describe('MicroBatcher', () => {
  it('joins concurrent requests into one call and gives each its own slice', async () => {
    const { calls, run } = fake();
    const b = new MicroBatcher(run, { maxBatchSize: 64, maxWaitMs: 1 });
    const out = await Promise.all([
      b.predict([{ x: 1 }]),
      b.predict([{ x: 2 }, { x: 3 }]),
      b.predict([{ x: 4 }]),
    ]);
    expect(out).toEqual([[{ value: 1 }], [{ value: 2 }, { value: 3 }], [{ value: 4 }]]);
    expect(calls).toEqual([4]);
  });

  it('caps a batch at maxBatchSize rows, and runs a request of that size alone at once', async () => {
    const { calls, run } = fake();
    const b = new MicroBatcher(run, { maxBatchSize: 4, maxWaitMs: 0 });
    const reqs = Array.from({ length: 10 }, (_, i) => b.predict([{ x: i }]));
    const big = b.predict(Array.from({ length: 4 }, (_, i) => ({ x: 100 + i })));
    const out = await Promise.all([...reqs, big]);
    expect(out.slice(0, 10).map((p) => p[0])).toEqual(Array.from({ length: 10 }, (_, i) => ({ value: i })));
    expect(calls).toEqual([4, 4, 4, 2]); // the big one ran first (synchronously), then 4 + 4 + 2
  });

  it('never lets one bad request fail the others of its batch', async () => {
    const { calls, run } = fake();
    const b = new MicroBatcher(run, { maxBatchSize: 64, maxWaitMs: 0 });
    const results = await Promise.allSettled([
      b.predict([{ x: 1 }]),
      b.predict([{ bad: true }]),
      b.predict([{ x: 3 }]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(calls).toEqual([3, 1, 1, 1]);
  });
});

let tiny: TinyModels;
beforeAll(async () => {
  tiny = await trainTinyModels();
});
afterAll(async () => {
  await tiny.cleanup();
});

describe('micro-batching in the server', () => {
  async function server(enabled: boolean): Promise<FastifyInstance> {
    const { store, registry } = memoryRegistry();
    await registerBytes(store, registry, 'm', tiny.bytes[0], 'wf-1');
    await promote(registry, 'm', 1);
    const app = buildServer({
      registry,
      env: 'production',
      adminToken: '',
      refreshIntervalMs: 0,
      defaultMetrics: false,
      microBatching: { enabled },
    });
    await app.ready();
    return app;
  }

  it('answers concurrent requests exactly as one-by-one predictions, in fewer tensor calls', async () => {
    const on = await server(true);
    const off = await server(false);
    try {
      const rows = Array.from({ length: 40 }, (_, i) => tiny.rows[i % tiny.rows.length]!);
      const ask = (app: FastifyInstance) =>
        Promise.all(
          rows.map((r) =>
            app.inject({ method: 'POST', url: '/v1/models/m:predict', payload: { instances: [r] } }),
          ),
        );
      const [a, b] = [await ask(on), await ask(off)];
      for (let i = 0; i < rows.length; i++) {
        const pa = a[i]!.json().predictions[0];
        const pb = b[i]!.json().predictions[0];
        expect(pa.label).toBe(pb.label);
        expect(pa.probability).toBeCloseTo(pb.probability, 6);
      }
      const count = (text: string) =>
        Number(/kaizen_predict_batch_rows_count\{[^}]*\} (\d+)/.exec(text)?.[1]);
      expect(count((await off.inject('/metrics')).body)).toBe(40);
      expect(count((await on.inject('/metrics')).body)).toBeLessThan(40);
    } finally {
      await on.close();
      await off.close();
    }
  });
});
