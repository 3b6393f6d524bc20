import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { CanaryStepReport } from '../../src/policy/canary';
import { TASK_QUEUES, type CanaryInput, type CanarySpec } from '../../src/types';
import { abortSignal, canaryStatusQuery, pauseSignal, resumeSignal } from '../../workflows/definitions';
import { canaryRollout } from '../../workflows/canary-rollout';
import { FakeProduction, recordHistory, rootCause, useWorkflowEnv, T, withWorkers } from './harness';

const env = useWorkflowEnv();

const canary: CanarySpec = { steps: [10, 50, 100], stepDuration: T.step, minRequestsPerStep: 10, maxErrorRate: 0.01, maxP99Ms: 50, maxMetricDrop: 0.02 };
const input = (over: Partial<CanaryInput> = {}): CanaryInput => ({ model: 'm', candidate: 2, canary, pipelineWorkflowId: 'pipe-1', approvedBy: 'alice', ...over });
const pass = (percent: number): CanaryStepReport => ({ passed: true, reasons: [], metrics: {}, thresholds: {}, percent, requests: 100 });
const fail = (percent: number): CanaryStepReport => ({ passed: false, reasons: ['canary error rate 5.00% is above canary.maxErrorRate 1.00%'], metrics: {}, thresholds: {}, percent, requests: 100 });

function start(args: CanaryInput | unknown, id = `canary-${randomUUID()}`) {
  return env().client.workflow.start(canaryRollout, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [args as CanaryInput] });
}

describe('canaryRollout', () => {
  it('steps through the split and promotes champion and traffic in one write, old champion warm', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const seen: number[] = [];
    const result = await withWorkers(env(), { ...prod.activities(), analyseCanaryStep: async (i) => (seen.push(i.percent), pass(i.percent)) }, async () => {
      const h = await start(input());
      const r = await h.result();
      await recordHistory(h, 'canary-promote');
      return r;
    });
    expect(result).toMatchObject({ decision: 'promote', reasons: [] });
    expect(seen).toEqual([10, 50, 100]);
    expect(prod.writes.map((w) => [w.action, w.weights])).toEqual([
      ['canary_step', { '1': 90, '2': 10 }],
      ['canary_step', { '1': 50, '2': 50 }],
      ['canary_step', { '2': 100 }],
      ['promote', { '2': 100 }],
    ]);
    expect(prod.state).toMatchObject({ champion: 2, weights: { '2': 100 }, warm: [1], previousChampion: 1 });
  });

  it('a failing step sends all traffic back to the champion and reports why', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const result = await withWorkers(env(), { ...prod.activities(), analyseCanaryStep: async (i) => (i.percent === 50 ? fail(50) : pass(i.percent)) }, async () => (await start(input())).result());
    expect(result.decision).toBe('rollback');
    expect(result.reasons[0]).toMatch(/error rate/);
    expect(result.steps.map((s) => s.passed)).toEqual([true, false]);
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('abort during a step window rolls back at once', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const result = await withWorkers(env(), { ...prod.activities(), analyseCanaryStep: async (i) => pass(i.percent) }, async () => {
      const h = await start(input({ canary: { ...canary, stepDuration: T.day } }));
      await expect.poll(async () => (await h.query(canaryStatusQuery)).weights, { timeout: 20_000 }).toEqual({ '1': 90, '2': 10 });
      await h.signal(abortSignal, { by: 'bob', reason: 'pager' });
      const r = await h.result();
      await recordHistory(h, 'canary-abort');
      return r;
    });
    expect(result).toMatchObject({ decision: 'rollback', reasons: ['aborted by bob: pager'] });
    expect(prod.state?.weights).toEqual({ '1': 100 });
  });

  it('an abort that arrives during the last analysis wins over the promotion', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    let handle: Awaited<ReturnType<typeof start>> | null = null;
    const result = await withWorkers(
      env(),
      {
        ...prod.activities(),
        analyseCanaryStep: async (i) => {
          if (i.percent === 100) await handle!.signal(abortSignal, { by: 'carol' });
          return pass(i.percent);
        },
      },
      async () => {
        handle = await start(input());
        return handle.result();
      },
    );
    expect(result.decision).toBe('rollback');
    expect(result.reasons).toEqual(['aborted by carol']);
    expect(prod.writes.some((w) => w.action === 'promote')).toBe(false);
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('a pause during analysis holds the next traffic change until resume', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    let handle: Awaited<ReturnType<typeof start>> | null = null;
    const result = await withWorkers(
      env(),
      {
        ...prod.activities(),
        analyseCanaryStep: async (i) => {
          if (i.percent === 10) await handle!.signal(pauseSignal, { by: 'dave' });
          return pass(i.percent);
        },
      },
      async () => {
        handle = await start(input());
        await expect.poll(async () => (await handle!.query(canaryStatusQuery)).waitingFor, { timeout: 20_000 }).toBe('resume (paused before step 2)');
        const held = await handle.query(canaryStatusQuery);
        expect(held).toMatchObject({ paused: true, weights: { '1': 90, '2': 10 } });
        expect(prod.writes).toHaveLength(1);
        await handle.signal(resumeSignal);
        return handle.result();
      },
    );
    expect(result.decision).toBe('promote');
    expect(prod.state?.champion).toBe(2);
  });

  it('cancellation mid-rollout restores the champion at 100% before the workflow ends', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const err = await withWorkers(env(), { ...prod.activities(), analyseCanaryStep: async (i) => pass(i.percent) }, async () => {
      const h = await start(input({ canary: { ...canary, stepDuration: T.day } }));
      await expect.poll(async () => (await h.query(canaryStatusQuery)).step, { timeout: 20_000 }).toBe(1);
      await h.cancel();
      const e = await h.result().catch((e: unknown) => e);
      await recordHistory(h, 'canary-cancelled');
      return e;
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
    expect(prod.writes.at(-1)).toMatchObject({ action: 'canary_restore' });
  });

  it('a non-retryable activity failure (a 401 from the server) restores the champion and fails, naming it', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const err = await withWorkers(
      env(),
      {
        ...prod.activities(),
        analyseCanaryStep: async () => {
          throw ApplicationFailure.nonRetryable('the model server answered 401 to GET /admin/models/m/metrics', 'Unauthorized');
        },
      },
      async () => (await start(input())).result().catch((e: unknown) => e),
    );
    expect(rootCause(err)).toMatchObject({ type: 'Unauthorized' });
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('never overwrites a rollback made beside it: it stops and leaves production as the operator set it', async () => {
    const prod = new FakeProduction('m', [1, 2, 3], 1);
    prod.operator({ action: 'promote', champion: 2 }); // production is on 2 now; the candidate is 3
    prod.operator({ action: 'promote', champion: 1 }); // … and back on 1
    let n = 0;
    const err = await withWorkers(
      env(),
      {
        ...prod.activities(),
        analyseCanaryStep: async (i) => {
          // an operator rolls production to version 2 while the canary of 3 is at 10%
          if (n++ === 0) prod.operator({ action: 'rollback', champion: 2 });
          return pass(i.percent);
        },
      },
      async () => (await start(input({ candidate: 3 }))).result().catch((e: unknown) => e),
    );
    expect(rootCause(err)).toMatchObject({ type: 'ProductionChanged' });
    expect(prod.state).toMatchObject({ champion: 2, weights: { '2': 100 } });
  });

  it('promotes the first version of a model without a canary', async () => {
    const prod = new FakeProduction('m', [1], null);
    const result = await withWorkers(env(), prod.activities(), async () => (await start(input({ candidate: 1 }))).result());
    expect(result.decision).toBe('promote');
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('refuses bad input at once with a typed, non-retryable failure naming the field', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    for (const [bad, field] of [
      [{ ...input(), canary: { ...canary, stepDuration: 'soon' } }, /canary\.stepDuration/],
      [{ ...input(), canary: { ...canary, stepDuration: '1h' } }, /canary\.stepDuration: between 1s and 10m/],
      [{ ...input(), candidate: 'two' }, /candidate/],
      [{ ...input(), approvedBy: '' }, /approvedBy/],
      [null, /expected object|JSON object/],
    ] as const) {
      const err = await withWorkers(env(), prod.activities(), async () => (await start(bad)).result().catch((e: unknown) => e));
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(rootCause(err)).toMatchObject({ type: 'SpecInvalid', nonRetryable: true, message: expect.stringMatching(field) });
    }
    expect(prod.writes).toEqual([]);
  });
});
