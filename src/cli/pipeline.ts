import { trainingPipeline } from '../../workflows/training-pipeline';
import { searchStatusQuery, statusQuery } from '../../workflows/definitions';
import { existsSync } from 'node:fs';
import { WorkflowFailedError, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import type { KaizenConfig } from '../config';
import { KaizenError } from '../errors';
import { hashSpec, loadPipelineSpec } from '../spec/pipeline-spec';
import { connectClient, startModelWorkflow, temporalUiUrl } from '../temporal/connection';
import type { PipelineInput, PipelineResult, PipelineStatus, TrainingProgress } from '../types';
import { CliExit, fmtMs, fmtNum, table, type Output } from './output';
import { formatTrials, searchLine } from './search-view';

export interface RunOptions {
  wait?: boolean;
  approve?: 'auto' | 'manual';
  id?: string;
}

export function defaultWorkflowId(model: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${model}-train-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * The pipeline input for a spec file, as a run (now or scheduled) will see it: validated, `--approve`
 * applied and hashed after it, and a plain local data file checked to exist now (a prefix or glob
 * selects its files at run time).
 */
export async function pipelineInputFromFile(specFile: string, approve?: 'auto' | 'manual'): Promise<PipelineInput> {
  const { spec, specHash, specUri } = await loadPipelineSpec(specFile);
  if (approve) spec.approval.mode = approve;
  const source = spec.data.source;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/[*?[]/.test(source) && !source.endsWith('/') && !existsSync(source)) {
    throw new KaizenError('DataSourceNotFound', `data file ${source} does not exist (data.source in ${specFile})`);
  }
  return { spec, specHash: approve ? hashSpec(spec) : specHash, specUri };
}

export async function runPipeline(cfg: KaizenConfig, specFile: string, opts: RunOptions, out: Output): Promise<number> {
  const input = await pipelineInputFromFile(specFile, opts.approve);
  const { spec } = input;
  const client = await connectClient(cfg);
  const workflowId = opts.id ?? defaultWorkflowId(spec.model);
  const handle = await startModelWorkflow(client, trainingPipeline, {
    workflowId,
    model: spec.model,
    input,
    summary: `Train and release ${spec.model} (from ${input.specUri ?? specFile})`,
    details: `approval ${spec.approval.mode}, ${spec.canary === false ? 'no canary' : `canary ${spec.canary.steps.join('/')}%`}, data ${spec.data.source}`,
  });
  const url = temporalUiUrl(cfg, workflowId, handle.firstExecutionRunId);
  if (!opts.wait) {
    out.result({ workflowId, runId: handle.firstExecutionRunId, url }, () => `started ${workflowId}\n  ${url}\n  watch: kaizen pipeline status ${workflowId}`);
    return 0;
  }
  out.info(`started ${workflowId}  ${url}`);
  const result = await waitForResult(client, workflowId, out);
  out.result(result, () => formatResult(result, url));
  return result.outcome === 'failed' ? 1 : 0;
}

/**
 * The status query, with the training progress read from the trainModel activity's heartbeat
 * details while it trains (what the Temporal UI shows on the pending activity too).
 */
export async function statusWithProgress(handle: WorkflowHandle): Promise<PipelineStatus> {
  const status = await handle.query(statusQuery);
  if (status.stage !== 'training') return status;
  if (status.search) {
    // the trials are in the search child's own status query
    const search = await handle.client.getHandle(status.search.workflowId).query(searchStatusQuery).catch(() => null);
    return search ? { ...status, search: { ...status.search, status: search } } : status;
  }
  const desc = await handle.describe().catch(() => null);
  const payload = desc?.raw.pendingActivities?.find((a) => a.activityType?.name === 'trainModel')?.heartbeatDetails?.payloads?.[0];
  if (!payload) return status;
  const p = defaultPayloadConverter.fromPayload<Partial<TrainingProgress>>(payload);
  if (typeof p?.epoch !== 'number') return status;
  // a heartbeat within an epoch names the epoch in progress; `training.epoch` counts the finished ones
  const done = p.batch !== undefined ? p.epoch - 1 : p.epoch;
  return { ...status, training: { epoch: done, epochs: p.epochs ?? status.training?.epochs ?? 0, metrics: p.metrics ?? {} } };
}

/** Polls the status query for progress while waiting for the result. */
async function waitForResult(client: Client, workflowId: string, out: Output): Promise<PipelineResult> {
  const handle = client.workflow.getHandle(workflowId);
  const progress = createProgressPrinter(out);
  let done = false;
  const poll = (async () => {
    while (!done) {
      try {
        const status = await statusWithProgress(handle);
        if (!done) progress(status);
      } catch {
        // the query fails until the first workflow task ran; keep polling
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  try {
    return (await handle.result()) as PipelineResult;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause;
      if (cause instanceof ApplicationFailure && cause.details?.[0]) return cause.details[0] as PipelineResult;
      const message = cause?.message ?? err.message;
      throw new CliExit(`pipeline ${workflowId} failed: ${message}`);
    }
    throw err;
  } finally {
    done = true;
    progress.end();
    await poll;
  }
}

function createProgressPrinter(out: Output): ((s: PipelineStatus) => void) & { end(): void } {
  const tty = !out.json && process.stdout.isTTY;
  let last = '';
  let barShown = false;
  const fn = (s: PipelineStatus): void => {
    const t = s.training;
    const search = s.search?.status;
    if (tty && search) {
      process.stdout.write(`\r  ${searchLine(search)}   `);
      barShown = true;
      return;
    }
    if (tty && s.stage === 'training' && t) {
      const width = 24;
      const filled = Math.round((t.epoch / Math.max(1, t.epochs)) * width);
      const metrics = Object.entries(t.metrics)
        .slice(0, 3)
        .map(([k, v]) => `${k} ${fmtNum(v)}`)
        .join('  ');
      process.stdout.write(`\r  training [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] epoch ${t.epoch}/${t.epochs}  ${metrics}   `);
      barShown = true;
      return;
    }
    const line = search
      ? `  stage training: ${searchLine(search)}`
      : s.stage === 'training' && t
        ? `  stage training: epoch ${t.epoch}/${t.epochs} ${Object.entries(t.metrics).map(([k, v]) => `${k}=${fmtNum(v)}`).join(' ')}`
        : `  stage ${s.stage}`;
    if (line !== last) {
      if (barShown) process.stdout.write('\n');
      barShown = false;
      out.info(line);
      last = line;
    }
  };
  return Object.assign(fn, {
    end() {
      if (barShown) process.stdout.write('\n');
    },
  });
}

export function formatResult(r: PipelineResult, url?: string): string {
  const lines: string[] = [];
  const version = r.version !== null ? ` (version ${r.version})` : '';
  lines.push(`Pipeline ${r.model}: ${r.outcome.toUpperCase()}${version}`);
  lines.push(`  workflow  ${r.workflowId}${url ? `\n  UI        ${url}` : ''}`);
  if (r.dataVersion) lines.push(`  data      ${r.dataVersion.slice(0, 19)}…  ${r.validation?.rows ?? '?'} rows, ${r.validation?.anomalies.length ?? 0} findings`);
  if (r.training) {
    const resumed = r.training.resumedFromEpoch !== null ? `, resumed from epoch ${r.training.resumedFromEpoch}` : '';
    lines.push(`  training  backend ${r.training.backend}, ${r.training.epochs} epochs, ${Math.round(r.training.samplesPerSecond)} samples/s${resumed}`);
  }
  if (r.search) {
    const w = r.search.winner;
    lines.push(`  search    ${r.search.strategy}, ${r.search.trials} trials, ${r.search.epochsSpent} epochs; winner trial ${w.trial} ${r.search.metric} ${fmtNum(w.score, 4)} ${JSON.stringify(w.params)}${r.search.stoppedBy ? ` (stopped by ${r.search.stoppedBy})` : ''}`);
  }
  if (r.loadTest) {
    lines.push(`  load test ${r.loadTest.passed ? 'passed' : 'FAILED'}: ${Math.round(r.loadTest.rps)} req/s, p99 ${fmtNum(r.loadTest.p99Ms, 1)} ms, errors ${fmtNum(r.loadTest.errorRate * 100, 2)}%`);
  }
  if (r.approval) {
    lines.push(`  approval  ${r.approval.decision} by ${r.approval.by}${r.approval.automatic ? ' (automatic)' : ''}${r.approval.comment ? `: ${r.approval.comment}` : ''}`);
  }
  if (r.canary) {
    const steps = r.canary.steps.map((s) => `${s.percent}% ${s.passed ? 'ok' : 'FAILED'} (${s.requests} req)`).join(', ');
    lines.push(`  canary    ${r.canary.decision}${steps ? `: ${steps}` : ''}`);
    for (const reason of r.canary.reasons ?? []) lines.push(`  canary    ${reason}`);
  }
  if (r.error) lines.push(`  error     ${r.error.type}: ${r.error.message}`);
  if (r.gate && !r.gate.passed) for (const reason of r.gate.reasons) lines.push(`  reason    ${reason}`);
  if (r.stages.length) {
    lines.push('', 'Stages');
    lines.push(table(r.stages.map((s) => [`  ${s.name}`, s.status, fmtMs(s.ms)])));
  }
  if (r.metrics) {
    const keys = Object.keys(r.metrics.test).filter((k) => typeof r.metrics!.test[k] === 'number');
    const rows = [['  metric (test split)', 'model', 'naive baseline', ...(r.metrics.champion ? ['production'] : [])]];
    for (const k of keys) {
      rows.push([`  ${k}`, fmtNum(r.metrics.test[k]), fmtNum(r.metrics.baseline[k]), ...(r.metrics.champion ? [fmtNum(r.metrics.champion[k])] : [])]);
    }
    lines.push('', table(rows));
  }
  return lines.join('\n');
}

export async function pipelineStatus(cfg: KaizenConfig, workflowId: string, out: Output): Promise<number> {
  const client = await connectClient(cfg);
  const handle = client.workflow.getHandle(workflowId);
  let status: PipelineStatus;
  try {
    const desc = await handle.describe();
    try {
      status = await statusWithProgress(handle);
    } catch (err) {
      if (desc.status.name === 'FAILED') {
        try {
          await handle.result();
        } catch (failure) {
          const cause = (failure as WorkflowFailedError).cause;
          if (cause instanceof ApplicationFailure && cause.details?.[0]) {
            const result = cause.details[0] as PipelineResult;
            status = { workflowId, model: result.model, stage: 'done', training: null, canary: null, result };
            out.result(status, () => formatStatus(status, desc.status.name, cfg));
            return 0;
          }
        }
      }
      throw err;
    }
    out.result(status, () => formatStatus(status, desc.status.name, cfg));
    return 0;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || (err as Error).message?.includes('not found')) {
      throw new KaizenError('WorkflowNotFound', `no workflow with id ${workflowId}`);
    }
    throw err;
  }
}

function formatStatus(s: PipelineStatus, temporalStatus: string, cfg: KaizenConfig): string {
  if (s.result) return formatResult(s.result, temporalUiUrl(cfg, s.workflowId));
  const lines = [`${s.workflowId} (${s.model}): ${temporalStatus.toLowerCase()}, stage ${s.stage}`];
  if (s.training) {
    lines.push(`  training epoch ${s.training.epoch}/${s.training.epochs} ${Object.entries(s.training.metrics).map(([k, v]) => `${k}=${fmtNum(v)}`).join(' ')}`);
  }
  if (s.search?.status) lines.push('', formatTrials(s.search.status), '');
  if (s.canary) lines.push(`  canary step ${s.canary.step} at ${s.canary.percent}%`);
  lines.push(`  ${temporalUiUrl(cfg, s.workflowId)}`);
  return lines.join('\n');
}
