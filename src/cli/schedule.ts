import type { KaizenConfig } from '../config';
import { parseDurationMs } from '../duration';
import { KaizenError } from '../errors';
import { pipelineSpecSchema } from '../spec/pipeline-spec';
import { pipelineInputFromFile } from './pipeline';
import { connectClient, temporalUiUrl } from '../temporal/connection';
import {
  DEFAULT_CATCHUP_WINDOW,
  createSchedule,
  deleteSchedule,
  listSchedules,
  triggerSchedule,
  type ScheduleKind,
  type ScheduleRow,
  type ScheduleTarget,
  type ScheduleTiming,
  type TriggerResult,
} from '../temporal/schedules';
import { CliExit, table, type Output } from './output';

export interface ScheduleCreateOptions {
  cron?: string;
  every?: string;
  id?: string;
  catchupWindow?: string;
  driftMonitor?: string;
  approve?: 'auto' | 'manual';
}

const CRON_HELP = '5 fields "minute hour day-of-month month day-of-week" in UTC, e.g. "0 2 * * *"';
const CRON_SHORTHANDS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface CronField {
  name: string;
  min: number;
  max: number;
  /** Names accepted instead of numbers; index 0 stands for `min`. */
  names?: string[];
}

const CRON_FIELDS: CronField[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  // 7 is Sunday too, as in most crons
  { name: 'day-of-week', min: 0, max: 7, names: DAYS },
];

function cronValue(text: string, field: CronField, bad: (why: string) => CliExit): number {
  const named = field.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return field.min + named;
  if (!/^\d+$/.test(text)) {
    const names = field.names ? ` or ${field.names[0]}-${field.names.at(-1)}` : '';
    throw bad(`${field.name} "${text}" is not a number${names}`);
  }
  const v = Number(text);
  if (v < field.min || v > field.max) throw bad(`${field.name} ${v} is out of range ${field.min}-${field.max}`);
  return v;
}

/**
 * Checks a cron expression before it reaches Temporal, so the message can say which field is wrong.
 * Accepts 5 fields of `*`, `N`, `N-M`, each with an optional step `∕S` (`N∕S`: from N on), and comma
 * lists (names for months and days), or a shorthand such as @daily. Returns it with single spaces.
 */
export function parseCron(expr: string): string {
  const text = expr.trim().replace(/\s+/g, ' ');
  const bad = (why: string) => new CliExit(`--cron "${expr}": ${why}; expected ${CRON_HELP}`);
  if (!text) throw bad('empty');
  if (text.startsWith('@')) {
    if (text.startsWith('@every')) throw new CliExit(`--cron "${expr}": for an interval use --every (e.g. --every 1h)`);
    if (!CRON_SHORTHANDS.includes(text.toLowerCase())) throw bad(`unknown shorthand ${text} (known: ${CRON_SHORTHANDS.join(', ')})`);
    return text.toLowerCase();
  }
  const fields = text.split(' ');
  if (fields.length !== CRON_FIELDS.length) throw bad(`${fields.length} field${fields.length === 1 ? '' : 's'}`);
  fields.forEach((f, i) => {
    const field = CRON_FIELDS[i]!;
    for (const item of f.split(',')) {
      const m = /^([^/]+)(?:\/(.*))?$/.exec(item);
      if (!m) throw bad(`${field.name} "${f}" has an empty list item`);
      const [, base = '', step] = m;
      if (step !== undefined && !/^[1-9]\d*$/.test(step)) throw bad(`${field.name} step "/${step}" must be a whole number above 0`);
      if (base === '*') continue;
      const range = base.split('-');
      if (range.length > 2) throw bad(`${field.name} "${base}" is not a value or a range`);
      const [from, to] = range.map((v) => cronValue(v, field, bad)) as [number, number | undefined];
      if (to !== undefined && to < from) throw bad(`${field.name} range ${base} goes backwards`);
    }
  });
  return text;
}

/** "1h" → an interval schedule; whole seconds, at least a minute. */
export function parseEvery(text: string): { every: string; everyMs: number } {
  const ms = parseDurationMs(text.trim());
  if (ms === null) throw new CliExit(`--every "${text}": not a duration; use e.g. "15m", "1h" or "1d"`);
  if (ms < 60_000) throw new CliExit(`--every "${text}": the interval must be at least 1m`);
  if (ms % 1000 !== 0) throw new CliExit(`--every "${text}": the interval must be whole seconds`);
  return { every: text.trim(), everyMs: ms };
}

/** Temporal does not take a catch-up window under 10 s. */
export function parseCatchupWindow(text: string): number {
  const ms = parseDurationMs(text.trim());
  if (ms === null) throw new CliExit(`--catchup-window "${text}": not a duration; use e.g. "30m", "1h" or "1d"`);
  if (ms < 10_000) throw new CliExit(`--catchup-window "${text}": must be at least 10s`);
  return ms;
}

export function parseTiming(opts: Pick<ScheduleCreateOptions, 'cron' | 'every'>): ScheduleTiming {
  if (opts.cron !== undefined && opts.every !== undefined) throw new CliExit('give either --cron or --every, not both');
  if (opts.cron !== undefined) return { cron: parseCron(opts.cron) };
  if (opts.every !== undefined) return parseEvery(opts.every);
  throw new CliExit('a schedule needs --cron EXPR (e.g. "0 2 * * *", UTC) or --every DURATION (e.g. 1h)');
}

export function parseScheduleId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(id)) {
    throw new CliExit(`--id "${id}": use letters, digits, ".", "_" and "-" (at most 200 characters)`);
  }
  return id;
}

export function defaultScheduleId(kind: ScheduleKind, model: string): string {
  return kind === 'training' ? `${model}-training` : `${model}-drift-monitor`;
}

export function schedulesUiUrl(cfg: KaizenConfig, scheduleId?: string): string {
  const base = temporalUiUrl(cfg).replace(/\/workflows$/, '/schedules');
  return scheduleId ? `${base}/${encodeURIComponent(scheduleId)}` : base;
}

/** "3600000" → "1h"; the largest unit that divides evenly. */
export function fmtDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** "2025-06-02T02:00:00.000Z" → "2025-06-02 02:00 UTC" */
export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const t = d.toISOString();
  return `${t.slice(0, 10)} ${t.slice(11, d.getUTCSeconds() ? 19 : 16)} UTC`;
}

function fmtLastRun(row: ScheduleRow): string {
  const r = row.lastRun;
  if (!r) return 'never';
  return `${fmtTime(r.startedAt)} ${r.status}${r.outcome ? ` (${r.outcome})` : ''}`;
}

export function formatScheduleList(rows: ScheduleRow[]): string {
  if (!rows.length) return 'no schedules (create one with: kaizen schedule create <spec.json> --cron "0 2 * * *")';
  const lines = [['ID', 'KIND', 'MODEL', 'SCHEDULE', 'NEXT RUN', 'LAST RUN', 'PAUSED']];
  for (const r of rows) {
    lines.push([r.scheduleId, r.kind, r.model ?? '–', r.spec.text, fmtTime(r.nextRuns[0]), fmtLastRun(r), r.paused ? 'yes' : 'no']);
  }
  return table(lines);
}

export function formatSchedule(row: ScheduleRow, verb: string, url?: string): string {
  const lines = [`${verb} schedule ${row.scheduleId} (${row.kind}${row.model ? ` of ${row.model}` : ''})`];
  lines.push(`  schedule  ${row.spec.text}${row.spec.cron ? ' (UTC)' : ''}`);
  lines.push(`  starts    ${row.workflowType ?? '?'} on ${row.taskQueue ?? '?'}`);
  lines.push(`  overlap   ${row.overlap}${row.overlap === 'SKIP' ? ': no new run while the previous one is still running' : ''}`);
  lines.push(`  catch-up  ${fmtDuration(row.catchupWindowMs)}: a run missed while Temporal was down is still taken if at most this late`);
  if (row.nextRuns[0]) lines.push(`  next run  ${fmtTime(row.nextRuns[0])}`);
  if (row.lastRun) lines.push(`  last run  ${fmtLastRun(row)}  ${row.lastRun.workflowId}`);
  if (row.paused) lines.push('  paused    yes');
  if (url) lines.push(`  UI        ${url}`);
  return lines.join('\n');
}

export function formatTrigger(t: TriggerResult): string {
  if (t.status === 'started') {
    const watch = t.kind === 'training' && t.workflowId ? `\n  watch: kaizen pipeline status ${t.workflowId}` : '';
    return `triggered ${t.scheduleId}: started ${t.workflowId ?? '(run id not reported yet)'}${watch}`;
  }
  if (t.status === 'skipped') {
    return `triggered ${t.scheduleId}, but nothing started: ${t.running.join(', ') || 'a run'} is still running and the overlap policy is ${t.overlap}`;
  }
  return `triggered ${t.scheduleId}; no run seen yet (overlap ${t.overlap}: a trigger while a run is in progress is skipped)`;
}

async function targetFor(specFile: string | undefined, opts: ScheduleCreateOptions): Promise<ScheduleTarget> {
  if (specFile !== undefined && opts.driftMonitor !== undefined) throw new CliExit('give either <spec.json> or --drift-monitor MODEL, not both');
  if (opts.driftMonitor !== undefined) {
    if (opts.approve) throw new CliExit('--approve applies to training schedules, not to --drift-monitor');
    const model = pipelineSpecSchema.shape.model.safeParse(opts.driftMonitor);
    if (!model.success) throw new CliExit(`--drift-monitor "${opts.driftMonitor}": ${model.error.issues[0]?.message ?? 'not a model name'}`);
    return { kind: 'drift-monitor', model: model.data };
  }
  if (specFile === undefined) throw new CliExit('give a spec file (kaizen schedule create <spec.json> …) or --drift-monitor MODEL');
  return { kind: 'training', input: await pipelineInputFromFile(specFile, opts.approve) };
}

export async function scheduleCreate(cfg: KaizenConfig, specFile: string | undefined, opts: ScheduleCreateOptions, out: Output): Promise<number> {
  const timing = parseTiming(opts);
  const catchupWindow = (opts.catchupWindow ?? DEFAULT_CATCHUP_WINDOW).trim();
  const catchupWindowMs = parseCatchupWindow(catchupWindow);
  const explicitId = opts.id !== undefined ? parseScheduleId(opts.id) : undefined;
  const target = await targetFor(specFile, opts);
  const scheduleId = explicitId ?? defaultScheduleId(target.kind, target.kind === 'training' ? target.input.spec.model : target.model);
  const client = await connectClient(cfg);
  let row: ScheduleRow;
  try {
    row = await createSchedule(client, { scheduleId, timing, catchupWindow, catchupWindowMs, target });
  } catch (err) {
    if (err instanceof KaizenError && err.details?.timingRejected) {
      throw new CliExit(`${'cron' in timing ? `--cron "${timing.cron}"` : `--every "${timing.every}"`}: ${err.message}`);
    }
    throw err;
  }
  const url = schedulesUiUrl(cfg, scheduleId);
  out.result({ ...row, url }, () => formatSchedule(row, 'created', url));
  return 0;
}

export async function scheduleList(cfg: KaizenConfig, out: Output): Promise<number> {
  const client = await connectClient(cfg);
  const rows = await listSchedules(client);
  out.result({ schedules: rows, url: schedulesUiUrl(cfg) }, () => formatScheduleList(rows));
  return 0;
}

export async function scheduleTrigger(cfg: KaizenConfig, scheduleId: string, out: Output): Promise<number> {
  const client = await connectClient(cfg);
  const result = await triggerSchedule(client, scheduleId);
  out.result(result, () => formatTrigger(result));
  return 0;
}

export async function scheduleDelete(cfg: KaizenConfig, scheduleId: string, out: Output): Promise<number> {
  const client = await connectClient(cfg);
  const row = await deleteSchedule(client, scheduleId);
  out.result({ scheduleId, deleted: true, kind: row.kind, model: row.model, running: row.running }, () => {
    const running = row.running.length ? ` (${row.running.join(', ')} keeps running)` : '';
    return `deleted schedule ${scheduleId}${running}`;
  });
  return 0;
}
