// Train / validation / test assignment as SQL conditions, without sorting or copying the data.
// Each row's seeded hash of its stable key (its position in the source file) is uniform on
// [0, 2^64): a row trains when the hash is at most the train cut, validates up to the next cut, and
// tests otherwise. Per stratum (class): small strata (up to 200,000 rows) get exact cut points, the
// quantiles of their own hashes, so even a class of 10 rows splits 7/1/2; large strata use the
// fixed cuts (train · 2^64, …), whose shares differ from the exact ones by well under 0.5%.
// A time split cuts on the timestamp instead: the latest period is the test set.
import { KaizenError } from '../errors';
import type { SplitSpec } from '../types';
import { sampleClause } from './profile';
import { literal, toCount, type DuckSession } from './sql';

export type SplitName = 'train' | 'validation' | 'test';
export const SPLITS: SplitName[] = ['train', 'validation', 'test'];

/** Strata up to this size get exact cut points. */
export const EXACT_STRATUM_ROWS = 200_000;
/** Time cut points are quantiles of (a deterministic sample of) this many rows. */
const TIME_SAMPLE_ROWS = 200_000;

export interface SplitPlan {
  /** SQL condition over the data selecting each split's rows (plain comparisons: cheap per row). */
  where: Record<SplitName, string>;
  rows: Record<SplitName, number>;
}

export interface SplitInput {
  table: string;
  rowKey: string;
  rows: number;
  split: SplitSpec;
  /** Stratify by this VARCHAR expression (the class label) with these row counts per value. */
  strata?: { expr: string; counts: { value: string; count: number }[] };
  /** Split by time on this DOUBLE expression (epoch seconds) instead. */
  timeExpr?: string;
  /** Names the time column in messages. */
  timeColumn?: string;
}

export function checkFractions(split: SplitSpec): void {
  const { validation, test } = split;
  const ok = (x: number): boolean => Number.isFinite(x) && x >= 0 && x < 1;
  if (!ok(validation) || !ok(test) || validation + test >= 1) {
    throw new KaizenError(
      'SpecInvalid',
      `data.split: validation (${validation}) and test (${test}) must be fractions in [0, 1) that leave rows for training`,
    );
  }
  if (!Number.isFinite(split.seed))
    throw new KaizenError('SpecInvalid', `data.split.seed must be a number, got ${split.seed}`);
}

const MAX_HASH = (1n << 64n) - 1n;

/** floor(fraction · 2^64) as a UBIGINT literal. */
function hashCut(fraction: number): string {
  if (fraction >= 1) return `${MAX_HASH}::UBIGINT`;
  const cut = BigInt(Math.floor(fraction * 2 ** 53)) << 11n;
  return `${cut}::UBIGINT`;
}

/** A cut point read back as text (hashes are 64-bit: a JS number would round them). */
function valueLiteral(v: unknown, type: 'UBIGINT' | 'DOUBLE'): string {
  if (v === null || v === undefined) return `NULL::${type}`;
  const text = String(v);
  if (!/^[0-9eE.+-]+$/.test(text)) throw new Error(`unexpected cut point ${text}`);
  return `${text}::${type}`;
}

export async function planSplit(db: DuckSession, input: SplitInput): Promise<SplitPlan> {
  checkFractions(input.split);
  const { table, rowKey, split } = input;
  const trainShare = 1 - split.validation - split.test;
  const fractions = [trainShare, trainShare + split.validation] as const;
  const list = `[${fractions.join(', ')}]`;
  let x: string;
  let cut: [string, string];
  if (input.timeExpr) {
    x = input.timeExpr;
    const r = await db.all(
      `SELECT CAST(quantile_disc(${x}, ${list}) AS VARCHAR[]) AS q FROM ${table} WHERE ${x} IS NOT NULL AND ${sampleClause(input.rowKey, input.rows, TIME_SAMPLE_ROWS, 'time')}`,
    );
    const q = (r[0]?.['q'] as (string | null)[] | null) ?? [null, null];
    cut = [valueLiteral(q[0], 'DOUBLE'), valueLiteral(q[1], 'DOUBLE')];
  } else {
    x = `hash(${rowKey}, ${Math.trunc(split.seed)})`;
    cut = [hashCut(fractions[0]), hashCut(fractions[1])];
    const strata = input.strata;
    const small = strata ? strata.counts.filter((s) => s.count <= EXACT_STRATUM_ROWS) : [];
    if (strata && small.length) {
      const exact = await db.all(
        `SELECT ${strata.expr} AS k, CAST(quantile_disc(${x}, ${list}) AS VARCHAR[]) AS q FROM ${table} WHERE ${strata.expr} IN (${small.map((s) => literal(s.value)).join(', ')}) GROUP BY 1 ORDER BY 1`,
      );
      const map = (i: 0 | 1): string =>
        `coalesce(MAP {${exact.map((r) => `${literal(String(r['k']))}: ${valueLiteral((r['q'] as unknown[])[i], 'UBIGINT')}`).join(', ')}}[${strata.expr}], ${cut[i]})`;
      cut = [map(0), map(1)];
    } else if (!strata && input.rows <= EXACT_STRATUM_ROWS) {
      const r = await db.all(`SELECT CAST(quantile_disc(${x}, ${list}) AS VARCHAR[]) AS q FROM ${table}`);
      const q = (r[0]?.['q'] as unknown[] | null) ?? [];
      cut = [valueLiteral(q[0], 'UBIGINT'), valueLiteral(q[1], 'UBIGINT')];
    }
  }
  // rows without a time cannot be placed in a period: they train (a hash is never NULL)
  const where: Record<SplitName, string> = {
    train: input.timeExpr ? `(${x} IS NULL OR ${x} <= ${cut[0]})` : `${x} <= ${cut[0]}`,
    validation: `(${x} > ${cut[0]} AND ${x} <= ${cut[1]})`,
    test: `${x} > ${cut[1]}`,
  };
  const counts = await db.one(
    `SELECT ${SPLITS.map((p) => `count(*) FILTER (WHERE ${where[p]}) AS ${p}`).join(', ')} FROM ${table}`,
  );
  const rows: Record<SplitName, number> = {
    train: toCount(counts['train']),
    validation: toCount(counts['validation']),
    test: toCount(counts['test']),
  };
  const by = input.timeColumn ? ` by "${input.timeColumn}"` : '';
  if (rows.train === 0) throw new KaizenError('SpecInvalid', `data.split${by} leaves no rows for training`);
  if (split.test > 0 && rows.test === 0) {
    throw new KaizenError(
      'SpecInvalid',
      input.timeExpr
        ? `data.split.by "${input.timeColumn}" leaves the test set empty: the latest ${split.test * 100}% of rows share one time; use a finer time column or a random split`
        : `data.split leaves the test set empty (${input.rows} rows are too few)`,
    );
  }
  return { where, rows };
}
