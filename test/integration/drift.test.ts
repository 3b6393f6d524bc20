import { DuckDBInstance } from '@duckdb/node-api';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/registry';
import { createObjectStore } from '../../src/storage/object-store';
import type { DriftMonitorResult, PipelineResult } from '../../src/types';
import { FLIGHTS_3M, runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig, testStackOptions } from '../helpers/stack-env';

const MODEL = 'it-drift';

/** Real flights as the model's clients would send them. */
async function flights(where: string, n: number): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    const r = await c.runAndReadAll(
      `SELECT CAST(distance AS DOUBLE) AS distance, CAST(hour(date) AS DOUBLE) AS hour, CAST(dayofweek(date) AS DOUBLE) AS weekday, origin
       FROM read_parquet('${FLIGHTS_3M}') WHERE ${where} ORDER BY hash(date, origin, destination, distance) LIMIT ${n}`,
    );
    return r.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/** Sends the rows to production in requests of 25 instances (each is logged). */
async function send(rows: Record<string, unknown>[]): Promise<void> {
  const url = `${testConfig().servers.production}/v1/models/${MODEL}:predict`;
  for (let i = 0; i < rows.length; i += 25) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: rows.slice(i, i + 25) }) });
    expect(res.status, await res.text()).toBe(200);
  }
}

interface CheckReport {
  drifted: boolean | string;
  samples: number;
  driftedFeatures: string[];
  features: { name: string; test: string; score: number; drifted: boolean }[];
  reportUri: string;
}

async function driftCheck(window: string): Promise<CheckReport> {
  const res = await runCli(['drift', 'check', MODEL, '--window', window, '--json'], stackEnv());
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as CheckReport;
}

describe('drift detection and drift-triggered retraining (real stack, real flights)', () => {
  let client: Client;
  const store = createObjectStore(testConfig());
  const registry = new ModelRegistry(store);

  beforeAll(async () => {
    client = new Client({ connection: await Connection.connect({ address: testConfig().temporal.address }) });
  });
  afterAll(async () => {
    await client?.connection.close();
  });

  it('says "insufficient data" without traffic, finds no drift in same-distribution traffic, and finds a shifted slice', async () => {
    const res = await runCli(['pipeline', 'run', writeSpec(smallFlightsSpec(MODEL)), '--wait', '--json'], stackEnv());
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as PipelineResult).outcome).toBe('promoted');

    const empty = await driftCheck('10m');
    expect(empty.drifted).toBe('insufficient data');
    expect(empty.samples).toBe(0);

    // the same two weeks of January the model was trained on: the same distribution
    await send(await flights("date < TIMESTAMP '2001-01-15'", 1500));
    await expect.poll(async () => (await driftCheck('10m')).samples, { timeout: 20_000, interval: 1000 }).toBe(1500);
    const same = await driftCheck('10m');
    expect(same.drifted, JSON.stringify(same.features)).toBe(false);
    expect(same.features.filter((f) => f.test === 'psi').every((f) => f.score < 0.1)).toBe(true);
    expect(await store.exists(store.keyOf(same.reportUri))).toBe(true);

    // a really shifted slice: long evening flights in June out of the west coast
    const slice = await flights("date >= TIMESTAMP '2001-06-01' AND distance > 1500 AND hour(date) >= 17 AND origin IN ('LAX', 'SFO', 'SEA', 'SAN', 'PDX')", 3000);
    expect(slice).toHaveLength(3000);
    await send(slice);
    await expect.poll(async () => (await driftCheck('10m')).samples, { timeout: 20_000, interval: 1000 }).toBe(4500);
    const shifted = await driftCheck('10m');
    expect(shifted.drifted, JSON.stringify(shifted.features)).toBe(true);
    expect(shifted.driftedFeatures).toEqual(expect.arrayContaining(['distance', 'hour', 'origin']));
  });

  it('starts exactly one retrain under repeated monitor runs, and records the drift report in the new version', async () => {
    const before = (await registry.require(MODEL)).versions.length;
    const monitor = (i: number) =>
      client.workflow.execute('driftMonitor', {
        taskQueue: 'kaizen-pipeline',
        workflowId: `it-drift-monitor-${i}`,
        args: [{ model: MODEL, window: '10m', cooldown: '1h' }],
      }) as Promise<DriftMonitorResult>;
    const first = await monitor(1);
    expect(first).toMatchObject({ drifted: true, action: 'retrain_started', retrainWorkflowId: `${MODEL}-drift-retrain` });
    // again while the retrain runs, and again after: never a second retrain
    const [second, third] = await Promise.all([monitor(2), monitor(3)]);
    for (const r of [second, third]) expect(['retrain_running', 'cooldown']).toContain(r.action);
    const retrain = (await client.workflow.getHandle(`${MODEL}-drift-retrain`).result()) as PipelineResult;
    expect(retrain.outcome).toBe('promoted');
    expect((await monitor(4)).action).toBe('cooldown');

    const runs = [];
    for await (const w of client.workflow.list({ query: `WorkflowId = '${MODEL}-drift-retrain'` })) runs.push(w);
    expect(runs).toHaveLength(1);
    const doc = await registry.require(MODEL);
    expect(doc.versions.length).toBe(before + 1);
    const latest = doc.versions.at(-1)!;
    expect(latest.lineage.extra?.trigger).toMatchObject({ kind: 'drift', monitorWorkflowId: 'it-drift-monitor-1', reportUri: first.reportUri });
    expect(first.reportUri).toMatch(/reports\/it-drift-monitor-1\/drift\.json$/);

    // the orchestration worker's /metrics: pipeline outcomes, stage durations, drift scores
    const port = testStackOptions().workers.find((w) => w.name === 'worker-pipeline')?.metricsPort;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/kaizen_pipeline_runs_total\{[^}]*outcome="promoted"[^}]*\} [1-9]/);
    expect(text).toMatch(/kaizen_pipeline_stage_seconds_bucket\{[^}]*stage="train"/);
    expect(text).toMatch(/kaizen_drift_psi\{[^}]*feature="distance"[^}]*\} \d/);
  });
});
