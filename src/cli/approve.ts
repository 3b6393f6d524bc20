import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { approveUpdate, rejectUpdate, statusQuery } from '../../workflows/definitions';
import type { KaizenConfig } from '../config';
import { KaizenError } from '../errors';
import { connectClient } from '../temporal/connection';
import type { PipelineStatus } from '../types';
import { CliExit, type Output } from './output';
import { rootMessage } from './rollback';

export interface ApproveOptions {
  by: string;
  comment?: string;
  reject?: boolean;
}

/**
 * Sends the approve / reject Update and waits for the workflow's answer: a decision the workflow
 * refuses (wrong stage, already decided, no `by`) exits non-zero with its reason.
 */
export async function approveCommand(cfg: KaizenConfig, workflowId: string, opts: ApproveOptions, out: Output): Promise<number> {
  if (!opts.by?.trim()) throw new CliExit('--by NAME is required: say who decides');
  const client = await connectClient(cfg);
  const handle = client.workflow.getHandle(workflowId);
  let status: PipelineStatus;
  try {
    status = await handle.query(statusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new KaizenError('WorkflowNotFound', `no workflow with id ${workflowId}`);
    throw err;
  }
  const kind = opts.reject ? 'reject' : 'approve';
  let decision;
  try {
    decision = await handle.executeUpdate(opts.reject ? rejectUpdate : approveUpdate, {
      args: [{ by: opts.by.trim(), ...(opts.comment ? { comment: opts.comment } : {}) }],
    });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new CliExit(`${workflowId}: ${rootMessage(err)}`);
    if (err instanceof WorkflowNotFoundError) throw new KaizenError('WorkflowNotFound', `no running workflow with id ${workflowId}`);
    throw err;
  }
  const doc = { workflowId, ...decision, version: status.approval?.version ?? null };
  out.result(doc, () => `${kind === 'approve' ? 'approved' : 'rejected'} version ${doc.version ?? '?'} of ${status.model} (${workflowId}) as ${decision.by}`);
  return 0;
}
