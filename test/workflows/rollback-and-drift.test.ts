import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TASK_QUEUES, type DriftMonitorInput, type DriftSummary, type RollbackInput } from '../../src/types';
import type { Activities } from '../../activities';
import { driftMonitor } from '../../workflows/drift-monitor';
import { rollbackModel } from '../../workflows/rollback-model';
import { FakeProduction, recordHistory, rootCause, useWorkflowEnv, withWorkers } from './harness';

const env = useWorkflowEnv();

const rollback = (args: RollbackInput | unknown) =>
  env().client.workflow.execute(rollbackModel, { taskQueue: TASK_QUEUES.pipeline, workflowId: `rb-${randomUUID()}`, args: [args as RollbackInput] });

describe('rollbackModel', () => {
  it.each([
    ['a canary promotion', (p: FakeProduction) => {
      p.operator({ action: 'canary_step', weights: { 1: 50, 2: 50 }, expectChampion: 1 });
      p.operator({ action: 'promote', champion: 2, weights: { 2: 100 }, warm: [1], expectChampion: 1 });
    }],
    ['an experiment that promoted its winner', (p: FakeProduction) => {
      p.operator({ action: 'experiment_start', weights: { 1: 90, 2: 10 } });
      p.operator({ action: 'experiment_end', champion: 2, weights: { 2: 100 }, warm: [1] });
    }],
    ['a plain promotion (canary: false)', (p: FakeProduction) => p.operator({ action: 'promote', champion: 2 })],
  ])('after %s, moves champion and traffic back in one write', async (_what, promote) => {
    const prod = new FakeProduction('m', [1, 2], 1);
    promote(prod);
    expect(prod.state?.champion).toBe(2);
    const id = `rb-${randomUUID()}`;
    const result = await withWorkers(env(), prod.activities(), () => env().client.workflow.execute(rollbackModel, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ model: 'm', by: 'gina' }] }));
    await recordHistory(env().client.workflow.getHandle(id), 'rollback');
    expect(result).toMatchObject({ model: 'm', from: 2, to: 1 });
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 }, warm: [2] });
  });

  it('goes to a named version with `to`, and names what is wrong otherwise', async () => {
    const prod = new FakeProduction('m', [1, 2, 3], 3);
    expect(await withWorkers(env(), prod.activities(), () => rollback({ model: 'm', to: 1, by: 'gina' }))).toMatchObject({ from: 3, to: 1 });
    const none = await withWorkers(env(), new FakeProduction('m', [1], 1).activities(), () => rollback({ model: 'm', by: 'gina' }).catch((e: unknown) => e));
    expect(rootCause(none)).toMatchObject({ type: 'ModelNotFound', message: expect.stringMatching(/no earlier production version/) });
    for (const [bad, field] of [
      [{ model: 'm', by: '' }, /by/],
      [{ model: 'm', to: 'one', by: 'x' }, /to/],
      [{ by: 'x' }, /model/],
    ] as const) {
      const err = await withWorkers(env(), prod.activities(), () => rollback(bad).catch((e: unknown) => e));
      expect(rootCause(err)).toMatchObject({ type: 'SpecInvalid', nonRetryable: true, message: expect.stringMatching(field) });
    }
  });
});

const drifted: Omit<DriftSummary, never> = {
  version: 1,
  drifted: true,
  samples: 5000,
  driftedShare: 0.6,
  driftedFeatures: ['distance', 'hour'],
  reasons: ['distance: PSI 0.4 > 0.1'],
  reportUri: 's3://kaizen/reports/x/drift.json',
};

describe('driftMonitor', () => {
  const monitor = (args: DriftMonitorInput | unknown) =>
    env().client.workflow.execute(driftMonitor, { taskQueue: TASK_QUEUES.pipeline, workflowId: `drift-${randomUUID()}`, args: [args as DriftMonitorInput] });

  it('fails at once, typed and non-retryable, on a duration that does not parse (it used to retry the workflow task forever)', async () => {
    for (const [bad, field] of [
      [{ model: 'm', window: 'yesterday' }, /window/],
      [{ model: 'm', cooldown: '5 minutes' }, /cooldown/],
      [{ model: 'm', retrain: 'yes' }, /retrain/],
      [{ model: 'm', thresholds: { psi: 'high' } }, /thresholds/],
      [{ window: '1h' }, /model/],
      ['m', /JSON object|expected object/],
    ] as const) {
      const started = Date.now();
      const err = await withWorkers(env(), {}, () => monitor(bad).catch((e: unknown) => e));
      expect(rootCause(err)).toMatchObject({ type: 'SpecInvalid', nonRetryable: true, message: expect.stringMatching(field) });
      expect(Date.now() - started).toBeLessThan(15_000);
    }
  });

  it('reports no drift and starts nothing', async () => {
    const fakes: Partial<Activities> = { checkModelDrift: async () => ({ ...drifted, drifted: false, driftedFeatures: [] }) };
    const result = await withWorkers(env(), fakes, () => monitor({ model: 'm', window: '1h' }));
    expect(result).toMatchObject({ action: 'none', drifted: false });
  });

  it('honours the cooldown and retrain: false', async () => {
    const fakes: Partial<Activities> = {
      checkModelDrift: async () => drifted,
      planRetrain: async () => ({ input: null, skip: { action: 'cooldown', detail: 'the last drift retrain started 1h ago' } }),
    };
    const id = `drift-${randomUUID()}`;
    const cooled = await withWorkers(env(), fakes, () => env().client.workflow.execute(driftMonitor, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ model: 'm', cooldown: '24h' }] }));
    expect(cooled).toMatchObject({ action: 'cooldown' });
    await recordHistory(env().client.workflow.getHandle(id), 'drift-monitor-cooldown');
    expect(await withWorkers(env(), fakes, () => monitor({ model: 'm', retrain: false }))).toMatchObject({ action: 'retrain_disabled' });
  });
});
