// The prediction log: every prediction (features without the sensitive columns, output, version,
// latency, request id, time) goes to a bounded in-memory buffer and from there, once per time
// window, to one NDJSON object per model under predictions/<model>/<yyyy-mm-dd>/. Logging never
// blocks or fails a request: a full buffer drops the record and counts it.
import type { Prediction } from '../ml/bundle';

export interface PredictionRecord {
  request_id: string;
  model: string;
  version: number;
  at: string;
  latency_ms: number;
  fallback: boolean;
  instances: Record<string, unknown>[];
  predictions: Prediction[];
}

/** What the log needs of the object store (ObjectStore satisfies it). */
export interface PredictionSink {
  put(key: string, body: string, opts?: { contentType?: string }): Promise<unknown>;
}

export interface PredictionLogOptions {
  sink: PredictionSink;
  /** One object per model per window. Default 60 000 ms. */
  windowMs?: number;
  /** Records held in memory at most; more are dropped (and counted). Default 10 000. */
  maxBuffered?: number;
  /** Feature columns never written (personal or otherwise sensitive data). */
  sensitiveColumns?: readonly string[];
  /** Distinguishes the objects of several replicas in one window. */
  instanceId: string;
  onDrop?: (model: string, count: number) => void;
  onError?: (err: unknown) => void;
  now?: () => number;
}

export class PredictionLog {
  private buffer: PredictionRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private seq = 0;
  dropped = 0;
  written = 0;
  private readonly windowMs: number;
  private readonly maxBuffered: number;
  private readonly sensitive: Set<string>;
  private readonly now: () => number;

  constructor(private readonly options: PredictionLogOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxBuffered = options.maxBuffered ?? 10_000;
    this.sensitive = new Set(options.sensitiveColumns ?? []);
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.windowMs);
    this.timer.unref();
  }

  /**
   * Buffers one record; never throws, never waits. With `columns` (the model's features) a row
   * keeps only those, so whatever else a client sends is never written; sensitive columns never are.
   */
  log(record: PredictionRecord, columns?: readonly string[]): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped++;
      this.options.onDrop?.(record.model, 1);
      return;
    }
    if (columns) {
      const kept = columns.filter((c) => !this.sensitive.has(c));
      record.instances = record.instances.map((row) => {
        const copy: Record<string, unknown> = {};
        for (const c of kept) if (c in row) copy[c] = row[c];
        return copy;
      });
    } else if (this.sensitive.size > 0) {
      record.instances = record.instances.map((row) => {
        const copy: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(row)) if (!this.sensitive.has(k)) copy[k] = v;
        return copy;
      });
    }
    this.buffer.push(record);
  }

  /** Writes what is buffered (one object per model and window); a failed write drops its records. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const run = this.write().finally(() => (this.flushing = null));
    this.flushing = run;
    return run;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
    if (this.buffer.length > 0) await this.flush();
  }

  /** `predictions/<model>/<yyyy-mm-dd>/<HH-MM-SS of the window start>-<instance>-<seq>.ndjson` */
  keyFor(model: string, atMs: number): string {
    const start = new Date(Math.floor(atMs / this.windowMs) * this.windowMs).toISOString();
    const day = start.slice(0, 10);
    const time = start.slice(11, 19).replaceAll(':', '-');
    return `predictions/${model}/${day}/${time}-${this.options.instanceId}-${++this.seq}.ndjson`;
  }

  private async write(): Promise<void> {
    const records = this.buffer;
    this.buffer = [];
    if (records.length === 0) return;
    const byModel = new Map<string, PredictionRecord[]>();
    for (const r of records) {
      const list = byModel.get(r.model) ?? [];
      list.push(r);
      byModel.set(r.model, list);
    }
    const at = this.now();
    await Promise.all(
      [...byModel].map(async ([model, list]) => {
        const body = `${list.map((r) => JSON.stringify(r)).join('\n')}\n`;
        try {
          await this.options.sink.put(this.keyFor(model, at), body, { contentType: 'application/x-ndjson' });
          this.written += list.length;
        } catch (err) {
          this.dropped += list.length;
          this.options.onDrop?.(model, list.length);
          this.options.onError?.(err);
        }
      }),
    );
  }
}

/** Predictions by request id, for joining feedback (bounded: the oldest are forgotten first). */
export class RecentPredictions {
  private readonly map = new Map<string, { model: string; version: number; predictions: Prediction[] }>();
  constructor(private readonly max = 100_000) {}

  remember(id: string, entry: { model: string; version: number; predictions: Prediction[] }): void {
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(id, entry);
  }

  /** Takes the entry out: feedback is joined once per request. */
  take(id: string): { model: string; version: number; predictions: Prediction[] } | undefined {
    const e = this.map.get(id);
    if (e) this.map.delete(id);
    return e;
  }
}
