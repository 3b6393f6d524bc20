// Builders for the data-stage tests: specs with the pipeline defaults, scratch directories,
// generated datasets (deterministic), and reading prepared parquet back.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckSession, literal, type Row } from '../../../src/data/sql';
import type { DataSpec, SplitSpec, ValidationThresholds } from '../../../src/types';

export const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/data');
export const VEGA = path.resolve(import.meta.dirname, '../../../node_modules/vega-datasets/data');

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

export type SpecOverrides = Omit<Partial<DataSpec>, 'validation' | 'split'> & {
  source: string;
  target: string;
  validation?: Partial<ValidationThresholds>;
  split?: Partial<SplitSpec>;
};

/** A normalised data spec with the thresholds these tests assume, then `overrides`. */
export function dataSpec(overrides: SpecOverrides): DataSpec {
  const { validation, split, ...rest } = overrides;
  return {
    derive: {},
    exclude: [],
    pii: 'reject',
    schema: {},
    ...rest,
    split: { validation: 0.1, test: 0.2, seed: 42, ...split },
    validation: {
      maxMissingFraction: 0.2,
      maxDuplicateFraction: 0.05,
      maxOutOfRangeFraction: 0.01,
      maxUnseenCategoryFraction: 0.01,
      maxLabelShift: 0.1,
      leakThreshold: 0.99,
      ...validation,
    },
  };
}

const dirs: string[] = [];

export async function scratch(prefix = 'kaizen-data-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export async function cleanScratch(): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** mulberry32: a small seeded PRNG, so generated datasets are the same on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export async function writeCsv(file: string, header: string[], rows: unknown[][]): Promise<string> {
  await writeFile(file, [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n');
  return file;
}

/** Runs SQL in a fresh in-memory DuckDB (reading prepared parquet files back, converting fixtures). */
export async function sql(statement: string): Promise<Row[]> {
  const db = await DuckSession.open();
  try {
    return await db.all(statement);
  } finally {
    db.close();
  }
}

export async function readParquet(file: string, select = '*'): Promise<Row[]> {
  return sql(`SELECT ${select} FROM read_parquet(${literal(file)})`);
}

export async function csvToParquet(csv: string, out: string): Promise<string> {
  const db = await DuckSession.open();
  try {
    await db.run(
      `COPY (SELECT * FROM read_csv(${literal(csv)}, header = true)) TO ${literal(out)} (FORMAT parquet)`,
    );
  } finally {
    db.close();
  }
  return out;
}

export interface Generated {
  file: string;
  rows: number;
}

/**
 * A binary classification table: numeric x1, x2, a categorical colour, and label (true when a noisy
 * x1 + x2 is large, so about a third are true). `leak` adds a column equal to the label with a little noise.
 */
export async function makeClassification(
  dir: string,
  opts: { rows: number; seed?: number; leak?: boolean; name?: string; shift?: number } = { rows: 1000 },
): Promise<Generated> {
  const r = rng(opts.seed ?? 1);
  const header = ['x1', 'x2', 'colour', 'label', ...(opts.leak ? ['leaky'] : [])];
  const rows: unknown[][] = [];
  for (let i = 0; i < opts.rows; i++) {
    const x1 = r() * 10 + (opts.shift ?? 0);
    const x2 = r() * 5;
    const colour = ['red', 'green', 'blue'][Math.floor(r() * 3)];
    const label = x1 + x2 + r() * 4 > 11;
    const row: unknown[] = [x1.toFixed(3), x2.toFixed(3), colour, label];
    if (opts.leak) row.push(((label ? 1 : 0) + r() * 0.01).toFixed(4));
    rows.push(row);
  }
  const file = await writeCsv(path.join(dir, opts.name ?? 'classification.csv'), header, rows);
  return { file, rows: opts.rows };
}
