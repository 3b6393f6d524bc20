import type { FastifyInstance } from 'fastify';
import { promote, setSplit } from '../../helpers/production';
import { describe, expect, it } from 'vitest';
import type { ModelRegistry } from '../../../src/registry/registry';
import { keyPoint, pickVersion, routeTable, routingKeyOf } from '../../../src/serving/routing';
import type { ServerDeps } from '../../../src/serving/server';
import { memoryRegistry, registerBytes, type MemoryStore, serverTestContext, TEST_ADMIN_TOKEN } from './fixtures';

const TOKEN = TEST_ADMIN_TOKEN;
const auth = { authorization: `Bearer ${TOKEN}` };
const routing = (weights: Record<string, number>): Record<string, number> => weights;

describe('route table and key hashing', () => {
  it('orders versions ascending and splits [0, 100) by weight', () => {
    expect(routeTable(routing({ '2': 5, '1': 95 }))).toEqual([
      { version: 1, weight: 95, upTo: 95 },
      { version: 2, weight: 5, upTo: 100 },
    ]);
    expect(routeTable(null)).toEqual([]);
    expect(pickVersion([], 'k')).toBeNull();
  });

  it('hashes keys stably and evenly into [0, 100)', () => {
    expect(keyPoint('user-42')).toBe(keyPoint('user-42'));
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const p = keyPoint(`user-${i}`);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(100);
      buckets[Math.floor(p / 10)]!++;
    }
    for (const b of buckets) expect(Math.abs(b - 2000)).toBeLessThan(200);
  });

  it('keeps a key on its version while the canary share grows (95/5 → 75/25 → 50/50)', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `u${i}`);
    const t5 = routeTable(routing({ '1': 95, '2': 5 }));
    const t25 = routeTable(routing({ '1': 75, '2': 25 }));
    const t50 = routeTable(routing({ '1': 50, '2': 50 }));
    for (const k of keys) {
      if (pickVersion(t5, k) === 2) expect(pickVersion(t25, k)).toBe(2);
      if (pickVersion(t25, k) === 2) expect(pickVersion(t50, k)).toBe(2);
    }
  });

  it('reads the key from the body, else from the header', () => {
    expect(routingKeyOf({ key: 'a', instances: [] }, 'b')).toBe('a');
    expect(routingKeyOf({ key: 7 }, undefined)).toBe('7');
    expect(routingKeyOf({ instances: [] }, 'b')).toBe('b');
    expect(routingKeyOf({ key: '' }, undefined)).toBeUndefined();
    expect(routingKeyOf([1], ['h1', 'h2'])).toBe('h1');
  });
});

const ctx = serverTestContext();

async function world(): Promise<{ store: MemoryStore; registry: ModelRegistry }> {
  const { store, registry } = memoryRegistry();
  await registerBytes(store, registry, 'm', ctx.tiny.bytes[0], 'wf-1');
  await registerBytes(store, registry, 'm', ctx.tiny.bytes[1], 'wf-2');
  await promote(registry, 'm', 1);
  return { store, registry };
}

const server = (registry: ModelRegistry, overrides: Partial<ServerDeps> = {}): Promise<FastifyInstance> =>
  ctx.start(registry, overrides);

const row = { distance: 1000, hour: 18, origin: 'ORD', weekday: 5 };
async function versionFor(app: FastifyInstance, key?: string, header?: string): Promise<number> {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/models/m:predict',
    payload: key === undefined ? { instances: [row] } : { key, instances: [row] },
    headers: header === undefined ? {} : { 'x-kaizen-key': header },
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().model_version as number;
}

describe('ModelRegistry.changeProduction (split)', () => {
  it('validates versions and weights, is idempotent, and records the history in the same write', async () => {
    const { registry } = await world();
    const meta = { reason: 'canary step', by: 'wf' };
    const split = (weights: Record<string, number>, warm?: number[]) => registry.changeProduction('m', { action: 'split', weights, ...(warm ? { warm } : {}) }, meta);
    await expect(split({ 1: 90, 2: 5 })).rejects.toThrow(/sum to 95, not 100/);
    await expect(split({ 1: 90, 3: 10 })).rejects.toThrow(/has no version 3/);
    await expect(split({ 1: 110, 2: -10 })).rejects.toThrow(/percentage from 0 to 100/);
    await expect(split({ latest: 100 })).rejects.toThrow(/not a version number/);
    await expect(registry.changeProduction('nope', { action: 'split', weights: { 1: 100 } }, meta)).rejects.toThrow(/no model "nope"/);
    await expect(split({ 1: 100 }, [9])).rejects.toThrow(/has no version 9/);

    const r = await registry.changeProduction('m', { action: 'canary_step', weights: { 1: 95, 2: 5, 3: 0 } }, { ...meta, workflowId: 'wf-c' });
    expect(r.changed).toBe(true);
    expect(r.state).toMatchObject({ champion: 1, weights: { '1': 95, '2': 5 }, by: 'wf', reason: 'canary step', workflowId: 'wf-c' });
    expect((await split({ 1: 95, 2: 5 })).changed).toBe(false);
    let doc = await registry.require('m');
    expect(doc.productionHistory?.map((h) => h.action)).toEqual(['promote', 'canary_step']);
    await split({ 1: 100 });
    doc = await registry.require('m');
    expect(doc.production).toMatchObject({ champion: 1, weights: { '1': 100 } });
    expect(doc.productionHistory?.map((h) => h.weights)).toEqual([{ '1': 100 }, { '1': 95, '2': 5 }, { '1': 100 }]);
  });
});

describe('traffic routing in the server', () => {
  it('splits random traffic by weight and keeps each key on one version', async () => {
    const { registry } = await world();
    await setSplit(registry, 'm', { 1: 70, 2: 30 });
    const app = await server(registry);
    await app.inject({ method: 'POST', url: '/admin/models/m/reload', headers: auth });

    const counts = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      const v = await versionFor(app);
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    expect(counts.get(1)! + counts.get(2)!).toBe(1000);
    expect(counts.get(2)!).toBeGreaterThan(230);
    expect(counts.get(2)!).toBeLessThan(370);

    const byKey = new Map<number, number>();
    for (let u = 0; u < 300; u++) {
      const first = await versionFor(app, `user-${u}`);
      for (let j = 0; j < 3; j++) expect(await versionFor(app, `user-${u}`)).toBe(first);
      expect(await versionFor(app, undefined, `user-${u}`)).toBe(first);
      byKey.set(first, (byKey.get(first) ?? 0) + 1);
    }
    expect(byKey.get(2)!).toBeGreaterThan(50);
    expect(byKey.get(2)!).toBeLessThan(130);

    const admin = await app.inject({ method: 'GET', url: '/admin/models', headers: auth });
    expect(admin.json().models[0]).toMatchObject({
      version: 1,
      routing: { weights: { '1': 70, '2': 30 }, warm: [] },
      routed_versions: [2],
    });
  });

  it('routes the same way on a second server (replica or restart) over the same registry', async () => {
    const { registry } = await world();
    await setSplit(registry, 'm', { 1: 50, 2: 50 });
    const a = await server(registry, { models: ['m'] });
    const b = await server(registry, { models: ['m'] });
    await expect.poll(async () => (await b.inject('/readyz')).statusCode, { timeout: 10_000 }).toBe(200);
    await expect.poll(async () => (await a.inject('/readyz')).statusCode, { timeout: 10_000 }).toBe(200);
    const seen = new Set<number>();
    for (let u = 0; u < 60; u++) {
      const v = await versionFor(a, `k${u}`);
      seen.add(v);
      expect(await versionFor(b, `k${u}`)).toBe(v);
    }
    expect(seen).toEqual(new Set([1, 2]));
  });

  it('sets the split over the admin API, applies it at once, and promotes a routed version without a reload', async () => {
    const { registry, store } = await world();
    const app = await server(registry);
    expect(await versionFor(app)).toBe(1);

    const bad = await app.inject({
      method: 'PUT',
      url: '/admin/models/m/routing',
      headers: auth,
      payload: { weights: { 1: 50, 2: 40 } },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toEqual({
      type: 'InvalidInput',
      message: 'routing of model "m": the weights sum to 90, not 100',
    });

    const put = await app.inject({
      method: 'PUT',
      url: '/admin/models/m/routing',
      headers: auth,
      payload: { weights: { 2: 100 }, reason: 'all to the canary', by: 'alice' },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({
      production: { champion: 1, weights: { '2': 100 }, by: 'alice', reason: 'all to the canary' },
      applied: { version: 1, routed_versions: [2] },
      error: null,
    });
    for (let i = 0; i < 20; i++) expect(await versionFor(app)).toBe(2);

    // promotion: production → 2, split cleared, 1 kept warm: no artifact is downloaded again
    const artifactReads = (): number =>
      [...store.readsOf].filter(([k]) => k.startsWith('models/')).reduce((n, [, c]) => n + c, 0);
    const readsBefore = artifactReads();
    await promote(registry, 'm', 2);
    await app.inject({ method: 'POST', url: '/admin/models/m/reload', headers: auth });
    expect(artifactReads() - readsBefore).toBe(0);
    const got = await app.inject({ method: 'GET', url: '/admin/models/m/routing', headers: auth });
    expect(got.json()).toMatchObject({
      production: { champion: 2, weights: { '2': 100 }, warm: [1] },
      applied: { version: 2, routed_versions: [1] },
    });
    // rollback to the warm version: again no download
    await registry.changeProduction('m', { action: 'rollback', champion: 1 }, { reason: 'rollback', by: 't' });
    await app.inject({ method: 'POST', url: '/admin/models/m/reload', headers: auth });
    expect(artifactReads() - readsBefore).toBe(0);
    expect(await versionFor(app)).toBe(1);
  });

  it('answers the share of a version it cannot load with the champion, and says so', async () => {
    const { registry, store } = await world();
    const app = await server(registry);
    expect(await versionFor(app)).toBe(1);
    const doc = await registry.require('m');
    const v2 = doc.versions.find((v) => v.version === 2)!;
    store.objects.delete(store.keyOf(v2.artifactUri));
    const put = await app.inject({
      method: 'PUT',
      url: '/admin/models/m/routing',
      headers: auth,
      payload: { weights: { 1: 0, 2: 100 } },
    });
    expect(put.json().error.type).toBe('ModelNotFound');
    expect(put.json().applied).toMatchObject({ version: 1, unavailable_versions: [2] });
    for (let i = 0; i < 10; i++) expect(await versionFor(app)).toBe(1);
    expect((await app.inject('/metrics')).body).toMatch(/kaizen_route_unavailable\{model="m",version="2",env="production"\} 1/);
    // a rollback clears it: the champion's own split needs nothing unavailable
    await registry.changeProduction('m', { action: 'rollback', champion: 1 }, { reason: 'back', by: 't' });
    await app.inject({ method: 'POST', url: '/admin/models/m/reload', headers: auth });
    expect((await app.inject('/metrics')).body).not.toMatch(/kaizen_route_unavailable\{model="m"/);
  });

  it('reports per-version live metrics over a window, and version labels on /metrics', async () => {
    const { registry } = await world();
    await setSplit(registry, 'm', { 1: 50, 2: 50 });
    const app = await server(registry);
    for (let i = 0; i < 200; i++) await versionFor(app, `u${i}`);
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/models/m:predict',
      payload: { key: 'u1', instances: [{ ...row, distance: 'x' }] },
    });
    expect(bad.statusCode).toBe(400);

    const res = await app.inject({ method: 'GET', url: '/admin/models/m/metrics?window=60s', headers: auth });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ model: 'm', window_seconds: 60 });
    const v1 = body.versions['1'];
    const v2 = body.versions['2'];
    expect(v1.requests + v2.requests).toBe(201);
    expect(v1.errors + v2.errors).toBe(0);
    expect(v1.clientErrors + v2.clientErrors).toBe(1);
    for (const v of [v1, v2]) {
      expect(v.requests).toBeGreaterThan(50);
      expect(v.p50Ms).toBeGreaterThan(0);
      expect(v.p99Ms).toBeGreaterThanOrEqual(v.p50Ms);
      expect(v.predictionMean).toBeGreaterThan(0);
      expect(v.predictionMean).toBeLessThan(1);
      expect(v).toMatchObject({ errorRate: 0, fallbacks: 0 });
    }
    const badWindow = await app.inject({
      method: 'GET',
      url: '/admin/models/m/metrics?window=soon',
      headers: auth,
    });
    expect(badWindow.statusCode).toBe(400);
    const tooLong = await app.inject({
      method: 'GET',
      url: '/admin/models/m/metrics?window=2h',
      headers: auth,
    });
    expect(tooLong.json().error.message).toMatch(/at most 600s/);
    const text = (await app.inject('/metrics')).body;
    expect(text).toMatch(
      /kaizen_predict_requests_total\{model="m",version="2",status="200",env="production"\}/,
    );
    expect(text).toMatch(/kaizen_prediction_value_count\{[^}]*model="m",version="1"\}/);
  });
});
