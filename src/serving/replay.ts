// Replays held-out rows (the test split of the dataset a version was trained on, which no model saw
// in training) against the production server, each followed by its true label as feedback: real
// traffic and ground truth for a canary or an experiment, in the demo or a rehearsal.
import path from 'node:path';
import { downloadDataset } from '../data/dataset';
import { KaizenError } from '../errors';
import { readParquetColumns } from '../ml/dataset';
import type { ModelRegistry } from '../registry/registry';
import type { ObjectStore } from '../storage/object-store';
import { versionHex } from '../storage/paths';

export interface LabelledRows {
  rows: Record<string, unknown>[];
  labels: unknown[];
  dataVersion: string;
}

const plain = (v: unknown): unknown => (v instanceof Date ? v.getTime() / 1000 : typeof v === 'bigint' ? Number(v) : v);

/** The test split of the dataset behind `ref` (a version or alias) with its labels. */
export async function heldOutRows(
  store: ObjectStore,
  registry: ModelRegistry,
  model: string,
  ref: string | number,
  cacheDir: string,
): Promise<LabelledRows> {
  const version = await registry.resolve(model, ref);
  const dataVersion = version.lineage.dataVersion;
  const ds = await downloadDataset(store, version.lineage.datasetUri, path.join(cacheDir, versionHex(dataVersion)));
  const names = ds.schema.features.map((f) => f.name);
  const target = ds.schema.target;
  const columns = await readParquetColumns(ds.files.test, [...names, target]);
  const n = columns[target]?.length ?? 0;
  if (n === 0) throw new KaizenError('DataEmpty', `the test split of ${dataVersion} has no rows to replay`);
  const rows: Record<string, unknown>[] = [];
  const labels: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const row: Record<string, unknown> = {};
    for (const name of names) row[name] = plain(columns[name]![i]);
    rows.push(row);
    labels.push(plain(columns[target]![i]));
  }
  return { rows, labels, dataVersion };
}

export interface ReplayOptions {
  url: string;
  model: string;
  data: LabelledRows;
  /** Requests per second (each followed by its feedback). */
  rate: number;
  /** Stops when this returns true (checked between requests) or after `maxMs`. */
  stop: () => boolean;
  maxMs: number;
  /** Send the true label after each prediction. Default true. */
  feedback?: boolean;
  /** Bearer token for the feedback (KAIZEN_FEEDBACK_TOKEN, or the admin token). */
  feedbackToken: string;
}

export interface ReplayReport {
  sent: number;
  answered: number;
  failed: number;
  fallbacks: number;
  feedback: number;
  byVersion: Record<string, { requests: number; correct: number }>;
  seconds: number;
}

/** The i-th row to send: a fixed stride through the rows, so a date-ordered split is not replayed day by day. */
export function spread(i: number, n: number): number {
  const step = n % 7919 === 0 ? 104_729 : 7919;
  return (i * step) % n;
}

/** Sends the rows spread over the split (wrapping around), keyed so each row sticks to one version, at `rate` per second. */
export async function replay(o: ReplayOptions): Promise<ReplayReport> {
  const base = o.url.replace(/\/$/, '');
  const report: ReplayReport = { sent: 0, answered: 0, failed: 0, fallbacks: 0, feedback: 0, byVersion: {}, seconds: 0 };
  const started = Date.now();
  const interval = 1000 / o.rate;
  for (let i = 0; !o.stop() && Date.now() - started < o.maxMs; i++) {
    const due = started + i * interval;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const k = spread(i, o.data.rows.length);
    report.sent++;
    let body: { model_version: number; request_id: string; fallback?: boolean; predictions: { label?: string }[] };
    try {
      const res = await fetch(`${base}/v1/models/${encodeURIComponent(o.model)}:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-kaizen-key': `replay-${k}` },
        body: JSON.stringify({ instances: [o.data.rows[k]] }),
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) {
        report.failed++;
        continue;
      }
      body = (await res.json()) as typeof body;
    } catch {
      report.failed++;
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    report.answered++;
    if (body.fallback) report.fallbacks++;
    const v = (report.byVersion[String(body.model_version)] ??= { requests: 0, correct: 0 });
    v.requests++;
    const label = o.data.labels[k];
    if (String(label) === body.predictions[0]?.label) v.correct++;
    if (o.feedback === false) continue;
    const fb = await fetch(`${base}/v1/models/${encodeURIComponent(o.model)}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${o.feedbackToken}` },
      body: JSON.stringify({ request_id: body.request_id, label }),
      signal: AbortSignal.timeout(5000),
    }).catch(() => null);
    if (fb?.ok) report.feedback++;
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}
