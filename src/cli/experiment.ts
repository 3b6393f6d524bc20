// `kaizen experiment start <model> --challengers 3,4 [--split 90,5,5] [--duration 1h] …` and
// `kaizen experiment status <workflowId>`: the championChallenger workflow.
import { championChallenger } from '../../workflows/champion-challenger';
import { experimentStatusQuery } from '../../workflows/definitions';
import os from 'node:os';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { KaizenConfig } from '../config';
import { KaizenError } from '../errors';
import { parseExperiment } from '../policy/experiment';
import { connectClient, startModelWorkflow, temporalUiUrl } from '../temporal/connection';
import { type ExperimentInput, type ExperimentResult, type ExperimentStatus } from '../types';
import { CliExit, fmtNum, table, type Output } from './output';
import { rootMessage } from './rollback';

export interface ExperimentStartOptions {
  challengers: string;
  split?: string;
  duration?: string;
  minSamples?: string;
  alpha?: string;
  id?: string;
  by?: string;
  wait?: boolean;
}

function numbers(flag: string, list: string): number[] {
  const parts = list.split(',').map((s) => s.trim());
  const values = parts.map(Number);
  const bad = parts.findIndex((p, i) => p === '' || !Number.isFinite(values[i]));
  if (bad >= 0) throw new CliExit(`${flag} must be comma-separated numbers, got "${list}"`);
  return values;
}

function scalar(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(x)) throw new CliExit(`${flag} must be a number, got "${raw}"`);
  return x;
}

/** The experiment as given on the command line, validated like a spec (errors name the flag's field). */
export function experimentFromFlags(o: ExperimentStartOptions): ExperimentInput['experiment'] {
  const raw: Record<string, unknown> = { challengers: numbers('--challengers', o.challengers) };
  if (o.split !== undefined) raw.split = numbers('--split', o.split);
  if (o.duration !== undefined) raw.duration = o.duration;
  const minSamples = scalar('--min-samples', o.minSamples);
  if (minSamples !== undefined) raw.minSamples = minSamples;
  const alpha = scalar('--alpha', o.alpha);
  if (alpha !== undefined) raw.alpha = alpha;
  return parseExperiment(raw);
}

export async function experimentStart(cfg: KaizenConfig, model: string, o: ExperimentStartOptions, out: Output): Promise<number> {
  const experiment = experimentFromFlags(o);
  const client = await connectClient(cfg);
  const workflowId = o.id ?? `${model}-experiment-${Date.now().toString(36)}`;
  const input: ExperimentInput = { model, experiment, by: o.by ?? os.userInfo().username };
  const handle = await startModelWorkflow(client, championChallenger, {
    workflowId,
    model,
    input,
    summary: `Experiment on ${model}: champion against ${experiment.challengers.join(', ')} for ${experiment.duration}`,
  });
  const url = temporalUiUrl(cfg, workflowId, handle.firstExecutionRunId);
  if (!o.wait) {
    out.result({ workflowId, runId: handle.firstExecutionRunId, url, experiment }, () =>
      `started ${workflowId}: ${model} champion against version${experiment.challengers.length > 1 ? 's' : ''} ${experiment.challengers.join(', ')}, split ${experiment.split.join('/')}, for ${experiment.duration}\n  ${url}\n  watch: kaizen experiment status ${workflowId}`,
    );
    return 0;
  }
  out.info(`started ${workflowId}  ${url}`);
  let result: ExperimentResult;
  try {
    result = (await handle.result()) as ExperimentResult;
  } catch (err) {
    throw new CliExit(`experiment ${workflowId} failed: ${rootMessage(err)}`);
  }
  out.result({ workflowId, ...result }, () => formatExperiment(result));
  return 0;
}

export async function experimentStatus(cfg: KaizenConfig, workflowId: string, out: Output): Promise<number> {
  const client = await connectClient(cfg);
  let status: ExperimentStatus;
  try {
    status = await client.workflow.getHandle(workflowId).query(experimentStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new KaizenError('WorkflowNotFound', `no workflow with id ${workflowId}`);
    throw err;
  }
  out.result({ workflowId, ...status }, () => {
    const rows = Object.entries(status.counts).map(([v, c]) => [
      v,
      String(status.weights[v] ?? 0),
      String(c.requests),
      String(c.labelled),
      c.labelled > 0 ? fmtNum(c.correct / c.labelled) : '-',
    ]);
    const head = `${workflowId}: ${status.phase}, ${Math.round(status.elapsedMs / 1000)} s of ${Math.round(status.durationMs / 1000)} s; champion ${status.champion ?? '?'}`;
    const tail = status.decision ? `\ndecision: ${status.decision}${status.winner !== null ? ` (version ${status.winner})` : ''}` : '';
    return `${head}\n${table([['version', 'weight %', 'requests', 'labelled', 'accuracy'], ...rows])}${tail}`;
  });
  return 0;
}

export function formatExperiment(r: ExperimentResult): string {
  const rows = r.arms.map((a) => [
    String(a.version),
    a.role,
    String(a.labelled),
    a.accuracy === null ? '-' : fmtNum(a.accuracy),
    a.z === null ? '-' : a.z.toFixed(2),
    a.pValue === null ? '-' : a.pValue.toExponential(2),
    a.verdict,
  ]);
  const lines = [
    `${r.model}: ${r.decision === 'promote' ? `version ${r.winner} promoted` : `champion ${r.champion} kept`}`,
    ...r.reasons.map((x) => `  ${x}`),
  ];
  if (rows.length > 0) lines.push(table([['version', 'role', 'labelled', 'accuracy', 'z', 'p', 'verdict'], ...rows]));
  if (r.reportUri) lines.push(`report: ${r.reportUri}`);
  return lines.join('\n');
}
