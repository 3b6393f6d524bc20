// Per-version live figures over a recent time window, for the canary analysis: a ring of per-second
// buckets per (model, version), each with counts, a log-scaled latency histogram (5% resolution)
// and the sum of the predictions. Memory is bounded: `retentionSeconds` buckets per served version.
import type { Prediction } from '../ml/bundle';
import { LIVE_METRICS_RETENTION_SECONDS } from '../types';

/** One version's figures over a window (GET /admin/models/<model>/metrics). */
export interface VersionWindow {
  requests: number;
  /** Responses with status >= 500. */
  errors: number;
  errorRate: number;
  /** Responses with status 4xx (bad input), not counted as errors of the model. */
  clientErrors: number;
  /** Latency percentiles in ms, from request arrival to response (null without requests). */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Requests answered by the naive baseline (out-of-profile input or kill switch). */
  fallbacks: number;
  /** Instances predicted. */
  instances: number;
  /** Mean prediction: P(positive class), the regression value, or the top-class probability. */
  predictionMean: number | null;
  /** Ground-truth labels joined to this version's predictions in the window (POST …/feedback). */
  feedback: number;
  /** Of those, the predictions that were right (classification). */
  correct: number;
  /** Share of those predictions that were right (classification; null without feedback). */
  accuracy: number | null;
  /** Mean absolute error of those predictions (regression; null without feedback). */
  meanAbsError: number | null;
  /**
   * The raw counters and the latency histogram (sparse: [bucket, count] pairs) the figures above
   * come from, so the windows of several replicas merge exactly (mergeModelWindows).
   */
  raw?: RawWindow;
}

/** A version's counters and latency histogram over a window: what replicas' windows sum. */
export interface RawWindow {
  counts: Counts;
  latency: [number, number][];
}

export interface ModelWindow {
  model: string;
  window_seconds: number;
  from: string;
  to: string;
  versions: Record<string, VersionWindow>;
}

export interface RequestRecord {
  status: number;
  latencyMs: number;
  fallback?: boolean;
  instances?: number;
  predictionSum?: number;
  predictionCount?: number;
}

const LAT_MIN_MS = 0.01;
const LAT_GROWTH = 1.05;
const LAT_BUCKETS = 360;
const LOG_GROWTH = Math.log(LAT_GROWTH);

const COUNTERS = [
  'requests',
  'errors',
  'clientErrors',
  'fallbacks',
  'instances',
  'predSum',
  'predCount',
  'feedback',
  'correct',
  'judged',
  'absErrSum',
  'absErrCount',
] as const;

export type Counts = Record<(typeof COUNTERS)[number], number>;

function zeroCounts(): Counts {
  return Object.fromEntries(COUNTERS.map((k) => [k, 0])) as Counts;
}

interface Bucket extends Counts {
  second: number;
  latency: Uint32Array;
}

function latencyIndex(ms: number): number {
  if (!(ms > LAT_MIN_MS)) return 0;
  return Math.min(LAT_BUCKETS - 1, Math.floor(Math.log(ms / LAT_MIN_MS) / LOG_GROWTH));
}

/** Upper edge of a latency bucket, in ms. */
function latencyEdge(i: number): number {
  return LAT_MIN_MS * LAT_GROWTH ** (i + 1);
}

/** The number a prediction contributes to the prediction mean. */
export function predictionScalar(p: Prediction): number {
  if ('value' in p) return p.value;
  if ('probability' in p) return p.probability;
  return Math.max(...Object.values(p.probabilities));
}

export class LiveMetrics {
  readonly retentionSeconds: number;
  private readonly now: () => number;
  private readonly series = new Map<string, Map<number, (Bucket | undefined)[]>>();

  constructor(options: { retentionSeconds?: number; now?: () => number } = {}) {
    this.retentionSeconds = options.retentionSeconds ?? LIVE_METRICS_RETENTION_SECONDS;
    this.now = options.now ?? Date.now;
  }

  record(model: string, version: number, r: RequestRecord): void {
    const b = this.bucket(model, version);
    b.requests++;
    if (r.status >= 500) b.errors++;
    else if (r.status >= 400) b.clientErrors++;
    if (r.fallback) b.fallbacks++;
    b.instances += r.instances ?? 0;
    b.predSum += r.predictionSum ?? 0;
    b.predCount += r.predictionCount ?? 0;
    b.latency[latencyIndex(r.latencyMs)]!++;
  }

  /** A ground-truth label joined to a prediction of `version`: right or wrong, or its absolute error. */
  recordFeedback(model: string, version: number, f: { correct?: boolean; absError?: number }): void {
    const b = this.bucket(model, version);
    b.feedback++;
    if (f.correct !== undefined) {
      b.judged++;
      if (f.correct) b.correct++;
    }
    if (f.absError !== undefined && Number.isFinite(f.absError)) {
      b.absErrSum += f.absError;
      b.absErrCount++;
    }
  }

  private bucket(model: string, version: number): Bucket {
    let byVersion = this.series.get(model);
    if (!byVersion) this.series.set(model, (byVersion = new Map()));
    let ring = byVersion.get(version);
    if (!ring) byVersion.set(version, (ring = new Array<Bucket | undefined>(this.retentionSeconds)));
    const second = Math.floor(this.now() / 1000);
    const slot = second % this.retentionSeconds;
    let b = ring[slot];
    if (!b || b.second !== second) {
      b = { second, ...zeroCounts(), latency: b ? b.latency.fill(0) : new Uint32Array(LAT_BUCKETS) };
      ring[slot] = b;
    }
    return b;
  }

  /** Figures of the last `seconds` seconds (the current second included), per version. */
  window(model: string, seconds: number): ModelWindow {
    const span = Math.max(1, Math.min(Math.floor(seconds), this.retentionSeconds));
    const nowMs = this.now();
    const last = Math.floor(nowMs / 1000);
    return this.range(model, last - span + 1, last, nowMs);
  }

  /**
   * Figures of the whole seconds from `fromSecond` (unix seconds) up to, not including, the current
   * one, and the cursor to pass next time: consecutive reads neither overlap nor miss a second.
   */
  since(model: string, fromSecond: number): ModelWindow & { next: number } {
    const nowMs = this.now();
    const current = Math.floor(nowMs / 1000);
    const first = Math.max(fromSecond, current - this.retentionSeconds + 1);
    return { ...this.range(model, first, current - 1, current * 1000), next: current };
  }

  private range(model: string, first: number, last: number, toMs: number): ModelWindow {
    const span = Math.max(0, last - first + 1);
    const versions: Record<string, VersionWindow> = {};
    const byVersion = this.series.get(model);
    for (const [version, ring] of [...(byVersion ?? new Map<number, (Bucket | undefined)[]>())].sort(
      (a, b) => a[0] - b[0],
    )) {
      const hist = new Uint32Array(LAT_BUCKETS);
      const w = zeroCounts();
      for (const b of ring) {
        if (!b || b.second < first || b.second > last) continue;
        for (const k of COUNTERS) w[k] += b[k];
        for (let i = 0; i < LAT_BUCKETS; i++) hist[i]! += b.latency[i]!;
      }
      if (w.requests === 0 && w.feedback === 0) continue;
      versions[String(version)] = versionWindow(w, hist);
    }
    return {
      model,
      window_seconds: span,
      from: new Date(first * 1000).toISOString(),
      to: new Date(toMs).toISOString(),
      versions,
    };
  }
}

/** The figures of a version from its counters and latency histogram (one server's, or summed). */
function versionWindow(w: Counts, hist: Uint32Array): VersionWindow {
  const latency: [number, number][] = [];
  for (let i = 0; i < hist.length; i++) if (hist[i]! > 0) latency.push([i, hist[i]!]);
  return {
    requests: w.requests,
    errors: w.errors,
    errorRate: w.requests > 0 ? w.errors / w.requests : 0,
    clientErrors: w.clientErrors,
    p50Ms: percentile(hist, w.requests, 0.5),
    p99Ms: percentile(hist, w.requests, 0.99),
    fallbacks: w.fallbacks,
    instances: w.instances,
    predictionMean: w.predCount > 0 ? w.predSum / w.predCount : null,
    feedback: w.feedback,
    correct: w.correct,
    accuracy: w.judged > 0 ? w.correct / w.judged : null,
    meanAbsError: w.absErrCount > 0 ? w.absErrSum / w.absErrCount : null,
    raw: { counts: { ...w }, latency },
  };
}

/**
 * One window from the windows several replicas gave for the same model and query: counters and
 * latency histograms add up, so the percentiles are those of all the requests, as if one server
 * had answered them. A window without `raw` (an older server) cannot be merged and is refused.
 */
export function mergeModelWindows(model: string, windows: readonly ModelWindow[]): ModelWindow {
  if (windows.length === 1) return windows[0]!;
  const sums = new Map<string, { counts: Counts; hist: Uint32Array }>();
  for (const w of windows) {
    for (const [version, v] of Object.entries(w.versions)) {
      if (!v.raw) throw new Error(`the live window of version ${version} has no raw counters to merge`);
      let acc = sums.get(version);
      if (!acc) sums.set(version, (acc = { counts: zeroCounts(), hist: new Uint32Array(LAT_BUCKETS) }));
      for (const k of COUNTERS) acc.counts[k] += v.raw.counts[k] ?? 0;
      for (const [i, n] of v.raw.latency) if (i >= 0 && i < LAT_BUCKETS) acc.hist[i]! += n;
    }
  }
  const versions: Record<string, VersionWindow> = {};
  for (const version of [...sums.keys()].sort((a, b) => Number(a) - Number(b))) {
    const acc = sums.get(version)!;
    versions[version] = versionWindow(acc.counts, acc.hist);
  }
  const first = windows[0]!;
  return {
    model,
    window_seconds: Math.max(...windows.map((w) => w.window_seconds)),
    from: windows.map((w) => w.from).sort()[0] ?? first.from,
    to: windows.map((w) => w.to).sort().at(-1) ?? first.to,
    versions,
  };
}

function percentile(hist: Uint32Array, total: number, q: number): number | null {
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return Math.round(latencyEdge(i) * 1000) / 1000;
  }
  return latencyEdge(hist.length - 1);
}

/** `60s`, `5m`, `90` (seconds) → seconds; null when malformed. */
export function parseWindow(text: string | undefined, fallback = 60): number | null {
  if (text === undefined || text === '') return fallback;
  const m = /^(\d{1,6})(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const seconds = unit === 'ms' ? n / 1000 : unit === 'm' ? n * 60 : unit === 'h' ? n * 3600 : n;
  return seconds >= 1 ? seconds : null;
}
