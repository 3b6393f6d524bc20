import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScheduleRow, TriggerResult } from '../../src/temporal/schedules';
import { connectClient } from '../../src/temporal/connection';
import { MODEL_SEARCH_ATTRIBUTE, TASK_QUEUES, type PipelineInput, type PipelineResult } from '../../src/types';
import { runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig } from '../helpers/stack-env';

// only on 29 February: never fires while the test runs
const NEVER_DURING_TEST = '0 3 29 2 *';

async function listed(id: string, present = true, timeoutMs = 20_000): Promise<ScheduleRow | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await runCli(['schedule', 'list', '--json'], stackEnv());
    expect(res.code, res.stderr).toBe(0);
    const rows = (JSON.parse(res.stdout) as { schedules: ScheduleRow[] }).schedules;
    const row = rows.find((r) => r.scheduleId === id);
    // the schedule list is eventually consistent
    if (Boolean(row) === present || Date.now() > deadline) return row;
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('Temporal Schedules (real server, real workers)', () => {
  let client: Client;
  beforeAll(async () => {
    client = await connectClient(testConfig());
  });
  afterAll(async () => {
    await client?.connection.close();
  });

  it('creates a nightly training schedule, triggers it (overlap SKIP), sees the run promote, deletes it', async () => {
    const id = 'it-sched-nightly';
    // the run waits for a human approval, so a second trigger surely finds it still running
    const spec = writeSpec(smallFlightsSpec('it-sched', { approval: { mode: 'manual', timeout: '10m', onTimeout: 'reject' } }));

    const created = await runCli(['schedule', 'create', spec, '--cron', NEVER_DURING_TEST, '--id', id, '--json'], stackEnv());
    expect(created.code, created.stderr).toBe(0);
    const row = JSON.parse(created.stdout) as ScheduleRow & { url: string };
    expect(row).toMatchObject({ scheduleId: id, kind: 'training', model: 'it-sched', spec: { cron: NEVER_DURING_TEST }, overlap: 'SKIP', catchupWindowMs: 3_600_000, paused: false });
    expect(row.url).toMatch(new RegExp(`/namespaces/default/schedules/${id}$`));
    expect(new Date(row.nextRuns[0]!).getUTCDate()).toBe(29);

    const desc = await client.schedule.getHandle(id).describe();
    expect(desc.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 3_600_000 });
    expect(desc.action).toMatchObject({ workflowType: 'trainingPipeline', taskQueue: TASK_QUEUES.pipeline });
    const embedded = desc.action.args?.[0] as PipelineInput;
    expect(embedded.spec).toMatchObject({ model: 'it-sched', approval: { mode: 'manual' }, canary: false, loadTest: false });
    expect(embedded.specHash).toMatch(/^sha256:/);
    expect(desc.memo).toMatchObject({ kind: 'training', model: 'it-sched', cron: NEVER_DURING_TEST, catchupWindow: '1h' });
    expect(desc.typedSearchAttributes.get({ name: MODEL_SEARCH_ATTRIBUTE, type: 'KEYWORD' })).toBe('it-sched');

    const duplicate = await runCli(['schedule', 'create', spec, '--cron', NEVER_DURING_TEST, '--id', id], stackEnv());
    expect(duplicate.code).not.toBe(0);
    expect(duplicate.stderr.trim()).toBe(`kaizen: a schedule with id ${id} already exists (delete it first: kaizen schedule delete ${id})`);

    const badCron = await runCli(['schedule', 'create', spec, '--cron', '0 25 * * *', '--id', 'it-sched-bad'], stackEnv());
    expect(badCron.code).not.toBe(0);
    expect(badCron.stderr.trim()).toMatch(/^kaizen: --cron "0 25 \* \* \*": hour 25 is out of range 0-23/);

    const inList = await listed(id);
    expect(inList).toMatchObject({ kind: 'training', model: 'it-sched', spec: { cron: NEVER_DURING_TEST }, overlap: 'SKIP', paused: false, lastRun: null });
    const human = await runCli(['schedule', 'list'], stackEnv());
    expect(human.stdout).toMatch(new RegExp(`${id}\\s+training\\s+it-sched\\s+cron 0 3 29 2 \\*\\s+\\d{4}-02-29 03:00 UTC\\s+never\\s+no`));

    const t0 = Date.now();
    const triggered = await runCli(['schedule', 'trigger', id, '--json'], stackEnv());
    expect(triggered.code, triggered.stderr).toBe(0);
    const trigger = JSON.parse(triggered.stdout) as TriggerResult;
    expect(trigger).toMatchObject({ scheduleId: id, status: 'started', overlap: 'SKIP' });
    expect(trigger.workflowId).toMatch(new RegExp(`^${id}-`));

    // a second trigger while the first run is still going is skipped, not queued
    const t1 = Date.now();
    const again = await runCli(['schedule', 'trigger', id, '--json'], stackEnv());
    console.log(`[schedule test] skipped trigger answered in ${Date.now() - t1} ms`);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'skipped', running: [trigger.workflowId] });

    const run = client.workflow.getHandle(trigger.workflowId!);
    await expect
      .poll(async () => (await run.query<{ stage: string }>('status').catch(() => null))?.stage, { timeout: 120_000, interval: 500 })
      .toBe('awaiting_approval');
    const approved = await runCli(['approve', trigger.workflowId!, '--by', 'schedule-test'], stackEnv());
    expect(approved.code, approved.stderr).toBe(0);
    const result = (await run.result()) as PipelineResult;
    expect(result.outcome).toBe('promoted');
    expect(result.workflowId).toBe(trigger.workflowId);
    console.log(`[schedule test] triggered run promoted in ${Date.now() - t0} ms`);

    const after = await client.schedule.getHandle(id).describe();
    expect(after.info.numActionsTaken).toBe(1);
    expect(after.info.recentActions.map((a) => a.action.workflow.workflowId)).toEqual([trigger.workflowId]);
    const withRun = await listed(id);
    expect(withRun?.lastRun).toMatchObject({ workflowId: trigger.workflowId, status: 'completed', outcome: 'promoted' });

    const deleted = await runCli(['schedule', 'delete', id, '--json'], stackEnv());
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(JSON.parse(deleted.stdout)).toMatchObject({ scheduleId: id, deleted: true, kind: 'training', model: 'it-sched' });
    await expect(client.schedule.getHandle(id).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect(await listed(id, false)).toBeUndefined();

    for (const cmd of ['delete', 'trigger']) {
      const gone = await runCli(['schedule', cmd, id], stackEnv());
      expect(gone.code).not.toBe(0);
      expect(gone.stderr.trim()).toBe(`kaizen: no schedule with id ${id}`);
    }
  });

  it('creates and lists a drift-monitor schedule on an interval, then deletes it', async () => {
    const created = await runCli(['schedule', 'create', '--drift-monitor', 'it-sched', '--every', '30d', '--catchup-window', '10m', '--json'], stackEnv());
    expect(created.code, created.stderr).toBe(0);
    const id = 'it-sched-drift-monitor';
    expect(JSON.parse(created.stdout)).toMatchObject({ scheduleId: id, kind: 'drift-monitor', model: 'it-sched', spec: { every: '30d' }, overlap: 'SKIP', catchupWindowMs: 600_000 });
    try {
      const desc = await client.schedule.getHandle(id).describe();
      expect(desc.action).toMatchObject({ workflowType: 'driftMonitor', taskQueue: TASK_QUEUES.pipeline, args: [{ model: 'it-sched' }] });
      expect(desc.spec.intervals?.[0]?.every).toBe(30 * 86_400_000);
      expect(desc.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 600_000 });

      expect(await listed(id)).toMatchObject({ kind: 'drift-monitor', model: 'it-sched', spec: { every: '30d', text: 'every 30d' }, workflowType: 'driftMonitor' });

      const both = await runCli(['schedule', 'create', '--drift-monitor', 'it-sched', '--cron', '0 * * * *', '--every', '1h'], stackEnv());
      expect(both.code).not.toBe(0);
      expect(both.stderr.trim()).toBe('kaizen: give either --cron or --every, not both');
    } finally {
      const deleted = await runCli(['schedule', 'delete', id], stackEnv());
      expect(deleted.code, deleted.stderr).toBe(0);
      expect(deleted.stdout).toContain(`deleted schedule ${id}`);
    }
  });
});
