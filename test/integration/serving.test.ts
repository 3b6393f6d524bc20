import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { promote } from '../helpers/production';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main';
import type { Output } from '../../src/cli/output';
import { predictCommand, SERVER_READY_LINE } from '../../src/cli/serve';
import { loadConfig } from '../../src/config';
import { downloadDataset } from '../../src/data/dataset';
import { freePorts } from '../../src/dev/processes';
import { deserializeBundle, disposeBundle, predict } from '../../src/ml/bundle';
import { ModelRegistry } from '../../src/registry/registry';
import { instancesBody, postPredict, predictionOutputs } from '../../src/serving/client';
import { runLoadTest } from '../../src/serving/load-test';
import { checkServedMatchesOffline } from '../../src/serving/served-check';
import type { HostStatus } from '../../src/serving/model-host';
import { buildServer, type ModelInfo } from '../../src/serving/server';
import { createObjectStore, type ObjectStore } from '../../src/storage/object-store';
import type { ModelVersion, PipelineResult } from '../../src/types';
import { REPO_ROOT, runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig } from '../helpers/stack-env';

// The model server against the real stack: a model trained and registered by the real pipeline
// (Temporal, MinIO, DuckDB, tfjs), served over real HTTP.

const MODEL = 'it-serve';
/** Served only by the `kaizen serve` child, first requested during its shutdown. */
const LAZY_MODEL = 'it-serve-lazy';
const TOKEN = 'it-admin-token';

let store: ObjectStore;
let registry: ModelRegistry;
let versions: [ModelVersion, ModelVersion];
let rows: Record<string, unknown>[];
let expected: number[][];
let tmp: string;
let app: FastifyInstance;
let url: string;

async function trainVersion(id: string, seed: number): Promise<number> {
  const base = smallFlightsSpec(MODEL);
  const spec = writeSpec({ ...base, train: { ...(base.train as object), seed } });
  const res = await runCli(['pipeline', 'run', spec, '--wait', '--json', '--id', id], stackEnv());
  const result = JSON.parse(res.stdout) as PipelineResult;
  expect(result.version, `${res.stderr}\n${res.stdout}`).toBeTypeOf('number');
  return result.version!;
}

/** Feature values of the test split, as JSON instances. */
async function testRows(
  version: ModelVersion,
  features: string[],
  limit: number,
): Promise<Record<string, unknown>[]> {
  const dir = path.join(tmp, 'dataset');
  await downloadDataset(store, version.lineage.datasetUri, dir);
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    const cols = features.map((f) => `"${f.replaceAll('"', '""')}"`).join(', ');
    const reader = await c.runAndReadAll(
      `SELECT ${cols} FROM read_parquet('${path.join(dir, 'test.parquet')}') LIMIT ${limit}`,
    );
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

const admin = (pathname: string, method = 'GET') =>
  fetch(`${url}${pathname}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'kaizen-it-serving-'));
  store = createObjectStore(testConfig());
  registry = new ModelRegistry(store);
  const a = await trainVersion('it-serve-a', 7);
  const b = await trainVersion('it-serve-b', 8);
  expect([a, b].sort()).toEqual([1, 2]);
  versions = [await registry.resolve(MODEL, 1), await registry.resolve(MODEL, 2)];
  expect(versions[0].artifactSha256).not.toBe(versions[1].artifactSha256);

  const bundle = await deserializeBundle(
    await registry.loadArtifact(versions[0]),
    versions[0].artifactSha256,
  );
  rows = await testRows(
    versions[0],
    bundle.transforms.features.map((f) => f.name),
    300,
  );
  expected = predict(bundle, rows).predictions.map(predictionOutputs);
  disposeBundle(bundle);

  // the pipeline may have promoted a version already: the test decides
  await promote(registry, MODEL, 1);
  app = buildServer({ registry, env: 'production', adminToken: TOKEN, refreshIntervalMs: 200 });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('model server on the real stack', () => {
  it('serves exactly the offline predictions of the registered version', async () => {
    expect(rows.length).toBeGreaterThan(100);
    const report = await checkServedMatchesOffline({
      url,
      model: MODEL,
      rows,
      expected,
      tolerance: 1e-5,
      expectVersion: 1,
    });
    expect(report.reasons).toEqual([]);
    expect(report).toMatchObject({
      passed: true,
      modelVersion: 1,
      metrics: { rows: rows.length, mismatches: 0 },
    });
    expect(report.metrics.maxAbsDiff).toBeLessThanOrEqual(1e-5);

    // and a wrong expectation is caught, with a reason naming the rows
    const wrong = await checkServedMatchesOffline({
      url,
      model: MODEL,
      rows: rows.slice(0, 10),
      expected: expected.slice(0, 10).map((o) => o.map((x) => x + 0.01)),
    });
    expect(wrong.passed).toBe(false);
    expect(wrong.reasons[0]).toMatch(
      /^10 of 10 rows differ from the offline predictions by more than 0.00001/,
    );

    const info = (await (await fetch(`${url}/v1/models/${MODEL}`)).json()) as ModelInfo;
    expect(info).toMatchObject({
      version: 1,
      alias: 'production',
      lineage: { data_version: versions[0].lineage.dataVersion, workflow_id: versions[0].lineage.workflowId },
    });
    expect(info.input_schema.features.map((f) => f.name).sort()).toEqual([
      'distance',
      'hour',
      'origin',
      'weekday',
    ]);
  });

  it('hot-swaps to a new version under concurrent load without a single failed request', async () => {
    type Sample = { start: number; end: number; status: number; version: number | null };
    const samples: Sample[] = [];
    const failures: string[] = [];
    let firstV2At: number | null = null;
    let stop = false;
    const client = async (k: number) => {
      for (let i = k; !stop; i += 8) {
        const start = performance.now();
        try {
          const res = await postPredict(url, MODEL, [rows[i % rows.length]!]);
          const end = performance.now();
          const version = res.ok ? res.body.model_version : null;
          samples.push({ start, end, status: res.status, version });
          if (!res.ok) failures.push(`${res.status} ${res.error.message}`);
          if (version === 2 && firstV2At === null) firstV2At = end;
        } catch (err) {
          failures.push(String(err));
          return;
        }
      }
    };
    const clients = Promise.all(Array.from({ length: 8 }, (_, k) => client(k)));
    await sleep(800);
    await promote(registry, MODEL, 2);
    const moved = performance.now();
    while (firstV2At === null && performance.now() - moved < 10_000) await sleep(50);
    await sleep(800);
    stop = true;
    await clients;

    expect(failures).toEqual([]);
    const seen = samples.map((s) => s.version);
    expect(seen[0]).toBe(1);
    expect(seen).toContain(2);
    expect(firstV2At).not.toBeNull();
    // once version 2 answered, every request sent afterwards got version 2
    const late = samples.filter((s) => s.start > firstV2At!);
    expect(late.length).toBeGreaterThan(50);
    expect(late.every((s) => s.version === 2)).toBe(true);
    const swapMs = firstV2At! - moved;
    console.log(
      `[serving] hot swap: ${samples.length} requests, 0 failed, version 2 answering ${Math.round(swapMs)} ms after the alias moved`,
    );

    const status = (await (await admin('/admin/models')).json()) as HostStatus;
    expect(status.retiring).toBe(0);
    expect(status.models).toEqual([
      expect.objectContaining({ model: MODEL, version: 2, in_flight: 0, last_error: null }),
    ]);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain(`kaizen_model_loaded_version{model="${MODEL}",env="production"} 2`);
    expect(metrics).toContain(
      `kaizen_model_loads_total{model="${MODEL}",version="2",result="success",env="production"} 1`,
    );
    expect(metrics).toMatch(
      new RegExp(
        `kaizen_predict_requests_total\\{model="${MODEL}",version="2",status="200",env="production"\\} \\d+`,
      ),
    );
  });

  it('keeps the serving version when the next artifact in MinIO was tampered with', async () => {
    // version 1 is no longer kept warm, so moving back to it loads its artifact again
    await registry.changeProduction(MODEL, { action: 'split', weights: { 2: 100 }, warm: [] }, { by: 'test', reason: 'drop warm' });
    await admin(`/admin/models/${MODEL}/reload`, 'POST');
    const key = store.keyOf(versions[0].artifactUri);
    const original = (await store.getBuffer(key))!;
    const tampered = Buffer.from(original);
    const mid = Math.floor(tampered.length / 2);
    tampered.writeUInt8(tampered.readUInt8(mid) ^ 0x01, mid);
    await store.put(key, tampered);
    try {
      await promote(registry, MODEL, 1);
      const reload = await admin(`/admin/models/${MODEL}/reload`, 'POST');
      expect(reload.status).toBe(500);
      const body = (await reload.json()) as { error: { type: string; message: string } };
      expect(body.error.type).toBe('ArtifactIntegrity');
      expect(body.error.message).toMatch(/refusing to load it; version 2 keeps serving$/);

      await sleep(600); // a few polls: none replaces version 2
      for (const row of rows.slice(0, 20)) {
        const res = await postPredict(url, MODEL, [row]);
        expect(res.ok && res.body.model_version).toBe(2);
      }
      const status = (await (await admin('/admin/models')).json()) as HostStatus;
      expect(status.models[0]).toMatchObject({
        version: 2,
        load_failures: 1,
        last_error: { type: 'ArtifactIntegrity', version: 1 },
      });
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${url}/metrics`)).text()).toContain(
        `kaizen_model_loads_total{model="${MODEL}",version="1",result="failure",env="production"} 1`,
      );
    } finally {
      await store.put(key, original);
    }
    // repaired: an explicit reload retries it
    const reload = await admin(`/admin/models/${MODEL}/reload`, 'POST');
    expect(await reload.json()).toMatchObject({ version: 1, previous_version: 2, changed: true });
  });

  it('runs as `kaizen serve`: CLI predict, a load test with figures, graceful shutdown', async () => {
    await registry.moveAlias(MODEL, 'staging', 2, { reason: 'stage in serving test', by: 'test' });
    const [port] = (await freePorts(1)) as [number];
    const stagingUrl = `http://127.0.0.1:${port}`;
    const env = {
      ...stackEnv(),
      KAIZEN_STAGING_URL: stagingUrl,
      KAIZEN_SERVE_REFRESH_MS: '500',
      KAIZEN_LOG_LEVEL: 'warn',
    };
    const child = await startServe(env, stagingUrl);
    try {
      // kaizen predict
      const docs: unknown[] = [];
      const out: Output = { json: true, result: (doc) => docs.push(doc), info: () => undefined };
      const cfg = loadConfig(env);
      expect(
        await predictCommand(
          cfg,
          MODEL,
          { input: JSON.stringify(JSON.parse(instancesBody(rows.slice(0, 3))).instances), env: 'staging' },
          out,
        ),
      ).toBe(0);
      expect(docs[0]).toMatchObject({
        model: MODEL,
        model_version: 2,
        env: 'staging',
        predictions: [{}, {}, {}],
      });
      await expect(
        predictCommand(cfg, MODEL, { input: '{"distance": "far"}', env: 'staging' }, out),
      ).rejects.toThrow(
        /staging server \(400 InvalidInput\): instances\[0\]\.distance: expected a number, got "far"/,
      );

      // the load test activity's core
      const progress: number[] = [];
      const report = await runLoadTest({
        url: stagingUrl,
        model: MODEL,
        rows,
        connections: 8,
        durationMs: 3000,
        thresholds: { maxP99Ms: 1000, minRps: 50, maxErrorRate: 0.001 },
        expectVersion: 2,
        onProgress: (p) => progress.push(p.requests),
      });
      console.log(
        `[serving] load test (8 connections, 3 s, 1 instance/request): ${JSON.stringify(report.metrics)}`,
      );
      expect(report.reasons).toEqual([]);
      expect(report).toMatchObject({
        passed: true,
        modelVersion: 2,
        metrics: { errorRate: 0, non2xxRate: 0 },
      });
      expect(report.metrics.requests).toBeGreaterThan(150);
      expect(report.metrics.p99Ms).toBeGreaterThan(0);
      expect(progress.length).toBeGreaterThanOrEqual(2);

      const strict = await runLoadTest({
        url: stagingUrl,
        model: MODEL,
        rows,
        connections: 2,
        durationMs: 500,
        thresholds: { maxP99Ms: 0.001, minRps: 1e9, maxErrorRate: 0 },
      });
      expect(strict.passed).toBe(false);
      expect(strict.reasons).toEqual([
        expect.stringMatching(/^p99 latency [\d.]+ ms is above loadTest.maxP99Ms 0.001 ms$/),
        expect.stringMatching(/^throughput \d+ requests\/s is below loadTest.minRps 1000000000 requests\/s$/),
      ]);

      // graceful shutdown: requests the server is working on when SIGTERM arrives still complete.
      // They wait on the lazy first load of another model, so they are inside the server for a while.
      const v = versions[0];
      await registry.register(LAZY_MODEL, {
        artifactSha256: v.artifactSha256,
        task: v.task,
        metrics: v.metrics,
        training: v.training,
        lineage: v.lineage,
        sourceArtifactUri: v.artifactUri,
        artifactFile: 'model.kzn',
      });
      await registry.moveAlias(LAZY_MODEL, 'staging', 1, { reason: 'shutdown test', by: 'test' });
      const inFlight = Array.from({ length: 6 }, (_, i) => postPredict(stagingUrl, LAZY_MODEL, [rows[i]!]));
      const stagingAdmin = () =>
        fetch(`${stagingUrl}/admin/models`, { headers: { authorization: `Bearer ${cfg.adminToken}` } });
      await expect
        .poll(async () => ((await (await stagingAdmin()).json()) as HostStatus).models.map((m) => m.model), {
          timeout: 5000,
          interval: 10,
        })
        .toContain(LAZY_MODEL);
      await sleep(50);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      const answers = await Promise.all(inFlight);
      expect(answers.map((r) => (r.ok ? r.body.model_version : r.error.message))).toEqual([1, 1, 1, 1, 1, 1]);
      expect(await exited).toBe(0);
      await expect(postPredict(stagingUrl, MODEL, [rows[0]!], { timeoutMs: 2000 })).rejects.toMatchObject({
        type: 'NotReady',
      });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

/**
 * `kaizen serve --env staging`: through bin/kaizen.js once the command is registered in the CLI,
 * else through serveCommand directly (the same code path below the argument parsing).
 */
async function startServe(
  env: NodeJS.ProcessEnv,
  expectedUrl: string,
): Promise<ChildProcessWithoutNullStreams> {
  const registered = buildProgram(() => undefined).commands.some((c) => c.name() === 'serve');
  let args: string[];
  if (registered) {
    args = [path.join(REPO_ROOT, 'bin/kaizen.js'), 'serve', '--env', 'staging'];
  } else {
    const runner = path.join(tmp, 'serve-runner.mts');
    await writeFile(
      runner,
      `import { loadConfig } from ${JSON.stringify(path.join(REPO_ROOT, 'src/config.ts'))};\n` +
        `import { serveCommand } from ${JSON.stringify(path.join(REPO_ROOT, 'src/cli/serve.ts'))};\n` +
        `process.exitCode = await serveCommand(loadConfig(), { env: 'staging' });\n`,
    );
    args = ['--import', 'tsx', runner];
  }
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!stdout.includes(`${SERVER_READY_LINE} (staging, ${expectedUrl})`)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`kaizen serve did not start (exit ${child.exitCode}):\n${stdout}\n${stderr}`);
    }
    await sleep(50);
  }
  return child;
}
