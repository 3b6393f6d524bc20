import { CancellationScope, condition, ContinueAsNew, continueAsNew, isCancellation, log, setCurrentDetails, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { parseDurationMs } from '../src/duration';
import { addCounts } from '../src/policy/experiment';
import { checkExperimentInput } from '../src/policy/inputs';
import type { ExperimentCarry, ExperimentCounts, ExperimentInput, ExperimentResult } from '../src/types';
import { act } from './activities';
import { productionChanged } from './canary-rollout';
import { abortSignal, experimentStatusQuery, type ExperimentStatus } from './definitions';

const zero = (): ExperimentCounts => ({ requests: 0, errors: 0, labelled: 0, correct: 0 });

/**
 * Champion/challenger experiment: the production champion and the challengers share traffic by
 * `split` for `duration` (durable timers; the live figures are collected every `readEvery` with a
 * cursor, so no second is counted twice), then the best challenger is promoted only if it beats
 * the champion significantly on live accuracy; the others are demoted. Every `readsPerRun` reads it
 * continues as new, carrying its counts and cursor, so a 30-day experiment keeps each history
 * small. `abort`, a failure or a cancellation ends it with all traffic back on the champion.
 */
export async function championChallenger(rawInput: ExperimentInput, carried?: ExperimentCarry): Promise<ExperimentResult> {
  const input = checkExperimentInput(rawInput);
  const { model, experiment } = input;
  const { workflowId } = workflowInfo();
  const by = `championChallenger (started by ${input.by})`;
  const durationMs = parseDurationMs(experiment.duration)!;
  const readEveryMs = parseDurationMs(experiment.readEvery)!;
  const status: ExperimentStatus = {
    model,
    phase: carried ? 'running' : 'starting',
    champion: carried?.champion ?? null,
    weights: {},
    elapsedMs: carried ? Date.now() - carried.beganAtMs : 0,
    durationMs,
    counts: carried?.counts ?? {},
    decision: null,
    winner: null,
    run: carried?.run ?? 1,
    reads: carried?.reads ?? 0,
  };
  let aborted: string | null = null;
  setHandler(experimentStatusQuery, () => status, { description: 'Phase, weights, elapsed time, running counts per version, the decision.' });
  setHandler(abortSignal, (p) => void (aborted ??= `aborted by ${p?.by ?? 'an operator'}${p?.reason ? `: ${p.reason}` : ''}`), {
    description: 'End the experiment now, the champion keeping all traffic: {"by": "your name", "reason": "why"}.',
  });

  let carry: ExperimentCarry;
  if (carried) {
    carry = carried;
  } else {
    const startedAt = new Date().toISOString();
    const start = await act.startExperiment({ model, experiment });
    carry = { champion: start.champion, cursor: start.cursor, counts: {}, startedAt, beganAtMs: 0, run: 1, reads: 0 };
    status.champion = start.champion;
  }
  const { champion } = carry;
  const versions = [champion, ...experiment.challengers];
  for (const v of versions) status.counts[String(v)] ??= zero();
  status.weights = Object.fromEntries(versions.map((v, i) => [String(v), experiment.split[i]!]));
  const write = (request: Parameters<typeof act.changeProduction>[0]['request'], reason: string) =>
    act.changeProduction({ model, request, by, reason, workflowId });

  const keepChampion = async (reason: string): Promise<void> => {
    await CancellationScope.nonCancellable(async () => {
      try {
        await write({ action: 'experiment_end', weights: { [String(champion)]: 100 }, expectChampion: champion, opId: `${workflowId}:restore` }, `experiment ended: ${reason}`);
      } catch (err) {
        if (!productionChanged(err)) throw err;
        log.warn('experiment: production changed under it; left as it is', { model, champion });
      }
    });
    status.weights = { [String(champion)]: 100 };
    status.phase = 'done';
    status.decision = 'keep';
  };

  try {
    if (!carried) {
      await write(
        { action: 'experiment_start', weights: status.weights, expectChampion: champion, opId: `${workflowId}:start` },
        `experiment: champion ${champion} against ${experiment.challengers.join(', ')}`,
      );
      carry.beganAtMs = Date.now();
    }
    status.phase = 'running';
    setCurrentDetails(`experiment: champion ${champion} against ${experiment.challengers.join(', ')} for ${experiment.duration} (run ${carry.run}; signal "abort" to end it)`);
    let readsThisRun = 0;
    while (status.elapsedMs < durationMs && aborted === null) {
      await condition(() => aborted !== null, Math.min(readEveryMs, durationMs - status.elapsedMs));
      // the figures of the last whole second arrive a moment later: wait past it before the last read
      if (Date.now() - carry.beganAtMs >= durationMs) await sleep(1_100);
      const read = await act.readExperimentWindow({ model, versions, cursor: carry.cursor });
      carry.cursor = read.cursor;
      for (const [v, c] of Object.entries(read.counts)) status.counts[v] = addCounts(status.counts[v] ?? zero(), c);
      status.reads = ++carry.reads;
      status.elapsedMs = Date.now() - carry.beganAtMs;
      readsThisRun++;
      const more = status.elapsedMs < durationMs && aborted === null;
      if (more && (readsThisRun >= experiment.readsPerRun || workflowInfo().continueAsNewSuggested)) {
        await continueAsNew<typeof championChallenger>(input, { ...carry, counts: status.counts, run: carry.run + 1 });
      }
    }

    if (aborted !== null) {
      await keepChampion(aborted);
      return {
        model,
        champion,
        decision: 'keep',
        winner: null,
        arms: [],
        alpha: experiment.alpha,
        alphaAdjusted: experiment.alpha / experiment.challengers.length,
        reasons: [aborted],
        startedAt: carry.startedAt,
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
      startedAt: carry.startedAt,
      endedAt: new Date().toISOString(),
      by,
      workflowId,
    });
    status.phase = 'done';
    status.decision = result.decision;
    status.winner = result.winner;
    status.weights = { [String(result.winner ?? champion)]: 100 };
    return result;
  } catch (err) {
    // continue-as-new is how a long experiment goes on, not an ending
    if (err instanceof ContinueAsNew) throw err;
    await keepChampion(isCancellation(err) ? 'cancelled' : `failed: ${(err as Error).message}`);
    throw err;
  }
}

