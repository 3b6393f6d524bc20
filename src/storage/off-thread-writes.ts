// Object writes on a thread of their own, for a writer on a latency-critical event loop (the model
// server's prediction log). bench:serve measured a 2.6 MB prediction-log object at 10 ms of the
// server's main thread (the S3 client's MD5 and SHA-256 of the body, then the send): 1 µs of every
// logged request, and a 10 ms stall for the 64 requests in flight each time. The bytes are
// transferred to the writer thread, not copied. If the thread dies, writes go on from the main
// thread through `fallback`, so the log never stops.
import { Worker } from 'node:worker_threads';
import type { KaizenConfig } from '../config';
import { KaizenError } from '../errors';

export interface WriterData {
  s3: KaizenConfig['s3'];
}
export interface PutRequest {
  id: number;
  key: string;
  body: ArrayBuffer;
  contentType: string;
}
export type PutReply = { id: number; ok: true } | { id: number; ok: false; error: string };

export class OffThreadWrites {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: () => void; reject: (err: Error) => void; done: Promise<void> }
  >();
  private next = 1;
  private dead: string | null = null;
  /** Resolves once the thread has its store (or has died: then writes use the fallback). */
  readonly ready: Promise<void>;

  constructor(
    s3: KaizenConfig['s3'],
    private readonly fallback: {
      put(key: string, body: Buffer | string, opts?: { contentType?: string }): Promise<unknown>;
    },
  ) {
    this.worker = new Worker(new URL('./put-worker.mjs', import.meta.url), {
      workerData: { s3 } satisfies WriterData,
    });
    // the thread never keeps the process alive: a server that closes has flushed its log first
    this.worker.unref();
    let started: () => void = () => undefined;
    this.ready = new Promise((r) => (started = r));
    this.worker.on('message', (m: PutReply) => {
      if (m.id === 0) return started();
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) p?.resolve();
      else p?.reject(new KaizenError('StorageUnavailable', m.error));
    });
    const die = (why: string) => {
      if (this.dead) return;
      this.dead = why;
      started();
      for (const p of this.pending.values())
        p.reject(new KaizenError('StorageUnavailable', `the object-writer thread ${why}`));
      this.pending.clear();
    };
    this.worker.on('error', (err) => die(`failed: ${err.message}`));
    this.worker.on('exit', (code) => die(`exited with ${code}`));
  }

  /** Why the writer thread is gone (writes then use the fallback), or null while it runs. */
  get failure(): string | null {
    return this.dead;
  }

  /** Writes `body` under `key`. A Buffer that owns its whole memory is handed over, not copied: do not use it afterwards. */
  put(key: string, body: Buffer | string, opts: { contentType?: string } = {}): Promise<unknown> {
    if (this.dead) return this.fallback.put(key, body, opts);
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    // a Buffer may be a view into a pool or a larger buffer: only a whole ArrayBuffer can be transferred
    const whole =
      buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer;
    const ab = whole
      ? (buf.buffer as ArrayBuffer)
      : buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const id = this.next++;
    let settle!: { resolve: () => void; reject: (err: Error) => void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    this.pending.set(id, { ...settle, done });
    this.worker.postMessage(
      {
        id,
        key,
        body: ab as ArrayBuffer,
        contentType: opts.contentType ?? 'application/octet-stream',
      } satisfies PutRequest,
      [ab as ArrayBuffer],
    );
    return done;
  }

  /** Ends the thread once the writes handed to it are done. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pending.values()].map((p) => p.done));
    this.dead ??= 'closed';
    await this.worker.terminate();
  }
}
