import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { HISTORIES_DIR, testBundle } from './harness';

// Histories recorded from runs of every workflow (npm run record:histories) replayed against the
// workflow code as it is now: a change that breaks determinism fails here, before it can break a
// pipeline that has waited 20 hours for its approval.
describe('replay of recorded histories', () => {
  it('replays every recorded history of every workflow without a nondeterminism error', async () => {
    const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();
    const histories = await Promise.all(
      files.map(async (f) => {
        const recorded = JSON.parse(await readFile(path.join(HISTORIES_DIR, f), 'utf8')) as { workflowId: string; history: object };
        return { workflowId: recorded.workflowId, history: temporal.api.history.v1.History.fromObject(recorded.history) };
      }),
    );
    const types = new Set(histories.map((h) => h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name));
    expect([...types].sort()).toEqual(['canaryRollout', 'championChallenger', 'driftMonitor', 'hyperparameterSearch', 'rollbackModel', 'searchTrial', 'trainingPipeline']);
    const failures: string[] = [];
    let replayed = 0;
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: await testBundle() }, replayName: 'kaizen-replay' }, histories)) {
      replayed++;
      if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(files.length);
  }, 120_000);
});
