import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackStatus, upStack } from '../../src/dev/stack';
import { deserializeBundle, disposeBundle } from '../../src/ml/bundle';
import { ModelRegistry } from '../../src/registry/registry';
import { loadPipelineSpec } from '../../src/spec/pipeline-spec';
import { createObjectStore } from '../../src/storage/object-store';
import { TASK_QUEUES, type PipelineResult } from '../../src/types';
import { statusWithProgress } from '../../src/cli/pipeline';
import { slowTrainingSpec, writeSpec } from '../helpers/cli';
import { testConfig, testStackOptions } from '../helpers/stack-env';

describe('durable training (real worker processes)', () => {
  let client: Client;
  const store = createObjectStore(testConfig());
  const registry = new ModelRegistry(store);

  beforeAll(async () => {
    client = new Client({ connection: await Connection.connect({ address: testConfig().temporal.address }) });
  });
  afterAll(async () => client?.connection.close());

  async function start(model: string, id: string) {
    const { spec, specHash } = await loadPipelineSpec(writeSpec(slowTrainingSpec(model)));
    return client.workflow.start('trainingPipeline', { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ spec, specHash }] });
  }

  async function waitForEpoch(id: string, epoch: number): Promise<void> {
    const handle = client.workflow.getHandle(id);
    for (let i = 0; i < 600; i++) {
      // what `kaizen pipeline status` shows: the status query, with the trainModel heartbeat's progress
      const s = await statusWithProgress(handle).catch(() => null);
      if (s?.stage === 'training' && (s.training?.epoch ?? 0) >= epoch) return;
      if (s?.stage === 'done') throw new Error(`${id} finished before epoch ${epoch}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${id} never reached epoch ${epoch}`);
  }

  async function weightBits(model: string): Promise<Uint32Array[]> {
    const v = await registry.resolve(model, 1);
    const bundle = await deserializeBundle(await registry.loadArtifact(v), v.artifactSha256);
    const bits = bundle.model.weights.map((w) => new Uint32Array((w.read().dataSync() as Float32Array).slice().buffer));
    disposeBundle(bundle);
    return bits;
  }

  it('survives kill -9 of the training worker: resumes from the last checkpoint and ends bit-identical', async () => {
    const uninterrupted = (await (await start('it-durable-a', 'it-durable-a')).result()) as PipelineResult;
    expect(uninterrupted.outcome).toBe('promoted');
    expect(uninterrupted.training?.resumedFromEpoch).toBeNull();

    const handle = await start('it-durable-b', 'it-durable-b');
    await waitForEpoch('it-durable-b', 2);
    const options = testStackOptions();
    const before = (await stackStatus(options)).components.find((c) => c.name === 'worker-training');
    expect(before?.pid).toBeGreaterThan(0);
    process.kill(before!.pid!, 'SIGKILL');
    const repaired = await upStack(options);
    const after = repaired.components.find((c) => c.name === 'worker-training');
    expect(after?.healthy).toBe(true);
    expect(after?.pid).not.toBe(before?.pid);

    const resumed = (await handle.result()) as PipelineResult;
    expect(resumed.outcome).toBe('promoted');
    expect(resumed.training?.resumedFromEpoch).toBeGreaterThanOrEqual(2);
    expect(resumed.training?.epochs).toBe(uninterrupted.training?.epochs);
    expect(resumed.metrics?.test).toEqual(uninterrupted.metrics?.test);
    expect(await weightBits('it-durable-b')).toEqual(await weightBits('it-durable-a'));
  });

  it('stops training promptly when the workflow is cancelled', async () => {
    const handle = await start('it-cancel', 'it-cancel-1');
    await waitForEpoch('it-cancel-1', 1);
    const desc = await handle.describe();
    await handle.cancel();
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    const prefix = `checkpoints/it-cancel-1/${desc.runId}/`;
    const epochsAt = async () => (await store.list(prefix)).filter((o) => o.key.endsWith('.ckpt')).length;
    await new Promise((r) => setTimeout(r, 2_500));
    const n = await epochsAt();
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await epochsAt()).toBe(n);
    expect(n).toBeLessThan(6);
    expect(await registry.read('it-cancel')).toBeNull();
  });
});
