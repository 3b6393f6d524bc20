// `kaizen replay <model> [--from VERSION|alias] [--rate 50] [--duration 2m] [--until-workflow ID]`
import path from 'node:path';
import type { KaizenConfig } from '../config';
import { parseDurationMs } from '../duration';
import { ModelRegistry } from '../registry/registry';
import { heldOutRows, replay } from '../serving/replay';
import { createObjectStore } from '../storage/object-store';
import { connectClient } from '../temporal/connection';
import { CliExit, fmtNum, table, type Output } from './output';

export interface ReplayCommandOptions {
  from?: string;
  rate?: string;
  duration?: string;
  untilWorkflow?: string;
  feedback?: boolean;
}

export async function replayCommand(cfg: KaizenConfig, model: string, o: ReplayCommandOptions, out: Output): Promise<number> {
  const rate = o.rate === undefined ? 50 : Number(o.rate);
  if (!(rate > 0 && rate <= 10_000)) throw new CliExit(`--rate must be requests per second between 0 and 10000, got "${o.rate}"`);
  const maxMs = o.duration === undefined ? (o.untilWorkflow ? 3_600_000 : 60_000) : parseDurationMs(o.duration);
  if (maxMs === null) throw new CliExit(`--duration must be a duration such as "90s" or "5m", got "${o.duration}"`);
  const store = createObjectStore(cfg);
  const data = await heldOutRows(store, new ModelRegistry(store), model, o.from ?? 'production', path.join(cfg.home, 'cache', 'datasets'));
  out.info(`replaying ${data.rows.length} held-out rows of ${data.dataVersion.slice(0, 19)}… at ${rate}/s to ${cfg.servers.production}`);

  let done = false;
  let watcher: Promise<void> = Promise.resolve();
  if (o.untilWorkflow) {
    const client = await connectClient(cfg);
    watcher = client.workflow
      .getHandle(o.untilWorkflow)
      .result()
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        done = true;
        void client.connection.close();
      });
  }
  const report = await replay({ url: cfg.servers.production, model, data, rate, maxMs, stop: () => done, feedback: o.feedback !== false, feedbackToken: cfg.feedbackToken || cfg.adminToken });
  done = true;
  if (o.untilWorkflow && report.seconds * 1000 >= maxMs) out.info(`stopped after --duration; ${o.untilWorkflow} is still running`);
  else await watcher;
  out.result({ model, dataVersion: data.dataVersion, ...report }, () => {
    const rows = Object.entries(report.byVersion).map(([v, c]) => [v, String(c.requests), fmtNum(c.correct / Math.max(1, c.requests))]);
    return `${report.answered} of ${report.sent} requests answered in ${report.seconds.toFixed(1)} s (${report.failed} failed, ${report.fallbacks} by the fallback), ${report.feedback} labels sent\n${table([['version', 'requests', 'accuracy'], ...rows])}`;
  });
  return 0;
}
