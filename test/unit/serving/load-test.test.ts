import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predictCommand } from '../../../src/cli/serve';
import type { Output } from '../../../src/cli/output';
import { loadConfig } from '../../../src/config';
import { deserializeBundle, disposeBundle, predict } from '../../../src/ml/bundle';
import { freePorts } from '../../../src/dev/processes';
import { predictionOutputs } from '../../../src/serving/client';
import { judgeLoadTest, runLoadTest, type LoadTestMetrics } from '../../../src/serving/load-test';
import { checkServedMatchesOffline } from '../../../src/serving/served-check';
import { buildServer } from '../../../src/serving/server';
import { memoryRegistry, registerBytes, trainTinyModels, type TinyModels } from './fixtures';

let tiny: TinyModels;
let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  tiny = await trainTinyModels();
  const { store, registry } = memoryRegistry();
  await registerBytes(store, registry, 'm', tiny.bytes[0], 'wf-1');
  await registry.moveAlias('m', 'staging', 1, { reason: 't', by: 't' });
  app = buildServer({
    registry,
    env: 'staging',
    adminToken: 't',
    refreshIntervalMs: 0,
    defaultMetrics: false,
  });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await app.close();
  await tiny.cleanup();
});

const thresholds = { maxP99Ms: 50, minRps: 500, maxErrorRate: 0.001 };
const good: LoadTestMetrics = {
  rps: 900,
  p50Ms: 2,
  p90Ms: 5,
  p99Ms: 12,
  errorRate: 0,
  non2xxRate: 0,
  requests: 9000,
};
const context = { url: 'http://127.0.0.1:8081', durationMs: 10_000 };

describe('judgeLoadTest', () => {
  it('passes figures within the thresholds', () => {
    expect(judgeLoadTest(good, thresholds, context)).toEqual({ passed: true, reasons: [] });
  });

  it('gives one actionable sentence per broken threshold', () => {
    const bad = { ...good, rps: 320.4, p99Ms: 73.2, errorRate: 0.021, non2xxRate: 0.015 };
    expect(judgeLoadTest(bad, thresholds, context).reasons).toEqual([
      'p99 latency 73 ms is above loadTest.maxP99Ms 50 ms',
      'throughput 320 requests/s is below loadTest.minRps 500 requests/s',
      "error rate 2.1% is above loadTest.maxErrorRate 0.1%: 1.5% of the answers were not 2xx; the server's log and /metrics say which",
    ]);
    expect(judgeLoadTest({ ...good, errorRate: 0.5 }, thresholds, context).reasons).toEqual([
      'error rate 50% is above loadTest.maxErrorRate 0.1%: connections failed or timed out; check the server is not overloaded or restarting',
    ]);
  });

  it('fails a run where nothing completed, naming the URL', () => {
    const none = { ...good, requests: 0, rps: 0 };
    expect(judgeLoadTest(none, thresholds, context).reasons).toEqual([
      'no request completed in 10 s against http://127.0.0.1:8081; check that the server is up and answering',
    ]);
  });
});

describe('runLoadTest', () => {
  it('measures a real server with autocannon, cycling through the rows', async () => {
    const progress: number[] = [];
    const report = await runLoadTest({
      url,
      model: 'm',
      rows: tiny.rows,
      connections: 4,
      durationMs: 1200,
      thresholds: { maxP99Ms: 2000, minRps: 10, maxErrorRate: 0 },
      expectVersion: 1,
      onProgress: (p) => progress.push(p.requests),
    });
    expect(report.reasons).toEqual([]);
    expect(report).toMatchObject({
      passed: true,
      modelVersion: 1,
      thresholds: { maxP99Ms: 2000, minRps: 10, maxErrorRate: 0 },
    });
    expect(report.metrics.requests).toBeGreaterThan(20);
    expect(report.metrics.errorRate).toBe(0);
    expect(report.metrics.p50Ms).toBeLessThanOrEqual(report.metrics.p99Ms);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toMatch(
      /kaizen_predict_requests_total\{model="m",version="1",status="200",env="staging"\} \d{2,}/,
    );
  });

  it('returns a failed verdict, not an exception, when the model is not served or is another version', async () => {
    const missing = await runLoadTest({
      url,
      model: 'nope',
      rows: tiny.rows,
      connections: 1,
      durationMs: 500,
      thresholds,
      readyTimeoutMs: 300,
    });
    expect(missing.passed).toBe(false);
    expect(missing.reasons[0]).toMatch(/still answers 404 ModelNotFound: no model "nope" in the registry/);

    const wrong = await runLoadTest({
      url,
      model: 'm',
      rows: tiny.rows,
      connections: 1,
      durationMs: 500,
      thresholds,
      expectVersion: 7,
      readyTimeoutMs: 300,
    });
    expect(wrong.reasons).toEqual([expect.stringMatching(/still serves version 1 of "m", not 7/)]);

    const badRows = await runLoadTest({
      url,
      model: 'm',
      rows: [{ distance: 'far' }],
      connections: 1,
      durationMs: 500,
      thresholds,
    });
    expect(badRows.reasons[0]).toMatch(
      /refused a row of the data: instances\[0\]\.distance: expected a number, got "far"/,
    );
  });

  it('throws the retryable NotReady when no server answers at all', async () => {
    const [port] = (await freePorts(1)) as [number];
    await expect(
      runLoadTest({
        url: `http://127.0.0.1:${port}`,
        model: 'm',
        rows: tiny.rows,
        connections: 1,
        durationMs: 500,
        thresholds,
        readyTimeoutMs: 200,
      }),
    ).rejects.toMatchObject({
      type: 'NotReady',
      message: expect.stringMatching(/is not reachable \(ECONNREFUSED\)/),
    });
  });
});

describe('checkServedMatchesOffline', () => {
  it('passes when served outputs equal the offline ones and names the rows that differ otherwise', async () => {
    const bundle = await deserializeBundle(tiny.bytes[0]);
    const expected = predict(bundle, tiny.rows).predictions.map(predictionOutputs);
    disposeBundle(bundle);

    const ok = await checkServedMatchesOffline({ url, model: 'm', rows: tiny.rows, expected, batchSize: 3 });
    expect(ok).toMatchObject({
      passed: true,
      reasons: [],
      modelVersion: 1,
      metrics: { rows: 4, mismatches: 0 },
      thresholds: { tolerance: 1e-5 },
    });
    expect(ok.metrics.maxAbsDiff).toBeLessThanOrEqual(1e-5);

    const off = expected.map((o, i) => (i === 2 ? [o[0]! + 0.25] : o));
    const bad = await checkServedMatchesOffline({ url, model: 'm', rows: tiny.rows, expected: off });
    expect(bad.passed).toBe(false);
    expect(bad.metrics.mismatches).toBe(1);
    expect(bad.reasons[0]).toMatch(
      /^1 of 4 rows differ from the offline predictions by more than 0.00001 \(largest difference 0.250 at row 2; row 2: served /,
    );

    const short = await checkServedMatchesOffline({
      url,
      model: 'm',
      rows: tiny.rows,
      expected: expected.slice(1),
    });
    expect(short.reasons).toEqual(['4 rows but 3 offline predictions; they must correspond one to one']);
  });
});

describe('predictCommand (kaizen predict)', () => {
  const capture = (): { out: Output; docs: unknown[]; lines: string[] } => {
    const docs: unknown[] = [];
    const lines: string[] = [];
    return {
      docs,
      lines,
      out: {
        json: false,
        result: (doc, human) => (docs.push(doc), lines.push(human())),
        info: () => undefined,
      },
    };
  };

  it('posts one object or an array and prints a table', async () => {
    const cfg = loadConfig({ KAIZEN_STAGING_URL: url });
    const one = capture();
    expect(
      await predictCommand(cfg, 'm', { input: JSON.stringify(tiny.rows[0]), env: 'staging' }, one.out),
    ).toBe(0);
    expect(one.lines[0]).toMatch(
      /^m version 1 \(staging\)\n#\s+label\s+probability\n0\s+(true|false)\s+0\.\d+$/,
    );
    const many = capture();
    await predictCommand(cfg, 'm', { input: JSON.stringify(tiny.rows), env: 'staging' }, many.out);
    expect(many.docs[0]).toMatchObject({
      model: 'm',
      model_version: 1,
      env: 'staging',
      predictions: tiny.rows.map(() => ({})),
    });
  });

  it('names the problem: bad JSON, a bad field, an unreachable server', async () => {
    const cfg = loadConfig({ KAIZEN_STAGING_URL: url });
    const { out } = capture();
    await expect(predictCommand(cfg, 'm', { input: '{"distance":', env: 'staging' }, out)).rejects.toThrow(
      /^--input is not valid JSON: /,
    );
    await expect(predictCommand(cfg, 'm', { input: '"x"', env: 'staging' }, out)).rejects.toThrow(
      '--input must be a JSON object of feature values or an array of them',
    );
    await expect(
      predictCommand(cfg, 'm', { input: '{"distance": "far"}', env: 'staging' }, out),
    ).rejects.toThrow(
      'staging server (400 InvalidInput): instances[0].distance: expected a number, got "far"',
    );
    const [port] = (await freePorts(1)) as [number];
    const down = loadConfig({ KAIZEN_PRODUCTION_URL: `http://127.0.0.1:${port}` });
    await expect(predictCommand(down, 'm', { input: '{}' }, out)).rejects.toThrow(
      `the production model server at http://127.0.0.1:${port} is not reachable (ECONNREFUSED); start it with \`kaizen dev up\` or \`kaizen serve --env production\``,
    );
  });
});
