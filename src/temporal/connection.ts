import { Client, Connection, WorkflowExecutionAlreadyStartedError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { KaizenConfig } from '../config';
import { KaizenError } from '../errors';
import { MODEL_SEARCH_ATTRIBUTE, TASK_QUEUES } from '../types';

/** A client for the configured Temporal server; a clear error when nothing listens there. */
export async function connectClient(cfg: KaizenConfig): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: cfg.temporal.address, connectTimeout: '5s' });
  } catch (err) {
    throw new KaizenError(
      'StackNotRunning',
      `cannot reach Temporal at ${cfg.temporal.address} (${(err as Error).message}); start the stack with \`kaizen dev up\``,
    );
  }
  return new Client({ connection, namespace: cfg.temporal.namespace });
}

export function temporalUiUrl(cfg: KaizenConfig, workflowId?: string, runId?: string): string {
  const host = cfg.temporal.address.split(':')[0] ?? '127.0.0.1';
  const base = `http://${host}:${cfg.temporal.uiPort}/namespaces/${encodeURIComponent(cfg.temporal.namespace)}/workflows`;
  if (!workflowId) return base;
  return `${base}/${encodeURIComponent(workflowId)}${runId ? `/${encodeURIComponent(runId)}` : ''}`;
}

/**
 * Starts one of Kaizen's workflows on the orchestration queue, tagged with its model (the
 * `KaizenModel` search attribute lists a model's runs in the UI); a taken id is a clear error.
 */
export async function startModelWorkflow<I, R>(
  client: Client,
  workflow: (input: I) => Promise<R>,
  opts: { workflowId: string; model: string; input: I; summary?: string; details?: string },
): Promise<WorkflowHandleWithFirstExecutionRunId<(input: I) => Promise<R>>> {
  try {
    return await client.workflow.start(workflow, {
      taskQueue: TASK_QUEUES.pipeline,
      workflowId: opts.workflowId,
      args: [opts.input],
      // what the Temporal UI shows for the run before it says more itself
      ...(opts.summary ? { staticSummary: opts.summary } : {}),
      ...(opts.details ? { staticDetails: opts.details } : {}),
      typedSearchAttributes: [{ key: { name: MODEL_SEARCH_ATTRIBUTE, type: 'KEYWORD' }, value: opts.model }],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new KaizenError('SpecInvalid', `a workflow with id ${opts.workflowId} is already running`);
    }
    throw err;
  }
}
