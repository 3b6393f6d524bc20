// Served predictions must equal offline ones: the same rows sent over HTTP to a model server and
// compared, number by number, with what the bundle predicted offline. Catches a server serving
// another version, encoding features differently, or a corrupted load. A verdict, not an
// exception — except an unreachable server (NotReady, retryable).
import { KaizenError } from '../errors';
import type { GateReport } from '../types';
import { postPredict, predictionOutputs, waitUntilServing } from './client';

export interface ServedCheckInput {
  url: string;
  model: string;
  rows: Record<string, unknown>[];
  /** Offline outputs per row: one number (binary probability, regression value) or the class probabilities. */
  expected: readonly number[] | readonly (readonly number[])[];
  /** Largest accepted absolute difference. Default 1e-5. */
  tolerance?: number;
  /** Fail unless this version answers (waiting up to readyTimeoutMs for the server to pick it up). */
  expectVersion?: number;
  readyTimeoutMs?: number;
  /** Rows per request. Default 100. */
  batchSize?: number;
  signal?: AbortSignal;
}

export type ServedCheckMetrics = { maxAbsDiff: number; rows: number; mismatches: number };

export interface ServedCheckReport extends GateReport {
  metrics: ServedCheckMetrics;
  thresholds: { tolerance: number };
  modelVersion: number | null;
}

const MAX_LISTED = 3;

export async function checkServedMatchesOffline(input: ServedCheckInput): Promise<ServedCheckReport> {
  const tolerance = input.tolerance ?? 1e-5;
  const thresholds = { tolerance };
  const { rows, expected } = input;
  const fail = (
    reason: string,
    metrics: ServedCheckMetrics = { maxAbsDiff: 0, rows: 0, mismatches: 0 },
    modelVersion: number | null = null,
  ): ServedCheckReport => ({
    passed: false,
    reasons: [reason],
    metrics,
    thresholds,
    modelVersion,
  });
  if (rows.length === 0) return fail('no rows to compare; the check needs rows of the test split');
  if (expected.length !== rows.length) {
    return fail(
      `${rows.length} rows but ${expected.length} offline predictions; they must correspond one to one`,
    );
  }

  const ready = await waitUntilServing({
    url: input.url,
    model: input.model,
    row: rows[0]!,
    version: input.expectVersion,
    timeoutMs: input.readyTimeoutMs,
    signal: input.signal,
  });
  if (!ready.ok) {
    if (ready.unreachable) throw new KaizenError('NotReady', `served-vs-offline check: ${ready.reason}`);
    return fail(ready.reason);
  }

  const batch = Math.max(1, input.batchSize ?? 100);
  const versions = new Set<number>();
  let maxAbsDiff = 0;
  let worstRow = -1;
  let mismatches = 0;
  const listed: string[] = [];
  for (let start = 0; start < rows.length; start += batch) {
    const chunk = rows.slice(start, start + batch);
    const res = await postPredict(input.url, input.model, chunk, { signal: input.signal });
    if (!res.ok) {
      return fail(
        `the server answered ${res.status} ${res.error.type} for rows ${start}–${start + chunk.length - 1}: ${res.error.message}`,
        { maxAbsDiff, rows: start, mismatches },
        ready.version,
      );
    }
    versions.add(res.body.model_version);
    res.body.predictions.forEach((p, j) => {
      const i = start + j;
      const want = expected[i]!;
      const wantList = typeof want === 'number' ? [want] : want;
      const got = predictionOutputs(p);
      let diff = got.length === wantList.length ? 0 : Infinity;
      for (let k = 0; k < got.length && k < wantList.length; k++) {
        const d = Math.abs(got[k]! - wantList[k]!);
        diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
      }
      if (diff > maxAbsDiff) {
        maxAbsDiff = diff;
        worstRow = i;
      }
      if (diff > tolerance) {
        mismatches++;
        if (listed.length < MAX_LISTED)
          listed.push(`row ${i}: served ${fmtList(got)}, offline ${fmtList(wantList)}`);
      }
    });
  }

  const reasons: string[] = [];
  const modelVersion = ready.version;
  if (versions.size > 1) {
    reasons.push(
      `the server switched versions during the check (${[...versions].join(', ')}); run the check again once the alias is stable`,
    );
  } else if (input.expectVersion !== undefined && !versions.has(input.expectVersion)) {
    reasons.push(`the server answered with version ${[...versions].join(', ')}, not ${input.expectVersion}`);
  }
  if (mismatches > 0) {
    reasons.push(
      `${mismatches} of ${rows.length} rows differ from the offline predictions by more than ${tolerance} (largest difference ${maxAbsDiff.toPrecision(3)} at row ${worstRow}; ${listed.join('; ')}); the server may encode features differently or serve another artifact`,
    );
  }
  return {
    passed: reasons.length === 0,
    reasons,
    metrics: { maxAbsDiff, rows: rows.length, mismatches },
    thresholds,
    modelVersion,
  };
}

const fmtList = (xs: readonly number[]): string =>
  xs.length === 1 ? xs[0]!.toPrecision(6) : `[${xs.map((x) => x.toPrecision(4)).join(', ')}]`;
