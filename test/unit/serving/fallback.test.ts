import type { FastifyInstance } from 'fastify';
import { promote } from '../../helpers/production';
import { describe, expect, it } from 'vitest';
import { buildInputGuard, outOfProfile } from '../../../src/serving/fallback';
import type { ServerDeps } from '../../../src/serving/server';
import type { DatasetProfile, Transforms } from '../../../src/types';
import { memoryRegistry, registerBytes, serverTestContext, TEST_ADMIN_TOKEN } from './fixtures';

const TOKEN = TEST_ADMIN_TOKEN;
const auth = { authorization: `Bearer ${TOKEN}` };

const numeric = (name: string, p01: number, p25: number, p75: number, p99: number) => ({
  name,
  kind: 'numeric' as const,
  count: 1000,
  missing: 0,
  mean: null,
  std: null,
  min: p01,
  max: p99,
  quantiles: { p01, p05: null, p25, p50: null, p75, p95: null, p99 },
  histogram: { edges: [], counts: [] },
});
const profile: DatasetProfile = {
  rows: 1000,
  columns: [numeric('distance', 100, 400, 1200, 2600), numeric('hour', 5, 9, 18, 23)],
  label: {},
};

describe('input guard', () => {
  const transforms: Transforms = {
    task: 'binary',
    features: [
      { name: 'distance', kind: 'numeric', impute: 800, mean: 800, std: 500 },
      { name: 'origin', kind: 'categorical', impute: 'ORD', vocabulary: ['ORD', 'ATL'] },
      { name: 'dest', kind: 'categorical', impute: 'ORD', vocabulary: ['ORD', 'ATL'] },
    ],
  };
  const guard = buildInputGuard(transforms, profile, {
    enabled: true,
    iqrMultiplier: 3,
    maxUnseenCategoryShare: 0.5,
  });

  it('allows [p01 - k·IQR, p99 + k·IQR] and names the feature beyond it', () => {
    expect(guard.numeric).toEqual([{ name: 'distance', min: -2300, max: 5000 }]);
    expect(outOfProfile(guard, { distance: 4999, origin: 'ORD', dest: 'ATL' })).toBeNull();
    expect(outOfProfile(guard, { distance: null, origin: 'ORD', dest: 'ATL' })).toBeNull();
    expect(outOfProfile(guard, { distance: 20000, origin: 'ORD', dest: 'ATL' })).toBe(
      'distance: 20000 is outside the training range [-2300, 5000]',
    );
  });

  it('falls back when more than the allowed share of categories is unseen', () => {
    expect(outOfProfile(guard, { distance: 500, origin: 'XXX', dest: 'ATL' })).toBeNull();
    expect(outOfProfile(guard, { distance: 500, origin: 'XXX', dest: 'YYY' })).toBe(
      'unseen categories in origin, dest',
    );
    // without a profile only the categories are checked
    expect(buildInputGuard(transforms, null).numeric).toEqual([]);
  });
});

const ctx = serverTestContext();

async function world(overrides: Partial<ServerDeps> = {}) {
  const { store, registry } = memoryRegistry();
  await registerBytes(store, registry, 'm', ctx.tiny.bytes[0], 'wf-1');
  await registerBytes(store, registry, 'm', ctx.tiny.bytes[1], 'wf-2');
  await promote(registry, 'm', 1);
  await store.put('datasets/aaaa/profile.json', JSON.stringify(profile));
  const make = () => ctx.start(registry, overrides);
  return { store, registry, make };
}

const ok = { distance: 1000, hour: 18, origin: 'ORD', weekday: 5 };
const far = { distance: 20000, hour: 18, origin: 'ORD', weekday: 5 };
const predictOnce = (app: FastifyInstance, instances: unknown[]) =>
  app.inject({ method: 'POST', url: '/v1/models/m:predict', payload: { instances } });

describe('naive fallback in the server', () => {
  it('answers out-of-profile rows with the baseline, marks them, and counts them per version', async () => {
    const { make } = await world({ fallback: { enabled: true } });
    const app = await make();
    const normal = (await predictOnce(app, [ok])).json();
    expect(normal).toMatchObject({ model_version: 1, fallback: false });

    const res = await predictOnce(app, [far]);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      model_version: 1,
      fallback: true,
      fallback_rows: [0],
      fallback_reason: expect.stringMatching(/^distance: 20000 is outside the training range/),
    });
    // the baseline's answer: the training prior, the same for every row
    const again = (await predictOnce(app, [{ ...far, hour: 3 }])).json();
    expect(again.predictions).toEqual(body.predictions);

    // a batch mixes model and baseline answers row by row
    const mixed = (await predictOnce(app, [ok, far, ok])).json();
    expect(mixed.fallback_rows).toEqual([1]);
    expect(mixed.predictions[0]).toEqual(normal.predictions[0]);
    expect(mixed.predictions[1]).toEqual(body.predictions[0]);

    const m = await app.inject({ method: 'GET', url: '/admin/models/m/metrics?window=60s', headers: auth });
    expect(m.json().versions['1']).toMatchObject({ requests: 4, fallbacks: 3, errors: 0 });
    const text = (await app.inject('/metrics')).body;
    expect(text).toMatch(/kaizen_predict_fallbacks_total\{[^}]*reason="out_of_profile"[^}]*\} 3/);
  });

  it('is off unless enabled: the model answers every row', async () => {
    const { make } = await world();
    const app = await make();
    expect((await predictOnce(app, [far])).json()).toMatchObject({ fallback: false });
  });
});

describe('kill switch', () => {
  it('sends all traffic to the baseline at once, persists in the registry for other servers, and enable restores', async () => {
    const { registry, make } = await world();
    const app = await make();
    const other = await make();
    const before = (await predictOnce(app, [ok])).json();
    expect(before.fallback).toBe(false);
    expect((await predictOnce(other, [ok])).json().fallback).toBe(false);

    const off = await app.inject({
      method: 'POST',
      url: '/admin/models/m/disable',
      headers: auth,
      payload: { reason: 'bad predictions', by: 'oncall' },
    });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json()).toMatchObject({ model: 'm', disabled: true, by: 'oncall', reason: 'bad predictions' });
    const res = (await predictOnce(app, [ok, ok])).json();
    expect(res).toMatchObject({
      model_version: 1,
      fallback: true,
      fallback_rows: [0, 1],
      fallback_reason: 'model disabled by oncall: bad predictions',
    });
    expect((await registry.require('m')).production?.killSwitch).toMatchObject({ by: 'oncall' });

    // another replica follows on its poll (here: a reload), and a restarted server starts disabled
    await other.inject({ method: 'POST', url: '/admin/models/m/reload', headers: auth });
    expect((await predictOnce(other, [ok])).json().fallback).toBe(true);
    const fresh = await make();
    expect((await predictOnce(fresh, [ok])).json().fallback).toBe(true);
    const status = await app.inject({ method: 'GET', url: '/admin/models', headers: auth });
    expect(status.json().models[0].disabled).toMatchObject({ by: 'oncall' });

    const on = await app.inject({ method: 'POST', url: '/admin/models/m/enable', headers: auth });
    expect(on.json()).toMatchObject({ disabled: false });
    const after = (await predictOnce(app, [ok])).json();
    expect(after).toMatchObject({ fallback: false });
    expect(after.predictions).toEqual(before.predictions);
    const doc = await registry.require('m');
    expect(doc.production?.killSwitch).toBeNull();
    expect(doc.productionHistory?.filter((h) => h.action === 'kill_switch').map((h) => h.killSwitch)).toEqual([true, false]);
    expect((await app.inject({ method: 'POST', url: '/admin/models/m/disable' })).statusCode).toBe(401);
  });
});
