import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/registry';
import { createObjectStore } from '../../src/storage/object-store';
import type { PipelineResult } from '../../src/types';
import { runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig } from '../helpers/stack-env';

describe('trainingPipeline end to end (real Temporal, MinIO, DuckDB, tfjs)', () => {
  it('trains on real flights data, registers version 1 with lineage and promotes it', async () => {
    const spec = writeSpec(smallFlightsSpec('it-flights'));
    const res = await runCli(['pipeline', 'run', spec, '--wait', '--json', '--id', 'it-flights-1'], stackEnv());
    expect(res.code, `${res.stderr}\n${res.stdout}`).toBe(0);
    const result = JSON.parse(res.stdout) as PipelineResult;
    expect(result.outcome).toBe('promoted');
    expect(result.version).toBe(1);
    expect(result.dataVersion).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.stages.map((s) => s.name)).toEqual(['validate', 'prepare', 'train', 'evaluate', 'gate', 'register', 'staging', 'approval', 'promote']);
    expect(result.approval).toMatchObject({ decision: 'approve', by: 'auto', automatic: true });
    expect(result.metrics?.test.auc).toBeGreaterThan(0.5);
    expect(result.metrics?.baseline.auc).toBeCloseTo(0.5, 5);
    expect(result.training?.epochs).toBeGreaterThan(0);

    const store = createObjectStore(testConfig());
    const registry = new ModelRegistry(store);
    const v = await registry.resolve('it-flights', 1);
    expect(v.lineage.workflowId).toBe('it-flights-1');
    expect(v.lineage.dataVersion).toBe(result.dataVersion);
    expect(v.lineage.libraries['@tensorflow/tfjs']).toBeTruthy();
    // content-addressed: the artifact's key is its sha256
    expect(v.artifactUri).toBe(`s3://kaizen/models/it-flights/${v.artifactSha256}/model.kzn`);
    await expect(registry.loadArtifact(v)).resolves.toBeInstanceOf(Buffer);

    const list = await runCli(['models', 'list', 'it-flights', '--json'], stackEnv());
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ model: 'it-flights', aliases: { production: 1, staging: 1 }, versions: [{ version: 1, aliases: ['production', 'staging'] }] });
    const show = await runCli(['models', 'show', 'it-flights', 'production', '--json'], stackEnv());
    expect(show.code, show.stderr).toBe(0);
    const shown = JSON.parse(show.stdout);
    expect(shown.lineage).toMatchObject({ dataVersion: result.dataVersion, workflowId: 'it-flights-1', approval: { by: 'auto' } });
    expect(Object.keys(shown.lineage.libraries)).toEqual(expect.arrayContaining(['node', '@tensorflow/tfjs', '@temporalio/worker', 'tfjs-backend']));
    expect(shown.lineage.code.packageVersion).toBe('0.1.0');
    expect(shown.lineage.hyperParameters).toMatchObject({ hiddenUnits: [16], epochs: 3, seed: 7 });
    expect(shown.aliasHistory.map((h: { alias: string }) => h.alias)).toEqual(['staging']);
    expect(shown.productionHistory.map((h: { action: string; champion: number }) => [h.action, h.champion])).toEqual([['promote', 1]]);
    const human = await runCli(['models', 'show', 'it-flights'], stackEnv());
    expect(human.stdout).toMatch(/it-flights version 1 \[production, staging\]/);
    const missing = await runCli(['models', 'show', 'it-flights', '7'], stackEnv());
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim()).toBe('kaizen: model "it-flights" has no version 7');

    const status = await runCli(['pipeline', 'status', 'it-flights-1', '--json'], stackEnv());
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).result.outcome).toBe('promoted');
  });

  it('fails fast and non-retryably on a target column the data lacks, registering nothing', async () => {
    const base = smallFlightsSpec('it-badtarget');
    const spec = writeSpec({ ...base, data: { ...(base.data as object), target: 'no_such_column' } });
    const started = Date.now();
    const res = await runCli(['pipeline', 'run', spec, '--wait', '--json', '--id', 'it-badtarget-1'], stackEnv());
    expect(res.code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(res.stderr + res.stdout).toMatch(/no_such_column/);
    const result = JSON.parse(res.stdout) as PipelineResult;
    expect(result.outcome).toBe('failed');
    expect(result.version).toBeNull();
    const registry = new ModelRegistry(createObjectStore(testConfig()));
    expect(await registry.read('it-badtarget')).toBeNull();
  });

  it('rejects an invalid spec in the CLI, naming the field, without starting anything', async () => {
    const spec = writeSpec({ ...smallFlightsSpec('it-badspec'), train: { epochs: -1 } });
    const res = await runCli(['pipeline', 'run', spec, '--json'], stackEnv());
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/train\.epochs/);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('names a missing data file and an unparsable spec, exiting non-zero within seconds', async () => {
    const base = smallFlightsSpec('it-nofile');
    const spec = writeSpec({ ...base, data: { ...(base.data as object), source: 'missing/flights.parquet' } });
    const res = await runCli(['pipeline', 'run', spec, '--wait'], stackEnv(), 30_000);
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim()).toMatch(/^kaizen: data file .*missing\/flights\.parquet does not exist/);
    const bad = writeSpec({}, 'bad.json');
    writeFileSync(bad, '{ "model": "x", ');
    const res2 = await runCli(['pipeline', 'run', bad], stackEnv(), 30_000);
    expect(res2.code).not.toBe(0);
    expect(res2.stderr.trim()).toMatch(/^kaizen: spec file .*bad\.json is not valid JSON/);
  });
});
