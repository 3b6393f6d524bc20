import { setTimeout as sleep } from 'node:timers/promises';
import { promote } from '../../helpers/production';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { ModelRegistry } from '../../../src/registry/registry';
import type { ServerDeps } from '../../../src/serving/server';
import type { ModelVersion } from '../../../src/types';
import { memoryRegistry, registerBytes, tamper, type MemoryStore, serverTestContext, TEST_ADMIN_TOKEN } from './fixtures';

const TOKEN = TEST_ADMIN_TOKEN;
const auth = { authorization: `Bearer ${TOKEN}` };

const ctx = serverTestContext();

interface World {
  app: FastifyInstance;
  store: MemoryStore;
  registry: ModelRegistry;
  v1: ModelVersion;
  v2: ModelVersion;
}

/** A registry with model "m" at versions 1 and 2 (production → 1) and a server over it. */
async function world(overrides: Partial<ServerDeps> = {}, alias: number | null = 1): Promise<World> {
  const { store, registry } = memoryRegistry();
  const v1 = await registerBytes(store, registry, 'm', ctx.tiny.bytes[0], 'wf-1');
  const v2 = await registerBytes(store, registry, 'm', ctx.tiny.bytes[1], 'wf-2');
  if (alias !== null) await promote(registry, 'm', alias);
  const app = await ctx.start(registry, overrides);
  return { app, store, registry, v1, v2 };
}

const predictOnce = (app: FastifyInstance, body: unknown, model = 'm') =>
  app.inject({ method: 'POST', url: `/v1/models/${model}:predict`, payload: body as object });

describe('POST /v1/models/<model>:predict', () => {
  it('predicts for a batch, labels the version, and puts unknown categories in the out-of-vocabulary bucket', async () => {
    const { app } = await world();
    const res = await predictOnce(app, { instances: ctx.tiny.rows });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.model).toBe('m');
    expect(body.model_version).toBe(1);
    expect(body.predictions).toHaveLength(ctx.tiny.rows.length);
    for (const p of body.predictions) {
      expect(['true', 'false']).toContain(p.label);
      expect(p.probability).toBeGreaterThanOrEqual(0);
      expect(p.probability).toBeLessThanOrEqual(1);
    }
    // null values are imputed as in training; extra fields are ignored
    const withNull = await predictOnce(app, {
      instances: [{ distance: null, hour: 3, origin: null, weekday: 2, extra: 'x' }],
    });
    expect(withNull.statusCode).toBe(200);
  });

  it('rejects bad instances with 400 naming the field and quoting the value', async () => {
    const { app } = await world();
    const [a, b] = ctx.tiny.rows as [Record<string, unknown>, Record<string, unknown>];
    const cases: [unknown, string][] = [
      [
        { instances: [a, b, { ...a, distance: 'abc' }] },
        'instances[2].distance: expected a number, got "abc"',
      ],
      [
        { instances: [a, { hour: 3, origin: 'ORD', weekday: 1 }] },
        'instances[1].distance: missing; expected a number',
      ],
      [
        { instances: [{ ...a, origin: { code: 'ORD' } }] },
        'instances[0].origin: expected a string, got an object',
      ],
      [{ instances: [{ ...a, hour: [1] }] }, 'instances[0].hour: expected a number, got an array'],
      [{ instances: [42] }, 'instances[0]: expected an object of feature values, got 42'],
      [{ instances: [] }, 'instances: empty; send at least one instance'],
      [{ instances: 'all' }, 'instances: expected an array of objects of feature values, got "all"'],
      [{ rows: [a] }, 'instances: missing; expected an array of objects of feature values'],
      [[a], 'body: expected a JSON object {"instances": [...]}, got an array'],
    ];
    for (const [body, message] of cases) {
      const res = await predictOnce(app, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json()).toEqual({ error: { type: 'InvalidInput', message } });
    }
  });

  it('enforces the instance and body limits with 413, and accepts JSON only', async () => {
    const { app } = await world({ limits: { maxInstances: 5, bodyLimitBytes: 4096 } });
    const row = ctx.tiny.rows[0]!;
    const many = await predictOnce(app, { instances: Array.from({ length: 6 }, () => row) });
    expect(many.statusCode).toBe(413);
    expect(many.json().error.type).toBe('PayloadTooLarge');
    expect(many.json().error.message).toMatch(/6 instances exceed the limit of 5 per request/);

    const big = await predictOnce(app, { instances: [{ ...row, padding: 'x'.repeat(5000) }] });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toEqual({
      error: { type: 'PayloadTooLarge', message: expect.stringMatching(/limit of 4096 bytes/) },
    });

    const text = await app.inject({
      method: 'POST',
      url: '/v1/models/m:predict',
      payload: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.type).toBe('UnsupportedMediaType');

    const broken = await app.inject({
      method: 'POST',
      url: '/v1/models/m:predict',
      payload: '{"instances": [',
      headers: { 'content-type': 'application/json' },
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toEqual({ error: { type: 'InvalidInput', message: 'body: not valid JSON' } });

    const empty = await app.inject({
      method: 'POST',
      url: '/v1/models/m:predict',
      payload: '',
      headers: { 'content-type': 'application/json' },
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.type).toBe('InvalidInput');
  });

  it('answers 404 in the same shape for unknown models, missing aliases, bad names and unknown routes', async () => {
    const { app, registry, store } = await world();
    const unknown = await predictOnce(app, { instances: ctx.tiny.rows }, 'nope');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({
      error: { type: 'ModelNotFound', message: 'no model "nope" in the registry' },
    });

    await registerBytes(store, registry, 'staged-only', ctx.tiny.bytes[0], 'wf-s');
    await registry.moveAlias('staged-only', 'staging', 1, { reason: 't', by: 't' });
    const noAlias = await predictOnce(app, { instances: ctx.tiny.rows }, 'staged-only');
    expect(noAlias.statusCode).toBe(404);
    expect(noAlias.json().error.message).toBe('model "staged-only" has no "production" alias');

    const badName = await predictOnce(app, { instances: ctx.tiny.rows }, 'Bad%20Name');
    expect(badName.statusCode).toBe(404);
    expect(badName.json().error.type).toBe('ModelNotFound');

    for (const [method, url] of [
      ['POST', '/v1/models/m:explain'],
      ['POST', '/v1/models/m'],
      ['GET', '/nowhere'],
    ] as const) {
      const res = await app.inject({
        method,
        url,
        payload: method === 'POST' ? { instances: [] } : undefined,
      });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.type).toBe('RouteNotFound');
    }
  });

  it('asks the registry once for a missing model within the miss cache, not on every request', async () => {
    const { app, store } = await world();
    const before = store.reads;
    for (let i = 0; i < 20; i++)
      expect((await predictOnce(app, { instances: ctx.tiny.rows }, 'ghost')).statusCode).toBe(404);
    expect(store.reads - before).toBe(1);
  });
});

describe('GET /v1/models/<model>', () => {
  it('describes the served version: lineage, metrics, input schema with kinds and vocabulary sizes', async () => {
    const { app, v1 } = await world();
    const res = await app.inject({ method: 'GET', url: '/v1/models/m' });
    expect(res.statusCode, res.body).toBe(200);
    const info = res.json();
    expect(info).toMatchObject({
      model: 'm',
      alias: 'production',
      version: 1,
      task: 'binary',
      target: 'late',
      classes: ['false', 'true'],
      artifact_sha256: v1.artifactSha256,
      created_at: v1.createdAt,
      lineage: { data_version: v1.lineage.dataVersion, workflow_id: 'wf-1', training_backend: 'cpu' },
      metrics: { test: { auc: 0.61 } },
      serving_backend: 'cpu',
      inference: { path: 'compiled', reason: null },
    });
    const features = info.input_schema.features as {
      name: string;
      kind: string;
      type: string;
      vocabulary_size?: number;
    }[];
    expect(features.map((f) => f.name).sort()).toEqual(['distance', 'hour', 'origin', 'weekday']);
    expect(features.find((f) => f.name === 'distance')).toEqual({
      name: 'distance',
      kind: 'numeric',
      type: 'number',
    });
    const origin = features.find((f) => f.name === 'origin')!;
    expect(origin).toMatchObject({ kind: 'categorical', type: 'string' });
    expect(origin.vocabulary_size).toBeGreaterThan(20);
  });
});

describe('health, readiness, metrics', () => {
  it('is alive at once and ready only when every pinned model is loaded', async () => {
    const { app, registry } = await world({ models: ['m'] }, null);
    expect((await app.inject('/healthz')).json()).toMatchObject({ status: 'ok', server_id: expect.stringMatching(/^[0-9a-f-]{23}$/) });
    await sleep(50);
    const before = await app.inject('/readyz');
    expect(before.statusCode).toBe(503);
    expect(before.json()).toMatchObject({
      ready: false,
      error: {
        type: 'NotReady',
        message: expect.stringMatching(/m \(model "m" has no "production" alias\)/),
      },
    });
    await promote(registry, 'm', 2);
    const reload = await app.inject({ method: 'POST', url: '/admin/models/m/reload', headers: auth });
    expect(reload.json()).toEqual({
      model: 'm',
      alias: 'production',
      version: 2,
      previous_version: null,
      changed: true,
    });
    const after = await app.inject('/readyz');
    expect(after.statusCode).toBe(200);
    expect(after.json()).toEqual({
      ready: true,
      alias: 'production',
      models: [{ model: 'm', version: 2, ready: true, error: null }],
    });
  });

  it('loads pinned models eagerly at start', async () => {
    const { app } = await world({ models: ['m'] });
    await expect.poll(async () => (await app.inject('/readyz')).statusCode, { timeout: 10_000 }).toBe(200);
  });

  it('exposes request counts, latency, load events and the loaded version', async () => {
    const { app } = await world();
    await predictOnce(app, { instances: ctx.tiny.rows });
    await predictOnce(app, { instances: ctx.tiny.rows });
    await predictOnce(app, { instances: [{}] });
    await predictOnce(app, { instances: ctx.tiny.rows }, 'not-served');
    const res = await app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    const text = res.body;
    expect(text).toContain(
      'kaizen_predict_requests_total{model="m",version="1",status="200",env="production"} 2',
    );
    expect(text).toContain(
      'kaizen_predict_requests_total{model="m",version="1",status="400",env="production"} 1',
    );
    expect(text).toContain(
      'kaizen_predict_requests_total{model="_unknown",version="none",status="404",env="production"} 1',
    );
    expect(text).toContain(
      'kaizen_predict_duration_seconds_count{env="production",model="m",version="1",status="200"} 2',
    );
    expect(text).toContain(
      `kaizen_predict_instances_total{model="m",version="1",env="production"} ${ctx.tiny.rows.length * 2}`,
    );
    expect(text).toContain(
      'kaizen_model_loads_total{model="m",version="1",result="success",env="production"} 1',
    );
    expect(text).toContain('kaizen_model_loaded_version{model="m",env="production"} 1');
  });
});

describe('admin API', () => {
  it('refuses a missing, malformed or wrong token with 401 in the error shape', async () => {
    const { app } = await world();
    const variants: (Record<string, string> | undefined)[] = [
      undefined,
      { authorization: TOKEN },
      { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
      { authorization: 'Bearer wrong-token' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: 'Bearer ' },
    ];
    for (const headers of variants) {
      for (const [method, url] of [
        ['GET', '/admin/models'],
        ['POST', '/admin/models/m/reload'],
      ] as const) {
        const res = await app.inject({ method, url, headers });
        expect(res.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.json()).toEqual({ error: { type: 'Unauthorized', message: expect.any(String) } });
      }
    }
    const ok = await app.inject({ method: 'GET', url: '/admin/models', headers: auth });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ alias: 'production', backend: 'cpu', retiring: 0, models: [] });
  });

  it('keeps the admin API shut when no admin token is configured', async () => {
    const { app } = await world({ adminToken: '' });
    const res = await app.inject({
      method: 'GET',
      url: '/admin/models',
      headers: { authorization: 'Bearer x' },
    });
    expect(res.statusCode).toBe(401);
  });
});

describe('hot swap', () => {
  it('swaps to the alias target on reload while concurrent requests keep succeeding', async () => {
    const { app, registry } = await world();
    expect((await predictOnce(app, { instances: ctx.tiny.rows })).json().model_version).toBe(1);
    await promote(registry, 'm', 2);

    const statuses: number[] = [];
    let reloaded = false;
    // each client's requests are sequential: its versions must go 1… then 2… and never back
    const fire = async (): Promise<number[]> => {
      const versions: number[] = [];
      for (
        let i = 0;
        i < 200 &&
        (!reloaded || i < 5 || versions.at(-1) === 1 || versions.filter((v) => v === 2).length < 5);
        i++
      ) {
        const res = await predictOnce(app, { instances: ctx.tiny.rows });
        statuses.push(res.statusCode);
        if (res.statusCode === 200) versions.push(res.json().model_version);
      }
      return versions;
    };
    const load = Promise.all([fire(), fire(), fire(), fire()]);
    await sleep(20);
    const reload = await app.inject({ method: 'POST', url: '/admin/models/m/reload', headers: auth });
    reloaded = true;
    const perClient = await load;
    expect(reload.json()).toEqual({
      model: 'm',
      alias: 'production',
      version: 2,
      previous_version: 1,
      changed: true,
    });
    expect(statuses.every((s) => s === 200)).toBe(true);
    for (const versions of perClient) {
      expect(versions[0]).toBe(1);
      expect(versions.at(-1)).toBe(2);
      expect(versions).toEqual([...versions].sort());
    }
    expect((await predictOnce(app, { instances: ctx.tiny.rows })).json().model_version).toBe(2);
    const status = (await app.inject({ method: 'GET', url: '/admin/models', headers: auth })).json();
    expect(status.retiring).toBe(0);
    expect(status.models).toEqual([
      expect.objectContaining({
        model: 'm',
        version: 2,
        in_flight: 0,
        load_failures: 0,
        last_error: null,
        pinned: false,
      }),
    ]);
  });

  it('follows the alias with the background poller, including a rollback', async () => {
    const { app, registry } = await world({ refreshIntervalMs: 30 });
    expect((await predictOnce(app, { instances: ctx.tiny.rows })).json().model_version).toBe(1);
    await promote(registry, 'm', 2);
    await expect
      .poll(async () => (await predictOnce(app, { instances: ctx.tiny.rows })).json().model_version, {
        timeout: 5000,
      })
      .toBe(2);
    await promote(registry, 'm', 1);
    await expect
      .poll(async () => (await predictOnce(app, { instances: ctx.tiny.rows })).json().model_version, {
        timeout: 5000,
      })
      .toBe(1);
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toContain(
      'kaizen_model_loads_total{model="m",version="2",result="success",env="production"} 1',
    );
    // the old champion stayed warm after the promotion: the rollback loads nothing
    expect(metrics).toContain(
      'kaizen_model_loads_total{model="m",version="1",result="success",env="production"} 1',
    );
  });

  it('keeps the old version serving when the new artifact is tampered with, and does not retry it on every poll', async () => {
    const { app, registry, store, v2 } = await world({ refreshIntervalMs: 20 });
    expect((await predictOnce(app, { instances: ctx.tiny.rows })).json().model_version).toBe(1);
    tamper(store, v2);
    await promote(registry, 'm', 2);

    const reload = await app.inject({ method: 'POST', url: '/admin/models/m/reload', headers: auth });
    expect(reload.statusCode).toBe(500);
    expect(reload.json().error.type).toBe('ArtifactIntegrity');
    expect(reload.json().error.message).toMatch(/refusing to load it; version 1 keeps serving$/);

    const artifactKey = store.keyOf(v2.artifactUri);
    const downloadsBefore = store.readsOf.get(artifactKey);
    await sleep(200); // ~10 polls: registry reads only, no download of the refused artifact
    const res = await predictOnce(app, { instances: ctx.tiny.rows });
    expect(res.statusCode).toBe(200);
    expect(res.json().model_version).toBe(1);
    const status = (await app.inject({ method: 'GET', url: '/admin/models', headers: auth })).json();
    expect(status.models[0]).toMatchObject({
      version: 1,
      load_failures: 1,
      last_error: { type: 'ArtifactIntegrity', version: 2 },
    });
    // the polls read the registry document; none downloads the refused artifact again
    expect(store.readsOf.get(artifactKey)).toBe(downloadsBefore);
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    expect((await app.inject('/metrics')).body).toContain(
      'kaizen_model_loads_total{model="m",version="2",result="failure",env="production"} 1',
    );

    // pointing the alias back clears the error
    await promote(registry, 'm', 1);
    await expect
      .poll(
        async () =>
          (await app.inject({ method: 'GET', url: '/admin/models', headers: auth })).json().models[0]
            .last_error,
        { timeout: 5000 },
      )
      .toBeNull();
  });

  it('never loads a tampered version even as the first one', async () => {
    const { app, store, v1 } = await world();
    tamper(store, v1);
    const res = await predictOnce(app, { instances: ctx.tiny.rows });
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatchObject({
      type: 'NotReady',
      message: expect.stringMatching(/^model "m" is not loaded: artifact of version 1 has sha256/),
    });
  });

  it('keeps serving when the registry is unreachable, and unloads when the alias is removed', async () => {
    const { app, registry, store } = await world({ refreshIntervalMs: 20 });
    expect((await predictOnce(app, { instances: ctx.tiny.rows })).statusCode).toBe(200);
    store.down = true;
    await sleep(100);
    expect((await predictOnce(app, { instances: ctx.tiny.rows })).json().model_version).toBe(1);
    expect((await app.inject('/metrics')).body).toMatch(
      /kaizen_model_refresh_errors_total\{model="m",env="production"\} [1-9]/,
    );
    const status = (await app.inject({ method: 'GET', url: '/admin/models', headers: auth })).json();
    expect(status.models[0].last_error).toMatchObject({ type: 'StorageUnavailable' });
    store.down = false;

    // once the store is back the server follows the production record again
    await promote(registry, 'm', 2);
    await expect
      .poll(async () => (await predictOnce(app, { instances: ctx.tiny.rows })).json().model_version, { timeout: 5000 })
      .toBe(2);
  });
});

describe('shutdown', () => {
  it('lets a request in flight when close() is called finish, then stops listening', async () => {
    const { app, store } = await world();
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    store.delayMs = 300; // the lazy load of "m" is now slow: the request is in flight for a while
    const inFlight = fetch(`${url}/v1/models/m:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: ctx.tiny.rows }),
    });
    await sleep(100);
    const closed = app.close();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.get('connection')).toBe('close');
    expect(((await res.json()) as { model_version: number }).model_version).toBe(1);
    await closed;
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
