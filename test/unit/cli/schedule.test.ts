import type { ScheduleDescription } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import {
  defaultScheduleId,
  fmtDuration,
  fmtTime,
  formatSchedule,
  formatScheduleList,
  formatTrigger,
  parseCatchupWindow,
  parseCron,
  parseEvery,
  parseScheduleId,
  parseTiming,
} from '../../../src/cli/schedule';
import { hashSpec, parsePipelineSpec } from '../../../src/spec/pipeline-spec';
import { buildScheduleOptions, toRow, type ScheduleRow } from '../../../src/temporal/schedules';
import { MODEL_SEARCH_ATTRIBUTE, TASK_QUEUES } from '../../../src/types';

function row(overrides: Partial<ScheduleRow> = {}): ScheduleRow {
  return {
    scheduleId: 'flights-training',
    kind: 'training',
    model: 'flights',
    workflowType: 'trainingPipeline',
    taskQueue: TASK_QUEUES.pipeline,
    spec: { cron: '0 2 * * *', text: 'cron 0 2 * * *' },
    overlap: 'SKIP',
    catchupWindowMs: 3_600_000,
    paused: false,
    note: null,
    nextRuns: ['2030-01-02T02:00:00.000Z'],
    lastRun: null,
    running: [],
    actionsTaken: 0,
    skippedOverlap: 0,
    missedCatchupWindow: 0,
    pipelineSpec: null,
    ...overrides,
  };
}

describe('--cron validation', () => {
  it('accepts the usual forms and normalises spaces', () => {
    expect(parseCron('0 2 * * *')).toBe('0 2 * * *');
    expect(parseCron('  0   2 * *  * ')).toBe('0 2 * * *');
    expect(parseCron('*/15 9-17 * * MON-FRI')).toBe('*/15 9-17 * * MON-FRI');
    expect(parseCron('0,30 0-23/2 1,15 jan-jun 0,6')).toBe('0,30 0-23/2 1,15 jan-jun 0,6');
    expect(parseCron('0 0 * * 7')).toBe('0 0 * * 7');
    expect(parseCron('5/10 * * * *')).toBe('5/10 * * * *');
    expect(parseCron('@daily')).toBe('@daily');
    expect(parseCron('@HOURLY')).toBe('@hourly');
  });

  it.each([
    ['', /--cron "": empty/],
    ['not a cron', /--cron "not a cron": 3 fields; expected 5 fields "minute hour day-of-month month day-of-week"/],
    ['0 2 * * * *', /6 fields/],
    ['61 2 * * *', /minute 61 is out of range 0-59/],
    ['0 24 * * *', /hour 24 is out of range 0-23/],
    ['0 2 0 * *', /day-of-month 0 is out of range 1-31/],
    ['0 2 * 13 *', /month 13 is out of range 1-12/],
    ['0 2 * * 8', /day-of-week 8 is out of range 0-7/],
    ['0 2 * * FUNDAY', /day-of-week "FUNDAY" is not a number or SUN-SAT/],
    ['x 2 * * *', /minute "x" is not a number$|minute "x" is not a number;/],
    ['*/0 * * * *', /minute step "\/0" must be a whole number above 0/],
    ['0 5-2 * * *', /hour range 5-2 goes backwards/],
    ['0 1-2-3 * * *', /hour "1-2-3" is not a value or a range/],
    ['0,,5 2 * * *', /minute "0,,5" has an empty list item/],
    ['@fortnightly', /unknown shorthand @fortnightly/],
  ])('rejects %j naming --cron and the field', (expr, message) => {
    expect(() => parseCron(expr)).toThrow(message);
    expect(() => parseCron(expr)).toThrow(/^--cron /);
  });

  it('points @every at --every', () => {
    expect(() => parseCron('@every 1h')).toThrow('--cron "@every 1h": for an interval use --every (e.g. --every 1h)');
  });
});

describe('--every, --catchup-window, --id', () => {
  it('takes project durations of at least a minute, in whole seconds', () => {
    expect(parseEvery('1h')).toEqual({ every: '1h', everyMs: 3_600_000 });
    expect(parseEvery('90s')).toEqual({ every: '90s', everyMs: 90_000 });
    expect(() => parseEvery('hourly')).toThrow('--every "hourly": not a duration; use e.g. "15m", "1h" or "1d"');
    expect(() => parseEvery('30s')).toThrow('--every "30s": the interval must be at least 1m');
    expect(() => parseEvery('60500ms')).toThrow('--every "60500ms": the interval must be whole seconds');
  });

  it('wants a catch-up window of at least 10 s', () => {
    expect(parseCatchupWindow('1h')).toBe(3_600_000);
    expect(parseCatchupWindow('10s')).toBe(10_000);
    expect(() => parseCatchupWindow('5s')).toThrow('--catchup-window "5s": must be at least 10s');
    expect(() => parseCatchupWindow('soon')).toThrow(/--catchup-window "soon": not a duration/);
  });

  it('wants exactly one of --cron and --every', () => {
    expect(parseTiming({ cron: '0 2 * * *' })).toEqual({ cron: '0 2 * * *' });
    expect(parseTiming({ every: '1h' })).toEqual({ every: '1h', everyMs: 3_600_000 });
    expect(() => parseTiming({ cron: '0 2 * * *', every: '1h' })).toThrow('give either --cron or --every, not both');
    expect(() => parseTiming({})).toThrow(/a schedule needs --cron EXPR .* or --every DURATION/);
  });

  it('checks ids and derives the default from the model', () => {
    expect(parseScheduleId('flights-nightly_2.0')).toBe('flights-nightly_2.0');
    expect(() => parseScheduleId('has space')).toThrow(/--id "has space"/);
    expect(() => parseScheduleId('-x')).toThrow(/--id "-x"/);
    expect(defaultScheduleId('training', 'flights')).toBe('flights-training');
    expect(defaultScheduleId('drift-monitor', 'flights')).toBe('flights-drift-monitor');
  });
});

describe('schedule options sent to Temporal', () => {
  const spec = parsePipelineSpec({ model: 'flights', data: { source: '/data/flights.parquet', target: 'late' } });
  const input = { spec, specHash: hashSpec(spec), specUri: '/specs/flights.json' };

  it('embeds the whole spec in a trainingPipeline action, overlap SKIP, with the explicit catch-up window', () => {
    const o = buildScheduleOptions({ scheduleId: 'flights-training', timing: { cron: '0 2 * * *' }, catchupWindow: '1h', catchupWindowMs: 3_600_000, target: { kind: 'training', input } });
    expect(o.spec).toEqual({ cronExpressions: ['0 2 * * *'] });
    expect(o.policies).toEqual({ overlap: 'SKIP', catchupWindow: 3_600_000, pauseOnFailure: false });
    expect(o.action).toMatchObject({ type: 'startWorkflow', workflowType: 'trainingPipeline', taskQueue: TASK_QUEUES.pipeline, workflowId: 'flights-training', args: [input] });
    expect(o.memo).toEqual({ kind: 'training', model: 'flights', cron: '0 2 * * *', catchupWindow: '1h', specHash: input.specHash, specUri: '/specs/flights.json' });
    expect(o.typedSearchAttributes).toEqual([{ key: { name: MODEL_SEARCH_ATTRIBUTE, type: 'KEYWORD' }, value: 'flights' }]);
  });

  it('starts driftMonitor with [{ model }] on an interval', () => {
    const o = buildScheduleOptions({ scheduleId: 'flights-drift-monitor', timing: { every: '1h', everyMs: 3_600_000 }, catchupWindow: '10m', catchupWindowMs: 600_000, target: { kind: 'drift-monitor', model: 'flights' } });
    expect(o.spec).toEqual({ intervals: [{ every: 3_600_000 }] });
    expect(o.action).toMatchObject({ workflowType: 'driftMonitor', taskQueue: TASK_QUEUES.pipeline, args: [{ model: 'flights' }] });
    expect(o.memo).toEqual({ kind: 'drift-monitor', model: 'flights', every: '1h', catchupWindow: '10m' });
  });
});

describe('a described schedule as a list row', () => {
  const desc = (memo: Record<string, unknown> | undefined, extra: Partial<ScheduleDescription['info']> = {}) =>
    ({
      scheduleId: 'x',
      spec: { intervals: [{ every: 7_200_000, offset: 0 }] },
      action: { type: 'startWorkflow', workflowType: 'driftMonitor', taskQueue: 'kaizen-pipeline', workflowId: 'x', args: [{ model: 'from-args' }] },
      policies: { overlap: 'SKIP', catchupWindow: 60_000, pauseOnFailure: false },
      memo,
      searchAttributes: {},
      typedSearchAttributes: { get: () => undefined },
      state: { paused: true },
      info: {
        recentActions: [],
        nextActionTimes: [new Date('2030-01-01T01:00:00Z')],
        numActionsTaken: 2,
        numActionsMissedCatchupWindow: 0,
        numActionsSkippedOverlap: 1,
        createdAt: new Date(),
        lastUpdatedAt: undefined,
        runningActions: [{ type: 'startWorkflow', workflow: { workflowId: 'x-2030', firstExecutionRunId: 'r' } }],
        ...extra,
      },
    }) as unknown as ScheduleDescription;

  it('reads kind, model and timing from the memo kaizen wrote', () => {
    const r = toRow(desc({ kind: 'drift-monitor', model: 'flights', every: '2h' }), null);
    expect(r).toMatchObject({ kind: 'drift-monitor', model: 'flights', spec: { every: '2h', text: 'every 2h' }, paused: true, running: ['x-2030'], actionsTaken: 2, skippedOverlap: 1 });
    expect(r.nextRuns).toEqual(['2030-01-01T01:00:00.000Z']);
  });

  it('falls back to the workflow type, the action arguments and the compiled interval', () => {
    const r = toRow(desc(undefined), null);
    expect(r).toMatchObject({ kind: 'drift-monitor', model: 'from-args', spec: { every: '7200s', text: 'every 7200s' } });
  });
});

describe('printing', () => {
  it('formats times and durations', () => {
    expect(fmtTime('2030-01-02T02:00:00.000Z')).toBe('2030-01-02 02:00 UTC');
    expect(fmtTime('2030-01-02T02:00:05.000Z')).toBe('2030-01-02 02:00:05 UTC');
    expect(fmtTime(undefined)).toBe('–');
    expect(fmtDuration(3_600_000)).toBe('1h');
    expect(fmtDuration(90_000)).toBe('90s');
    expect(fmtDuration(86_400_000)).toBe('1d');
  });

  it('lists id, kind, model, schedule, next run, last run with status and outcome, paused', () => {
    const text = formatScheduleList([
      row({ lastRun: { workflowId: 'flights-training-2030', runId: 'r', scheduledAt: '2030-01-01T02:00:00Z', startedAt: '2030-01-01T02:00:01Z', status: 'completed', outcome: 'promoted' } }),
      row({ scheduleId: 'flights-drift-monitor', kind: 'drift-monitor', spec: { every: '1h', text: 'every 1h' }, nextRuns: [], paused: true, workflowType: 'driftMonitor' }),
    ]);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^ID\s+KIND\s+MODEL\s+SCHEDULE\s+NEXT RUN\s+LAST RUN\s+PAUSED$/);
    expect(lines[1]).toMatch(/^flights-training\s+training\s+flights\s+cron 0 2 \* \* \*\s+2030-01-02 02:00 UTC\s+2030-01-01 02:00:01 UTC completed \(promoted\)\s+no$/);
    expect(lines[2]).toMatch(/^flights-drift-monitor\s+drift-monitor\s+flights\s+every 1h\s+–\s+never\s+yes$/);
    // columns line up
    expect(lines[1]!.indexOf('training', 'flights-training'.length)).toBe(lines[0]!.indexOf('KIND'));
  });

  it('says so when there are no schedules', () => {
    expect(formatScheduleList([])).toMatch(/^no schedules/);
  });

  it('states overlap SKIP and the catch-up window on create', () => {
    const text = formatSchedule(row(), 'created', 'http://ui/schedules/flights-training');
    expect(text).toContain('created schedule flights-training (training of flights)');
    expect(text).toContain('cron 0 2 * * * (UTC)');
    expect(text).toContain('SKIP: no new run while the previous one is still running');
    expect(text).toContain('catch-up  1h:');
    expect(text).toContain('next run  2030-01-02 02:00 UTC');
  });

  it('says whether a trigger started a run or was skipped by the overlap policy', () => {
    const base = { scheduleId: 's', kind: 'training' as const, overlap: 'SKIP', runId: null, running: [] };
    expect(formatTrigger({ ...base, status: 'started', workflowId: 's-2030' })).toBe('triggered s: started s-2030\n  watch: kaizen pipeline status s-2030');
    expect(formatTrigger({ ...base, status: 'skipped', workflowId: null, running: ['s-2029'] })).toBe(
      'triggered s, but nothing started: s-2029 is still running and the overlap policy is SKIP',
    );
    expect(formatTrigger({ ...base, status: 'requested', workflowId: null })).toMatch(/no run seen yet \(overlap SKIP/);
  });
});
