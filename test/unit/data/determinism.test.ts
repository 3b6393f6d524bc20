// Same input and spec → same version and byte-identical files (whatever the thread count);
// a different seed → a different split; stratified and time splits; deterministic samples.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex as sha256 } from '../../../src/hashing';
import { prepareLocal, type PreparedLocal } from '../../../src/data/prepare';
import { DuckSession, literal } from '../../../src/data/sql';
import type { DataSpec } from '../../../src/types';
import { cleanScratch, dataSpec, makeClassification, readParquet, scratch, sql, VEGA } from './helpers';

afterAll(cleanScratch);

async function digests(r: PreparedLocal): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, file] of Object.entries(r.files))
    out[name] = sha256((await readFile(file)).toString('latin1'));
  return out;
}

/** 300,000 rows in 12 row groups (so DuckDB reads and writes with every thread): 20% positives. */
async function bigParquet(dir: string): Promise<string> {
  const file = path.join(dir, 'big.parquet');
  const db = await DuckSession.open();
  try {
    await db.run(
      `COPY (SELECT i AS id, (hash(i, 1) % 100000) / 1000.0 AS a, (hash(i, 2) % 7)::INTEGER AS b,
                    ['x', 'y', 'z', 'w'][(hash(i, 3) % 4)::INTEGER + 1] AS c, hash(i, 4) % 5 = 0 AS positive
             FROM range(300000) t(i)) TO ${literal(file)} (FORMAT parquet, ROW_GROUP_SIZE 25000)`,
    );
  } finally {
    db.close();
  }
  return file;
}

describe('determinism', () => {
  let big: string;
  beforeAll(async () => {
    big = await bigParquet(await scratch());
  });

  const prepare = async (spec: DataSpec, threads?: number): Promise<PreparedLocal> =>
    prepareLocal({ spec, specDir: '/', workDir: await scratch(), duckdb: threads ? { threads } : undefined });

  it('the same input and spec give the same version and byte-identical files, with 1 or 4 threads', async () => {
    const spec = dataSpec({ source: big, target: 'positive', exclude: ['id'] });
    const one = await prepare(spec, 1);
    const four = await prepare(spec, 4);
    const again = await prepare(spec);
    expect(one.dataVersion).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(four.dataVersion).toBe(one.dataVersion);
    expect(again.dataVersion).toBe(one.dataVersion);
    expect(path.basename(one.dir)).toBe(one.contentHash);
    expect(await digests(four)).toEqual(await digests(one));
    expect(await digests(again)).toEqual(await digests(one));
    expect(one.rows).toEqual({
      total: 300000,
      train: expect.any(Number),
      validation: expect.any(Number),
      test: expect.any(Number),
    });
  }, 120_000);

  it('a large CSV read by several threads gives the same bytes as one thread', async () => {
    const dir = await scratch();
    const csv = path.join(dir, 'big.csv');
    const db = await DuckSession.open();
    try {
      // about 40 MB, so DuckDB's CSV reader splits it between threads
      await db.run(
        `COPY (SELECT i AS id, (hash(i, 1) % 100000) / 1000.0 AS a, 'text value number ' || (hash(i, 2) % 50)::VARCHAR AS c, hash(i, 4) % 3 = 0 AS positive
               FROM range(1000000) t(i)) TO ${literal(csv)} (FORMAT csv, HEADER)`,
      );
    } finally {
      db.close();
    }
    const spec = dataSpec({ source: csv, target: 'positive', exclude: ['id'] });
    const one = await prepare(spec, 1);
    const four = await prepare(spec, 4);
    expect(four.dataVersion).toBe(one.dataVersion);
    expect(await digests(four)).toEqual(await digests(one));
    expect(one.rows.total).toBe(1000000);
  }, 180_000);

  it('the splits keep the source order and every row lands in exactly one split', async () => {
    const r = await prepare(
      dataSpec({
        source: big,
        target: 'positive',
        features: ['a', 'b', 'c'],
        derive: { key: 'id' },
        schema: { key: 'numeric' },
      }),
    );
    const parts = await sql(
      `SELECT count(*) AS n, count(DISTINCT a::VARCHAR || b::VARCHAR || c || positive) AS d FROM read_parquet([${['train', 'validation', 'test'].map((s) => literal(r.files[`${s}.parquet`]!)).join(', ')}])`,
    );
    expect(parts[0]!['n']).toBe(300000);
    expect(r.rows.train + r.rows.validation + r.rows.test).toBe(300000);
  }, 60_000);

  it('a different seed gives a different split and version', async () => {
    const dir = await scratch();
    const { file } = await makeClassification(dir, { rows: 500 });
    const a = await prepare(
      dataSpec({ source: file, target: 'label', split: { validation: 0.1, test: 0.2, seed: 1 } }),
    );
    const b = await prepare(
      dataSpec({ source: file, target: 'label', split: { validation: 0.1, test: 0.2, seed: 2 } }),
    );
    expect(b.dataVersion).not.toBe(a.dataVersion);
    const ta = await readParquet(a.files['test.parquet']!);
    const tb = await readParquet(b.files['test.parquet']!);
    expect(JSON.stringify(ta)).not.toBe(JSON.stringify(tb));
    expect(ta.length).toBe(tb.length);
  });

  it('a sample is the same rows for the same seed, other rows for another, and exactly n of them', async () => {
    const spec = (seed: number): DataSpec =>
      dataSpec({
        source: big,
        target: 'positive',
        sample: 1000,
        split: { validation: 0.1, test: 0.2, seed },
      });
    const a = await prepare(spec(7), 1);
    const b = await prepare(spec(7), 4);
    const c = await prepare(spec(8));
    expect(a.rows.total).toBe(1000);
    expect(b.dataVersion).toBe(a.dataVersion);
    expect(c.dataVersion).not.toBe(a.dataVersion);
    const ids = async (r: PreparedLocal): Promise<number[]> =>
      (
        await sql(
          `SELECT id FROM read_parquet([${['train', 'validation', 'test'].map((s) => literal(r.files[`${s}.parquet`]!)).join(', ')}]) ORDER BY id`,
        )
      ).map((x) => Number(x['id']));
    expect(await ids(b)).toEqual(await ids(a));
    expect(await ids(c)).not.toEqual(await ids(a));
  }, 60_000);
});

describe('splits', () => {
  const shares = async (file: string, target: string): Promise<Record<string, number>> => {
    const rows = await sql(
      `SELECT ${target} AS k, count(*) AS n, sum(count(*)) OVER () AS t FROM read_parquet(${literal(file)}) GROUP BY 1`,
    );
    return Object.fromEntries(rows.map((r) => [String(r['k']), Number(r['n']) / Number(r['t'])]));
  };

  it('are stratified: every class has the same share in train, validation and test (small classes exactly)', async () => {
    const dir = await scratch();
    const { file } = await makeClassification(dir, { rows: 1000, seed: 5 });
    const r = await prepareLocal({
      spec: dataSpec({ source: file, target: 'label' }),
      specDir: '/',
      workDir: dir,
    });
    const overall = r.profile.label.classes!;
    for (const s of ['train', 'validation', 'test']) {
      const got = await shares(r.files[`${s}.parquet`]!, 'label');
      for (const [k, v] of Object.entries(overall)) expect(Math.abs((got[k] ?? 0) - v)).toBeLessThan(0.01);
    }
    expect(r.rows.train / r.rows.total).toBeCloseTo(0.7, 2);
    expect(r.rows.validation / r.rows.total).toBeCloseTo(0.1, 2);
    expect(r.rows.test / r.rows.total).toBeCloseTo(0.2, 2);
  });

  it('are stratified on large data too (fixed cut points)', async () => {
    const dir = await scratch();
    const big = await bigParquet(dir);
    const r = await prepareLocal({
      spec: dataSpec({ source: big, target: 'positive', exclude: ['id'] }),
      specDir: '/',
      workDir: dir,
    });
    const overall = r.profile.label.classes!;
    for (const s of ['train', 'validation', 'test']) {
      const got = await shares(r.files[`${s}.parquet`]!, 'positive');
      for (const [k, v] of Object.entries(overall)) expect(Math.abs((got[k] ?? 0) - v)).toBeLessThan(0.005);
    }
    expect(r.rows.test / r.rows.total).toBeCloseTo(0.2, 2);
  }, 60_000);

  it('split by time: the latest period is the test set, the one before validation', async () => {
    const r = await prepareLocal({
      spec: dataSpec({
        source: path.join(VEGA, 'flights-2k.json'),
        // "when" is a timestamp (not a feature); "seconds" mirrors it as a numeric feature to check the cut
        derive: {
          late: 'delay > 15',
          when: 'CAST(date AS TIMESTAMP)',
          seconds: 'epoch(CAST(date AS TIMESTAMP))',
        },
        target: 'late',
        exclude: ['delay', 'date'],
        split: { validation: 0.1, test: 0.2, seed: 42, by: 'when' },
      }),
      specDir: '/',
      workDir: await scratch(),
    });
    expect(r.schema.splitBy).toBe('when');
    expect(r.schema.features.map((f) => f.name)).not.toContain('when');
    const range = async (s: string): Promise<[number, number]> => {
      const x = await sql(
        `SELECT min(seconds) AS lo, max(seconds) AS hi FROM read_parquet(${literal(r.files[`${s}.parquet`]!)})`,
      );
      return [Number(x[0]!['lo']), Number(x[0]!['hi'])];
    };
    const [train, validation, test] = [await range('train'), await range('validation'), await range('test')];
    expect(train[1]).toBeLessThanOrEqual(validation[0]);
    expect(validation[1]).toBeLessThanOrEqual(test[0]);
    expect(Math.abs(r.rows.test / r.rows.total - 0.2)).toBeLessThan(0.02);
    expect(Math.abs(r.rows.validation / r.rows.total - 0.1)).toBeLessThan(0.02);
  });

  it('split by a time column that cannot make a test period: SpecInvalid', async () => {
    const err = await prepareLocal({
      spec: dataSpec({
        source: path.join(VEGA, 'flights-2k.json'),
        derive: { late: 'delay > 15', day: "TIMESTAMP '2001-01-01'" },
        target: 'late',
        exclude: ['delay', 'date'],
        split: { validation: 0.1, test: 0.2, seed: 42, by: 'day' },
      }),
      specDir: '/',
      workDir: await scratch(),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      type: 'SpecInvalid',
      message: expect.stringMatching(/data\.split\.by "day" leaves the test set empty/),
    });
  });
});
