// Temporal Schedules for nightly training and periodic drift monitoring. The schedule carries the
// whole validated spec in its action, so a scheduled run never depends on the spec file again.
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptions,
} from '@temporalio/client';
import { KaizenError } from '../errors';
import { MODEL_SEARCH_ATTRIBUTE, TASK_QUEUES, type PipelineInput, type PipelineOutcome, type PipelineResult } from '../types';

export const TRAINING_WORKFLOW = 'trainingPipeline';
export const DRIFT_MONITOR_WORKFLOW = 'driftMonitor';
/** A run missed while Temporal was down is still taken when it is at most this late. */
export const DEFAULT_CATCHUP_WINDOW = '1h';
/** Never two runs of one schedule at once: a due (or triggered) run is skipped while one is running. */
export const SCHEDULE_OVERLAP = ScheduleOverlapPolicy.SKIP;

export type ScheduleKind = 'training' | 'drift-monitor';
/** When a schedule fires: a 5-field cron expression (UTC) or a fixed interval such as "1h". */
export type ScheduleTiming = { cron: string } | { every: string; everyMs: number };

export type ScheduleTarget = { kind: 'training'; input: PipelineInput } | { kind: 'drift-monitor'; model: string };

export interface CreateScheduleInput {
  scheduleId: string;
  timing: ScheduleTiming;
  catchupWindow: string;
  catchupWindowMs: number;
  target: ScheduleTarget;
}

/** What `kaizen schedule create` wrote into the schedule's memo (shown on the UI's schedule page). */
interface KaizenMemo {
  kind?: string;
  model?: string;
  cron?: string;
  every?: string;
  catchupWindow?: string;
  specHash?: string;
  specUri?: string;
}

export interface ScheduleRun {
  workflowId: string;
  runId: string;
  scheduledAt: string;
  startedAt: string;
  /** Temporal's execution status in lower case (running, completed, failed, terminated…); unknown once the run is gone. */
  status: string;
  /** For a completed training run: the pipeline's outcome (promoted, rejected…). */
  outcome?: PipelineOutcome;
}

export interface ScheduleRow {
  scheduleId: string;
  kind: ScheduleKind | 'other';
  model: string | null;
  workflowType: string | null;
  taskQueue: string | null;
  spec: { cron?: string; every?: string; text: string };
  overlap: string;
  catchupWindowMs: number;
  paused: boolean;
  note: string | null;
  nextRuns: string[];
  lastRun: ScheduleRun | null;
  /** Workflow ids of runs this schedule started that are still running. */
  running: string[];
  actionsTaken: number;
  skippedOverlap: number;
  missedCatchupWindow: number;
  pipelineSpec: { hash: string; uri: string | null } | null;
}

export interface TriggerResult {
  scheduleId: string;
  kind: ScheduleRow['kind'];
  /** started: a new run began; skipped: a run was still in progress (overlap SKIP); requested: no run seen yet. */
  status: 'started' | 'skipped' | 'requested';
  workflowId: string | null;
  runId: string | null;
  running: string[];
  overlap: string;
}

const modelSearchAttribute = (model: string) => [{ key: { name: MODEL_SEARCH_ATTRIBUTE, type: 'KEYWORD' as const }, value: model }];

export function scheduleModel(target: ScheduleTarget): string {
  return target.kind === 'training' ? target.input.spec.model : target.model;
}

function timingMemo(timing: ScheduleTiming): Pick<KaizenMemo, 'cron' | 'every'> {
  return 'cron' in timing ? { cron: timing.cron } : { every: timing.every };
}

export function timingText(timing: { cron?: string; every?: string }): string {
  if (timing.cron !== undefined) return `cron ${timing.cron}`;
  if (timing.every !== undefined) return `every ${timing.every}`;
  return 'calendar';
}

/** The options handed to Temporal; separate from `createSchedule` so the shape can be checked without a server. */
export function buildScheduleOptions(input: CreateScheduleInput): ScheduleOptions {
  const { scheduleId, timing, target } = input;
  const model = scheduleModel(target);
  const memo: KaizenMemo = { kind: target.kind, model, ...timingMemo(timing), catchupWindow: input.catchupWindow };
  if (target.kind === 'training') {
    memo.specHash = target.input.specHash;
    if (target.input.specUri) memo.specUri = target.input.specUri;
  }
  return {
    scheduleId,
    spec: 'cron' in timing ? { cronExpressions: [timing.cron] } : { intervals: [{ every: timing.everyMs }] },
    action: {
      type: 'startWorkflow',
      workflowType: target.kind === 'training' ? TRAINING_WORKFLOW : DRIFT_MONITOR_WORKFLOW,
      taskQueue: TASK_QUEUES.pipeline,
      // Temporal appends the scheduled time, so every run has its own id: <scheduleId>-<time>
      workflowId: scheduleId,
      args: target.kind === 'training' ? [target.input] : [{ model }],
      typedSearchAttributes: modelSearchAttribute(model),
      staticSummary: target.kind === 'training' ? `Scheduled retrain of ${model} (schedule ${scheduleId})` : `Scheduled drift check of ${model} (schedule ${scheduleId})`,
    },
    policies: { overlap: SCHEDULE_OVERLAP, catchupWindow: input.catchupWindowMs, pauseOnFailure: false },
    memo: memo as Record<string, unknown>,
    typedSearchAttributes: modelSearchAttribute(model),
    state: { note: `kaizen ${target.kind === 'training' ? 'training pipeline' : 'drift monitor'} for ${model}` },
  };
}

/** Creates the schedule; an existing id is an error, never an overwrite. */
export async function createSchedule(client: Client, input: CreateScheduleInput): Promise<ScheduleRow> {
  try {
    await client.schedule.create(buildScheduleOptions(input));
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) {
      throw new KaizenError('SpecInvalid', `a schedule with id ${input.scheduleId} already exists (delete it first: kaizen schedule delete ${input.scheduleId})`, {
        scheduleId: input.scheduleId,
      });
    }
    // the client turns the server's "Invalid schedule spec" into a TypeError
    if (err instanceof TypeError) {
      throw new KaizenError('SpecInvalid', `Temporal rejected the schedule's ${timingText(timingMemo(input.timing))}: ${err.message}`, {
        scheduleId: input.scheduleId,
        timingRejected: true,
      });
    }
    throw err;
  }
  return describeSchedule(client, input.scheduleId);
}

function notFound(scheduleId: string): KaizenError {
  return new KaizenError('WorkflowNotFound', `no schedule with id ${scheduleId}`, { scheduleId });
}

async function describeHandle(handle: ScheduleHandle): Promise<ScheduleDescription> {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw notFound(handle.scheduleId);
    throw err;
  }
}

export async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleRow> {
  const desc = await describeHandle(client.schedule.getHandle(scheduleId));
  return toRow(desc, await lastRunOf(client, desc));
}

/**
 * Every schedule of the namespace, described one by one: the list itself is eventually consistent
 * (a schedule created a moment ago may be missing, one deleted a moment ago is dropped here).
 */
export async function listSchedules(client: Client): Promise<ScheduleRow[]> {
  const ids: string[] = [];
  for await (const s of client.schedule.list()) ids.push(s.scheduleId);
  const rows = await Promise.all(
    ids.map(async (id) => {
      try {
        return await describeSchedule(client, id);
      } catch (err) {
        if (err instanceof KaizenError && err.type === 'WorkflowNotFound') return null;
        throw err;
      }
    }),
  );
  return rows.filter((r): r is ScheduleRow => r !== null).sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

/**
 * Runs the schedule's action now, under the schedule's own overlap policy (SKIP: nothing starts
 * while a run is in progress), and waits up to `waitMs` to report the run that started.
 */
export async function triggerSchedule(client: Client, scheduleId: string, opts: { waitMs?: number; pollMs?: number } = {}): Promise<TriggerResult> {
  const handle = client.schedule.getHandle(scheduleId);
  const before = await describeHandle(handle);
  const runningBefore = before.info.runningActions.map((a) => a.workflow.workflowId);
  try {
    // without an explicit policy the client would trigger with ALLOW_ALL
    await handle.trigger(SCHEDULE_OVERLAP);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw notFound(scheduleId);
    throw err;
  }
  const memo = (before.memo ?? {}) as KaizenMemo;
  const base = { scheduleId, kind: kindOf(memo.kind, before.action.workflowType ?? null), overlap: before.policies.overlap ?? SCHEDULE_OVERLAP };
  const deadline = Date.now() + (opts.waitMs ?? 15_000);
  for (;;) {
    const now = await describeHandle(handle);
    const running = now.info.runningActions.map((a) => a.workflow.workflowId);
    if (now.info.numActionsTaken > before.info.numActionsTaken) {
      const latest = now.info.recentActions.at(-1);
      return { ...base, status: 'started', workflowId: latest?.action.workflow.workflowId ?? null, runId: latest?.action.workflow.firstExecutionRunId ?? null, running };
    }
    if (now.info.numActionsSkippedOverlap > before.info.numActionsSkippedOverlap) {
      return { ...base, status: 'skipped', workflowId: null, runId: null, running: running.length ? running : runningBefore };
    }
    if (Date.now() >= deadline) {
      const status = runningBefore.length && running.length ? 'skipped' : 'requested';
      return { ...base, status, workflowId: null, runId: null, running };
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
}

/** Deletes the schedule (runs it already started keep running) and returns what it was. */
export async function deleteSchedule(client: Client, scheduleId: string): Promise<ScheduleRow> {
  const row = await describeSchedule(client, scheduleId);
  try {
    await client.schedule.getHandle(scheduleId).delete();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw notFound(scheduleId);
    throw err;
  }
  return row;
}

function kindOf(memoKind: unknown, workflowType: string | null): ScheduleRow['kind'] {
  if (memoKind === 'training' || memoKind === 'drift-monitor') return memoKind;
  if (workflowType === TRAINING_WORKFLOW) return 'training';
  if (workflowType === DRIFT_MONITOR_WORKFLOW) return 'drift-monitor';
  return 'other';
}

function modelOf(desc: ScheduleDescription, memo: KaizenMemo): string | null {
  if (typeof memo.model === 'string') return memo.model;
  const fromAttribute = desc.typedSearchAttributes.get({ name: MODEL_SEARCH_ATTRIBUTE, type: 'KEYWORD' });
  if (typeof fromAttribute === 'string') return fromAttribute;
  const arg = desc.action.args?.[0] as { model?: unknown; spec?: { model?: unknown } } | undefined;
  const model = arg?.spec?.model ?? arg?.model;
  return typeof model === 'string' ? model : null;
}

function specOf(desc: ScheduleDescription, memo: KaizenMemo): ScheduleRow['spec'] {
  if (typeof memo.cron === 'string') return { cron: memo.cron, text: timingText({ cron: memo.cron }) };
  if (typeof memo.every === 'string') return { every: memo.every, text: timingText({ every: memo.every }) };
  // not created by kaizen: the server only returns the compiled form
  const interval = desc.spec.intervals?.[0];
  if (interval) return { every: `${Math.round(interval.every / 1000)}s`, text: `every ${Math.round(interval.every / 1000)}s` };
  return { text: 'calendar' };
}

export function toRow(desc: ScheduleDescription, lastRun: ScheduleRun | null): ScheduleRow {
  const memo = (desc.memo ?? {}) as KaizenMemo;
  const workflowType = desc.action.workflowType ?? null;
  return {
    scheduleId: desc.scheduleId,
    kind: kindOf(memo.kind, workflowType),
    model: modelOf(desc, memo),
    workflowType,
    taskQueue: desc.action.taskQueue ?? null,
    spec: specOf(desc, memo),
    overlap: desc.policies.overlap ?? SCHEDULE_OVERLAP,
    catchupWindowMs: desc.policies.catchupWindow,
    paused: desc.state.paused,
    note: desc.state.note ?? null,
    nextRuns: desc.info.nextActionTimes.map((d) => d.toISOString()),
    lastRun,
    running: desc.info.runningActions.map((a) => a.workflow.workflowId),
    actionsTaken: desc.info.numActionsTaken,
    skippedOverlap: desc.info.numActionsSkippedOverlap,
    missedCatchupWindow: desc.info.numActionsMissedCatchupWindow,
    pipelineSpec: typeof memo.specHash === 'string' ? { hash: memo.specHash, uri: typeof memo.specUri === 'string' ? memo.specUri : null } : null,
  };
}

async function lastRunOf(client: Client, desc: ScheduleDescription): Promise<ScheduleRun | null> {
  const last = desc.info.recentActions.at(-1);
  if (!last) return null;
  const { workflowId, firstExecutionRunId: runId } = last.action.workflow;
  const run: ScheduleRun = { workflowId, runId, scheduledAt: last.scheduledAt.toISOString(), startedAt: last.takenAt.toISOString(), status: 'unknown' };
  try {
    const handle = client.workflow.getHandle(workflowId, runId);
    const wf = await handle.describe();
    run.status = wf.status.name.toLowerCase();
    if (run.status === 'completed' && desc.action.workflowType === TRAINING_WORKFLOW) {
      const result = (await handle.result()) as PipelineResult | undefined;
      if (result?.outcome) run.outcome = result.outcome;
    }
  } catch {
    // the run may be gone (retention); the schedule is still worth listing
  }
  return run;
}
