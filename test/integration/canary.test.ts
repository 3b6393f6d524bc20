import { Client, Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { stackStatus, upStack } from '../../src/dev/stack';
import { ModelRegistry } from '../../src/registry/registry';
import { postPredict } from '../../src/serving/client';
import { createObjectStore } from '../../src/storage/object-store';
import type { PipelineResult } from '../../src/types';
import { canaryStatusQuery } from '../../workflows/definitions';
import { runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig, testStackOptions } from '../helpers/stack-env';

const rows = [
  { distance: 1000, hour: 9, weekday: 2, origin: 'ORD' },
  { distance: 350, hour: 18, weekday: 5, origin: 'LAX' },
  { distance: 2400, hour: 7, weekday: 1, origin: 'JFK' },
];

/** Sends real requests to the production server until stopped; returns the versions that answered. */
function traffic(model: string): { stop: () => Promise<Map<number, number>> } {
  let running = true;
  const seen = new Map<number, number>();
  const loop = (async () => {
    let i = 0;
    while (running) {
      const r = await postPredict(testConfig().servers.production, model, [rows[i++ % rows.length]!]).catch(() => null);
      if (r?.ok) seen.set(r.body.model_version, (seen.get(r.body.model_version) ?? 0) + 1);
      else await new Promise((res) => setTimeout(res, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

async function pipeline(model: string, id: string, overrides: Record<string, unknown>): Promise<PipelineResult> {
  const res = await runCli(['pipeline', 'run', writeSpec(smallFlightsSpec(model, overrides)), '--wait', '--json', '--id', id], stackEnv());
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as PipelineResult;
}

describe('canary rollout (real production server and traffic)', () => {
  const registry = new ModelRegistry(createObjectStore(testConfig()));
  const canary = { steps: [50, 100], stepDuration: '3s', minRequestsPerStep: 5, maxErrorRate: 0.01, maxP99Ms: 1000, maxMetricDrop: 0.5 };
  const train = (seed: number) => ({ hiddenUnits: [8], epochs: 2, batchSize: 128, learningRate: 0.005, seed });

  it('promotes a healthy canary step by step, then rolls back one whose injected error rate is too high', async () => {
    expect((await pipeline('it-canary', 'it-canary-1', { train: train(1) })).outcome).toBe('promoted');

    const load = traffic('it-canary');
    const promoted = await pipeline('it-canary', 'it-canary-2', { train: train(2), gate: { maxRegression: 1 }, canary });
    const seen = await load.stop();
    expect(promoted.outcome).toBe('promoted');
    expect(promoted.canary?.decision).toBe('promote');
    expect(promoted.canary?.steps.map((s) => [s.percent, s.passed])).toEqual([[50, true], [100, true]]);
    expect(promoted.canary?.steps.every((s) => s.requests >= 5)).toBe(true);
    expect(seen.get(1)).toBeGreaterThan(0);
    expect(seen.get(2)).toBeGreaterThan(0);
    let doc = await registry.require('it-canary');
    expect(doc.production?.champion).toBe(2);
    expect(doc.production?.weights).toEqual({ '2': 100 });
    expect(doc.production?.warm).toEqual([1]);
    expect((doc.productionHistory ?? []).filter((h) => h.champion !== h.from).map((h) => h.champion)).toEqual([1, 2]);

    // a bad release, rehearsed: the production server fails 40% of version 3's requests
    const faults = `${testConfig().servers.production}/admin/models/it-canary/faults`;
    const admin = { authorization: `Bearer ${testConfig().adminToken}`, 'content-type': 'application/json' };
    const injected = await fetch(faults, { method: 'PUT', headers: admin, body: JSON.stringify({ version: 3, errorRate: 0.4 }) });
    expect(injected.status, await injected.text()).toBe(200);
    const load2 = traffic('it-canary');
    const rolledBack = await pipeline('it-canary', 'it-canary-3', {
      train: { ...train(7), hiddenUnits: [16], epochs: 3 },
      gate: { maxRegression: 1 },
      canary,
    }).finally(() => fetch(faults, { method: 'DELETE', headers: { authorization: admin.authorization } }));
    const seen2 = await load2.stop();
    expect(rolledBack.outcome, JSON.stringify(rolledBack.gate)).toBe('rolled_back');
    expect(rolledBack.canary?.steps).toHaveLength(1);
    expect(rolledBack.canary?.reasons?.[0]).toMatch(/canary error rate (3\d|4\d)\.\d\d% is above canary\.maxErrorRate 1\.00%/);
    expect(seen2.get(3) ?? 0).toBeGreaterThan(0);
    doc = await registry.require('it-canary');
    expect(doc.production?.champion).toBe(2);
    expect(doc.production?.weights).toEqual({ '2': 100 });
    const answered = await postPredict(testConfig().servers.production, 'it-canary', [rows[0]!]);
    expect(answered.ok && answered.body.model_version).toBe(2);

    // a row far outside the training data is answered by the naive baseline, and says so
    const odd = await postPredict(testConfig().servers.production, 'it-canary', [rows[0]!, { ...rows[1]!, distance: 250_000 }]);
    expect(odd.ok, JSON.stringify(odd)).toBe(true);
    if (!odd.ok) return;
    expect(odd.body).toMatchObject({ fallback: true, fallback_rows: [1] });
    expect((odd.body as { fallback_reason?: string }).fallback_reason).toMatch(/^distance: 250000 is outside the training range/);

    // every prediction went to the prediction log in the object store (one object per window)
    const store = createObjectStore(testConfig());
    await expect.poll(async () => (await store.list('predictions/it-canary/')).length, { timeout: 15_000 }).toBeGreaterThan(0);
    const logged = (await Promise.all((await store.list('predictions/it-canary/')).map(async (o) => (await store.getBuffer(o.key))!.toString())))
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { version: number; fallback: boolean; instances: Record<string, unknown>[] });
    expect(logged.length).toBeGreaterThan(50);
    expect(new Set(logged.map((r) => r.version))).toEqual(new Set([1, 2, 3]));
    expect(Object.keys(logged[0]!.instances[0]!).sort()).toEqual(['distance', 'hour', 'origin', 'weekday']);

    // the lever that must never fail: after a canary promotion, `kaizen rollback` moves champion and
    // traffic together, and the very next request is served by the version rolled back to
    const back = await runCli(['rollback', 'it-canary', '--by', 'oncall', '--json'], stackEnv());
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ from: 2, to: 1, serving: true });
    for (let i = 0; i < 20; i++) {
      const next = await postPredict(testConfig().servers.production, 'it-canary', [rows[i % rows.length]!]);
      expect(next.ok && next.body.model_version).toBe(1);
    }
    const routing = await fetch(`${testConfig().servers.production}/admin/models/it-canary/routing`, { headers: { authorization: admin.authorization } });
    expect(await routing.json()).toMatchObject({ production: { champion: 1, weights: { '1': 100 } }, applied: { version: 1, routing: { weights: { '1': 100 } } } });
  });

  it('a pipeline cancelled mid-canary leaves the champion with all traffic', async () => {
    expect((await pipeline('it-canary-cancel', 'it-canary-cancel-1', { train: train(1) })).outcome).toBe('promoted');
    const client = new Client({ connection: await Connection.connect({ address: testConfig().temporal.address }) });
    try {
      const spec = writeSpec(smallFlightsSpec('it-canary-cancel', { train: train(2), gate: { maxRegression: 1 }, canary: { ...canary, stepDuration: '5m' } }));
      const started = await runCli(['pipeline', 'run', spec, '--json', '--id', 'it-canary-cancel-2'], stackEnv());
      expect(started.code, started.stderr).toBe(0);
      const child = client.workflow.getHandle('it-canary-cancel-2-canary');
      await expect
        .poll(async () => (await child.query(canaryStatusQuery).catch(() => null))?.weights, { timeout: 180_000, interval: 300 })
        .toEqual({ '1': 50, '2': 50 });
      const during = await registry.require('it-canary-cancel');
      expect(during.production?.weights).toEqual({ '1': 50, '2': 50 });
      await client.workflow.getHandle('it-canary-cancel-2').cancel();
      await expect.poll(async () => (await child.describe()).status.name, { timeout: 60_000 }).toBe('CANCELLED');
      const doc = await registry.require('it-canary-cancel');
      expect(doc.production).toMatchObject({ champion: 1, weights: { '1': 100 } });
      expect(doc.productionHistory?.at(-1)).toMatchObject({ action: 'canary_restore', weights: { '1': 100 } });
      for (let i = 0; i < 20; i++) {
        const next = await postPredict(testConfig().servers.production, 'it-canary-cancel', [rows[i % rows.length]!]);
        expect(next.ok && next.body.model_version).toBe(1);
      }
    } finally {
      await client.connection.close();
    }
  });

  it('promotes exactly once when the orchestration worker is killed -9 in the middle of a canary', async () => {
    expect((await pipeline('it-exact', 'it-exact-1', { train: train(1) })).outcome).toBe('promoted');
    const client = new Client({ connection: await Connection.connect({ address: testConfig().temporal.address }) });
    try {
      const load = traffic('it-exact');
      const run = pipeline('it-exact', 'it-exact-2', { train: train(2), gate: { maxRegression: 1 }, canary: { ...canary, steps: [25, 50, 100] } });
      const child = client.workflow.getHandle('it-exact-2-canary');
      await expect
        .poll(async () => (await child.query<{ step: number }>('status').catch(() => null))?.step ?? 0, { timeout: 120_000, interval: 200 })
        .toBeGreaterThanOrEqual(2);
      const options = testStackOptions();
      const worker = (await stackStatus(options)).components.find((c) => c.name === 'worker-pipeline');
      process.kill(worker!.pid!, 'SIGKILL');
      expect((await upStack(options)).components.find((c) => c.name === 'worker-pipeline')?.healthy).toBe(true);
      const result = await run;
      await load.stop();
      expect(result.outcome).toBe('promoted');
      expect(result.canary?.steps.map((s) => s.percent)).toEqual([25, 50, 100]);
      const doc = await registry.require('it-exact');
      expect((doc.productionHistory ?? []).filter((h) => h.champion !== h.from).map((h) => [h.from, h.champion])).toEqual([[null, 1], [1, 2]]);
      // every step written once: 25, 50, 100 and the promotion
      expect((doc.productionHistory ?? []).map((h) => h.action)).toEqual(['promote', 'canary_step', 'canary_step', 'canary_step', 'promote']);
      expect(doc.production?.weights).toEqual({ '2': 100 });
      expect(doc.production?.warm).toEqual([1]);
    } finally {
      await client.connection.close();
    }
  });
});
