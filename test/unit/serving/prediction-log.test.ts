import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promote } from '../../helpers/production';
import {
  PredictionLog,
  type PredictionEntry,
  type PredictionRecord,
} from '../../../src/serving/prediction-log';
import { buildServer } from '../../../src/serving/server';
import { memoryRegistry, MemoryStore, registerBytes, trainTinyModels, type TinyModels } from './fixtures';

const AT = '2026-03-04T05:06:07.000Z';
/** What the server hands the log, and the line it must become. */
const entry = (i: number, model = 'm'): PredictionEntry => ({
  requestId: `r${i}`,
  model,
  version: 1,
  atMs: Date.parse(AT),
  latencyMs: 1.25,
  fallback: false,
  instances: [{ distance: i, email: 'a@b.c' }],
  predictionsJson: JSON.stringify([{ value: i }]),
});
const record = (i: number, model = 'm'): PredictionRecord => ({
  request_id: `r${i}`,
  model,
  version: 1,
  at: AT,
  latency_ms: 1.25,
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
    log.log(entry(1));
    log.log(entry(2));
    log.log(entry(3, 'other'));
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
    // a store that is down: the first two go to it at once (the buffer is full), the rest wait
    // for room that a failing write never makes
    store.down = true;
    for (let i = 0; i < 5; i++) log.log(entry(i));
    expect(log.dropped).toBe(3);
    await log.flush();
    expect(log.dropped).toBe(5);
    expect(drops).toEqual([1, 1, 1, 2]);
    store.down = false;
    log.log(entry(9));
    await log.stop();
    expect(log.written).toBe(1);
  });

  // requests of 1,000 rows: about 20 KB of NDJSON each, 10 MB in all, ten times the budget
  const bigRows = Array.from({ length: 1000 }, (_, k) => ({ distance: k, origin: 'ORD' }));
  const budget = 1024 * 1024;

  it('with a store that keeps up, big records are written early, before the budget fills: nothing is dropped', async () => {
    const store = new MemoryStore();
    const log = new PredictionLog({ sink: store.asObjectStore(), maxBufferedBytes: budget, windowMs: 60_000, instanceId: 'i' });
    let peak = 0;
    for (let i = 0; i < 500; i++) {
      log.log({ ...entry(i, i % 2 ? 'a' : 'b'), instances: bigRows });
      peak = Math.max(peak, log.bufferedBytes);
      if (i % 5 === 4) await new Promise((r) => setImmediate(r));
    }
    await log.stop();
    expect(log.dropped).toBe(0);
    expect(log.written).toBe(500);
    expect(peak).toBeLessThanOrEqual(budget);
    expect(store.objects.size).toBeGreaterThan(5);
  });

  it('with a store that falls behind it holds at most its byte budget: the oldest waiting records go first, counted, the newest are written', async () => {
    const released: (() => void)[] = [];
    const objects: Buffer[] = [];
    // every write hangs until released: the store has fallen behind
    const sink = { put: (_key: string, body: Buffer | string) => new Promise<void>((r) => released.push(() => { objects.push(Buffer.from(body)); r(); })) };
    const drops: { model: string; n: number; reason: string }[] = [];
    const log = new PredictionLog({
      sink,
      maxBufferedBytes: budget,
      maxPerObject: 1_000_000,
      maxBuffered: 1_000_000,
      instanceId: 'i',
      onDrop: (model, n, reason) => drops.push({ model, n, reason }),
    });
    let peak = 0;
    for (let i = 0; i < 500; i++) {
      log.log({ ...entry(i, i % 2 ? 'a' : 'b'), instances: bigRows });
      peak = Math.max(peak, log.bufferedBytes);
      if (i % 5 === 4) await new Promise((r) => setImmediate(r));
    }
    expect(peak).toBeLessThanOrEqual(budget);
    expect(log.dropped).toBeGreaterThan(400);
    expect(drops.every((d) => d.reason === 'bytes')).toBe(true);
    expect(drops.reduce((a, d) => a + d.n, 0)).toBe(log.dropped);
    // the store catches up: what was held is written, whole lines only, the newest among them
    const stopping = log.stop();
    while (released.length > 0 || log.bufferedBytes > 0) {
      released.splice(0).forEach((r) => r());
      await new Promise((r) => setImmediate(r));
    }
    await stopping;
    const ids = objects.flatMap((o) => o.toString().trim().split('\n').map((l) => (JSON.parse(l) as PredictionRecord).request_id));
    expect(ids.length + log.dropped).toBe(500);
    expect(ids).toContain('r499');
    expect(ids).toContain('r498');
  });

  it('keeps only the model features given, in their order, and writes early once maxPerObject wait', async () => {
    const store = new MemoryStore();
    const log = new PredictionLog({
      sink: store.asObjectStore(),
      windowMs: 60_000,
      maxPerObject: 2,
      sensitiveColumns: ['origin'],
      instanceId: 'i',
    });
    const features = ['origin', 'hour', 'distance'];
    const row = { distance: 3.5, email: 'x@y.z', hour: 7, origin: 'ORD', note: 'a "quoted"\nvalue' };
    log.log({ ...entry(1), instances: [row, { hour: null, distance: Number.NaN }] }, features);
    expect(store.objects.size).toBe(0);
    log.log(entry(2), ['distance']);
    await new Promise((r) => setImmediate(r));
    await log.flush();
    expect(store.objects.size).toBe(1);
    const lines = [...store.objects.values()][0]!.body.toString().trim().split('\n');
    expect(lines[0]).toContain('"instances":[{"hour":7,"distance":3.5},{"hour":null,"distance":null}]');
    expect(JSON.parse(lines[1]!)).toEqual({ ...record(2), instances: [{ distance: 2 }] });
    expect(log.written).toBe(2);
    await log.stop();
  });

  it('writes a row exactly as JSON.stringify would with the kept columns, whatever the values', async () => {
    const store = new MemoryStore();
    const log = new PredictionLog({ sink: store.asObjectStore(), sensitiveColumns: ['s'], instanceId: 'i' });
    const columns = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 's', 'toString'];
    const rows: Record<string, unknown>[] = [
      { a: 'Zürich "quoted" \\ \n\u2028 😀', b: -0, c: 1e21, d: true, e: null, f: Infinity, g: { a: 1, x: 2 }, s: 'secret' },
      { h: [1, 'x'], b: 5e-7, c: -12.5, d: false, a: '' },
      {},
    ];
    log.log({ ...entry(1), instances: rows }, columns);
    await log.stop();
    const line = [...store.objects.values()][0]!.body.toString().trim();
    const kept = columns.filter((c) => c !== 's');
    expect(line).toContain(`"instances":[${rows.map((r) => JSON.stringify(r, kept)).join(',')}]`);
    expect(JSON.parse(line).instances[0]).not.toHaveProperty('s');
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
    await promote(registry, 'm', 1);
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
          headers: { authorization: 'Bearer tok' },
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
        headers: { authorization: 'Bearer tok' },
        payload: { request_id: responses[0]!.request_id, label: 'true' },
      });
      expect(again.statusCode).toBe(400);
      expect(again.json().error.message).toMatch(/no unjoined prediction of model "m"/);
      const bad = await app.inject({
        method: 'POST',
        url: '/v1/models/m:feedback',
        headers: { authorization: 'Bearer tok' },
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
