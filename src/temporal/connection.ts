import { Client, Connection } from '@temporalio/client';
import type { KaizenConfig } from '../config';
import { KaizenError } from '../errors';

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
