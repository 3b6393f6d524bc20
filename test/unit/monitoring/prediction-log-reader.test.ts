import { describe, expect, it } from 'vitest';
import {
  dayPrefixes,
  keyTime,
  parseRecords,
  readPredictionLog,
  type PredictionLogStats,
} from '../../../src/monitoring/prediction-log-reader';
import type { PredictionRecord } from '../../../src/serving/prediction-log';
import { FakeStore, record } from './builders';

async function readAll(
  store: FakeStore,
  w: Parameters<typeof readPredictionLog>[1],
): Promise<{ records: PredictionRecord[]; stats: PredictionLogStats }> {
  const stats: PredictionLogStats = { objects: 0, records: 0, rows: 0, unreadable: 0 };
  const records: PredictionRecord[] = [];
  for await (const batch of readPredictionLog(store, w, stats)) records.push(...batch);
  return { records, stats };
}

describe('prediction log reader', () => {
  it('day prefixes cover the window, and keys carry their time', () => {
    expect(dayPrefixes('m', new Date('2026-03-01T23:00:00Z'), new Date('2026-03-03T01:00:00Z'))).toEqual([
      'predictions/m/2026-03-01/',
      'predictions/m/2026-03-02/',
      'predictions/m/2026-03-03/',
    ]);
    expect(keyTime('predictions/m/2026-03-04/05-06-00-host-a-12.ndjson')).toBe(
      Date.parse('2026-03-04T05:06:00Z'),
    );
    expect(keyTime('predictions/m/2026-03-04/notes.txt')).toBeNull();
  });

  it('keeps the records of [from, to) only, listing only the days of the window', async () => {
    const store = new FakeStore();
    store.putNdjson('predictions/m/2026-03-01/12-00-00-a-1.ndjson', [
      record('2026-03-01T12:00:30.000Z', [{ x: 1 }]),
    ]);
    store.putNdjson('predictions/m/2026-03-03/23-59-00-a-2.ndjson', [
      record('2026-03-03T23:58:59.999Z', [{ x: 2 }]),
      record('2026-03-03T23:59:10.000Z', [{ x: 3 }, { x: 4 }]),
    ]);
    store.putNdjson('predictions/m/2026-03-04/00-00-00-a-3.ndjson', [
      // written in the next window, but before `to`
      record('2026-03-03T23:59:59.000Z', [{ x: 5 }]),
      record('2026-03-04T00:00:00.000Z', [{ x: 6 }]),
    ]);
    store.putNdjson('predictions/other/2026-03-03/23-59-00-a-4.ndjson', [
      record('2026-03-03T23:59:30.000Z', [{ x: 7 }]),
    ]);

    const { records, stats } = await readAll(store, {
      model: 'm',
      from: new Date('2026-03-03T23:59:00.000Z'),
      to: new Date('2026-03-04T00:00:00.000Z'),
    });
    expect(records.map((r) => r.instances.map((i) => i['x'])).flat()).toEqual([3, 4, 5]);
    expect(stats).toEqual({ objects: 2, records: 2, rows: 3, unreadable: 0 });
    // 15 minutes of slack on each side: 2026-03-03 and 2026-03-04, not 2026-03-01
    expect(store.listed).toEqual(['predictions/m/2026-03-03/', 'predictions/m/2026-03-04/']);
    expect(store.fetched).not.toContain('predictions/m/2026-03-01/12-00-00-a-1.ndjson');
  });

  it('does not download objects whose key time is far outside the window', async () => {
    const store = new FakeStore();
    store.putNdjson('predictions/m/2026-03-03/08-00-00-a-1.ndjson', [
      record('2026-03-03T08:00:10.000Z', [{ x: 1 }]),
    ]);
    store.putNdjson('predictions/m/2026-03-03/12-00-00-a-2.ndjson', [
      record('2026-03-03T12:00:10.000Z', [{ x: 2 }]),
    ]);
    const { records } = await readAll(store, {
      model: 'm',
      from: new Date('2026-03-03T11:00:00Z'),
      to: new Date('2026-03-03T13:00:00Z'),
    });
    expect(records).toHaveLength(1);
    expect(store.fetched).toEqual(['predictions/m/2026-03-03/12-00-00-a-2.ndjson']);
  });

  it('optionally keeps one version only', async () => {
    const store = new FakeStore();
    store.putNdjson('predictions/m/2026-03-03/12-00-00-a-1.ndjson', [
      record('2026-03-03T12:00:01.000Z', [{ x: 1 }], { version: 1 }),
      record('2026-03-03T12:00:02.000Z', [{ x: 2 }], { version: 2 }),
    ]);
    const { records } = await readAll(store, {
      model: 'm',
      from: new Date('2026-03-03T00:00:00Z'),
      to: new Date('2026-03-04T00:00:00Z'),
      version: 2,
    });
    expect(records.map((r) => r.version)).toEqual([2]);
  });

  it('skips and counts torn lines; times in other ISO forms are parsed', () => {
    const stats = { unreadable: 0 };
    const body = `${JSON.stringify(record('2026-03-03T12:00:01.000Z', [{ x: 1 }]))}\n{"request_id": "tor\n\n[1,2]\n`;
    expect(parseRecords(body, stats)).toHaveLength(1);
    expect(stats.unreadable).toBe(2);
  });

  it('accepts `at` with an offset', async () => {
    const store = new FakeStore();
    store.putNdjson('predictions/m/2026-03-03/12-00-00-a-1.ndjson', [
      record('2026-03-03T13:00:01+01:00', [{ x: 1 }]),
      record('2026-03-03T14:00:01+01:00', [{ x: 2 }]),
    ]);
    const { records } = await readAll(store, {
      model: 'm',
      from: new Date('2026-03-03T12:00:00Z'),
      to: new Date('2026-03-03T12:30:00Z'),
    });
    expect(records.map((r) => r.instances[0]!['x'])).toEqual([1]);
  });
});
