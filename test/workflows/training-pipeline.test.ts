import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import type { CanaryStepReport } from '../../src/policy/canary';
import { ApplicationFailure } from '@temporalio/common';
import { parsePipelineSpec } from '../../src/policy/spec-schema';
import { resolveRunSpec } from '../../src/spec/pipeline-spec';
import { TASK_QUEUES, type ModelVersion, type PipelineInput, type PreparedDataset } from '../../src/types';
import { approveSignal, approveUpdate, rejectUpdate, statusQuery } from '../../workflows/definitions';
import { canaryStatusQuery } from '../../workflows/definitions';
import { trainingPipeline } from '../../workflows/training-pipeline';
import { FAKE_DATASET as dataset, FakeProduction, recordHistory, rootCause, useWorkflowEnv, T, withWorkers } from './harness';

const env = useWorkflowEnv();

const HASH = `sha256:${'ab'.repeat(32)}`;
function pipelineInput(over: Record<string, unknown> = {}): PipelineInput {
  const spec = parsePipelineSpec({
    model: 'm',
    data: { source: '/data/flights.parquet', target: 'late' },
    loadTest: false,
    approval: { timeout: T.day },
    canary: { steps: [50, 100], stepDuration: T.step, minRequestsPerStep: 1 },
    ...over,
  });
  return { spec, specHash: HASH };
}


/** Fakes of every pipeline activity: the candidate becomes version 2 beside champion 1. */
function pipelineFakes(prod: FakeProduction, over: Partial<Activities> = {}): Partial<Activities> & { calls: string[] } {
  const calls: string[] = [];
  const log = <T>(name: string, value: T) => (calls.push(name), value);
  const pass = (percent: number): CanaryStepReport => ({ passed: true, reasons: [], metrics: {}, thresholds: {}, percent, requests: 50 });
  return {
    calls,
    ...prod.activities(),
    // the real validation: pure, and what the worker runs
    resolvePipelineSpec: async (i) => {
      try {
        return resolveRunSpec(i.spec);
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, (err as { type?: string }).type ?? 'Error');
      }
    },
    prepareDataset: async () => log('prepareDataset', dataset),
    trainModel: async () =>
      log('trainModel', { bundleUri: 's3://kaizen/checkpoints/x/model.kzn', bundleSha256: 'ee'.repeat(32), training: { backend: 'cpu', epochs: 2, bestEpoch: 2, resumedFromEpoch: null, samplesPerSecond: 1000, history: [] } }),
    evaluateModel: async () => log('evaluateModel', { task: 'binary' as const, rows: 20, test: { auc: 0.72 }, baseline: { auc: 0.5 } }),
    qualityGate: async () => log('qualityGate', { report: { passed: true, reasons: [], metrics: {}, thresholds: {}, metric: 'auc', checks: [] }, champion: { version: 1, metrics: { auc: 0.7 } } }),
    registerModel: async () => log('registerModel', { version: 2, artifactUri: 's3://kaizen/models/m/2/model.kzn', artifactSha256: 'ee'.repeat(32) } as ModelVersion),
    deleteCheckpoints: async () => log('deleteCheckpoints', { deleted: 3 }),
    deployToStaging: async () => log('deployToStaging', { passed: true, reasons: [], metrics: { rows: 200, maxAbsDiff: 0, mismatches: 0 }, thresholds: { tolerance: 1e-5 }, modelVersion: 2 } as never),
    recordApproval: async () => void log('recordApproval', undefined),
    analyseCanaryStep: async (i) => log('analyseCanaryStep', pass(i.percent)),
    ...over,
  };
}

function start(input: PipelineInput | unknown, id = `pipe-${randomUUID()}`) {
  return env().client.workflow.start(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [input as PipelineInput] });
}

async function awaitingApproval(h: Awaited<ReturnType<typeof start>>) {
  await expect.poll(async () => (await h.query(statusQuery).catch(() => null))?.stage, { timeout: 30_000 }).toBe('awaiting_approval');
}

describe('trainingPipeline', () => {
  it(`rejects the candidate when nobody decides within approval.timeout (${T.day})`, async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const fakes = pipelineFakes(prod);
    const result = await withWorkers(env(), fakes, async () => {
      const h = await start(pipelineInput());
      const r = await h.result();
      await recordHistory(h, 'pipeline-approval-timeout');
      return r;
    });
    expect(result).toMatchObject({ outcome: 'rejected', approval: { decision: 'reject', by: 'timeout', automatic: true } });
    expect(fakes.calls).toContain('deleteCheckpoints');
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('answers an approval Update: refused without "by" or twice, accepted once, then runs the canary and promotes', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const result = await withWorkers(env(), pipelineFakes(prod), async () => {
      const h = await start(pipelineInput());
      // too early: the pipeline is not waiting for a decision yet, or is; either way the answer is honest
      await awaitingApproval(h);
      const noBy = await h.executeUpdate(approveUpdate, { args: [{ comment: 'lgtm' }] }).catch((e: unknown) => e);
      expect(noBy).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(rootCause(noBy).message).toMatch(/no "by" naming who decides/);
      const accepted = await h.executeUpdate(approveUpdate, { args: [{ by: 'alice', comment: 'lgtm' }] });
      expect(accepted).toMatchObject({ decision: 'approve', by: 'alice', comment: 'lgtm' });
      const twice = await h.executeUpdate(rejectUpdate, { args: [{ by: 'bob' }] }).catch((e: unknown) => e);
      expect(rootCause(twice).message).toMatch(/a decision was already made \(approve by alice\)/);
      const r = await h.result();
      await recordHistory(h, 'pipeline-approved-canary-promoted');
      await recordHistory(env().client.workflow.getHandle(`${h.workflowId}-canary`), 'pipeline-approved-canary-child');
      return r;
    });
    expect(result).toMatchObject({ outcome: 'promoted', approval: { by: 'alice' }, canary: { decision: 'promote' } });
    expect(prod.state).toMatchObject({ champion: 2, weights: { '2': 100 }, warm: [1] });
  });

  it('a reject (signal, as older clients send it) ends with the candidate registered and production untouched', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const result = await withWorkers(env(), pipelineFakes(prod), async () => {
      const h = await start(pipelineInput());
      await awaitingApproval(h);
      await h.signal(approveSignal, {});
      expect((await h.query(statusQuery)).invalidDecisions?.[0]?.reason).toMatch(/approve ignored: it has no "by"/);
      await h.signal('reject', { by: 'carol', comment: 'not now' });
      const r = await h.result();
      await recordHistory(h, 'pipeline-rejected-by-signal');
      return r;
    });
    expect(result).toMatchObject({ outcome: 'rejected', version: 2, approval: { decision: 'reject', by: 'carol' } });
    expect(prod.writes).toEqual([]);
  });

  it('canary: false promotes after approval in one production write', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const result = await withWorkers(env(), pipelineFakes(prod), async () => (await start(pipelineInput({ canary: false, approval: { mode: 'auto' } }))).result());
    expect(result.outcome).toBe('promoted');
    expect(prod.writes.map((w) => w.action)).toEqual(['promote']);
    expect(prod.state).toMatchObject({ champion: 2, weights: { '2': 100 }, warm: [1] });
  });

  it('a failing canary step rolls back and the pipeline says rolled_back', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const fakes = pipelineFakes(prod, { analyseCanaryStep: async (i) => ({ passed: false, reasons: ['canary p99 latency 90.0 ms is above canary.maxP99Ms 50 ms'], metrics: {}, thresholds: {}, percent: i.percent, requests: 50 }) });
    const result = await withWorkers(env(), fakes, async () => (await start(pipelineInput({ approval: { mode: 'auto' } }))).result());
    expect(result).toMatchObject({ outcome: 'rolled_back', canary: { decision: 'rollback' } });
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('cancelling the pipeline mid-canary leaves the champion at 100%', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const id = `pipe-${randomUUID()}`;
    const err = await withWorkers(env(), pipelineFakes(prod), async () => {
      const h = await start(pipelineInput({ approval: { mode: 'auto' }, canary: { steps: [50, 100], stepDuration: T.day === '24h' ? '10m' : '5s' } }), id);
      const child = env().client.workflow.getHandle(`${id}-canary`);
      await expect.poll(async () => (await child.query(canaryStatusQuery).catch(() => null))?.weights, { timeout: 30_000 }).toEqual({ '1': 50, '2': 50 });
      await h.cancel();
      return h.result().catch((e: unknown) => e);
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('a terminated pipeline still has its canary restore the champion (parent close policy: request cancel)', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const id = `pipe-${randomUUID()}`;
    await withWorkers(env(), pipelineFakes(prod), async () => {
      const h = await start(pipelineInput({ approval: { mode: 'auto' }, canary: { steps: [50, 100], stepDuration: T.day === '24h' ? '10m' : '5s' } }), id);
      const child = env().client.workflow.getHandle(`${id}-canary`);
      await expect.poll(async () => (await child.query(canaryStatusQuery).catch(() => null))?.weights, { timeout: 30_000 }).toEqual({ '1': 50, '2': 50 });
      await h.terminate('operator pulled the plug');
      await expect.poll(async () => (await child.describe()).status.name, { timeout: 30_000 }).toBe('CANCELLED');
    });
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('refuses a bad input at once with a typed non-retryable failure naming the field', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    for (const [bad, field] of [
      [{ spec: { model: 'm', data: { target: 'late' } } }, /spec field data\.source/],
      [{ model: 'm', data: { source: '/d.parquet', target: 'late' }, train: { epochs: 'ten' } }, /spec field train\.epochs/],
      [{ spec: { ...pipelineInput().spec, approval: { timeout: 'tomorrow' } }, specHash: HASH }, /approval\.timeout/],
      [{ model: 'm', data: { source: 'flights.parquet', target: 'late' } }, /data\.source: "flights\.parquet" is a relative path.*s3:\/\/.*kaizen data upload/],
      [{ data: { source: '/d.parquet', target: 'late' } }, /spec field model/],
      [{ model: 'm' }, /spec field data/],
      [null, /JSON object/],
      ['flights', /JSON object/],
    ] as const) {
      const fakes = pipelineFakes(prod);
      const err = await withWorkers(env(), fakes, async () => (await start(bad)).result().catch((e: unknown) => e));
      expect(rootCause(err)).toMatchObject({ type: 'SpecInvalid', nonRetryable: true, message: expect.stringMatching(field) });
      expect(fakes.calls).toEqual([]);
    }
  });

  it('accepts the spec itself, exactly as a person pastes a spec file into the Start Workflow form', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const pasted = { model: 'm', data: { source: '/data/flights.parquet', target: 'late' }, loadTest: false, canary: false, approval: { mode: 'auto' } };
    const id = `pipe-${randomUUID()}`;
    const result = await withWorkers(env(), pipelineFakes(prod), async () => (await start(pasted, id)).result());
    expect(result).toMatchObject({ outcome: 'promoted', version: 2 });
    expect(result.stages.map((s) => s.name)).toEqual(['validate', 'prepare', 'train', 'evaluate', 'gate', 'register', 'staging', 'approval', 'promote']);
    // the UI lists it by its outcome, not by a "done" shared by every ending
    const desc = await env().client.workflow.getHandle(id).describe();
    expect(desc.searchAttributes.KaizenStage).toEqual(['promoted']);
  });

  it('a non-retryable activity failure fails the run with its type and the partial result', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const fakes = pipelineFakes(prod, {
      trainModel: async () => {
        const { ApplicationFailure } = await import('@temporalio/common');
        throw ApplicationFailure.nonRetryable('loss became NaN at epoch 1; lower train.learningRate', 'TrainingFailed');
      },
    });
    const err = await withWorkers(env(), fakes, async () => (await start(pipelineInput())).result().catch((e: unknown) => e));
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const failure = (err as WorkflowFailedError).cause as { type?: string; details?: unknown[] };
    expect(failure.type).toBe('TrainingFailed');
    expect(failure.details?.[0]).toMatchObject({ outcome: 'failed', stages: [{ name: 'validate', status: 'completed' }, { name: 'prepare', status: 'completed' }, { name: 'train', status: 'failed' }] });
  });

  it('a bug in workflow code fails the workflow task, not the run, so a fixed deployment can carry on', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    // a malformed activity result makes the workflow code throw a TypeError
    const fakes = pipelineFakes(prod, { prepareDataset: async () => ({}) as PreparedDataset });
    const id = `pipe-${randomUUID()}`;
    await withWorkers(env(), fakes, async () => {
      const h = await start(pipelineInput(), id);
      await expect
        .poll(async () => {
          const history = await h.fetchHistory();
          return history.events?.some((e) => e.workflowTaskFailedEventAttributes) ?? false;
        }, { timeout: 30_000 })
        .toBe(true);
      expect((await h.describe()).status.name).toBe('RUNNING');
      await h.terminate('test over');
    });
  });
  it('with spec.search, trains through the hyperparameterSearch child and registers its winner with the search in lineage', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const registered: Parameters<Activities['registerModel']>[0][] = [];
    const deleted: Parameters<Activities['deleteCheckpoints']>[0][] = [];
    const trainCalls: { trial?: number; lr: number; epochs: number }[] = [];
    const fakes = pipelineFakes(prod, {
      trainModel: async (i) => {
        trainCalls.push({ ...(i.trial ? { trial: i.trial.trial } : {}), lr: i.train.learningRate, epochs: i.train.epochs });
        const auc = 0.8 - Math.abs(Math.log10(i.train.learningRate) + 2) / 10;
        return {
          bundleUri: `s3://kaizen/checkpoints/${i.trial?.searchId}/trial-${i.trial?.trial}/model.kzn`,
          bundleSha256: 'ee'.repeat(32),
          training: { backend: 'cpu', epochs: i.train.epochs, bestEpoch: i.train.epochs, resumedFromEpoch: null, samplesPerSecond: 1000, history: [{ epoch: i.train.epochs, loss: 0.4, valLoss: 0.4, metrics: { valAuc: auc } }] },
        };
      },
      registerModel: async (i) => (registered.push(i), { version: 2, artifactUri: 's3://kaizen/models/m/2/model.kzn', artifactSha256: 'ee'.repeat(32) } as ModelVersion),
      deleteCheckpoints: async (i) => (deleted.push(i), { deleted: 1 }),
    });
    const result = await withWorkers(env(), fakes, async () => {
      const h = await start(pipelineInput({ approval: { mode: 'auto' }, canary: false, train: { epochs: 3 }, search: { strategy: 'grid', space: { learningRate: [0.1, 0.01, 0.001] }, asha: false } }));
      const r = await h.result();
      await recordHistory(h, 'pipeline-with-search');
      return r;
    });
    expect(result.outcome).toBe('promoted');
    expect(trainCalls.map((c) => c.trial).sort()).toEqual([0, 1, 2]);
    expect(result.search).toMatchObject({ workflowId: `${result.workflowId}-search`, strategy: 'grid', trials: 3, epochsSpent: 9, winner: { trial: 1, params: { learningRate: 0.01 } } });
    expect(registered[0]!.trained.bundleUri).toContain(`${result.workflowId}-search/trial-1/`);
    expect(registered[0]!.search).toMatchObject({ strategy: 'grid', space: { learningRate: [0.1, 0.01, 0.001] }, trials: [{ trial: 0 }, { trial: 1 }, { trial: 2 }], winner: { trial: 1 } });
    expect(deleted.map((d) => d.workflowId)).toContain(`${result.workflowId}-search`);
  });
});
