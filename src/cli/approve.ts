import { WorkflowNotFoundError } from '@temporalio/client';
import type { KaizenConfig } from '../config';
import { KaizenError } from '../errors';
import { connectClient } from '../temporal/connection';
import type { PipelineStatus } from '../types';
import { CliExit, type Output } from './output';

export interface ApproveOptions {
  by: string;
  comment?: string;
  reject?: boolean;
}

/** Sends the approve / reject signal after checking the pipeline is waiting for one. */
export async function approveCommand(cfg: KaizenConfig, workflowId: string, opts: ApproveOptions, out: Output): Promise<number> {
  if (!opts.by?.trim()) throw new CliExit('--by NAME is required: say who decides');
  const client = await connectClient(cfg);
  const handle = client.workflow.getHandle(workflowId);
  let status: PipelineStatus;
  try {
    status = await handle.query<PipelineStatus>('status');
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new KaizenError('WorkflowNotFound', `no workflow with id ${workflowId}`);
    throw err;
  }
  if (status.stage !== 'awaiting_approval') {
    throw new CliExit(`${workflowId} is not awaiting approval (stage: ${status.stage})`);
  }
  const kind = opts.reject ? 'reject' : 'approve';
  await handle.signal(kind, { by: opts.by.trim(), ...(opts.comment ? { comment: opts.comment } : {}) });
  const doc = { workflowId, decision: kind, by: opts.by.trim(), comment: opts.comment ?? null, version: status.approval?.version ?? null };
  out.result(doc, () => `${kind === 'approve' ? 'approved' : 'rejected'} version ${doc.version ?? '?'} of ${status.model} (${workflowId}) as ${doc.by}`);
  return 0;
}
