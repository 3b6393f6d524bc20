import { describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/registry';
import { postPredict } from '../../src/serving/client';
import { createObjectStore } from '../../src/storage/object-store';
import type { PipelineResult } from '../../src/types';
import { runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig } from '../helpers/stack-env';

const row = { distance: 1000, hour: 9, weekday: 2, origin: 'ORD' };

describe('rollback after promotion (real stack and production server)', () => {
  it('moves production back at once, records it, and can go forward again with --to', async () => {
    for (const [id, seed] of [['it-rollback-1', 1], ['it-rollback-2', 2]] as const) {
      const spec = writeSpec(smallFlightsSpec('it-rollback', { train: { hiddenUnits: [8], epochs: 2, batchSize: 128, learningRate: 0.005, seed }, gate: { maxRegression: 1 } }));
      const res = await runCli(['pipeline', 'run', spec, '--wait', '--json', '--id', id], stackEnv());
      expect(res.code, res.stderr).toBe(0);
      expect((JSON.parse(res.stdout) as PipelineResult).outcome).toBe('promoted');
    }
    const prodUrl = testConfig().servers.production;
    await expect.poll(async () => {
      const r = await postPredict(prodUrl, 'it-rollback', [row]);
      return r.ok ? r.body.model_version : null;
    }, { timeout: 15_000 }).toBe(2);

    const back = await runCli(['rollback', 'it-rollback', '--by', 'oncall', '--reason', 'bad latency', '--json'], stackEnv());
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ from: 2, to: 1, serving: true });
    // effective immediately: the very next request is answered by version 1
    const r = await postPredict(prodUrl, 'it-rollback', [row]);
    expect(r.ok && r.body.model_version).toBe(1);

    const forward = await runCli(['rollback', 'it-rollback', '--to', '2', '--json'], stackEnv());
    expect(forward.code, forward.stderr).toBe(0);
    expect(JSON.parse(forward.stdout)).toMatchObject({ from: 1, to: 2 });

    const doc = await new ModelRegistry(createObjectStore(testConfig())).require('it-rollback');
    expect(doc.production).toMatchObject({ champion: 2, weights: { '2': 100 }, warm: [1] });
    const prod = (doc.productionHistory ?? []).map((h) => [h.action, h.from, h.champion, h.by]);
    expect(prod).toEqual([
      ['promote', null, 1, 'auto'],
      ['promote', 1, 2, 'auto'],
      ['rollback', 2, 1, 'oncall'],
      ['rollback', 1, 2, expect.any(String)],
    ]);
    expect(doc.productionHistory?.find((h) => h.by === 'oncall')?.reason).toBe('bad latency');

    const none = await runCli(['rollback', 'no-such-model'], stackEnv());
    expect(none.code).not.toBe(0);
    expect(none.stderr.trim()).toMatch(/^kaizen: rollback of no-such-model failed: no model "no-such-model" in the registry$/);
  });
});
