import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OffThreadWrites } from '../../src/storage/off-thread-writes';
import { createObjectStore } from '../../src/storage/object-store';
import { testConfig } from '../helpers/stack-env';

describe('object writes on a thread of their own, to real MinIO', () => {
  const cfg = testConfig();
  const store = createObjectStore(cfg);

  it('writes whole buffers, views into larger ones and strings, byte for byte; a store error reaches the caller', async () => {
    const puts: string[] = [];
    const writes = new OffThreadWrites(cfg.s3, { put: async (key) => void puts.push(key) });
    await writes.ready;
    const prefix = `scratch/off-thread/${randomUUID()}`;
    const big = Buffer.alloc(3 * 1024 * 1024, 'a');
    big.write('end', big.length - 3);
    const backing = Buffer.from('xxhello, view!yy');
    const view = backing.subarray(2, 14);
    await Promise.all([
      writes.put(`${prefix}/big.ndjson`, big, { contentType: 'application/x-ndjson' }),
      writes.put(`${prefix}/view.txt`, view),
      writes.put(`${prefix}/text.txt`, 'plain ✓ text'),
    ]);
    // a buffer that owns its memory was handed over (not copied); a view's bytes were copied out,
    expect(big.byteLength).toBe(0);
    // so what surrounds them is untouched on this thread
    expect(backing.toString()).toBe('xxhello, view!yy');
    const stored = await store.getBuffer(`${prefix}/big.ndjson`);
    expect(stored?.length).toBe(3 * 1024 * 1024);
    expect(stored?.subarray(-3).toString()).toBe('end');
    expect((await store.getBuffer(`${prefix}/view.txt`))?.toString()).toBe('hello, view!');
    expect((await store.getBuffer(`${prefix}/text.txt`))?.toString()).toBe('plain ✓ text');
    // a bucket that does not exist: the writer thread's error comes back as the put's rejection
    const bad = new OffThreadWrites(
      { ...cfg.s3, bucket: `missing-${randomUUID().slice(0, 8)}` },
      { put: async () => undefined },
    );
    await expect(bad.put('k', 'v')).rejects.toThrow(/bucket|exist/i);
    await bad.close();
    expect(puts).toEqual([]);
    await writes.close();
    expect(writes.failure).toBe('closed');
  });

  it('goes on from the calling thread when the writer thread is gone', async () => {
    const fallback: string[] = [];
    const writes = new OffThreadWrites(cfg.s3, { put: async (key) => void fallback.push(key) });
    await writes.ready;
    await writes.close();
    await writes.put('scratch/after-close', 'x');
    expect(fallback).toEqual(['scratch/after-close']);
  });
});
