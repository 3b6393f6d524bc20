import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackStatus, upStack } from '../../src/dev/stack';
import { loadPipelineSpec } from '../../src/spec/pipeline-spec';
import { ModelRegistry } from '../../src/registry/registry';
import { createObjectStore } from '../../src/storage/object-store';
import { trialWorkflowId, type SearchResult, type TrialResult } from '../../src/policy/search-table';
import { TASK_QUEUES, type PipelineResult } from '../../src/types';
import { searchStatusQuery } from '../../workflows/definitions';
import { runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig, testStackOptions } from '../helpers/stack-env';

// Hyper-parameter search on the real stack: real trainings of real flights data on the training
// worker, the coordinator and its trials as real Temporal workflows.
describe('hyperparameterSearch and the confident gate on the real stack', () => {
  let client: Client;
  const registry = new ModelRegistry(createObjectStore(testConfig()));

  beforeAll(async () => {
    client = new Client({ connection: await Connection.connect({ address: testConfig().temporal.address }) });
  });
  afterAll(async () => client?.connection.close());

  async function run(spec: Record<string, unknown>, id: string): Promise<PipelineResult> {
    const loaded = await loadPipelineSpec(writeSpec(spec));
    const h = await client.workflow.start('trainingPipeline', { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [loaded] });
    return (await h.result()) as PipelineResult;
  }

  /** Most child runs of a search open at the same moment, from their start and close times. */
  async function maxConcurrentTrials(search: SearchResult): Promise<number> {
    const spans: [number, number][] = [];
    for (const t of search.trials) {
      for (let rung = 0; rung <= t.rung; rung++) {
        const d = await client.workflow.getHandle(trialWorkflowId(search.searchId, t.trial, rung)).describe();
        spans.push([d.startTime.getTime(), (d.closeTime ?? new Date()).getTime()]);
      }
    }
    const events = spans.flatMap(([a, b]) => [[a, 1], [b, -1]] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let open = 0;
    let most = 0;
    for (const [, d] of events) most = Math.max(most, (open += d));
    return most;
  }

  it('a grid search on real flights data matches or beats the default configuration, never over parallelism, and the CLI shows its trials', async () => {
    const base = smallFlightsSpec('it-search-default');
    const plain = await run(base, 'it-search-default-1');
    expect(plain.outcome).toBe('promoted');
    const defaultVersion = await registry.resolve('it-search-default', 1);
    const h = defaultVersion.training.history.find((e) => e.epoch === defaultVersion.training.bestEpoch)!;
    const defaultScore = h.metrics['valAuc']!;

    // the default (learningRate 0.005, [16]) is one of the grid's points
    const searched = await run(
      smallFlightsSpec('it-search', {
        search: { strategy: 'grid', space: { learningRate: [0.0005, 0.005, 0.05], hiddenUnits: [[16], [32, 16]] }, parallelism: 2, asha: false },
      }),
      'it-search-1',
    );
    expect(searched.outcome).toBe('promoted');
    expect(searched.stages.map((s) => s.name)).toContain('search');
    const search = (await client.workflow.getHandle('it-search-1-search').result()) as SearchResult;
    expect(search.trials).toHaveLength(6);
    expect(search.trials.every((t) => t.status === 'completed')).toBe(true);
    const defaultTrial = search.trials.find((t) => t.params.learningRate === 0.005 && JSON.stringify(t.params.hiddenUnits) === '[16]')!;
    // the same parameters and seed train bit-identically, so the trial scores what the default did
    expect(defaultTrial.scores[0]).toBe(defaultScore);
    expect(search.winner.score).toBeGreaterThanOrEqual(defaultScore);
    expect(searched.search?.winner.score).toBe(search.winner.score);
    expect(await maxConcurrentTrials(search)).toBeLessThanOrEqual(2);

    const v = await registry.resolve('it-search', 1);
    expect(v.lineage.search).toMatchObject({ strategy: 'grid', workflowId: 'it-search-1-search', winner: { trial: search.winner.trial } });
    expect(v.lineage.search?.trials).toHaveLength(6);
    expect(v.lineage.hyperParameters).toMatchObject(search.winner.params);
    // the trials' checkpoints went once the winner was registered
    expect(await createObjectStore(testConfig()).list('checkpoints/it-search-1-search/')).toEqual([]);

    const status = await runCli(['pipeline', 'status', 'it-search-1'], stackEnv());
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/search\s+grid, 6 trials, 18 epochs; winner trial \d/);
  });

  it('killing the training worker mid-search re-runs no finished trial, and the unfinished one resumes from its checkpoint', async () => {
    const spec = smallFlightsSpec('it-search-crash', {
      train: { hiddenUnits: [32], epochs: 4, batchSize: 256, learningRate: 0.003, seed: 11, patience: 10, heartbeatEveryBatches: 20 },
      search: { strategy: 'grid', space: { learningRate: [0.003, 0.001] }, parallelism: 1, asha: false },
    });
    spec.data = { ...(spec.data as object), where: "date < TIMESTAMP '2001-02-01'", sample: 60_000 };
    const loaded = await loadPipelineSpec(writeSpec(spec));
    const id = 'it-search-crash-1';
    const pipeline = await client.workflow.start('trainingPipeline', { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [loaded] });
    const search = client.workflow.getHandle(`${id}-search`);
    // wait until trial 0 is done and trial 1 has checkpointed an epoch
    const trial1 = client.workflow.getHandle(trialWorkflowId(`${id}-search`, 1, 0));
    for (let i = 0; ; i++) {
      if (i > 900) throw new Error('trial 1 never checkpointed an epoch');
      const s = await search.query(searchStatusQuery).catch(() => null);
      if (s && s.trials[0]?.status === 'completed' && s.trials[1]?.status === 'running') {
        const d = await trial1.describe().catch(() => null);
        const ckpts = await createObjectStore(testConfig()).list(`checkpoints/${id}-search/trial-1/`);
        if (d && ckpts.some((o) => o.key.endsWith('.ckpt'))) break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const options = testStackOptions();
    const before = (await stackStatus(options)).components.find((c) => c.name === 'worker-training');
    process.kill(before!.pid!, 'SIGKILL');
    const repaired = await upStack(options);
    expect(repaired.components.find((c) => c.name === 'worker-training')?.healthy).toBe(true);

    const result = (await pipeline.result()) as PipelineResult;
    expect(result.outcome).toBe('promoted');
    const t0 = client.workflow.getHandle(trialWorkflowId(`${id}-search`, 0, 0));
    const t1 = (await trial1.result()) as TrialResult;
    // trial 0 trained once: one attempt of one trainModel, never resumed
    const t0Events = (await t0.fetchHistory()).events ?? [];
    expect(t0Events.filter((e) => e.activityTaskScheduledEventAttributes).length).toBe(1);
    expect(((await t0.result()) as TrialResult).training.resumedFromEpoch).toBeNull();
    // trial 1 was interrupted and went on from its last checkpoint
    expect(t1.training.resumedFromEpoch).toBeGreaterThanOrEqual(1);
    expect(t1.training.epochs).toBe(4);
    const final = (await search.result()) as SearchResult;
    expect(final.childRuns).toBe(2);
    expect(final.epochsSpent).toBe(8);
  });

  it('a 200-trial search continues-as-new and completes, each trial run once', async () => {
    const spec = smallFlightsSpec('it-search-200', {
      train: { hiddenUnits: [8], epochs: 1, batchSize: 256, learningRate: 0.01, seed: 3 },
      search: { strategy: 'random', trials: 200, space: { learningRate: { min: 0.001, max: 0.1, log: true } }, parallelism: 4, asha: false, continueAsNewEvery: 50 },
    });
    const result = await run(spec, 'it-search-200-1');
    // the search completed and its winner went on to evaluation (whether it passes the gate is not the point here)
    expect(result.version).toBe(1);
    expect(result.search).toMatchObject({ trials: 200, childRuns: 200, epochsSpent: 200 });
    const search = (await client.workflow.getHandle('it-search-200-1-search').result()) as SearchResult;
    expect(search.trials).toHaveLength(200);
    expect(search.childRuns).toBe(200);
    expect(search.coordinatorRuns).toBe(4);
    expect(search.trials.every((t) => t.status === 'completed' && t.epochs === 1)).toBe(true);
    expect(await maxConcurrentTrials(search)).toBeLessThanOrEqual(4);
  });
  it('the gate decides on the paired bootstrap interval: an identical retrain is not "better" but is "not_worse", slices reported', async () => {
    expect((await run(smallFlightsSpec('it-gate'), 'it-gate-1')).outcome).toBe('promoted');
    // the same data, spec and seed train bit-identically: the gain over production is exactly 0
    const same = await run(smallFlightsSpec('it-gate', { gate: { require: 'better', slices: ['origin'], sliceTop: 3 } }), 'it-gate-2');
    expect(same.outcome).toBe('rejected');
    expect(same.gate?.intervals?.champion).toEqual({ delta: 0, low: 0, high: 0, resamples: 1000 });
    expect(same.gate?.intervals?.baseline?.low).toBeGreaterThan(0);
    expect(same.gate?.reasons).toEqual([expect.stringMatching(/auc 0\.\d+ is not surely better than production's 0\.\d+: the 95% interval of the gain reaches \+0 \(gate\.require better\)/)]);
    const v2 = await registry.resolve('it-gate', 2);
    const gate = (v2.lineage.extra as { gate: { slices: { column: string; value: string; rows: number; gain: number }[]; intervals: object } }).gate;
    expect(gate.intervals).toEqual(same.gate?.intervals);
    expect(gate.slices).toHaveLength(3);
    expect(gate.slices.every((x) => x.column === 'origin' && x.rows >= 30 && x.gain === 0)).toBe(true);
    const notWorse = await run(smallFlightsSpec('it-gate', { gate: { require: 'not_worse' } }), 'it-gate-3');
    expect(notWorse.outcome).toBe('promoted');
  });
});
