import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/registry';
import { loadPipelineSpec } from '../../src/spec/pipeline-spec';
import { createObjectStore } from '../../src/storage/object-store';
import { TASK_QUEUES, type PipelineResult, type PipelineStatus } from '../../src/types';
import { runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig } from '../helpers/stack-env';

describe('gate, approval and promotion (real stack)', () => {
  let client: Client;
  const registry = new ModelRegistry(createObjectStore(testConfig()));

  beforeAll(async () => {
    const connection = await Connection.connect({ address: testConfig().temporal.address });
    client = new Client({ connection });
  });
  afterAll(async () => client?.connection.close());

  async function start(model: string, id: string, overrides: Record<string, unknown>) {
    const { spec, specHash } = await loadPipelineSpec(writeSpec(smallFlightsSpec(model, overrides)));
    return client.workflow.start('trainingPipeline', { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ spec, specHash }] });
  }

  async function waitForStage(id: string, stage: PipelineStatus['stage'], timeoutMs = 120_000): Promise<PipelineStatus> {
    const handle = client.workflow.getHandle(id);
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      try {
        const s = await handle.query<PipelineStatus>('status');
        if (s.stage === stage) return s;
        if (s.stage === 'done') throw new Error(`pipeline ended before ${stage}: ${JSON.stringify(s.result)}`);
      } catch (err) {
        if ((err as Error).message.startsWith('pipeline ended')) throw err;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`${id} did not reach ${stage}`);
  }

  it('waits for a human: ignores a decision without "by", then promotes on `kaizen approve`', async () => {
    const id = 'it-approve-1';
    const handle = await start('it-approve', id, {
      approval: { mode: 'manual', timeout: '10m' },
      loadTest: { connections: 4, duration: '2s', maxP99Ms: 2000, minRps: 5, maxErrorRate: 0.01 },
    });
    const waiting = await waitForStage(id, 'awaiting_approval');
    expect(waiting.approval).toMatchObject({ version: 1, metric: 'auc', onTimeout: 'reject' });
    // the evidence includes the staging load test's figures
    expect(waiting.approval?.loadTest).toMatchObject({ passed: true, errorRate: 0 });
    expect(waiting.approval?.loadTest?.rps).toBeGreaterThan(5);
    expect(waiting.approval?.test.auc).toBeGreaterThan(0.5);
    expect(waiting.approval?.baseline.auc).toBeCloseTo(0.5, 5);

    const list = await client.workflow.list({ query: `KaizenStage = 'awaiting_approval' AND WorkflowId = '${id}'` });
    const found: string[] = [];
    for await (const w of list) found.push(w.workflowId);
    expect(found).toEqual([id]);

    await handle.signal('approve', { comment: 'looks good' });
    const after = await handle.query<PipelineStatus>('status');
    expect(after.stage).toBe('awaiting_approval');
    expect(after.invalidDecisions?.[0]?.reason).toMatch(/no "by"/);

    const res = await runCli(['approve', id, '--by', 'alice', '--comment', 'ship it', '--json'], stackEnv());
    expect(res.code, res.stderr).toBe(0);
    const result = (await handle.result()) as PipelineResult;
    expect(result.outcome).toBe('promoted');
    expect(result.approval).toMatchObject({ decision: 'approve', by: 'alice', comment: 'ship it' });
    const doc = await registry.require('it-approve');
    expect(doc.production?.champion).toBe(1);
    expect(doc.versions[0]?.lineage.approval).toMatchObject({ by: 'alice', comment: 'ship it' });
    expect(doc.productionHistory?.at(-1)).toMatchObject({ action: 'promote', champion: 1, workflowId: id, by: 'alice' });
    // a second decision is refused and says why, exiting non-zero
    const again = await runCli(['approve', id, '--by', 'bob', '--reject'], stackEnv());
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/no running workflow|already/);

    // a worse candidate regresses against production on its own test split: rejected, no alias
    const worse = await start('it-approve', 'it-approve-2', {
      train: { hiddenUnits: [4], epochs: 1, batchSize: 128, learningRate: 0.000001, seed: 3 },
      gate: { maxRegression: 0.0 },
      approval: { mode: 'auto' },
    });
    const rejected = (await worse.result()) as PipelineResult;
    expect(rejected.outcome).toBe('rejected');
    expect(rejected.metrics?.champion?.auc).toBeGreaterThan(0.5);
    expect(rejected.gate?.reasons.join(' ')).toMatch(/regresses more than gate\.maxRegression/);
    expect(rejected.version).toBe(2);
    const after2 = await registry.require('it-approve');
    expect(after2.production?.champion).toBe(1);
    expect(Object.values(after2.aliases)).not.toContain(2);
  });

  it('rejects on timeout when nobody decides (approval.onTimeout reject)', async () => {
    const handle = await start('it-timeout', 'it-timeout-1', { approval: { mode: 'manual', timeout: '2s', onTimeout: 'reject' } });
    const result = (await handle.result()) as PipelineResult;
    expect(result.outcome).toBe('rejected');
    expect(result.approval).toMatchObject({ decision: 'reject', by: 'timeout', automatic: true });
    expect((await registry.require('it-timeout')).production?.champion).toBeUndefined();
  });

  it('rejects below an absolute gate.min, keeping the version registered without an alias', async () => {
    const handle = await start('it-gatemin', 'it-gatemin-1', { gate: { min: 0.99 } });
    const result = (await handle.result()) as PipelineResult;
    expect(result.outcome).toBe('rejected');
    expect(result.gate?.reasons[0]).toMatch(/below the required gate\.min 0\.99/);
    const doc = await registry.require('it-gatemin');
    expect(doc.versions).toHaveLength(1);
    expect(doc.aliases).toEqual({});
  });

  it('rejects a candidate whose staging load test misses its thresholds, with a reason', async () => {
    const handle = await start('it-loadfail', 'it-loadfail-1', {
      loadTest: { connections: 2, duration: '1s', maxP99Ms: 0.001, minRps: 5, maxErrorRate: 0.01 },
    });
    const result = (await handle.result()) as PipelineResult;
    expect(result.outcome).toBe('rejected');
    expect(result.stages.map((s) => s.name)).toContain('load_test');
    expect(result.loadTest?.passed).toBe(false);
    expect(result.gate?.reasons.join(' ')).toMatch(/p99 latency [\d.]+ ms is above loadTest\.maxP99Ms 0\.001 ms/);
    const doc = await registry.require('it-loadfail');
    expect(doc.production?.champion).toBeUndefined();
  });
});
