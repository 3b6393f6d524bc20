import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_ERROR_TYPES } from '../src/errors';
import { TASK_QUEUES, type RollbackInput, type RollbackResult } from '../src/types';

const { rollbackProduction } = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.pipeline,
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

/** Moves `production` back (to the previous version, or a named one); recorded in the alias history. */
export async function rollbackModel(input: RollbackInput): Promise<RollbackResult> {
  return rollbackProduction({ ...input, workflowId: workflowInfo().workflowId });
}
