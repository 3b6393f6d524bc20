// Hostile clients: forged feedback, slow connections, and fuzzed bodies on every public and admin
// route. A client's mistake is a 4xx with a typed error, never a 5xx; the server never crashes,
// and its memory stays within its budgets whatever the requests weigh.
import net from 'node:net';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { promote } from '../../helpers/production';
import { ERROR_CATALOGUE } from '../../../src/errors';
import { memoryRegistry, registerBytes, serverTestContext } from './fixtures';

const ADMIN = 'a'.repeat(40);
const LABELS = 'l'.repeat(40);
const ctx = serverTestContext();

async function served(overrides: Parameters<typeof ctx.start>[1] = {}): Promise<FastifyInstance> {
  const { store, registry } = memoryRegistry();
  await registerBytes(store, registry, 'm', ctx.tiny.bytes[0], 'wf-1');
  await registerBytes(store, registry, 'm', ctx.tiny.bytes[1], 'wf-2');
  await promote(registry, 'm', 1);
  return ctx.start(registry, { adminToken: ADMIN, feedbackToken: LABELS, ...overrides });
}

const predict = async (app: FastifyInstance, rows = [ctx.tiny.rows[0]]) => {
  const res = await app.inject({ method: 'POST', url: '/v1/models/m:predict', payload: { instances: rows } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { request_id: string; predictions: { label: string }[] };
};
const feedback = (app: FastifyInstance, body: unknown, token?: string) =>
  app.inject({
    method: 'POST',
    url: '/v1/models/m:feedback',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    payload: body as object,
  });

describe('feedback is authenticated and joined once', () => {
  it('without a token, or with a wrong one, feedback is refused with 401 and changes nothing', async () => {
    const app = await served();
    const p = await predict(app);
    for (const token of [undefined, 'wrong', `${LABELS}x`]) {
      const res = await feedback(app, { request_id: p.request_id, label: 'true' }, token);
      expect(res.statusCode).toBe(401);
      expect(res.json().error.type).toBe('Unauthorized');
      expect(res.json().error.message).toMatch(/KAIZEN_FEEDBACK_TOKEN or KAIZEN_ADMIN_TOKEN/);
    }
    // the prediction is still there to be labelled by the real label source
    expect((await feedback(app, { request_id: p.request_id, label: 'true' }, LABELS)).statusCode).toBe(200);
  });

  it('the feedback token labels predictions and can do nothing else; the admin token can label too', async () => {
    const app = await served();
    const a = await predict(app);
    expect((await feedback(app, { request_id: a.request_id, label: 'true' }, LABELS)).statusCode).toBe(200);
    const b = await predict(app);
    expect((await feedback(app, { request_id: b.request_id, label: 'true' }, ADMIN)).statusCode).toBe(200);
    const admin = await app.inject({ method: 'GET', url: '/admin/models', headers: { authorization: `Bearer ${LABELS}` } });
    expect(admin.statusCode).toBe(401);
    const routing = await app.inject({
      method: 'PUT',
      url: '/admin/models/m/routing',
      headers: { authorization: `Bearer ${LABELS}` },
      payload: { weights: { '1': 50, '2': 50 } },
    });
    expect(routing.statusCode).toBe(401);
  });

  it('a forged id (the real prefix and sequence, a guessed tag) joins nothing, and a second label for one id is refused', async () => {
    const app = await served();
    const p = await predict(app);
    const tag = p.request_id.slice(37);
    const forged = `${p.request_id.slice(0, 37)}${tag === '0'.repeat(16) ? '1'.repeat(16) : '0'.repeat(16)}`;
    const res = await feedback(app, { request_id: forged, label: 'true' }, ADMIN);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/no unjoined prediction/);
    expect((await feedback(app, { request_id: p.request_id, label: 'true' }, ADMIN)).statusCode).toBe(200);
    const again = await feedback(app, { request_id: p.request_id, label: 'false' }, ADMIN);
    expect(again.statusCode).toBe(400);
    const m = await app.inject({ method: 'GET', url: '/admin/models/m/metrics?window=1m', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(m.json().versions['1'].feedback).toBe(1);
  });

  it('a label for the wrong model or of the wrong length is refused without using the prediction up', async () => {
    const app = await served();
    const p = await predict(app);
    const wrongCount = await feedback(app, { request_id: p.request_id, labels: ['true', 'false'] }, LABELS);
    expect(wrongCount.statusCode).toBe(400);
    expect(wrongCount.json().error.message).toMatch(/2 labels for 1 predicted instances/);
    const wrongModel = await app.inject({
      method: 'POST',
      url: '/v1/models/other:feedback',
      headers: { authorization: `Bearer ${LABELS}` },
      payload: { request_id: p.request_id, label: 'true' },
    });
    expect(wrongModel.statusCode).toBe(400);
    expect((await feedback(app, { request_id: p.request_id, label: 'true' }, LABELS)).statusCode).toBe(200);
  });

  it('with no feedback token configured only the admin token labels', async () => {
    const app = await served({ feedbackToken: '' });
    const p = await predict(app);
    expect((await feedback(app, { request_id: p.request_id, label: 'true' }, '')).statusCode).toBe(401);
    expect((await feedback(app, { request_id: p.request_id, label: 'true' }, ADMIN)).statusCode).toBe(200);
  });
});

describe('slow clients', () => {
  /** Opens a raw connection, writes `chunks` (one every `everyMs`), and resolves with when the server closed it. */
  function slowClient(port: number, chunks: string[], everyMs: number): Promise<{ closedAfterMs: number; received: string }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      let received = '';
      const sock = net.connect(port, '127.0.0.1');
      let i = 0;
      const timer = setInterval(() => {
        if (i < chunks.length && !sock.destroyed) sock.write(chunks[i++]!);
      }, everyMs);
      sock.on('data', (d) => (received += d.toString()));
      sock.on('error', () => undefined);
      sock.on('close', () => {
        clearInterval(timer);
        resolve({ closedAfterMs: Date.now() - started, received });
      });
      setTimeout(() => {
        clearInterval(timer);
        sock.destroy();
        reject(new Error('the server kept the connection open for 15 s'));
      }, 15_000).unref();
    });
  }

  it('a client that sends its headers a byte at a time is cut off after the request timeout', async () => {
    const app = await served({ timeouts: { requestMs: 1000, keepAliveMs: 1000 } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as net.AddressInfo).port;
    const request = 'POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n';
    const r = await slowClient(port, [...request, ...'x-slow: '.repeat(200)], 100);
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(r.closedAfterMs).toBeLessThan(5000);
    expect(r.received).toMatch(/^HTTP\/1\.1 408/);
  });

  it('long and fractional timeouts are taken as whole milliseconds and the server starts', async () => {
    const app = await served({ timeouts: { requestMs: 600_000.4, keepAliveMs: 260_999.99999999997 } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    expect(app.server.requestTimeout).toBe(600_000);
    expect(app.server.headersTimeout).toBe(600_000);
    expect(app.server.keepAliveTimeout).toBe(261_000);
    const port = (app.server.address() as net.AddressInfo).port;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const app = await served({ timeouts: { requestMs: 5000, keepAliveMs: 1000 } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as net.AddressInfo).port;
    const r = await slowClient(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], 10);
    expect(r.received).toMatch(/^HTTP\/1\.1 200/);
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(r.closedAfterMs).toBeLessThan(4000);
  });
});

/** Every answer to a fuzzed request: below 500, JSON, and a catalogued error type when it is an error. */
function expectClientAnswer(res: { statusCode: number; body: string }, what: string): void {
  expect(res.statusCode, `${what} → ${res.body.slice(0, 300)}`).toBeLessThan(500);
  if (res.statusCode >= 400) {
    const body = JSON.parse(res.body) as { error: { type: string; message: string } };
    expect(Object.keys(ERROR_CATALOGUE)).toContain(body.error.type);
    expect(body.error.message.length).toBeGreaterThan(0);
  }
}

const jsonValue = fc.jsonValue({ maxDepth: 4 });
const instanceLike = fc.dictionary(
  fc.constantFrom('distance', 'hour', 'origin', 'weekday', 'other', '__proto__', 'constructor'),
  fc.oneof(jsonValue, fc.double(), fc.string(), fc.constant(null)),
);
const predictBody = fc.oneof(
  jsonValue,
  fc.record({ instances: fc.oneof(jsonValue, fc.array(instanceLike, { maxLength: 20 })) }),
  fc.record({ instances: fc.array(instanceLike, { maxLength: 5 }), key: jsonValue }),
);

describe('fuzzed requests (fast-check)', () => {
  it('predict: any JSON body, any raw bytes, any model name: never a 5xx', async () => {
    const app = await served();
    await fc.assert(
      fc.asyncProperty(predictBody, async (body) => {
        const res = await app.inject({ method: 'POST', url: '/v1/models/m:predict', payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
        expectClientAnswer(res, JSON.stringify(body).slice(0, 200));
      }),
      { numRuns: 300, seed: 14 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', ''), async (raw, type) => {
        const res = await app.inject({ method: 'POST', url: '/v1/models/m:predict', payload: raw, headers: type ? { 'content-type': type } : {} });
        expectClientAnswer(res, `${type}: ${raw.slice(0, 100)}`);
      }),
      { numRuns: 200, seed: 15 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), async (name) => {
        const res = await app.inject({ method: 'POST', url: `/v1/models/${encodeURIComponent(name)}:predict`, payload: { instances: [ctx.tiny.rows[0]] } });
        expectClientAnswer(res, name);
      }),
      { numRuns: 200, seed: 16 },
    );
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  }, 120_000);

  it('feedback: any body, with a real token and a real or made-up id: never a 5xx', async () => {
    const app = await served();
    const ids = await Promise.all([0, 1, 2, 3].map(async () => (await predict(app)).request_id));
    const body = fc.oneof(
      jsonValue,
      fc.record({ request_id: fc.oneof(fc.constantFrom(...ids), fc.string(), jsonValue), label: jsonValue }),
      fc.record({ request_id: fc.constantFrom(...ids), labels: fc.array(jsonValue, { maxLength: 3 }) }),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom(ADMIN, LABELS), async (b, token) => {
        const res = await feedback(app, b, token);
        expectClientAnswer(res, JSON.stringify(b).slice(0, 200));
      }),
      { numRuns: 300, seed: 17 },
    );
  }, 120_000);

  it('admin: any body to routing, the kill switch and reload: never a 5xx, and production stays valid', async () => {
    const app = await served({ faultInjection: true });
    const auth = { authorization: `Bearer ${ADMIN}` };
    const route = fc.constantFrom(
      ['PUT', '/admin/models/m/routing'],
      ['POST', '/admin/models/m/disable'],
      ['POST', '/admin/models/m/enable'],
      ['PUT', '/admin/models/m/faults'],
      ['POST', '/admin/models/m/reload'],
      ['GET', '/admin/models/m/metrics'],
    ) as fc.Arbitrary<['PUT' | 'POST' | 'GET', string]>;
    const body = fc.oneof(
      jsonValue,
      fc.record({ weights: fc.oneof(jsonValue, fc.dictionary(fc.constantFrom('1', '2', '3', 'x', '-1'), fc.oneof(fc.double(), fc.integer(), jsonValue))) }),
      fc.record({ reason: jsonValue, by: jsonValue }),
    );
    const query = fc.oneof(fc.constant(''), fc.string({ maxLength: 30 }).map((s) => `?window=${encodeURIComponent(s)}`), fc.string({ maxLength: 30 }).map((s) => `?since=${encodeURIComponent(s)}`));
    await fc.assert(
      fc.asyncProperty(route, body, query, async ([method, url], b, q) => {
        const res = await app.inject({ method, url: `${url}${q}`, headers: auth, ...(method === 'GET' ? {} : { payload: JSON.stringify(b), headers: { ...auth, 'content-type': 'application/json' } }) });
        expectClientAnswer(res, `${method} ${url}${q} ${JSON.stringify(b).slice(0, 200)}`);
      }),
      { numRuns: 300, seed: 18 },
    );
    // whatever was accepted, the record is one the server can route from
    const state = await app.inject({ method: 'GET', url: '/admin/models/m/routing', headers: auth });
    expect(state.statusCode).toBe(200);
    await app.inject({ method: 'DELETE', url: '/admin/models/m/faults', headers: auth });
    await app.inject({ method: 'POST', url: '/admin/models/m/enable', headers: auth, payload: {} });
    await predict(app);
  }, 120_000);

  it('memory stays within the budgets under 1,000-row requests that are never labelled', async () => {
    const budget = 2 * 1024 * 1024;
    const app = await served({ feedbackMemory: { maxBytes: budget } });
    const rows = Array.from({ length: 1000 }, (_, i) => ctx.tiny.rows[i % 3]!);
    for (let i = 0; i < 120; i++) await predict(app, rows);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const held = Number(/^kaizen_feedback_memory_bytes\{[^}]*\} (\d+)/m.exec(metrics)?.[1]);
    const evicted = Number(/^kaizen_feedback_memory_evicted_total\{[^}]*reason="bytes"[^}]*\} (\d+)/m.exec(metrics)?.[1]);
    expect(held).toBeGreaterThan(budget / 2);
    expect(held).toBeLessThanOrEqual(budget);
    expect(evicted).toBeGreaterThan(0);
  }, 120_000);
});
