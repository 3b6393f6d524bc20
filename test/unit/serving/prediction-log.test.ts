import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PredictionLog, RecentPredictions, type PredictionRecord } from '../../../src/serving/prediction-log';
import { buildServer } from '../../../src/serving/server';
import { memoryRegistry, MemoryStore, registerBytes, trainTinyModels, type TinyModels } from './fixtures';

const record = (i: number, model = 'm'): PredictionRecord => ({
  request_id: `r${i}`,
  model,
  version: 1,
  at: '2026-03-04T05:06:07.000Z',
  latency_ms: 1,
  fallback: false,
  instances: [{ distance: i, email: 'a@b.c' }],
  predictions: [{ value: i }],
});

describe('PredictionLog', () => {
  it('writes one NDJSON object per model and window, without the sensitive columns', async () => {
    const store = new MemoryStore();
    const now = Date.parse('2026-03-04T05:06:37.000Z');
    const log = new PredictionLog({
      sink: store.asObjectStore(),
      windowMs: 60_000,
      sensitiveColumns: ['email'],
      instanceId: 'i1',
      now: () => now,
    });
    log.log(record(1));
    log.log(record(2));
    log.log(record(3, 'other'));
    await log.flush();
    expect([...store.objects.keys()].sort()).toEqual([
      'predictions/m/2026-03-04/05-06-00-i1-1.ndjson',
      'predictions/other/2026-03-04/05-06-00-i1-2.ndjson',
    ]);
    const lines = store.objects
      .get('predictions/m/2026-03-04/05-06-00-i1-1.ndjson')!
      .body.toString()
      .trim()
      .split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { ...record(1), instances: [{ distance: 1 }] },
      { ...record(2), instances: [{ distance: 2 }] },
    ]);
    expect(log.written).toBe(3);
  });

  it('drops (and counts) records beyond its buffer or on a failed write, and never throws', async () => {
    const store = new MemoryStore();
    const drops: number[] = [];
    const log = new PredictionLog({
      sink: store.asObjectStore(),
      maxBuffered: 2,
      instanceId: 'i',
      onDrop: (_m, n) => drops.push(n),
    });
    for (let i = 0; i < 5; i++) log.log(record(i));
    expect(log.dropped).toBe(3);
    store.down = true;
    await log.flush();
    expect(log.dropped).toBe(5);
    expect(drops).toEqual([1, 1, 1, 2]);
    store.down = false;
    log.log(record(9));
    await log.stop();
    expect(log.written).toBe(1);
  });

  it('remembers a bounded number of predictions for feedback, each joined once', () => {
    const recent = new RecentPredictions(2);
    for (const id of ['a', 'b', 'c']) recent.remember(id, { model: 'm', version: 1, predictions: [] });
    expect(recent.take('a')).toBeUndefined();
    expect(recent.take('c')).toBeDefined();
    expect(recent.take('c')).toBeUndefined();
  });
});

let tiny: TinyModels;
beforeAll(async () => {
  tiny = await trainTinyModels();
});
afterAll(async () => {
  await tiny.cleanup();
});

describe('prediction log and feedback in the server', () => {
  it('logs every prediction with its request id and joins feedback into live accuracy per version', async () => {
    const { store, registry } = memoryRegistry();
    await registerBytes(store, registry, 'm', tiny.bytes[0], 'wf-1');
    await registry.moveAlias('m', 'production', 1, { reason: 't', by: 't' });
    const logStore = new MemoryStore();
    const app = buildServer({
      registry,
      env: 'production',
      adminToken: 'tok',
      refreshIntervalMs: 0,
      defaultMetrics: false,
      predictionLog: { sink: logStore.asObjectStore(), sensitiveColumns: ['origin'], instanceId: 'unit' },
    });
    await app.ready();
    try {
      const responses = [];
      for (let i = 0; i < 6; i++) {
        const res = await app.inject({
          method: 'POST',
          url: '/v1/models/m:predict',
          // a field the model does not know (here personal data) is never logged
          payload: { instances: [{ ...tiny.rows[i % 4], email: 'someone@example.com' }] },
        });
        expect(res.statusCode).toBe(200);
        responses.push(res.json() as { request_id: string; predictions: { label: string }[] });
      }
      expect(new Set(responses.map((r) => r.request_id)).size).toBe(6);

      // feedback: the first four right, the last two wrong
      for (const [i, r] of responses.entries()) {
        const truth = i < 4 ? r.predictions[0]!.label : r.predictions[0]!.label === 'true' ? 'false' : 'true';
        const fb = await app.inject({
          method: 'POST',
          // both spellings of the endpoint
          url: i % 2 === 0 ? '/v1/models/m:feedback' : '/v1/models/m/feedback',
          payload: { request_id: r.request_id, label: truth },
        });
        expect(fb.statusCode, fb.body).toBe(200);
        expect(fb.json()).toEqual({
          request_id: r.request_id,
          model: 'm',
          model_version: 1,
          results: [{ correct: i < 4, abs_error: null }],
        });
      }
      const again = await app.inject({
        method: 'POST',
        url: '/v1/models/m:feedback',
        payload: { request_id: responses[0]!.request_id, label: 'true' },
      });
      expect(again.statusCode).toBe(400);
      expect(again.json().error.message).toMatch(/no unjoined prediction of model "m"/);
      const bad = await app.inject({
        method: 'POST',
        url: '/v1/models/m:feedback',
        payload: { request_id: 'x' },
      });
      expect(bad.json().error.message).toMatch(/^label: expected/);

      const m = await app.inject({
        method: 'GET',
        url: '/admin/models/m/metrics?window=1m',
        headers: { authorization: 'Bearer tok' },
      });
      expect(m.json().versions['1']).toMatchObject({ requests: 6, feedback: 6, meanAbsError: null });
      expect(m.json().versions['1'].accuracy).toBeCloseTo(4 / 6);
    } finally {
      await app.close();
    }
    // closing flushes the log
    const keys = [...logStore.objects.keys()];
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^predictions\/m\/\d{4}-\d{2}-\d{2}\/\d{2}-\d{2}-\d{2}-unit-1\.ndjson$/);
    const lines = logStore.objects
      .get(keys[0]!)!
      .body.toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatchObject({
      model: 'm',
      version: 1,
      fallback: false,
      predictions: [{ label: expect.any(String) }],
    });
    expect(lines[0].instances[0]).not.toHaveProperty('origin');
    expect(lines[0].instances[0]).not.toHaveProperty('email');
    expect(lines[0].instances[0]).toHaveProperty('distance');
    expect(typeof lines[0].request_id).toBe('string');
    expect(lines[0].latency_ms).toBeGreaterThanOrEqual(0);
  });
});
