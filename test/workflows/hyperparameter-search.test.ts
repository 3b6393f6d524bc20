import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { TrainModelInput } from '../../activities/training';
import { searchSchema, trainSchema } from '../../src/policy/spec-schema';
import type { SearchInput } from '../../src/policy/search-table';
import { trialWorkflowId } from '../../src/policy/search-table';
import { TASK_QUEUES, type TrainedModel } from '../../src/types';
import { extendSignal, searchStatusQuery, stopSearchSignal } from '../../workflows/definitions';
import { hyperparameterSearch } from '../../workflows/hyperparameter-search';
import { FAKE_DATASET as dataset, recordHistory, rootCause, useWorkflowEnv, withWorkers } from './harness';

const env = useWorkflowEnv();


const LEARNING_RATES = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];

function input(search: Record<string, unknown>, train: Record<string, unknown> = {}): SearchInput {
  return {
    pipelineWorkflowId: 'pipe-1',
    model: 'm',
    task: 'binary',
    dataset,
    train: trainSchema.parse({ epochs: 9, ...train }),
    search: searchSchema.parse({ space: { learningRate: LEARNING_RATES }, strategy: 'grid', ...search }) as SearchInput['search'],
  };
}

/** Validation AUC of a fake model: best at learningRate 0.003, rising with the epochs trained. */
const quality = (lr: number, epoch: number): number => (0.9 - 0.08 * Math.abs(Math.log10(lr) - Math.log10(0.003))) * (1 - 0.5 ** epoch);

/** A fake trainModel that trains "to" input.train.epochs from the trial's previous epochs, like the real one resuming. */
function fakeTraining(opts: { delayMs?: number; fail?: (lr: number) => boolean; block?: (trial: number) => boolean } = {}) {
  const calls: { trial: number; from: number; to: number; lr: number }[] = [];
  const trained = new Map<number, number>();
  let active = 0;
  let maxActive = 0;
  const trainModel = async (i: TrainModelInput): Promise<TrainedModel> => {
    const trial = i.trial!.trial;
    const lr = i.train.learningRate;
    const from = trained.get(trial) ?? 0;
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      if (opts.block?.(trial)) {
        // a long training that only a cancellation ends
        for (;;) {
          Context.current().heartbeat();
          await Context.current().sleep(50);
        }
      }
      await sleep(opts.delayMs ?? 20);
      if (opts.fail?.(lr)) throw ApplicationFailure.nonRetryable(`loss became NaN at epoch 1; lower train.learningRate`, 'TrainingFailed');
      calls.push({ trial, from, to: i.train.epochs, lr });
      trained.set(trial, i.train.epochs);
      const history = Array.from({ length: i.train.epochs }, (_, k) => ({ epoch: k + 1, loss: 0.5, valLoss: 1 - quality(lr, k + 1), metrics: { valAuc: quality(lr, k + 1) } }));
      return {
        bundleUri: `s3://kaizen/checkpoints/${i.trial!.searchId}/trial-${trial}/model.kzn`,
        bundleSha256: 'ee'.repeat(32),
        training: { backend: 'cpu', epochs: i.train.epochs, bestEpoch: i.train.epochs, resumedFromEpoch: from || null, samplesPerSecond: 1000, history },
      };
    } finally {
      active--;
    }
  };
  return { calls, trainModel, get maxActive() { return maxActive; } } as const;
}

function start(args: SearchInput | unknown, id = `search-${randomUUID()}`) {
  return env().client.workflow.start(hyperparameterSearch, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [args as SearchInput] });
}

describe('hyperparameterSearch', () => {
  it('ASHA: promotes the top 1/η of each rung, each promotion continuing the trial, never more than parallelism at once', async () => {
    const fake = fakeTraining({ delayMs: 30 });
    const { result, id } = await withWorkers(env(), { trainModel: fake.trainModel as Activities['trainModel'] }, async () => {
      const h = await start(input({ parallelism: 3, asha: { minEpochs: 1, eta: 3 } }));
      const r = await h.result();
      await recordHistory(h, 'search-asha');
      await recordHistory(env().client.workflow.getHandle(trialWorkflowId(h.workflowId, r.winner.trial, 1)), 'search-trial');
      return { result: r, id: h.workflowId };
    });
    expect(result.rungs).toEqual([1, 3, 9]);
    expect(fake.maxActive).toBeLessThanOrEqual(3);
    expect(fake.maxActive).toBeGreaterThan(1);
    expect(result.trials).toHaveLength(9);
    // the winner is the best learning rate, trained through every rung
    expect(result.winner).toMatchObject({ params: { learningRate: 0.003 }, rung: 2 });
    expect(result.winner.training.epochs).toBe(9);
    // every promotion continued from where the trial's previous rung stopped, never from scratch
    for (const c of fake.calls.filter((c) => c.to > 1)) expect(c.from).toBeGreaterThan(0);
    // no trial trained a rung twice
    const runs = fake.calls.map((c) => `${c.trial}:${c.to}`);
    expect(new Set(runs).size).toBe(runs.length);
    // 9 trials to 9 epochs would be 81 epochs; halving spends far fewer
    const spent = fake.calls.reduce((n, c) => n + c.to - c.from, 0);
    expect(result.epochsSpent).toBe(spent);
    expect(spent).toBeLessThan(81 / 2);
    expect(result.trials.filter((t) => t.status === 'completed').map((t) => t.params.learningRate)).toContain(0.003);
    expect(result.trials.filter((t) => t.status === 'pruned').length).toBeGreaterThan(0);
    expect(result.winner.bundleUri).toContain(`${id}/trial-${result.winner.trial}/`);
  });

  it('asha: false trains every trial to train.epochs: a full-budget search', async () => {
    const fake = fakeTraining();
    const result = await withWorkers(env(), { trainModel: fake.trainModel as Activities['trainModel'] }, async () => (await start(input({ asha: false, parallelism: 2 }, { epochs: 3 }))).result());
    expect(result.rungs).toEqual([3]);
    expect(result.epochsSpent).toBe(27);
    expect(result.trials.every((t) => t.status === 'completed' && t.epochs === 3)).toBe(true);
    expect(result.winner.params.learningRate).toBe(0.003);
  });

  it('continues-as-new every continueAsNewEvery child runs and completes, no trial run twice', async () => {
    const fake = fakeTraining({ delayMs: 5 });
    const result = await withWorkers(env(), { trainModel: fake.trainModel as Activities['trainModel'] }, async () => {
      const h = await start(input({ asha: false, parallelism: 2, continueAsNewEvery: 3 }, { epochs: 1 }));
      const r = await h.result();
      await recordHistory(h, 'search-continued');
      return r;
    });
    expect(result.coordinatorRuns).toBe(3);
    expect(result.childRuns).toBe(9);
    expect(fake.calls.map((c) => c.trial).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(result.winner.params.learningRate).toBe(0.003);
  });

  it('a trial that fails is marked failed and the search goes on; a search where every trial fails fails for good', async () => {
    const some = fakeTraining({ fail: (lr) => lr >= 0.3 });
    const result = await withWorkers(env(), { trainModel: some.trainModel as Activities['trainModel'] }, async () => (await start(input({ asha: false }, { epochs: 1 }))).result());
    expect(result.trials.filter((t) => t.status === 'failed').map((t) => t.params.learningRate)).toEqual([0.3, 1]);
    expect(result.trials.find((t) => t.status === 'failed')?.error).toMatchObject({ type: 'TrainingFailed', message: expect.stringMatching(/NaN/) });
    expect(result.winner.params.learningRate).toBe(0.003);

    const all = fakeTraining({ fail: () => true });
    const err = await withWorkers(env(), { trainModel: all.trainModel as Activities['trainModel'] }, async () =>
      (await start(input({ asha: false, trials: 3 }, { epochs: 1 }))).result().catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(rootCause(err)).toMatchObject({ type: 'TrainingFailed', nonRetryable: true, message: expect.stringMatching(/no trial of the search produced a model \(3 trials; the first failure: loss became NaN/) });
  });

  it('stop finishes with the best so far and cancels the running trials; extend adds trials, a bad extend is listed', async () => {
    const fake = fakeTraining({ block: (trial) => trial >= 4 });
    const result = await withWorkers(env(), { trainModel: fake.trainModel as Activities['trainModel'] }, async () => {
      const h = await start(input({ asha: false, parallelism: 2, trials: 3 }, { epochs: 1 }));
      await h.signal(extendSignal, { trials: 0, by: 'alice' });
      await h.signal(extendSignal, { trials: 3, by: 'alice' });
      await expect.poll(async () => (await h.query(searchStatusQuery)).running, { timeout: 20_000 }).toBe(2);
      await expect.poll(async () => (await h.query(searchStatusQuery)).trials.filter((t) => t.status === 'completed').length, { timeout: 20_000 }).toBe(4);
      await h.signal(stopSearchSignal, { by: 'bob', reason: 'good enough' });
      return h.result();
    });
    expect(result.budget).toBe(6);
    expect(result.invalidSignals.map((s) => s.reason)).toEqual([expect.stringMatching(/"trials" must be an integer from 1/)]);
    expect(result.stop).toMatchObject({ by: 'bob', reason: 'good enough' });
    expect(result.trials.map((t) => t.status)).toEqual(['completed', 'completed', 'completed', 'completed', 'stopped', 'stopped']);
    expect(result.winner.trial).toBe(3); // lr 0.003, the best of trials 0–3
  });

  it('cancelling the search cancels its running trials and ends cancelled', async () => {
    const fake = fakeTraining({ block: () => true });
    const status = await withWorkers(env(), { trainModel: fake.trainModel as Activities['trainModel'] }, async () => {
      const h = await start(input({ asha: false, parallelism: 2 }, { epochs: 1 }));
      await expect.poll(async () => (await h.query(searchStatusQuery)).running, { timeout: 20_000 }).toBe(2);
      await h.cancel();
      await expect(h.result()).rejects.toThrow();
      const trial = env().client.workflow.getHandle(trialWorkflowId(h.workflowId, 0, 0));
      return { search: (await h.describe()).status.name, trial: (await trial.describe()).status.name };
    });
    expect(status).toEqual({ search: 'CANCELLED', trial: 'CANCELLED' });
  });

  it('refuses a metric the task does not report, and a malformed input, at once and for good', async () => {
    const fake = fakeTraining();
    const errs = await withWorkers(env(), { trainModel: fake.trainModel as Activities['trainModel'] }, async () => [
      await (await start(input({ metric: 'valRmse' }))).result().catch((e: unknown) => e),
      await (await start({ ...input({}), search: { space: {} } })).result().catch((e: unknown) => e),
    ]);
    expect(rootCause(errs[0])).toMatchObject({ type: 'SpecInvalid', nonRetryable: true, message: expect.stringMatching(/search.metric valRmse is not reported for a binary model; use one of valLoss, valAuc, valAccuracy/) });
    expect(rootCause(errs[1])).toMatchObject({ type: 'SpecInvalid', nonRetryable: true, message: expect.stringMatching(/hyperparameterSearch input.search.space: name at least one parameter/) });
    expect(fake.calls).toEqual([]);
  });
});
