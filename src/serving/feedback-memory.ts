// The predictions a server remembers so that feedback (the true label, sent later) can be joined to
// the version that answered. A ring of request slots with a byte budget: past either bound the
// oldest entries go first, and a counter says how many went and why. Memory never grows with the
// size of the requests: a client sending 1,000-row requests fills the budget, not the heap.
import { randomFillSync, randomUUID } from 'node:crypto';
import type { Prediction } from '../ml/bundle';

export interface Remembered {
  model: string;
  version: number;
  predictions: Prediction[];
}

/** Why entries left the memory before their feedback came. */
export type EvictionReason = 'entries' | 'bytes';

export interface FeedbackMemoryOptions {
  /** Requests remembered at most. Default 100 000. */
  maxEntries?: number;
  /** Bytes held at most (the predictions' JSON, the model name and a fixed cost per entry). Default 64 MiB. */
  maxBytes?: number;
  onEvict?: (reason: EvictionReason, count: number) => void;
  /** The server's id, the first part of every request id (newServerId()); default a new one. */
  prefix?: string;
}

/** A server id: 23 characters of a random UUID, the prefix of every request id the server issues. */
export function newServerId(): string {
  return randomUUID().slice(0, 23);
}

const SERVER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}$/;

export function isServerId(id: string): boolean {
  return SERVER_ID.test(id);
}

/** The id of the server that issued a request id, or null when the id has not the shape of one. */
export function issuerOf(requestId: string): string | null {
  if (requestId.length !== 53 || requestId[23] !== '-' || requestId[36] !== '-') return null;
  const prefix = requestId.slice(0, 23);
  return isServerId(prefix) ? prefix : null;
}

export const DEFAULT_FEEDBACK_MEMORY = { maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 } as const;

/** What an entry costs besides its strings: its slot in the typed arrays and the two references. */
const ENTRY_OVERHEAD_BYTES = 64;

/** 64 random bits per id, drawn from a pooled buffer (one system call per 512 ids). */
class RandomTags {
  private readonly pool = Buffer.alloc(4096);
  private offset = this.pool.length;

  next(): [number, number] {
    if (this.offset + 8 > this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const hi = this.pool.readUInt32BE(this.offset);
    const lo = this.pool.readUInt32BE(this.offset + 4);
    this.offset += 8;
    return [hi, lo];
  }
}

const hex8 = (x: number): string => x.toString(16).padStart(8, '0');

/**
 * The request id names its slot and proves it was issued here: `<server prefix>-<sequence, 12
 * hex>-<64 random bits, 16 hex>`. The prefix (random per server, UUID-shaped) tells replicas apart;
 * the sequence finds the slot; the random tag makes an id impossible to guess, so nobody can label
 * a prediction they were not given. Each entry is joined once.
 */
export class FeedbackMemory {
  readonly prefix: string;
  private next = 0;
  /** The lowest sequence number that may still be held. */
  private oldest = 0;
  private heldBytes = 0;
  private heldEntries = 0;
  private readonly max: number;
  private readonly maxBytes: number;
  private readonly seqs: Float64Array;
  private readonly versions: Float64Array;
  private readonly sizes: Float64Array;
  private readonly tags: Uint32Array;
  private readonly models: (string | undefined)[];
  private readonly predictions: (string | undefined)[];
  private readonly random = new RandomTags();
  readonly evicted: Record<EvictionReason, number> = { entries: 0, bytes: 0 };

  constructor(private readonly options: FeedbackMemoryOptions = {}) {
    this.prefix = options.prefix ?? newServerId();
    if (!isServerId(this.prefix)) throw new Error(`feedback memory: "${this.prefix}" is not a server id`);
    this.max = Math.max(1, Math.floor(options.maxEntries ?? DEFAULT_FEEDBACK_MEMORY.maxEntries));
    this.maxBytes = Math.max(0, options.maxBytes ?? DEFAULT_FEEDBACK_MEMORY.maxBytes);
    this.seqs = new Float64Array(this.max).fill(-1);
    this.versions = new Float64Array(this.max);
    this.sizes = new Float64Array(this.max);
    this.tags = new Uint32Array(this.max * 2);
    this.models = new Array<string | undefined>(this.max);
    this.predictions = new Array<string | undefined>(this.max);
  }

  /** Bytes held now (see FeedbackMemoryOptions.maxBytes). */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Entries held now. */
  get entries(): number {
    return this.heldEntries;
  }

  /** Remembers a request's predictions (as JSON); returns its new request id. */
  remember(model: string, version: number, predictionsJson: string): string {
    const seq = this.next++;
    const slot = seq % this.max;
    if (this.seqs[slot]! >= 0) this.evict(slot, 'entries');
    const [hi, lo] = this.random.next();
    const size = predictionsJson.length + model.length + ENTRY_OVERHEAD_BYTES;
    this.seqs[slot] = seq;
    this.versions[slot] = version;
    this.sizes[slot] = size;
    this.tags[slot * 2] = hi;
    this.tags[slot * 2 + 1] = lo;
    this.models[slot] = model;
    this.predictions[slot] = predictionsJson;
    this.heldBytes += size;
    this.heldEntries++;
    // oldest first; the newest entry stays even when it alone is over the budget (the body limit bounds it)
    if (this.oldest < seq - this.max + 1) this.oldest = seq - this.max + 1;
    while (this.heldBytes > this.maxBytes && this.oldest < seq) {
      const s = this.oldest % this.max;
      if (this.seqs[s] === this.oldest) this.evict(s, 'bytes');
      this.oldest++;
    }
    return `${this.prefix}-${seq.toString(16).padStart(12, '0')}-${hex8(hi)}${hex8(lo)}`;
  }

  /**
   * Takes the entry out: feedback is joined once per request. `accept` sees the entry first and may
   * throw (a wrong model, a wrong label count): the entry then stays for a corrected attempt.
   */
  take(id: string, accept?: (entry: Remembered) => void): Remembered | undefined {
    if (id.length !== 53 || !id.startsWith(this.prefix) || id[23] !== '-' || id[36] !== '-') return undefined;
    const seqHex = id.slice(24, 36);
    const tagHex = id.slice(37);
    if (!/^[0-9a-f]{12}$/.test(seqHex) || !/^[0-9a-f]{16}$/.test(tagHex)) return undefined;
    const seq = Number.parseInt(seqHex, 16);
    const slot = seq % this.max;
    if (this.seqs[slot] !== seq) return undefined;
    const hi = Number.parseInt(tagHex.slice(0, 8), 16);
    const lo = Number.parseInt(tagHex.slice(8), 16);
    if (this.tags[slot * 2] !== hi || this.tags[slot * 2 + 1] !== lo) return undefined;
    const entry = {
      model: this.models[slot]!,
      version: this.versions[slot]!,
      predictions: JSON.parse(this.predictions[slot]!) as Prediction[],
    };
    accept?.(entry);
    this.clear(slot);
    return entry;
  }

  private evict(slot: number, reason: EvictionReason): void {
    this.clear(slot);
    this.evicted[reason]++;
    this.options.onEvict?.(reason, 1);
  }

  private clear(slot: number): void {
    this.heldBytes -= this.sizes[slot]!;
    this.heldEntries--;
    this.seqs[slot] = -1;
    this.sizes[slot] = 0;
    this.models[slot] = undefined;
    this.predictions[slot] = undefined;
  }
}
