import { condition, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { parseDurationMs } from '../src/duration';
import { NON_RETRYABLE_ERROR_TYPES } from '../src/errors';
import { TASK_QUEUES, type ExperimentCounts, type ExperimentInput, type ExperimentResult } from '../src/types';
import { abortSignal, experimentStatusQuery, type ExperimentStatus } from './definitions';

const act = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.pipeline,
  startToCloseTimeout: '2m',
  retry: { maximumInterval: '10s', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

/** How often the live figures are collected (the server keeps 10 minutes of them). */
const READ_EVERY_MS = 60_000;

/**
 * Champion/challenger experiment: the production champion and the challengers share traffic by
 * `split` for `duration` (durable timers; the live figures are collected every minute with a
 * cursor, so no second is counted twice), then the best challenger is promoted only if it beats
 * the champion significantly on live accuracy; the others are demoted. `abort` ends it early with
 * all traffic back on the champion.
 */
export async function championChallenger(input: ExperimentInput): Promise<ExperimentResult> {
  const { model, experiment } = input;
  const { workflowId } = workflowInfo();
  const by = `championChallenger (started by ${input.by})`;
  const durationMs = parseDurationMs(experiment.duration) ?? 3_600_000;
  const status: ExperimentStatus = {
    model,
    phase: 'starting',
    champion: null,
    weights: {},
    elapsedMs: 0,
    durationMs,
    counts: {},
    decision: null,
    winner: null,
  };
  let aborted: string | null = null;
  setHandler(experimentStatusQuery, () => status);
  setHandler(abortSignal, (p) => void (aborted = `aborted by ${p?.by ?? 'an operator'}${p?.reason ? `: ${p.reason}` : ''}`));

  const startedAt = new Date().toISOString();
  const { champion, cursor: firstCursor } = await act.startExperiment({ model, experiment });
  status.champion = champion;
  const versions = [champion, ...experiment.challengers];
  const zero = (): ExperimentCounts => ({ requests: 0, errors: 0, labelled: 0, correct: 0 });
  for (const v of versions) status.counts[String(v)] = zero();
  status.weights = Object.fromEntries(versions.map((v, i) => [String(v), experiment.split[i]!]));
  await act.setTrafficSplit({
    model,
    weights: status.weights,
    warm: [],
    reason: `experiment: champion ${champion} against ${experiment.challengers.join(', ')}`,
    by,
    workflowId,
  });
  status.phase = 'running';

  let cursor = firstCursor;
  const begin = Date.now();
  while (status.elapsedMs < durationMs && aborted === null) {
    await condition(() => aborted !== null, Math.min(READ_EVERY_MS, durationMs - status.elapsedMs));
    // the figures of the last whole second arrive a moment later: wait past it before the last read
    if (Date.now() - begin >= durationMs) await sleep(1_100);
    const read = await act.readExperimentWindow({ model, versions, cursor });
    cursor = read.cursor;
    for (const [v, c] of Object.entries(read.counts)) {
      const t = status.counts[v] ?? zero();
      status.counts[v] = { requests: t.requests + c.requests, errors: t.errors + c.errors, labelled: t.labelled + c.labelled, correct: t.correct + c.correct };
    }
    status.elapsedMs = Date.now() - begin;
  }

  if (aborted !== null) {
    await act.setTrafficSplit({ model, weights: { [String(champion)]: 100 }, reason: `experiment ${aborted}`, by, workflowId });
    status.weights = { [String(champion)]: 100 };
    status.phase = 'done';
    status.decision = 'keep';
    return {
      model,
      champion,
      decision: 'keep',
      winner: null,
      arms: [],
      alpha: experiment.alpha,
      alphaAdjusted: experiment.alpha / experiment.challengers.length,
      reasons: [aborted],
      startedAt,
      endedAt: new Date().toISOString(),
      reportUri: null,
    };
  }

  status.phase = 'deciding';
  const result = await act.concludeExperiment({
    model,
    champion,
    experiment,
    counts: status.counts,
    startedAt,
    endedAt: new Date().toISOString(),
    by,
    workflowId,
  });
  status.phase = 'done';
  status.decision = result.decision;
  status.winner = result.winner;
  status.weights = { [String(result.winner ?? champion)]: 100 };
  return result;
}
