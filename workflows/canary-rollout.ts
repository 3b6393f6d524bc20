import { CancellationScope, condition, isCancellation, log, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { stepWeights } from '../src/policy/canary';
import { checkCanaryInput } from '../src/policy/inputs';
import { parseDurationMs } from '../src/duration';
import type { CanaryInput, CanaryResult } from '../src/types';
import { act } from './activities';
import { abortSignal, canaryStatusQuery, pauseSignal, resumeSignal, type CanaryStatus } from './definitions';

/** True when a failure is the registry refusing a write because production moved under the rollout. */
export function productionChanged(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && cause.type === 'ProductionChanged';
}

/**
 * Canary rollout, a child of trainingPipeline after approval: for each step set the split, wait on a
 * durable timer, compare the canary's live window with the champion's; a failed step sends all
 * traffic back to the champion; all steps passed promotes, champion and split in one write. Pause
 * and abort are honoured before every traffic change and before promotion (an abort that arrives
 * during the last analysis wins). Failure, cancellation (of this workflow or its parent) and a
 * non-retryable activity error all end with the champion at 100%, restored in a non-cancellable
 * scope. Every write is idempotent and expects the champion it started from, so neither a worker
 * crash nor a concurrent rollback is ever overwritten.
 */
export async function canaryRollout(rawInput: CanaryInput): Promise<CanaryResult> {
  const input = checkCanaryInput(rawInput);
  const { model, candidate, canary } = input;
  const { workflowId } = workflowInfo();
  const by = `canaryRollout (approved by ${input.approvedBy})`;
  const status: CanaryStatus = { model, champion: null, candidate, step: 0, percent: 0, weights: {}, paused: false, steps: [], decision: null, waitingFor: null };
  let aborted: string | null = null;
  setHandler(canaryStatusQuery, () => status, { description: 'Step, weights, each step\'s verdict, what the rollout waits for, the decision.' });
  setHandler(pauseSignal, () => void (status.paused = true), { description: 'Hold the rollout before its next traffic change or the promotion: {"by": "your name"}.' });
  setHandler(resumeSignal, () => void (status.paused = false), { description: 'Go on after a pause: {"by": "your name"}.' });
  setHandler(abortSignal, (p) => void (aborted ??= `aborted by ${p?.by ?? 'an operator'}${p?.reason ? `: ${p.reason}` : ''}`), {
    description: 'Roll back now: all traffic to the champion. {"by": "your name", "reason": "why"}.',
  });
  /** What the UI shows as the rollout's current details. */
  const details = (what: string) => setCurrentDetails(`canary of version ${candidate} against ${status.champion ?? 'no champion'}: ${what}`);

  const production = await act.readProduction({ model });
  const champion = production?.champion ?? null;
  status.champion = champion;
  const write = (request: Parameters<typeof act.changeProduction>[0]['request'], reason: string) =>
    act.changeProduction({ model, request, by, reason, workflowId: input.pipelineWorkflowId });

  if (champion === null || champion === candidate) {
    // nothing to compare with: the first production version is promoted as it is
    await write({ action: 'promote', champion: candidate, expectChampion: champion, opId: `${workflowId}:promote` }, 'first production version: promoted without a canary');
    status.decision = 'promote';
    status.weights = { [String(candidate)]: 100 };
    return { decision: 'promote', steps: [], reasons: [champion === null ? 'no production version to compare with: promoted without a canary' : `version ${candidate} is production already`] };
  }

  /** Waits while paused; true when the rollout must stop (aborted). */
  const proceed = async (what: string): Promise<boolean> => {
    if (status.paused && aborted === null) {
      status.waitingFor = `resume (paused before ${what})`;
      details(`paused before ${what}; signal "resume" to go on, "abort" to roll back`);
      await condition(() => !status.paused || aborted !== null);
      status.waitingFor = null;
    }
    return aborted === null;
  };

  /** All traffic back to the champion, whatever cancelled or failed the rollout. */
  const restore = async (reason: string): Promise<void> => {
    await CancellationScope.nonCancellable(async () => {
      try {
        await write({ action: 'canary_restore', weights: { [String(champion)]: 100 }, expectChampion: champion, opId: `${workflowId}:restore` }, `canary rolled back: ${reason}`);
        status.weights = { [String(champion)]: 100 };
      } catch (err) {
        // production moved under the rollout (a rollback, another release): it is someone else's now
        if (!productionChanged(err)) throw err;
        log.warn('canary: production changed under the rollout; left as it is', { model, champion });
      }
    });
    status.decision = 'rollback';
    details(`rolled back: ${reason}`);
  };
  const rolledBack = async (reasons: string[]): Promise<CanaryResult> => {
    await restore(reasons[0] ?? 'rolled back');
    return { decision: 'rollback', steps: status.steps, reasons };
  };

  const stepMs = parseDurationMs(canary.stepDuration)!;
  try {
    for (const [i, percent] of canary.steps.entries()) {
      if (!(await proceed(`step ${i + 1}`))) return await rolledBack([aborted!]);
      status.step = i + 1;
      status.percent = percent;
      const weights = stepWeights(champion, candidate, percent);
      await write({ action: 'canary_step', weights, expectChampion: champion, opId: `${workflowId}:step:${i + 1}` }, `canary step ${i + 1}: ${percent}%`);
      status.weights = weights;
      status.waitingFor = `step ${i + 1} analysis window (${canary.stepDuration})`;
      details(`step ${i + 1} of ${canary.steps.length} at ${percent}%, analysing for ${canary.stepDuration} (signals: pause, resume, abort)`);
      await condition(() => aborted !== null, stepMs);
      status.waitingFor = null;
      if (aborted !== null) return await rolledBack([aborted]);
      const report = await act.analyseCanaryStep({ model, champion, candidate, percent, windowSeconds: Math.max(1, Math.ceil(stepMs / 1000)), canary });
      status.steps.push({ percent, passed: report.passed, requests: report.requests, reasons: report.reasons });
      if (!report.passed) return await rolledBack(report.reasons);
    }
    if (!(await proceed('promotion'))) return await rolledBack([aborted!]);
    await write(
      { action: 'promote', champion: candidate, weights: { [String(candidate)]: 100 }, warm: [champion], expectChampion: champion, opId: `${workflowId}:promote` },
      'canary rollout passed every step; previous champion kept warm',
    );
  } catch (err) {
    const why = isCancellation(err) ? 'the rollout was cancelled' : productionChanged(err) ? 'production changed under the rollout' : `the rollout failed: ${(err as Error).message}`;
    await restore(why);
    throw err;
  }
  status.decision = 'promote';
  status.weights = { [String(candidate)]: 100 };
  details('promoted: the candidate has all traffic, the old champion is kept warm');
  return { decision: 'promote', steps: status.steps, reasons: [] };
}
