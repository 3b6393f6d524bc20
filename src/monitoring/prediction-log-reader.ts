// Reads a model's prediction log (src/serving/prediction-log.ts) for a time window [from, to):
// lists only the day prefixes the window touches, skips objects whose key time is far outside it,
// downloads a few objects ahead while the current one is read, and hands over one object's worth
// at a time (records, or counts in a drift accumulator), so a window of millions of rows never sits
// in memory.
import type { PredictionRecord } from '../serving/prediction-log';
import type { DriftAccumulator } from './drift';
import { LogScanner } from './log-scanner';

/** What the reader needs of the object store (ObjectStore satisfies it). */
export interface PredictionLogStore {
  list(prefix: string): Promise<{ key: string; lastModified?: Date }[]>;
  getBuffer(key: string): Promise<Buffer | null>;
}

export interface PredictionLogWindow {
  model: string;
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  /** Only records served by this version. */
  version?: number;
  /**
   * How far a record's time may lie from the time in its object's key: a server writes its buffer
   * once per log window (a minute by default) under the window's start, so records are a little
   * older or newer than the key says. Objects further outside the window are not downloaded.
   * Default 15 minutes.
   */
  slackMs?: number;
  /** Objects downloaded ahead of the one being parsed. Default 4. */
  prefetch?: number;
}

export interface PredictionLogStats {
  objects: number;
  /** Records in the window (and of the version). */
  records: number;
  /** Instances (rows) of those records. */
  rows: number;
  /** Lines that were not valid JSON records (a torn write), skipped. */
  unreadable: number;
}

const DAY_MS = 86_400_000;
const DEFAULT_SLACK_MS = 15 * 60_000;
const KEY_TIME = /\/(\d{4}-\d{2}-\d{2})\/(\d{2})-(\d{2})-(\d{2})-[^/]*\.ndjson$/;

/** `predictions/<model>/<yyyy-mm-dd>/` of every day from `from` to `to`. */
export function dayPrefixes(model: string, from: Date, to: Date): string[] {
  const out: string[] = [];
  const last = Math.floor(to.getTime() / DAY_MS);
  for (let day = Math.floor(from.getTime() / DAY_MS); day <= last; day++) {
    out.push(`predictions/${model}/${new Date(day * DAY_MS).toISOString().slice(0, 10)}/`);
  }
  return out;
}

/** The time in a log object's key (the start of the server's log window), or null for another name. */
export function keyTime(key: string): number | null {
  const m = KEY_TIME.exec(key);
  return m ? Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.000Z`) : null;
}

/** The keys of log objects that may hold records of the window, oldest first. */
export async function predictionLogKeys(
  store: PredictionLogStore,
  w: PredictionLogWindow,
): Promise<string[]> {
  const slack = w.slackMs ?? DEFAULT_SLACK_MS;
  const lo = w.from.getTime() - slack;
  const hi = w.to.getTime() + slack;
  const keys: string[] = [];
  for (const prefix of dayPrefixes(w.model, new Date(lo), new Date(hi))) {
    for (const o of await store.list(prefix)) {
      const t = keyTime(o.key);
      if (t === null || (t >= lo && t < hi)) keys.push(o.key);
    }
  }
  return keys.sort();
}

/** The log objects of the window, downloading `prefetch` ahead of the one being read. */
async function* logObjects(store: PredictionLogStore, w: PredictionLogWindow): AsyncGenerator<Buffer> {
  const keys = await predictionLogKeys(store, w);
  const ahead = Math.max(1, w.prefetch ?? 4);
  const pending: Promise<Buffer | null>[] = [];
  let next = 0;
  const fill = (): void => {
    while (pending.length < ahead && next < keys.length) {
      const p = store.getBuffer(keys[next++]!);
      // a failure surfaces when this one is awaited; until then it must not be "unhandled"
      p.catch(() => undefined);
      pending.push(p);
    }
  };
  fill();
  while (pending.length > 0) {
    const body = await pending.shift()!;
    fill();
    // null: removed since the listing
    if (body) yield body;
  }
}

/**
 * The records of the window, one object's worth at a time (records outside [from, to) or of other
 * versions left out). `stats` is filled in as the reading goes. For drift, scanPredictionLog does
 * the same without making JS objects of the records.
 */
export async function* readPredictionLog(
  store: PredictionLogStore,
  w: PredictionLogWindow,
  stats: PredictionLogStats = { objects: 0, records: 0, rows: 0, unreadable: 0 },
): AsyncGenerator<PredictionRecord[]> {
  const from = w.from.toISOString();
  const to = w.to.toISOString();
  const fromMs = w.from.getTime();
  const toMs = w.to.getTime();
  // ISO strings of the same shape compare as their times do; anything else is parsed
  const inWindow = (at: unknown): boolean => {
    if (typeof at !== 'string') return false;
    if (at.length === 24 && at.charCodeAt(23) === 90 /* Z */) return at >= from && at < to;
    const t = Date.parse(at);
    return t >= fromMs && t < toMs;
  };
  for await (const body of logObjects(store, w)) {
    stats.objects++;
    const kept: PredictionRecord[] = [];
    for (const r of parseRecords(body, stats)) {
      if (!inWindow(r.at)) continue;
      if (w.version !== undefined && r.version !== w.version) continue;
      kept.push(r);
      stats.records++;
      stats.rows += r.instances.length;
    }
    if (kept.length > 0) yield kept;
  }
}

/**
 * Counts the window's log into a drift accumulator straight from the bytes (see log-scanner):
 * rows of every version (or only `version`), predictions only of `predictionsOf` when given.
 */
export async function scanPredictionLog(
  store: PredictionLogStore,
  w: PredictionLogWindow & { predictionsOf?: number },
  acc: DriftAccumulator,
  stats: PredictionLogStats = { objects: 0, records: 0, rows: 0, unreadable: 0 },
  /** Called after each object (an activity heartbeats from here). */
  onProgress?: (stats: PredictionLogStats) => void,
): Promise<PredictionLogStats> {
  const scanner = new LogScanner(acc, w);
  const sync = (): void => {
    stats.records = scanner.stats.records;
    stats.rows = scanner.stats.rows;
    stats.unreadable = scanner.stats.unreadable;
  };
  for await (const body of logObjects(store, w)) {
    stats.objects++;
    scanner.scan(body);
    if (onProgress) {
      sync();
      onProgress(stats);
    }
  }
  sync();
  return stats;
}

/** NDJSON → records; a line that is not a JSON object with `instances` is counted and skipped. */
export function parseRecords(
  body: Buffer | string,
  stats?: Pick<PredictionLogStats, 'unreadable'>,
): PredictionRecord[] {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const out: PredictionRecord[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) {
      const line = text.slice(start, end);
      try {
        const r = JSON.parse(line) as PredictionRecord;
        if (r && Array.isArray(r.instances)) {
          if (!Array.isArray(r.predictions)) r.predictions = [];
          out.push(r);
        } else if (stats) stats.unreadable++;
      } catch {
        // a blank line is no record, but no torn one either
        if (stats && line.trim() !== '') stats.unreadable++;
      }
    }
    start = end + 1;
  }
  return out;
}
