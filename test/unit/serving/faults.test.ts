import { describe, expect, it } from 'vitest';
import { promote } from '../../helpers/production';
import { FaultInjector } from '../../../src/serving/faults';
import { memoryRegistry, registerBytes, serverTestContext } from './fixtures';

const auth = { authorization: 'Bearer tok' };
const ctx = serverTestContext();

describe('FaultInjector', () => {
  it('fails exactly the requested share of one version, evenly spread, and nothing else', () => {
    const f = new FaultInjector();
    expect(f.decide('m', 1)).toBeNull();
    f.set('m', { version: 2, errorRate: 0.25 });
    const fails = Array.from({ length: 100 }, () => f.decide('m', 2)!.fail);
    expect(fails.filter(Boolean)).toHaveLength(25);
    expect(fails.slice(0, 8)).toEqual([false, false, false, true, false, false, false, true]);
    expect(f.decide('m', 1)).toBeNull();
    expect(f.decide('other', 2)).toBeNull();
    f.set('m', { errorRate: 1 });
    expect(f.decide('m', 7)).toEqual({ fail: true, delayMs: 0 });
    expect(f.clear('m')).toBe(true);
    expect(f.decide('m', 7)).toBeNull();
  });

  it('names the bad field of a rule', () => {
    const f = new FaultInjector();
    expect(() => f.set('m', { errorRate: 2 })).toThrow(/^errorRate: expected a number between 0 and 1/);
    expect(() => f.set('m', { version: 'x', errorRate: 0.1 })).toThrow(/^version:/);
    expect(() => f.set('m', { latencyMs: -1 })).toThrow(/^latencyMs:/);
    expect(() => f.set('m', {})).toThrow(/errorRate or latencyMs must be above 0/);
    expect(() => f.set('m', [1])).toThrow(/^body:/);
  });
});

describe('fault injection in the server', () => {
  async function app(faultInjection: boolean) {
    const { store, registry } = memoryRegistry();
    await registerBytes(store, registry, 'm', ctx.tiny.bytes[0], 'wf-1');
    await promote(registry, 'm', 1);
    return ctx.start(registry, { adminToken: 'tok', faultInjection });
  }
  const predict = (a: Awaited<ReturnType<typeof app>>) =>
    a.inject({ method: 'POST', url: '/v1/models/m:predict', payload: { instances: [ctx.tiny.rows[0]] } });

  it('makes the chosen version fail with 500 InjectedFault at the set rate, counted as errors of that version', async () => {
    const a = await app(true);
    const set = await a.inject({ method: 'PUT', url: '/admin/models/m/faults', headers: auth, payload: { version: 1, errorRate: 0.5 } });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().fault).toMatchObject({ model: 'm', version: 1, errorRate: 0.5, latencyMs: 0 });
    const codes = [];
    for (let i = 0; i < 10; i++) codes.push((await predict(a)).statusCode);
    expect(codes.filter((c) => c === 500)).toHaveLength(5);
    const failed = await predict(a);
    const body = failed.statusCode === 500 ? failed.json() : (await predict(a)).json();
    expect(body.error).toMatchObject({ type: 'InjectedFault' });
    const m = await a.inject({ method: 'GET', url: '/admin/models/m/metrics?window=1m', headers: auth });
    expect(m.json().versions['1'].errors).toBeGreaterThanOrEqual(6);

    expect((await a.inject({ method: 'GET', url: '/admin/models/m/faults', headers: auth })).json().faults).toHaveLength(1);
    expect((await a.inject({ method: 'DELETE', url: '/admin/models/m/faults', headers: auth })).json()).toEqual({ model: 'm', cleared: true });
    for (let i = 0; i < 4; i++) expect((await predict(a)).statusCode).toBe(200);
    const bad = await a.inject({ method: 'PUT', url: '/admin/models/m/faults', headers: auth, payload: { errorRate: -1 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/^errorRate:/);
  });

  it('has no fault endpoint unless the server is started with fault injection', async () => {
    const a = await app(false);
    const res = await a.inject({ method: 'PUT', url: '/admin/models/m/faults', headers: auth, payload: { errorRate: 1 } });
    expect(res.statusCode).toBe(404);
    expect((await predict(a)).statusCode).toBe(200);
  });
});
