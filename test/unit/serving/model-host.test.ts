import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promote } from '../../helpers/production';
import { predict } from '../../../src/ml/bundle';
import { createServingMetrics } from '../../../src/serving/metrics';
import { ModelHost } from '../../../src/serving/model-host';
import { memoryRegistry, registerBytes, trainTinyModels, type TinyModels } from './fixtures';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

let tiny: TinyModels;
beforeAll(async () => {
  tiny = await trainTinyModels();
});
afterAll(async () => {
  await tiny.cleanup();
});

async function host() {
  const { store, registry } = memoryRegistry();
  await registerBytes(store, registry, 'm', tiny.bytes[0], 'wf-1');
  await registerBytes(store, registry, 'm', tiny.bytes[1], 'wf-2');
  await promote(registry, 'm', 1);
  const h = new ModelHost({
    source: registry,
    alias: 'production',
    metrics: createServingMetrics({ env: 'production', defaultMetrics: false }),
    log: silent,
    refreshIntervalMs: 0,
  });
  return { h, registry, store };
}

describe('ModelHost', () => {
  it('disposes a swapped-out version only after the last request holding it releases it', async () => {
    const { h, registry } = await host();
    const held = await h.acquire('m');
    expect(held.model.version.version).toBe(1);

    // no warm versions: the old champion is retired as soon as nothing holds it
    await registry.changeProduction('m', { action: 'promote', champion: 2, warm: [] }, { by: 't', reason: 't' });
    const outcome = await h.refresh('m');
    expect(outcome).toMatchObject({ previousVersion: 1, version: 2, changed: true, error: null });

    // new requests get version 2 at once; the held lease still predicts with version 1
    const fresh = await h.acquire('m');
    expect(fresh.model.version.version).toBe(2);
    fresh.release();
    expect(h.status().retiring).toBe(1);
    expect(predict(held.model.bundle, tiny.rows).predictions).toHaveLength(tiny.rows.length);

    held.release();
    held.release(); // idempotent
    expect(h.status().retiring).toBe(0);
    expect(() => predict(held.model.bundle, tiny.rows)).toThrow();
    await h.stop();
  });

  it('shares one load between concurrent first requests', async () => {
    const { h, store } = await host();
    const before = store.reads;
    const leases = await Promise.all(Array.from({ length: 10 }, () => h.acquire('m')));
    expect(new Set(leases.map((l) => l.model)).size).toBe(1);
    // one registry document read + one artifact download
    expect(store.reads - before).toBe(2);
    for (const l of leases) l.release();
    await h.stop();
  });

  it('refuses new leases once stopped and disposes what it held', async () => {
    const { h } = await host();
    const lease = await h.acquire('m');
    lease.release();
    await h.stop();
    await expect(h.acquire('other')).rejects.toMatchObject({ type: 'NotReady' });
    expect(() => predict(lease.model.bundle, tiny.rows)).toThrow();
    expect(h.readiness().ready).toBe(false);
  });
});
