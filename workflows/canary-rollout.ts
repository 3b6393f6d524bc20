import { condition, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { parseDurationMs } from '../src/duration';
import { NON_RETRYABLE_ERROR_TYPES } from '../src/errors';
import { TASK_QUEUES, type CanaryInput, type CanaryResult } from '../src/types';
import { abortSignal, canaryStatusQuery, pauseSignal, resumeSignal, type CanaryStatus } from './definitions';

const act = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.pipeline,
  startToCloseTimeout: '2m',
  retry: { maximumInterval: '10s', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

function split(champion: number | null, candidate: number, percent: number): Record<string, number> {
  if (champion === null || percent >= 100) return { [String(candidate)]: 100 };
  return { [String(champion)]: 100 - percent, [String(candidate)]: percent };
}

/**
 * Canary rollout, a child of trainingPipeline after approval: for each step set the split, wait
 * on a durable timer, compare the canary's live window with the champion's; a failed step sends
 * all traffic back to the champion at once; all steps passed promotes atomically. Signals pause,
 * resume and abort (= roll back). Every activity is idempotent, so a worker crash at any moment
 * neither promotes twice nor leaves a version at a stray weight.
 */
export async function canaryRollout(input: CanaryInput): Promise<CanaryResult> {
  const { model, champion, candidate, canary } = input;
  const { workflowId } = workflowInfo();
  const by = `canaryRollout (approved by ${input.approvedBy})`;
  const status: CanaryStatus = { model, champion, candidate, step: 0, percent: 0, weights: {}, paused: false, steps: [], decision: null };
  let aborted: string | null = null;
  setHandler(canaryStatusQuery, () => status);
  setHandler(pauseSignal, () => void (status.paused = true));
  setHandler(resumeSignal, () => void (status.paused = false));
  setHandler(abortSignal, (p) => void (aborted = `aborted by ${p?.by ?? 'an operator'}${p?.reason ? `: ${p.reason}` : ''}`));

  const rollback = async (reasons: string[]): Promise<CanaryResult> => {
    const weights = champion === null ? null : { [String(champion)]: 100 };
    if (weights) {
      await act.setTrafficSplit({ model, weights, reason: `canary rolled back: ${reasons[0] ?? ''}`, by, workflowId });
      status.weights = weights;
    }
    status.decision = 'rollback';
    return { decision: 'rollback', steps: status.steps, reasons };
  };

  if (champion === null) {
    // nothing to compare with: the first production version is promoted as it is
    await act.promoteCanary({ model, champion, candidate, by, workflowId: input.pipelineWorkflowId });
    status.decision = 'promote';
    return { decision: 'promote', steps: [], reasons: ['no production version to compare with: promoted without a canary'] };
  }

  const stepMs = parseDurationMs(canary.stepDuration) ?? 60_000;
  for (const [i, percent] of canary.steps.entries()) {
    status.step = i + 1;
    status.percent = percent;
    status.weights = split(champion, candidate, percent);
    await act.setTrafficSplit({ model, weights: status.weights, warm: [champion], reason: `canary step ${i + 1}: ${percent}%`, by, workflowId });
    await condition(() => aborted !== null, stepMs);
    while (status.paused && aborted === null) await condition(() => !status.paused || aborted !== null);
    if (aborted !== null) return rollback([aborted]);
    const report = await act.analyseCanaryStep({
      model,
      champion,
      candidate,
      percent,
      windowSeconds: Math.max(1, Math.ceil(stepMs / 1000)),
      canary,
    });
    status.steps.push({ percent, passed: report.passed, requests: report.requests, reasons: report.reasons });
    if (!report.passed) return rollback(report.reasons);
  }
  await act.promoteCanary({ model, champion, candidate, by, workflowId: input.pipelineWorkflowId });
  status.decision = 'promote';
  return { decision: 'promote', steps: status.steps, reasons: [] };
}
