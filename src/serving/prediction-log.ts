// The prediction log: every prediction (features without the sensitive columns, output, version,
// latency, request id, time) goes to a bounded in-memory buffer and from there, once per time
// window (or sooner, once `maxPerObject` records are waiting), to one NDJSON object per model
// under predictions/<model>/<yyyy-mm-dd>/. Logging never blocks or fails a request: when the store
// falls behind and the buffer is full, a record is dropped and counted.
//
// A record is serialised when it is logged, straight into a per-model byte buffer outside the JS
// heap: the garbage collector never sees the window's records (holding each request's object graph
// until the window ended cost a fifth of the server's time at 15 000 requests a second).
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

/** Why records were not logged: the record bound, the byte budget, or a failed write. */
export type LogDropReason = 'records' | 'bytes' | 'write_failed';

export const DEFAULT_PREDICTION_LOG_BYTES = 64 * 1024 * 1024;

export interface PredictionLogOptions {
  sink: PredictionSink;
  /** One object per model per window (more when `maxPerObject` is reached first). Default 60 000 ms. */
  windowMs?: number;
  /** Records held in memory at most (waiting or being written); more are dropped (and counted). Default 50 000. */
  maxBuffered?: number;
  /**
   * Bytes of NDJSON held in memory at most (waiting or being written), besides each model's chunk
   * being filled (256 KiB, or three times a larger record). Records are written early once half of
   * it waits; when the store falls behind and it is full, the oldest waiting records go first, a
   * chunk at a time, and are counted as dropped. Default 64 MiB.
   */
  maxBufferedBytes?: number;
  /** A model's records are written early, without waiting for the window's end, once this many wait. Default 10 000. */
  maxPerObject?: number;
  /** Feature columns never written (personal or otherwise sensitive data). */
  sensitiveColumns?: readonly string[];
  /** Distinguishes the objects of several replicas in one window. */
  instanceId: string;
  onDrop?: (model: string, count: number, reason: LogDropReason) => void;
  onError?: (err: unknown) => void;
  now?: () => number;
}

/** NDJSON lines appended to byte chunks; the oldest chunk can be dropped to make room. */
class NdjsonBuffer {
  private static readonly CHUNK = 256 * 1024;
  private static chunks = 0;
  private readonly full: { bytes: Buffer; lines: number; id: number }[] = [];
  private chunk: Buffer = Buffer.allocUnsafe(NdjsonBuffer.CHUNK);
  private chunkId = NdjsonBuffer.chunks++;
  private offset = 0;
  private chunkLines = 0;
  lines = 0;
  byteLength = 0;

  /** Appends one line; returns the bytes it took. */
  append(line: string): number {
    // a UTF-8 character takes at most 3 bytes per UTF-16 unit, plus the newline
    const most = line.length * 3 + 1;
    if (this.offset + most > this.chunk.length) {
      this.seal();
      this.chunk = Buffer.allocUnsafe(Math.max(NdjsonBuffer.CHUNK, most));
    }
    const start = this.offset;
    this.offset += this.chunk.write(line, this.offset);
    this.chunk[this.offset++] = 0x0a;
    this.chunkLines++;
    this.lines++;
    this.byteLength += this.offset - start;
    return this.offset - start;
  }

  /** Age of the oldest chunk held (lower is older, across every buffer). */
  oldestChunk(): number {
    return this.full[0]?.id ?? this.chunkId;
  }

  /** Drops the oldest chunk's lines; returns how many lines and bytes went. */
  dropOldest(): { lines: number; bytes: number } {
    const first = this.full.shift();
    const dropped = first
      ? { lines: first.lines, bytes: first.bytes.length }
      : { lines: this.chunkLines, bytes: this.offset };
    if (!first) {
      this.offset = 0;
      this.chunkLines = 0;
      this.chunkId = NdjsonBuffer.chunks++;
    }
    this.lines -= dropped.lines;
    this.byteLength -= dropped.bytes;
    return dropped;
  }

  bytes(): Buffer {
    return Buffer.concat([...this.full.map((f) => f.bytes), this.chunk.subarray(0, this.offset)]);
  }

  private seal(): void {
    // copied down to what it holds: a sealed chunk keeps no unused tail alive (the budget counts what is used)
    if (this.offset > 0) this.full.push({ bytes: Buffer.from(this.chunk.subarray(0, this.offset)), lines: this.chunkLines, id: this.chunkId });
    this.chunkId = NdjsonBuffer.chunks++;
    this.offset = 0;
    this.chunkLines = 0;
  }
}

export class PredictionLog {
  /** NDJSON lines per model, waiting for the next write. */
  private lines = new Map<string, NdjsonBuffer>();
  private waiting = 0;
  private inFlight = 0;
  private waitingBytes = 0;
  private inFlightBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private seq = 0;
  dropped = 0;
  written = 0;
  private readonly windowMs: number;
  private readonly maxBuffered: number;
  private readonly maxBytes: number;
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
    this.maxBytes = options.maxBufferedBytes ?? DEFAULT_PREDICTION_LOG_BYTES;
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

  /** Bytes waiting or being written. */
  get bufferedBytes(): number {
    return this.waitingBytes + this.inFlightBytes;
  }

  /**
   * Buffers one record; never throws, never waits. With `columns` (the model's features) a row
   * keeps only those, so whatever else a client sends is never written; sensitive columns never are.
   */
  log(entry: PredictionEntry, columns?: readonly string[]): void {
    if (this.waiting + this.inFlight >= this.maxBuffered) {
      this.dropped++;
      this.options.onDrop?.(entry.model, 1, 'records');
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
    this.waitingBytes += buffer.append(line);
    this.waiting++;
    // big records reach the byte budget long before maxPerObject lines: write early at half of it,
    // so a healthy store never sees records dropped; only a store that falls behind does
    if (buffer.lines >= this.maxPerObject || this.waitingBytes > this.maxBytes / 2) void this.flush();
    if (this.waitingBytes + this.inFlightBytes > this.maxBytes) this.makeRoom();
  }

  /** Drops the oldest waiting chunks until the bytes held fit the budget (or nothing waits). */
  private makeRoom(): void {
    while (this.waitingBytes + this.inFlightBytes > this.maxBytes && this.waitingBytes > 0) {
      let oldest: [string, NdjsonBuffer] | null = null;
      for (const pair of this.lines) {
        if (pair[1].byteLength > 0 && (!oldest || pair[1].oldestChunk() < oldest[1].oldestChunk())) oldest = pair;
      }
      if (!oldest) return;
      const [model, buffer] = oldest;
      const { lines, bytes } = buffer.dropOldest();
      this.waiting -= lines;
      this.waitingBytes -= bytes;
      this.dropped += lines;
      if (lines > 0) this.options.onDrop?.(model, lines, 'bytes');
    }
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
      const due = this.waitingBytes > this.maxBytes / 2 || [...this.lines.values()].some((b) => b.lines >= this.maxPerObject);
      if (due) void this.flush();
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
    const bytes = this.waitingBytes;
    this.inFlight += count;
    this.inFlightBytes += bytes;
    this.waiting = 0;
    this.waitingBytes = 0;
    const at = this.now();
    try {
      await Promise.all(
        [...byModel].filter(([, buffer]) => buffer.lines > 0).map(async ([model, buffer]) => {
          try {
            await this.options.sink.put(this.keyFor(model, at), buffer.bytes(), {
              contentType: 'application/x-ndjson',
            });
            this.written += buffer.lines;
          } catch (err) {
            this.dropped += buffer.lines;
            this.options.onDrop?.(model, buffer.lines, 'write_failed');
            this.options.onError?.(err);
          }
        }),
      );
    } finally {
      this.inFlight -= count;
      this.inFlightBytes -= bytes;
    }
  }
}
