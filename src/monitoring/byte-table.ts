// A lookup table from UTF-8 byte strings to small integers, probed with bytes straight out of a
// buffer: the log scanner finds feature names, category values and class labels without making a
// JS string for each of them.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

/** FNV-1a over bytes [start, end) — the scanner computes the same hash while it reads a string. */
export function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
  return h;
}

export const HASH_SEED = FNV_OFFSET;
export const HASH_PRIME = FNV_PRIME;

export class ByteTable {
  private readonly keys: Uint8Array[] = [];
  private readonly hashes: number[] = [];
  private readonly values: number[] = [];
  /** Open addressing: entry index + 1 per slot, 0 for empty. */
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(entries: Iterable<readonly [string, number]>) {
    const list = [...entries];
    let size = 8;
    while (size < list.length * 2) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (const [key, value] of list) {
      const bytes = encoder.encode(key);
      const h = hashBytes(bytes, 0, bytes.length);
      if (this.get(bytes, 0, bytes.length, h) >= 0) continue;
      this.keys.push(bytes);
      this.hashes.push(h);
      this.values.push(value);
      let slot = h & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = this.keys.length;
    }
  }

  get size(): number {
    return this.keys.length;
  }

  /** The value of bytes [start, end) of `buf` (whose hash is `hash`), or -1. */
  get(buf: Uint8Array, start: number, end: number, hash: number): number {
    const len = end - start;
    let slot = hash & this.mask;
    for (;;) {
      const e = this.slots[slot]!;
      if (e === 0) return -1;
      const i = e - 1;
      if (this.hashes[i] === hash) {
        const key = this.keys[i]!;
        if (key.length === len) {
          let same = true;
          for (let j = 0; j < len; j++) {
            if (key[j] !== buf[start + j]) {
              same = false;
              break;
            }
          }
          if (same) return this.values[i]!;
        }
      }
      slot = (slot + 1) & this.mask;
    }
  }

  getString(key: string): number {
    const bytes = encoder.encode(key);
    return this.get(bytes, 0, bytes.length, hashBytes(bytes, 0, bytes.length));
  }
}
