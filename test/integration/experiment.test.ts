import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/registry';
import { postPredict } from '../../src/serving/client';
import { createObjectStore } from '../../src/storage/object-store';
import type { ExperimentResult, PipelineResult } from '../../src/types';
import { rng } from '../unit/data/helpers';
import { runCli, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig } from '../helpers/stack-env';

// Synthetic data where the truth is known: y = x1 + x2 > 0. A model that sees only x1 is right about
// 75% of the time; one that sees both is right nearly always. Keys route requests deterministically
// and training is seeded, so every run of this test sees the same traffic split and predictions.
function rows(n: number, seed: number): { x1: number; x2: number; y: boolean }[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const x1 = Math.round((r() * 2 - 1) * 1e4) / 1e4;
    const x2 = Math.round((r() * 2 - 1) * 1e4) / 1e4;
    return { x1, x2, y: x1 + x2 > 0 };
  });
}

const MODEL = 'it-experiment';

describe('champion/challenger experiment (real stack, live traffic and feedback)', () => {
  let client: Client;
  let csv: string;
  const registry = new ModelRegistry(createObjectStore(testConfig()));

  beforeAll(async () => {
    client = new Client({ connection: await Connection.connect({ address: testConfig().temporal.address }) });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kaizen-experiment-'));
    csv = path.join(dir, 'xy.csv');
    writeFileSync(csv, `x1,x2,y\n${rows(5000, 1).map((r) => `${r.x1},${r.x2},${r.y}`).join('\n')}\n`);
  });
  afterAll(async () => {
    await client?.connection.close();
  });

  async function register(features: string[], seed: number, promote: boolean): Promise<PipelineResult> {
    const spec = {
      model: MODEL,
      data: { source: csv, target: 'y', features, split: { validation: 0.1, test: 0.2, seed: 3 } },
      task: 'binary',
      train: { hiddenUnits: [8], epochs: 4, batchSize: 128, learningRate: 0.01, seed },
      gate: { maxRegression: 1 },
      loadTest: false,
      canary: false,
      // challengers are registered but not promoted: approval times out into a rejection
      approval: promote ? { mode: 'auto' } : { mode: 'manual', timeout: '1s', onTimeout: 'reject' },
    };
    const res = await runCli(['pipeline', 'run', writeSpec(spec), '--wait', '--json'], stackEnv());
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout) as PipelineResult;
  }

  /** Sends keyed requests to production and the true label of each as feedback; counts answers per version. */
  async function traffic(n: number, offset: number): Promise<Map<number, number>> {
    const url = testConfig().servers.production;
    const seen = new Map<number, number>();
    for (const [i, row] of rows(n, 99 + offset).entries()) {
      const res = await fetch(`${url}/v1/models/${MODEL}:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-kaizen-key': `user-${offset + i}` },
        body: JSON.stringify({ instances: [{ x1: row.x1, x2: row.x2 }] }),
      });
      const body = (await res.json()) as { model_version: number; request_id: string };
      expect(res.status, JSON.stringify(body)).toBe(200);
      seen.set(body.model_version, (seen.get(body.model_version) ?? 0) + 1);
      const fb = await fetch(`${url}/v1/models/${MODEL}/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${testConfig().adminToken}` },
        body: JSON.stringify({ request_id: body.request_id, label: row.y }),
      });
      expect(fb.status).toBe(200);
    }
    return seen;
  }

  async function experiment(id: string, args: string[], requests: number, offset: number): Promise<{ result: ExperimentResult; seen: Map<number, number> }> {
    const started = await runCli(['experiment', 'start', MODEL, ...args, '--duration', '10s', '--min-samples', '80', '--id', id, '--json'], stackEnv());
    expect(started.code, started.stderr).toBe(0);
    const handle = client.workflow.getHandle(id);
    await expect
      .poll(async () => (await handle.query<{ phase: string }>('status').catch(() => null))?.phase, { timeout: 60_000, interval: 200 })
      .toBe('running');
    const seen = await traffic(requests, offset);
    return { result: (await handle.result()) as ExperimentResult, seen };
  }

  it('keeps the champion against an equal challenger, then promotes a clearly better one and demotes the rest', async () => {
    expect((await register(['x1'], 1, true)).outcome).toBe('promoted');
    expect((await register(['x1'], 2, false)).version).toBe(2);
    expect((await register(['x1', 'x2'], 3, false)).version).toBe(3);

    const equal = await experiment('it-experiment-equal', ['--challengers', '2', '--split', '50,50'], 400, 0);
    expect(equal.seen.get(1)).toBeGreaterThan(100);
    expect(equal.seen.get(2)).toBeGreaterThan(100);
    expect(equal.result.decision, JSON.stringify(equal.result.arms)).toBe('keep');
    expect(equal.result.winner).toBeNull();
    const [champ, chall] = equal.result.arms;
    expect(champ).toMatchObject({ version: 1, role: 'champion' });
    expect(chall).toMatchObject({ version: 2, role: 'challenger', significant: false });
    expect(champ!.labelled + chall!.labelled).toBe(400);
    expect(Math.abs(champ!.accuracy! - chall!.accuracy!)).toBeLessThan(0.1);
    let doc = await registry.require(MODEL);
    expect(doc.production?.champion).toBe(1);
    expect(doc.production?.weights).toEqual({ '1': 100 });

    const better = await experiment('it-experiment-better', ['--challengers', '2,3', '--split', '34,33,33'], 450, 1000);
    expect([...better.seen.keys()].sort()).toEqual([1, 2, 3]);
    expect(better.result.decision, JSON.stringify(better.result.arms)).toBe('promote');
    expect(better.result.winner).toBe(3);
    const arm3 = better.result.arms.find((a) => a.version === 3)!;
    expect(arm3.significant).toBe(true);
    expect(arm3.accuracy!).toBeGreaterThan(better.result.arms[0]!.accuracy! + 0.1);
    expect(arm3.pValue!).toBeLessThan(better.result.alphaAdjusted);
    expect(better.result.alphaAdjusted).toBeCloseTo(0.025);

    doc = await registry.require(MODEL);
    expect(doc.production?.champion).toBe(3);
    expect(doc.production?.weights).toEqual({ '3': 100 });
    expect(doc.production?.warm).toEqual([1]);
    expect((doc.productionHistory ?? []).filter((h) => h.champion !== h.from).map((h) => [h.from, h.champion, h.workflowId])).toEqual([
      [null, 1, expect.any(String)],
      [1, 3, 'it-experiment-better'],
    ]);
    // the decision with its statistics: in each arm's lineage and in the report
    expect(doc.versions.find((v) => v.version === 2)!.lineage.extra?.['experiment:it-experiment-better']).toMatchObject({ outcome: 'demoted', role: 'challenger' });
    expect(doc.versions.find((v) => v.version === 3)!.lineage.extra?.['experiment:it-experiment-better']).toMatchObject({ outcome: 'promoted' });
    expect(doc.versions.find((v) => v.version === 1)!.lineage.extra?.['experiment:it-experiment-equal']).toMatchObject({ outcome: 'kept' });
    expect(doc.versions.find((v) => v.version === 3)!.lineage.extra?.spec).toBeDefined();
    const report = await createObjectStore(testConfig()).getJson<ExperimentResult>('reports/it-experiment-better/experiment.json');
    expect(report?.value.winner).toBe(3);
    const answered = await postPredict(testConfig().servers.production, MODEL, [{ x1: 0.5, x2: -0.9 }]);
    expect(answered.ok && answered.body.model_version).toBe(3);

    const status = await runCli(['experiment', 'status', 'it-experiment-better', '--json'], stackEnv());
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ phase: 'done', decision: 'promote', winner: 3 });
  });

  it('refuses an experiment naming a version that does not exist, at once and without retrying', async () => {
    const res = await runCli(['experiment', 'start', MODEL, '--challengers', '42', '--duration', '5s', '--id', 'it-experiment-bad', '--wait', '--json'], stackEnv());
    expect(res.code).not.toBe(0);
    expect(res.stderr + res.stdout).toMatch(/experiment\.challengers: model "it-experiment" has no version 42/);
  });
});
