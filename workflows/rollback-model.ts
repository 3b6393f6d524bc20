import { workflowInfo } from '@temporalio/workflow';
import { checkRollbackInput } from '../src/policy/inputs';
import type { RollbackInput, RollbackResult } from '../src/types';
import { act } from './activities';

/**
 * Moves production back (to the champion before the current one, or a named version): champion and
 * split in one write of the production record, so the next request is served by the target.
 */
export async function rollbackModel(rawInput: RollbackInput): Promise<RollbackResult> {
  const input = checkRollbackInput(rawInput);
  return act.rollbackProduction({ ...input, workflowId: workflowInfo().workflowId });
}
