// Dynamic micro-batching, as TF Serving and Triton do it: rows of concurrent requests for one
// version wait a moment (at most `maxWaitMs`, or until `maxBatchSize` rows are queued) and go to
// the model in one tensor call; each request gets its own slice back. A failure of a batch is
// retried request by request, so one request can never fail another.
import type { Prediction } from '../ml/bundle';

export interface MicroBatchingOptions {
  enabled: boolean;
  /** Most rows in one tensor call. Default 64. */
  maxBatchSize: number;
  /** Longest a row waits for others, in ms; 0 = until the current I/O phase ends (setImmediate). Default 1. */
  maxWaitMs: number;
}

export const DEFAULT_MICRO_BATCHING: MicroBatchingOptions = { enabled: true, maxBatchSize: 64, maxWaitMs: 1 };

interface Pending {
  rows: readonly Record<string, unknown>[];
  resolve(p: Prediction[]): void;
  reject(err: unknown): void;
}

export type PredictRows = (rows: readonly Record<string, unknown>[]) => Prediction[];

export class MicroBatcher {
  private queue: Pending[] = [];
  private queuedRows = 0;
  private scheduled: NodeJS.Timeout | NodeJS.Immediate | null = null;

  constructor(
    private readonly run: PredictRows,
    private readonly options: Pick<MicroBatchingOptions, 'maxBatchSize' | 'maxWaitMs'>,
    private readonly onBatch?: (rows: number, requests: number) => void,
  ) {}

  predict(rows: readonly Record<string, unknown>[]): Promise<Prediction[]> {
    // a request as large as a batch gains nothing from waiting
    if (rows.length >= this.options.maxBatchSize) {
      try {
        const out = this.run(rows);
        this.onBatch?.(rows.length, 1);
        return Promise.resolve(out);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<Prediction[]>((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.queuedRows += rows.length;
      if (this.queuedRows >= this.options.maxBatchSize) this.flush();
      else if (!this.scheduled) {
        this.scheduled =
          this.options.maxWaitMs > 0
            ? setTimeout(() => this.flush(), this.options.maxWaitMs)
            : setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    if (this.scheduled) {
      clearTimeout(this.scheduled as NodeJS.Timeout);
      clearImmediate(this.scheduled as NodeJS.Immediate);
      this.scheduled = null;
    }
    while (this.queue.length > 0) {
      // take whole requests up to maxBatchSize rows
      const batch: Pending[] = [];
      let rows = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0]!;
        if (batch.length > 0 && rows + next.rows.length > this.options.maxBatchSize) break;
        batch.push(this.queue.shift()!);
        rows += next.rows.length;
      }
      this.queuedRows -= rows;
      this.runBatch(batch, rows);
    }
  }

  private runBatch(batch: Pending[], rows: number): void {
    if (batch.length === 1) {
      const only = batch[0]!;
      try {
        only.resolve(this.run(only.rows));
        this.onBatch?.(rows, 1);
      } catch (err) {
        only.reject(err);
      }
      return;
    }
    let out: Prediction[];
    try {
      out = this.run(batch.flatMap((p) => p.rows));
      if (out.length !== rows) throw new Error(`a batch of ${rows} rows gave ${out.length} predictions`);
    } catch {
      for (const p of batch) this.runBatch([p], p.rows.length);
      return;
    }
    this.onBatch?.(rows, batch.length);
    let at = 0;
    for (const p of batch) {
      p.resolve(out.slice(at, at + p.rows.length));
      at += p.rows.length;
    }
  }
}
