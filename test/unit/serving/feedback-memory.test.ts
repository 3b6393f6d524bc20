// The feedback memory: unguessable ids, one join per id, and bounded by entries and by bytes.
import { describe, expect, it } from 'vitest';
import { FeedbackMemory } from '../../../src/serving/feedback-memory';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9a-f]{16}$/;

describe('FeedbackMemory', () => {
  it('remembers a bounded number of predictions for feedback, each joined once', () => {
    const recent = new FeedbackMemory({ maxEntries: 2 });
    const ids = [1, 2, 3].map((i) => recent.remember('m', i, JSON.stringify([{ value: i }])));
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(ID);
    expect(recent.take(ids[0]!)).toBeUndefined();
    expect(recent.evicted).toEqual({ entries: 1, bytes: 0 });
    expect(recent.take(ids[2]!)).toEqual({ model: 'm', version: 3, predictions: [{ value: 3 }] });
    expect(recent.take(ids[2]!)).toBeUndefined();
    // another server's ids, and anything not an id, join nothing
    const other = new FeedbackMemory({ maxEntries: 2 });
    expect(recent.take(other.remember('m', 1, '[]'))).toBeUndefined();
    for (const bad of ['', 'x', `${ids[1]!.slice(0, 24)}zzzzzzzzzzzz${ids[1]!.slice(36)}`, `${ids[1]}0`]) {
      expect(recent.take(bad)).toBeUndefined();
    }
    expect(recent.take(ids[1]!)).toBeDefined();
    expect(recent.entries).toBe(0);
    expect(recent.bytes).toBe(0);
  });

  it('ids cannot be guessed: the sequence is not enough, the random tag must match', () => {
    const recent = new FeedbackMemory();
    const id = recent.remember('m', 1, '[{"label":"true"}]');
    const tag = id.slice(37);
    // a forger who knows the prefix and the sequence (they are in any id the server hands out)
    for (const forged of [`${id.slice(0, 37)}${'0'.repeat(16)}`, `${id.slice(0, 37)}${tag.slice(1)}${tag[0]}`]) {
      if (forged === id) continue;
      expect(recent.take(forged)).toBeUndefined();
    }
    const next = recent.remember('m', 1, '[]');
    expect(next.slice(0, 36)).toBe(`${id.slice(0, 24)}${'000000000001'}`);
    expect(next.slice(37)).not.toBe(tag);
    // tags are spread over 64 bits
    const tags = new Set(Array.from({ length: 2000 }, () => recent.remember('m', 1, '[]').slice(37)));
    expect(tags.size).toBe(2000);
    expect(recent.take(id)).toBeDefined();
  });

  it('holds at most its byte budget: the oldest go first and are counted; memory does not grow with request size', () => {
    const budget = 1024 * 1024;
    const recent = new FeedbackMemory({ maxEntries: 100_000, maxBytes: budget });
    // 1,000-row requests: about 30 KB of predictions each
    const big = JSON.stringify(Array.from({ length: 1000 }, () => ({ label: 'true', probability: 0.123456 })));
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      ids.push(recent.remember('m', 1, big));
      expect(recent.bytes).toBeLessThanOrEqual(budget);
    }
    const kept = Math.floor(budget / (big.length + 1 + 64));
    expect(recent.entries).toBe(kept);
    expect(recent.evicted.bytes).toBe(300 - kept);
    // the newest are still there, the oldest are not
    expect(recent.take(ids[299]!)).toBeDefined();
    expect(recent.take(ids[0]!)).toBeUndefined();
    // a joined entry frees its bytes at once
    const before = recent.bytes;
    expect(recent.take(ids[298]!)).toBeDefined();
    expect(recent.bytes).toBe(before - (big.length + 1 + 64));
  });

  it('one entry over the whole budget is kept until the next arrives', () => {
    const recent = new FeedbackMemory({ maxBytes: 10 });
    const a = recent.remember('m', 1, '[{"value":1}]');
    expect(recent.entries).toBe(1);
    const b = recent.remember('m', 1, '[{"value":2}]');
    expect(recent.take(a)).toBeUndefined();
    expect(recent.take(b)).toBeDefined();
    expect(recent.evicted.bytes).toBe(1);
  });
});
