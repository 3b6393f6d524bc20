import { ParentClosePolicy, startChild, workflowInfo, WorkflowIdReusePolicy } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { checkDriftMonitorInput } from '../src/policy/inputs';
import { MODEL_SEARCH_ATTRIBUTE, TASK_QUEUES, type DriftMonitorInput, type DriftMonitorResult, type PipelineInput } from '../src/types';
import { act } from './activities';
import { trainingPipeline } from './training-pipeline';

/** The one workflow id a drift retrain of a model runs under: never two at once. */
export function retrainWorkflowId(model: string): string {
  return `${model}-drift-retrain`;
}

/**
 * Drift monitor, run by a Temporal Schedule: checks the production version's recent traffic for
 * drift and, when the data drifted, starts trainingPipeline from the model's latest spec. At most
 * one retrain per model runs at a time (its workflow id is keyed by the model) and none starts
 * within the cooldown of the last; the drift report that caused it goes into the new version's
 * lineage.
 */
export async function driftMonitor(rawInput: DriftMonitorInput): Promise<DriftMonitorResult> {
  const input = checkDriftMonitorInput(rawInput);
  const { model, windowMs, cooldownMs } = input;
  const { workflowId } = workflowInfo();
  const now = new Date().toISOString();
  const check = await act.checkModelDrift({ model, windowMs, now, reportId: workflowId, ...(input.thresholds ? { thresholds: input.thresholds } : {}) });
  const result: DriftMonitorResult = { model, ...check, action: 'none', retrainWorkflowId: null, detail: null };
  if (check.drifted !== true) return result;
  if (input.retrain === false) return { ...result, action: 'retrain_disabled' };

  const plan = await act.planRetrain({ model, cooldownMs, now });
  if (plan.skip) return { ...result, action: plan.skip.action, detail: plan.skip.detail };
  const retrainId = retrainWorkflowId(model);
  const pipelineInput: PipelineInput = {
    ...plan.input,
    trigger: {
      kind: 'drift',
      monitorWorkflowId: workflowId,
      reportUri: check.reportUri,
      driftedFeatures: check.driftedFeatures,
      driftedShare: check.driftedShare,
      at: now,
    },
  };
  try {
    await startChild(trainingPipeline, {
      workflowId: retrainId,
      args: [pipelineInput],
      taskQueue: TASK_QUEUES.pipeline,
      // the retrain outlives this short monitor run
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: [{ key: { name: MODEL_SEARCH_ATTRIBUTE, type: 'KEYWORD' }, value: model }],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { ...result, action: 'retrain_running', retrainWorkflowId: retrainId, detail: `${retrainId} is still running` };
    }
    throw err;
  }
  await act.recordRetrain({ model, workflowId: retrainId, at: now, reportUri: check.reportUri });
  return { ...result, action: 'retrain_started', retrainWorkflowId: retrainId };
}
