import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackStatus, upStack } from '../../src/dev/stack';
import { loadPipelineSpec } from '../../src/spec/pipeline-spec';
import { createObjectStore } from '../../src/storage/object-store';
import { TASK_QUEUES, type PipelineResult } from '../../src/types';
import { FLIGHTS_3M, runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig, testStackOptions } from '../helpers/stack-env';

describe('data preparation against the real object store', () => {
  const store = createObjectStore(testConfig());
  let client: Client;

  beforeAll(async () => {
    client = new Client({ connection: await Connection.connect({ address: testConfig().temporal.address }) });
  });
  afterAll(async () => client?.connection.close());

  it('reads an s3:// source, publishes a content-addressed dataset, and reuses it without a second upload', async () => {
    await store.put('sources/flights-3m.parquet', readFileSync(FLIGHTS_3M));
    const base = smallFlightsSpec('it-s3data');
    const spec = writeSpec({ ...base, data: { ...(base.data as object), source: `s3://${store.bucket}/sources/flights-3m.parquet` } });
    const first = await runCli(['data', 'prepare', spec, '--json'], stackEnv());
    expect(first.code, first.stderr).toBe(0);
    const doc = JSON.parse(first.stdout);
    expect(doc.dataVersion).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(doc.reused).toBe(false);
    expect(doc.splits).toMatchObject({ total: 4000 });
    expect(doc.validation.passed).toBe(true);
    expect(doc.profile.columns.map((c: { name: string }) => c.name)).toEqual(expect.arrayContaining(['distance', 'origin']));
    const prefix = `datasets/${doc.dataVersion.slice('sha256:'.length)}/`;
    const files = (await store.list(prefix)).map((o) => o.key.slice(prefix.length)).sort();
    expect(files).toEqual(['manifest.json', 'profile.json', 'schema.json', 'test.parquet', 'train.parquet', 'transforms.json', 'validation.json', 'validation.parquet'].sort());
    const manifest = (await store.getJson<{ source: { uri: string; etag?: string } }>(`${prefix}manifest.json`))!.value;
    expect(manifest.source.uri).toBe(`s3://${store.bucket}/sources/flights-3m.parquet`);
    const before = await store.stat(`${prefix}train.parquet`);

    const second = await runCli(['data', 'prepare', spec, '--json'], stackEnv());
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ dataVersion: doc.dataVersion, reused: true });
    expect((await store.stat(`${prefix}train.parquet`))?.lastModified).toEqual(before?.lastModified);

    const human = await runCli(['data', 'prepare', spec], stackEnv());
    expect(human.stdout).toMatch(/validation PASSED/);
  });

  it('names a missing s3 object', async () => {
    const base = smallFlightsSpec('it-s3missing');
    const spec = writeSpec({ ...base, data: { ...(base.data as object), source: `s3://${store.bucket}/sources/nope.parquet` } });
    const res = await runCli(['data', 'prepare', spec], stackEnv());
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim()).toMatch(/^kaizen: .*sources\/nope\.parquet/);
  });

  it('rides out a MinIO outage: the pipeline retries and completes once the object store is back', async () => {
    const options = testStackOptions();
    const minio = (await stackStatus(options)).components.find((c) => c.name === 'minio');
    process.kill(minio!.pid!, 'SIGKILL');
    const { spec, specHash } = await loadPipelineSpec(writeSpec(smallFlightsSpec('it-outage')));
    const handle = await client.workflow.start('trainingPipeline', {
      taskQueue: TASK_QUEUES.pipeline,
      workflowId: 'it-outage-1',
      args: [{ spec, specHash }],
    });
    // wait until an activity has failed against the dead store and is being retried
    let lastFailure = '';
    for (let i = 0; i < 60 && !lastFailure; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const pending = (await handle.describe()).raw.pendingActivities?.[0];
      if ((pending?.attempt ?? 0) >= 2) lastFailure = pending?.lastFailure?.message ?? '';
    }
    expect(lastFailure).toMatch(/object store unreachable/);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    const repaired = await upStack(options);
    expect(repaired.components.find((c) => c.name === 'minio')?.healthy).toBe(true);
    const result = (await handle.result()) as PipelineResult;
    expect(result.outcome).toBe('promoted');
  });
});
