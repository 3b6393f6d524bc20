// The staging load test, without Temporal: autocannon fires one-instance predict requests built
// from real rows (the test split) at a model server and the figures are judged against the
// spec's thresholds. A verdict, not an exception — except when the server cannot be reached at
// all, which is a transient fault (NotReady) for the caller to retry.
import autocannon from 'autocannon';
import { KaizenError } from '../errors';
import type { GateReport } from '../types';
import { instancesBody, predictUrl, waitUntilServing } from './client';

export type LoadTestThresholds = {
  maxP99Ms: number;
  minRps: number;
  maxErrorRate: number;
};

export type LoadTestMetrics = {
  /** Responses per second over the run. */
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** (non-2xx responses + connection errors and timeouts) / attempts. */
  errorRate: number;
  non2xxRate: number;
  /** Responses received. */
  requests: number;
};

export interface LoadTestReport extends GateReport {
  metrics: LoadTestMetrics;
  thresholds: LoadTestThresholds;
  /** The version that answered the pre-flight request (null: none answered). */
  modelVersion: number | null;
}

export interface LoadTestProgress {
  elapsedMs: number;
  requests: number;
  errors: number;
}

export interface LoadTestInput {
  /** The server's base URL, e.g. http://127.0.0.1:8081 */
  url: string;
  model: string;
  /** Instances to send, one per request, cycling (e.g. rows of the test split). */
  rows: Record<string, unknown>[];
  connections: number;
  durationMs: number;
  thresholds: LoadTestThresholds;
  /** Fail unless this version answers (after waiting up to readyTimeoutMs for the server to pick it up). */
  expectVersion?: number;
  /** How long to wait for the server to answer 200 before the run. Default 30 s. */
  readyTimeoutMs?: number;
  /** Per-request timeout. Default 10 s. */
  requestTimeoutMs?: number;
  /** Called about once a second (activity heartbeats). */
  onProgress?: (p: LoadTestProgress) => void;
  /** Aborting stops the run early; the report covers what ran. */
  signal?: AbortSignal;
}

/** At most this many distinct request bodies: each connection pre-builds them all. */
const MAX_DISTINCT_BODIES = 512;

export async function runLoadTest(input: LoadTestInput): Promise<LoadTestReport> {
  const { url, model, rows, thresholds } = input;
  if (rows.length === 0) throw new KaizenError('InvalidInput', 'load test: no rows to send');
  if (!(input.connections >= 1))
    throw new KaizenError('SpecInvalid', `loadTest.connections must be at least 1, got ${input.connections}`);
  if (!(input.durationMs > 0))
    throw new KaizenError('SpecInvalid', `loadTest.duration must be positive, got ${input.durationMs} ms`);

  // Pre-flight: the model must be loaded (lazily, on this request) and be the expected version,
  // so that neither the first load nor a pending swap is measured as latency.
  const ready = await waitUntilServing({
    url,
    model,
    row: rows[0]!,
    version: input.expectVersion,
    timeoutMs: input.readyTimeoutMs,
    signal: input.signal,
  });
  if (!ready.ok) {
    if (ready.unreachable) throw new KaizenError('NotReady', `load test: ${ready.reason}`);
    return {
      passed: false,
      reasons: [ready.reason],
      metrics: emptyMetrics(),
      thresholds,
      modelVersion: null,
    };
  }

  const bodies = rows.slice(0, MAX_DISTINCT_BODIES).map((row) => instancesBody([row]));
  const requests: autocannon.Request[] = bodies.map((body) => ({
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
  }));
  let connection = 0;
  let responses = 0;
  let errors = 0;
  const started = Date.now();

  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: predictUrl(url, model),
        method: 'POST',
        connections: input.connections,
        duration: input.durationMs / 1000,
        timeout: Math.max(1, Math.round((input.requestTimeoutMs ?? 10_000) / 1000)),
        requests,
        // each connection starts at a different row, so concurrent requests differ
        setupClient: (client) => {
          const offset =
            (connection++ * Math.max(1, Math.floor(requests.length / input.connections))) % requests.length;
          if (offset > 0) client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
        },
      },
      (err, res) => (err ? reject(err as Error) : resolve(res)),
    );
    instance.on('response', () => responses++);
    instance.on('reqError', () => errors++);
    instance.on('tick', () =>
      input.onProgress?.({ elapsedMs: Date.now() - started, requests: responses, errors }),
    );
    input.signal?.addEventListener('abort', () => instance.stop(), { once: true });
  });

  const metrics = metricsOf(result);
  const verdict = judgeLoadTest(metrics, thresholds, { url, durationMs: Date.now() - started });
  return { ...verdict, metrics, thresholds, modelVersion: ready.version };
}

export function metricsOf(result: autocannon.Result): LoadTestMetrics {
  const responses = result.requests.total;
  const attempts = responses + result.errors;
  const seconds = result.duration > 0 ? result.duration : 1;
  return {
    rps: round(responses / seconds, 1),
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    errorRate: attempts === 0 ? 0 : (result.non2xx + result.errors) / attempts,
    non2xxRate: responses === 0 ? 0 : result.non2xx / responses,
    requests: responses,
  };
}

/** The verdict on load test figures; reasons are sentences a person can act on. */
export function judgeLoadTest(
  m: LoadTestMetrics,
  t: LoadTestThresholds,
  context: { url: string; durationMs: number },
): { passed: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (m.requests === 0) {
    reasons.push(
      `no request completed in ${fmtSeconds(context.durationMs)} against ${context.url}; check that the server is up and answering`,
    );
    return { passed: false, reasons };
  }
  if (m.p99Ms > t.maxP99Ms) {
    reasons.push(`p99 latency ${fmtMs(m.p99Ms)} ms is above loadTest.maxP99Ms ${t.maxP99Ms} ms`);
  }
  if (m.rps < t.minRps) {
    reasons.push(`throughput ${fmtRate(m.rps)} requests/s is below loadTest.minRps ${t.minRps} requests/s`);
  }
  if (m.errorRate > t.maxErrorRate) {
    const why =
      m.non2xxRate > 0
        ? `${fmtPct(m.non2xxRate)} of the answers were not 2xx; the server's log and /metrics say which`
        : 'connections failed or timed out; check the server is not overloaded or restarting';
    reasons.push(
      `error rate ${fmtPct(m.errorRate)} is above loadTest.maxErrorRate ${fmtPct(t.maxErrorRate)}: ${why}`,
    );
  }
  return { passed: reasons.length === 0, reasons };
}

function emptyMetrics(): LoadTestMetrics {
  return { rps: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, errorRate: 0, non2xxRate: 0, requests: 0 };
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
const fmtMs = (ms: number): string => (ms < 10 ? String(round(ms, 2)) : String(Math.round(ms)));
const fmtRate = (x: number): string => (x < 10 ? String(round(x, 1)) : String(Math.round(x)));
const fmtPct = (x: number): string => `${round(x * 100, x < 0.01 ? 3 : 1)}%`;
const fmtSeconds = (ms: number): string => `${round(ms / 1000, 1)} s`;
