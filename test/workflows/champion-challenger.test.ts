import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { decideExperiment, parseExperiment } from '../../src/policy/experiment';
import { parseDurationMs } from '../../src/duration';
import { TASK_QUEUES, type ExperimentCounts, type ExperimentInput, type ExperimentResult } from '../../src/types';
import type { Activities } from '../../activities';
import { abortSignal, experimentStatusQuery } from '../../workflows/definitions';
import { championChallenger } from '../../workflows/champion-challenger';
import { FakeProduction, recordHistory, rootCause, useWorkflowEnv, T, withWorkers } from './harness';

const env = useWorkflowEnv();

function start(args: ExperimentInput | unknown, id = `exp-${randomUUID()}`) {
  return env().client.workflow.start(championChallenger, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [args as ExperimentInput] });
}

/** Fakes of the experiment activities: every read returns the same per-arm counts; the decision is the real one. */
function experimentFakes(prod: FakeProduction, perRead: Record<string, ExperimentCounts>): Partial<Activities> & { reads: number[] } {
  const reads: number[] = [];
  return {
    reads,
    ...prod.activities(),
    startExperiment: async () => ({ champion: prod.state!.champion, cursor: 1000 }),
    readExperimentWindow: async (i) => {
      reads.push(i.cursor);
      return { counts: perRead, cursor: i.cursor + 60 };
    },
    concludeExperiment: async (i): Promise<ExperimentResult> => {
      const d = decideExperiment(i.experiment, { version: i.champion, counts: i.counts[String(i.champion)]! }, i.experiment.challengers.map((v) => ({ version: v, counts: i.counts[String(v)]! })));
      const kept = d.winner ?? i.champion;
      await prod.activities().changeProduction({ model: i.model, request: { action: 'experiment_end', champion: kept, weights: { [String(kept)]: 100 }, expectChampion: i.champion }, by: i.by, reason: 'end', workflowId: i.workflowId });
      return { model: i.model, champion: i.champion, decision: d.decision, winner: d.winner, arms: d.arms, alpha: i.experiment.alpha, alphaAdjusted: d.alphaAdjusted, reasons: d.reasons, startedAt: i.startedAt, endedAt: i.endedAt, reportUri: null };
    },
  };
}

const counts = (labelled: number, correct: number): ExperimentCounts => ({ requests: labelled, errors: 0, labelled, correct });

describe('championChallenger', () => {
  it(`runs a ${T.long} experiment across runs (continue-as-new), carrying counts and cursor, and promotes a significant winner`, async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const experiment = parseExperiment({ challengers: [2], split: [50, 50], duration: T.long, readEvery: T.read, minSamples: 100, readsPerRun: timeSkippingReadsPerRun() });
    const fakes = experimentFakes(prod, { '1': counts(100, 70), '2': counts(100, 80) });
    const id = `exp-${randomUUID()}`;
    const result = await withWorkers(env(), fakes, async () => {
      const h = await start({ model: 'm', experiment, by: 'erin' }, id);
      const r = await h.result();
      await recordHistory(env().client.workflow.getHandle(id, h.firstExecutionRunId), 'experiment-first-run');
      await recordHistory(h, 'experiment-last-run');
      return r;
    });
    const expectedReads = Math.ceil(parseDurationMs(T.long)! / parseDurationMs(T.read)!);
    expect(fakes.reads.length).toBeGreaterThanOrEqual(expectedReads - 1);
    // the cursor travelled through every run: each read starts where the last one ended
    expect(fakes.reads).toEqual(fakes.reads.map((_, i) => 1000 + 60 * i));
    expect(result).toMatchObject({ decision: 'promote', winner: 2 });
    const decisive = result.arms.find((a) => a.version === 2)!;
    expect(decisive.labelled).toBe(100 * fakes.reads.length);
    expect(prod.state).toMatchObject({ champion: 2, weights: { '2': 100 } });

    // several runs, each with a small history
    const perRun = experiment.readsPerRun;
    const listRuns = async () => {
      const out: { historyLength: number }[] = [];
      for await (const w of env().client.workflow.list({ query: `WorkflowId = '${id}'` })) out.push({ historyLength: w.historyLength });
      return out;
    };
    await expect.poll(async () => (await listRuns()).length, { timeout: 10_000 }).toBe(Math.ceil(fakes.reads.length / perRun));
    const runs = await listRuns();
    for (const r of runs) expect(r.historyLength).toBeLessThan(20 * perRun + 40);
    console.log(`experiment ${T.long}: ${fakes.reads.length} reads over ${runs.length} runs; history lengths ${runs.map((r) => r.historyLength).join(', ')}`);
  });

  it('keeps the champion when no challenger is significantly better', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const experiment = parseExperiment({ challengers: [2], duration: '3s', readEvery: '1s', minSamples: 10 });
    const result = await withWorkers(env(), experimentFakes(prod, { '1': counts(100, 80), '2': counts(100, 79) }), async () => (await start({ model: 'm', experiment, by: 'erin' })).result());
    expect(result).toMatchObject({ decision: 'keep', winner: null });
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('abort ends it early with all traffic back on the champion', async () => {
    const prod = new FakeProduction('m', [1, 2, 3], 1);
    const experiment = parseExperiment({ challengers: [2, 3], duration: T.day, readEvery: '1s' });
    const result = await withWorkers(env(), experimentFakes(prod, { '1': counts(1, 1), '2': counts(1, 1), '3': counts(1, 1) }), async () => {
      const h = await start({ model: 'm', experiment, by: 'erin' });
      await expect.poll(async () => (await h.query(experimentStatusQuery)).phase, { timeout: 20_000 }).toBe('running');
      expect(prod.state?.weights).toEqual({ '1': 97.9382, '2': 1.0309, '3': 1.0309 });
      await h.signal(abortSignal, { by: 'frank', reason: 'incident' });
      return h.result();
    });
    expect(result).toMatchObject({ decision: 'keep', reasons: ['aborted by frank: incident'] });
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('cancellation puts the champion back at 100%', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    const experiment = parseExperiment({ challengers: [2], duration: T.day, readEvery: '1s' });
    const err = await withWorkers(env(), experimentFakes(prod, { '1': counts(1, 1), '2': counts(1, 1) }), async () => {
      const h = await start({ model: 'm', experiment, by: 'erin' });
      await expect.poll(async () => (await h.query(experimentStatusQuery)).reads, { timeout: 20_000 }).toBeGreaterThan(0);
      await h.cancel();
      return h.result().catch((e: unknown) => e);
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(prod.state).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('refuses bad input at once, naming the field', async () => {
    const prod = new FakeProduction('m', [1, 2], 1);
    for (const [bad, field] of [
      [{ model: 'm', experiment: { challengers: [2], duration: 'forever' }, by: 'x' }, /experiment\.duration/],
      [{ model: 'm', experiment: { challengers: [2], readEvery: '1h' }, by: 'x' }, /experiment\.readEvery/],
      [{ model: 'm', experiment: { challengers: [] }, by: 'x' }, /experiment\.challengers/],
      [{ model: 'M!', experiment: { challengers: [2] }, by: 'x' }, /model/],
      [{ model: 'm', experiment: { challengers: [2] } }, /by/],
    ] as const) {
      const err = await withWorkers(env(), experimentFakes(prod, {}), async () => (await start(bad)).result().catch((e: unknown) => e));
      expect(rootCause(err)).toMatchObject({ type: 'SpecInvalid', nonRetryable: true, message: expect.stringMatching(field) });
    }
    expect(prod.writes).toEqual([]);
  });
});

/** Under time skipping the default (500 reads a run); on the dev server a small number, so the runs are seen in seconds. */
function timeSkippingReadsPerRun(): number {
  return process.env.KAIZEN_TEST_SERVER ? 500 : 3;
}
