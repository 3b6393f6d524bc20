// The prediction log: every prediction (features without the sensitive columns, output, version,
// latency, request id, time) goes to a bounded in-memory buffer and from there, once per time
// window (or sooner, once `maxPerObject` records are waiting), to one NDJSON object per model
// under predictions/<model>/<yyyy-mm-dd>/. Logging never blocks or fails a request: when the store
// falls behind and the buffer is full, a record is dropped and counted.
//
// A record is serialised when it is logged, straight into a per-model byte buffer outside the JS
// heap: the garbage collector never sees the window's records (holding each request's object graph
// until the window ended cost a fifth of the server's time at 15 000 requests a second).
import { randomUUID } from 'node:crypto';
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

/** One served request, as the server hands it to the log. */
export interface PredictionEntry {
  requestId: string;
  model: string;
  version: number;
  /** When it was answered (epoch ms). */
  atMs: number;
  latencyMs: number;
  fallback: boolean;
  instances: readonly Record<string, unknown>[];
  /** `JSON.stringify(predictions)`: the server serialises them once, for the response and the log. */
  predictionsJson: string;
}

/** What the log needs of the object store (ObjectStore satisfies it). */
export interface PredictionSink {
  put(key: string, body: Buffer | string, opts?: { contentType?: string }): Promise<unknown>;
}

export interface PredictionLogOptions {
  sink: PredictionSink;
  /** One object per model per window (more when `maxPerObject` is reached first). Default 60 000 ms. */
  windowMs?: number;
  /** Records held in memory at most (waiting or being written); more are dropped (and counted). Default 50 000. */
  maxBuffered?: number;
  /** A model's records are written early, without waiting for the window's end, once this many wait. Default 10 000. */
  maxPerObject?: number;
  /** Feature columns never written (personal or otherwise sensitive data). */
  sensitiveColumns?: readonly string[];
  /** Distinguishes the objects of several replicas in one window. */
  instanceId: string;
  onDrop?: (model: string, count: number) => void;
  onError?: (err: unknown) => void;
  now?: () => number;
}

/** NDJSON lines appended to byte chunks. */
class NdjsonBuffer {
  private static readonly CHUNK = 256 * 1024;
  private readonly full: Buffer[] = [];
  private chunk: Buffer = Buffer.allocUnsafe(NdjsonBuffer.CHUNK);
  private offset = 0;
  lines = 0;

  append(line: string): void {
    // a UTF-8 character takes at most 3 bytes per UTF-16 unit, plus the newline
    const most = line.length * 3 + 1;
    if (this.offset + most > this.chunk.length) {
      if (this.offset > 0) this.full.push(this.chunk.subarray(0, this.offset));
      this.chunk = Buffer.allocUnsafe(Math.max(NdjsonBuffer.CHUNK, most));
      this.offset = 0;
    }
    this.offset += this.chunk.write(line, this.offset);
    this.chunk[this.offset++] = 0x0a;
    this.lines++;
  }

  bytes(): Buffer {
    return Buffer.concat([...this.full, this.chunk.subarray(0, this.offset)]);
  }
}

export class PredictionLog {
  /** NDJSON lines per model, waiting for the next write. */
  private lines = new Map<string, NdjsonBuffer>();
  private waiting = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private seq = 0;
  dropped = 0;
  written = 0;
  private readonly windowMs: number;
  private readonly maxBuffered: number;
  private readonly maxPerObject: number;
  private readonly sensitive: Set<string>;
  private readonly now: () => number;
  /** The columns written for a model's feature list (its features minus the sensitive ones). */
  private readonly keptColumns = new WeakMap<readonly string[], { names: string[]; keys: string[] }>();
  private readonly dropSensitive: (key: string, value: unknown) => unknown;
  private isoMs = Number.NaN;
  private iso = '';

  constructor(private readonly options: PredictionLogOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxBuffered = options.maxBuffered ?? 50_000;
    this.maxPerObject = Math.max(1, Math.min(options.maxPerObject ?? 10_000, this.maxBuffered));
    this.sensitive = new Set(options.sensitiveColumns ?? []);
    this.now = options.now ?? Date.now;
    this.dropSensitive = (key, value) => (key !== '' && this.sensitive.has(key) ? undefined : value);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.windowMs);
    this.timer.unref();
  }

  /** Records waiting or being written. */
  get buffered(): number {
    return this.waiting + this.inFlight;
  }

  /**
   * Buffers one record; never throws, never waits. With `columns` (the model's features) a row
   * keeps only those, so whatever else a client sends is never written; sensitive columns never are.
   */
  log(entry: PredictionEntry, columns?: readonly string[]): void {
    if (this.waiting + this.inFlight >= this.maxBuffered) {
      this.dropped++;
      this.options.onDrop?.(entry.model, 1);
      return;
    }
    let rows = '';
    for (let i = 0; i < entry.instances.length; i++) {
      if (i > 0) rows += ',';
      rows += this.rowJson(entry.instances[i]!, columns);
    }
    const line =
      `{"request_id":${JSON.stringify(entry.requestId)},"model":${JSON.stringify(entry.model)},` +
      `"version":${entry.version},"at":"${this.isoTime(entry.atMs)}","latency_ms":${Number.isFinite(entry.latencyMs) ? entry.latencyMs : null},` +
      `"fallback":${entry.fallback},"instances":[${rows}],"predictions":${entry.predictionsJson}}`;
    let buffer = this.lines.get(entry.model);
    if (!buffer) {
      buffer = new NdjsonBuffer();
      this.lines.set(entry.model, buffer);
    }
    buffer.append(line);
    this.waiting++;
    if (buffer.lines >= this.maxPerObject) void this.flush();
  }

  private rowJson(row: Record<string, unknown>, columns?: readonly string[]): string {
    if (columns) {
      let kept = this.keptColumns.get(columns);
      if (!kept) {
        const names = columns.filter((c) => !this.sensitive.has(c));
        kept = { names, keys: names.map((c) => `${JSON.stringify(c)}:`) };
        this.keptColumns.set(columns, kept);
      }
      // what JSON.stringify(row, kept.names) gives, for a third of its time
      let json = '{';
      for (let i = 0; i < kept.names.length; i++) {
        const v = row[kept.names[i]!];
        let value: string | undefined;
        if (typeof v === 'number') value = Number.isFinite(v) ? String(v) : 'null';
        else if (typeof v === 'string' || typeof v === 'boolean' || v === null) value = JSON.stringify(v);
        else if (typeof v === 'object') value = JSON.stringify(v, kept.names);
        if (value === undefined) continue;
        json += json.length === 1 ? `${kept.keys[i]!}${value}` : `,${kept.keys[i]!}${value}`;
      }
      return `${json}}`;
    }
    return this.sensitive.size > 0 ? JSON.stringify(row, this.dropSensitive) : JSON.stringify(row);
  }

  /** ISO time of `ms`, remembered: most records of a busy second share their millisecond. */
  private isoTime(ms: number): string {
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.iso = new Date(ms).toISOString();
    }
    return this.iso;
  }

  /** Writes what is buffered (one object per model); a failed write drops its records. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const run = this.write().finally(() => {
      this.flushing = null;
      // records that piled up during a write to a slow store go out at once
      for (const buffer of this.lines.values()) {
        if (buffer.lines >= this.maxPerObject) {
          void this.flush();
          break;
        }
      }
    });
    this.flushing = run;
    return run;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
    if (this.waiting > 0) await this.flush();
  }

  /** `predictions/<model>/<yyyy-mm-dd>/<HH-MM-SS of the window start>-<instance>-<seq>.ndjson` */
  keyFor(model: string, atMs: number): string {
    const start = new Date(Math.floor(atMs / this.windowMs) * this.windowMs).toISOString();
    const day = start.slice(0, 10);
    const time = start.slice(11, 19).replaceAll(':', '-');
    return `predictions/${model}/${day}/${time}-${this.options.instanceId}-${++this.seq}.ndjson`;
  }

  private async write(): Promise<void> {
    const byModel = this.lines;
    if (this.waiting === 0) return;
    this.lines = new Map();
    const count = this.waiting;
    this.inFlight += count;
    this.waiting = 0;
    const at = this.now();
    try {
      await Promise.all(
        [...byModel].map(async ([model, buffer]) => {
          try {
            await this.options.sink.put(this.keyFor(model, at), buffer.bytes(), {
              contentType: 'application/x-ndjson',
            });
            this.written += buffer.lines;
          } catch (err) {
            this.dropped += buffer.lines;
            this.options.onDrop?.(model, buffer.lines);
            this.options.onError?.(err);
          }
        }),
      );
    } finally {
      this.inFlight -= count;
    }
  }
}

interface Remembered {
  model: string;
  version: number;
  predictions: Prediction[];
}

/**
 * The latest predictions (a ring of `max`), for joining feedback; each is joined once. The request
 * id names its slot: a per-server random prefix in UUID form, then the request's sequence number
 * in 12 hex digits. Ids are unique, not secret.
 */
export class RecentPredictions {
  private readonly prefix = randomUUID().slice(0, 23);
  private next = 0;
  private readonly seqs: Float64Array;
  private readonly versions: Float64Array;
  private readonly models: (string | undefined)[];
  private readonly predictions: (string | undefined)[];

  constructor(private readonly max = 100_000) {
    this.seqs = new Float64Array(max).fill(-1);
    this.versions = new Float64Array(max);
    this.models = new Array<string | undefined>(max);
    this.predictions = new Array<string | undefined>(max);
  }

  /** Remembers a request's predictions (as JSON); returns its new request id. */
  remember(model: string, version: number, predictionsJson: string): string {
    const seq = this.next++;
    const slot = seq % this.max;
    this.seqs[slot] = seq;
    this.versions[slot] = version;
    this.models[slot] = model;
    this.predictions[slot] = predictionsJson;
    return `${this.prefix}-${seq.toString(16).padStart(12, '0')}`;
  }

  /** Takes the entry out: feedback is joined once per request. */
  take(id: string): Remembered | undefined {
    if (id.length !== 36 || !id.startsWith(this.prefix) || id[23] !== '-') return undefined;
    const tail = id.slice(24);
    if (!/^[0-9a-f]{12}$/.test(tail)) return undefined;
    const seq = Number.parseInt(tail, 16);
    const slot = seq % this.max;
    if (this.seqs[slot] !== seq) return undefined;
    const entry = {
      model: this.models[slot]!,
      version: this.versions[slot]!,
      predictions: JSON.parse(this.predictions[slot]!) as Prediction[],
    };
    this.seqs[slot] = -1;
    this.models[slot] = undefined;
    this.predictions[slot] = undefined;
    return entry;
  }
}
