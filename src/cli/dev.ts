import type { KaizenConfig } from '../config';
import { downStack, stackOptionsFromConfig, stackStatus, upStack, type StackStatus } from '../dev/stack';
import { table, type Output } from './output';

function formatStatus(s: StackStatus): string {
  return table([
    ['component', 'pid', 'healthy', 'url'],
    ...s.components.map((c) => [c.name, c.pid === null ? '-' : String(c.pid), c.healthy ? 'yes' : 'NO', c.url ?? '-']),
  ]);
}

export async function devUp(cfg: KaizenConfig, out: Output): Promise<number> {
  const status = await upStack({ ...stackOptionsFromConfig(cfg), log: (l) => out.info(l) });
  out.result(status, () => `${formatStatus(status)}\n\nStop the stack with: kaizen dev down`);
  return status.components.every((c) => c.healthy) ? 0 : 1;
}

export async function devDown(cfg: KaizenConfig, out: Output): Promise<number> {
  const status = await downStack({ ...stackOptionsFromConfig(cfg), log: (l) => out.info(l) });
  out.result(status, () => 'stack stopped');
  return 0;
}

export async function devStatus(cfg: KaizenConfig, out: Output): Promise<number> {
  const status = await stackStatus(stackOptionsFromConfig(cfg));
  out.result(status, () => formatStatus(status));
  return status.components.every((c) => c.healthy) ? 0 : 1;
}
