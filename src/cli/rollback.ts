import { rollbackModel } from '../../workflows/rollback-model';
import os from 'node:os';
import type { KaizenConfig } from '../config';
import { connectClient } from '../temporal/connection';
import { TASK_QUEUES, type RollbackInput, type RollbackResult } from '../types';
import { CliExit, type Output } from './output';

export interface RollbackOptions {
  to?: string;
  by?: string;
  reason?: string;
}

/** The innermost cause's message: a workflow failure wraps an activity failure wraps the real error. */
export function rootMessage(err: unknown): string {
  let e = err as { cause?: unknown; message?: string } | undefined;
  while (e && e.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}

/** Runs the short rollbackModel workflow and waits for it (a rollback is part of the audit trail). */
export async function rollbackCommand(cfg: KaizenConfig, model: string, opts: RollbackOptions, out: Output): Promise<number> {
  let to: number | undefined;
  if (opts.to !== undefined) {
    to = Number(opts.to);
    if (!Number.isInteger(to) || to < 1) throw new CliExit(`--to must be a version number, got "${opts.to}"`);
  }
  const client = await connectClient(cfg);
  const input: RollbackInput = { model, by: opts.by ?? os.userInfo().username, ...(to ? { to } : {}), ...(opts.reason ? { reason: opts.reason } : {}) };
  const workflowId = `${model}-rollback-${Date.now().toString(36)}`;
  const handle = await client.workflow.start(rollbackModel, { taskQueue: TASK_QUEUES.pipeline, workflowId, args: [input] });
  let result: RollbackResult;
  try {
    result = await handle.result();
  } catch (err) {
    throw new CliExit(`rollback of ${model} failed: ${rootMessage(err)}`);
  }
  out.result({ workflowId, ...result }, () =>
    `production of ${model}: version ${result.from} → ${result.to}${result.serving ? ' (the production server serves it now)' : ' (the production server will follow within its poll period)'}`,
  );
  return 0;
}
