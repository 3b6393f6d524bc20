import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeColumns, encodeRows, encodeTarget, readDatasetMeta, readSplit } from '../../../src/ml/dataset';
import { KaizenError } from '../../../src/errors';
import type { Transforms } from '../../../src/types';
import { makeFlightsDataset, writeDataset, type BuiltDataset } from './make-dataset';

const DIST = 'distance (mi) ✈';
const AIRPORT = 'aéroport "code"';

let root: string;
let hand: BuiltDataset;

const train = [
  { [DIST]: 100, hour: 1, [AIRPORT]: 'ORD', weekday: 1, late: false },
  { [DIST]: 300, hour: 2, [AIRPORT]: 'ORD', weekday: 2, late: true },
  { [DIST]: null, hour: 3, [AIRPORT]: 'JFK', weekday: 1, late: false },
  { [DIST]: 200, hour: 4, [AIRPORT]: null, weekday: 3, late: true },
];
const test = [
  { [DIST]: 250, hour: 0, [AIRPORT]: 'SFO', weekday: 7, late: true },
  { [DIST]: null, hour: 4, [AIRPORT]: null, weekday: 2, late: false },
];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kaizen-ml-dataset-'));
  hand = await writeDataset(path.join(root, 'hand'), {
    columns: { [DIST]: 'DOUBLE', hour: 'INTEGER', [AIRPORT]: 'VARCHAR', weekday: 'BIGINT', late: 'BOOLEAN' },
    kinds: { [DIST]: 'numeric', hour: 'numeric', [AIRPORT]: 'categorical', weekday: 'categorical' },
    target: 'late',
    task: 'binary',
    train,
    test,
  });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('encoding', () => {
  it('standardises numerics, imputes nulls, and indexes categories with an out-of-vocabulary bucket', async () => {
    const { transforms } = hand;
    expect(transforms.features[0]).toMatchObject({ name: DIST, mean: 200, impute: 200 });
    expect(transforms.features[2]).toEqual({
      name: AIRPORT,
      kind: 'categorical',
      impute: 'ORD',
      vocabulary: ['ORD', 'JFK'],
    });
    expect(transforms.features[3]).toMatchObject({ vocabulary: ['1', '2', '3'] });
    const std = Math.sqrt(20000 / 3);
    const hourStd = Math.sqrt(1.25);
    const split = await readSplit(hand.dir, 'test');
    expect(split.features.numericNames).toEqual([DIST, 'hour']);
    expect(split.features.categoricalNames).toEqual([AIRPORT, 'weekday']);
    expect(Array.from(split.features.numeric)).toEqual(
      [50 / std, -2.5 / hourStd, 0, 1.5 / hourStd].map(Math.fround),
    );
    // SFO and weekday 7 are unknown → bucket 2 and 3; a null airport is imputed as ORD (0)
    expect(split.features.categorical.map((c) => Array.from(c))).toEqual([
      [2, 0],
      [3, 1],
    ]);
    expect(Array.from(split.target.values)).toEqual([1, 0]);
  });

  it('encodes JSON instances exactly as parquet columns (the serving path equals the training path)', async () => {
    const fromParquet = await readSplit(hand.dir, 'test');
    const fromJson = encodeRows(hand.transforms, test);
    expect(fromJson).toEqual(fromParquet.features);

    const flights = await makeFlightsDataset(path.join(root, 'flights'), {
      rows: 1500,
      nullEvery: 13,
      names: { distance: 'distance mi', origin: 'origine ✈' },
    });
    const split = await readSplit(flights.dir, 'train');
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const rows = (
      await connection.runAndReadAll(
        `SELECT * FROM read_parquet('${path.join(flights.dir, 'train.parquet')}')`,
      )
    ).getRowObjectsJS();
    connection.closeSync();
    instance.closeSync();
    // what an HTTP client sends: plain JSON values
    const json = JSON.parse(
      JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)),
    ) as Record<string, unknown>[];
    expect(json.some((r) => r['distance mi'] === null)).toBe(true);
    const encoded = encodeRows(flights.transforms, json);
    expect(encoded.rows).toBe(flights.rows.train);
    expect(Buffer.from(encoded.numeric.buffer).equals(Buffer.from(split.features.numeric.buffer))).toBe(true);
    expect(encoded.categorical).toEqual(split.features.categorical);
  });

  it('names the instance and field of a missing feature or a wrong type', () => {
    const t = hand.transforms;
    const ok = { [DIST]: 1, hour: 2, [AIRPORT]: 'ORD', weekday: 1 };
    const fails = (rows: unknown[]): unknown => {
      try {
        encodeRows(t, rows as Record<string, unknown>[]);
      } catch (err) {
        expect(err).toBeInstanceOf(KaizenError);
        expect((err as KaizenError).type).toBe('InvalidInput');
        return (err as Error).message;
      }
      throw new Error('expected encodeRows to throw');
    };
    expect(fails([ok, { ...ok, hour: undefined }])).toBe('instances[1].hour: missing; expected a number');
    const noHour: Record<string, unknown> = { ...ok };
    delete noHour['hour'];
    expect(fails([ok, ok, noHour])).toBe('instances[2].hour: missing; expected a number');
    expect(fails([{ ...ok, [DIST]: '12' }])).toBe(`instances[0].${DIST}: expected a number, got string`);
    expect(fails([{ ...ok, [AIRPORT]: { code: 'ORD' } }])).toBe(
      `instances[0].${AIRPORT}: expected a string, got an object`,
    );
    expect(fails([ok, 'nope'])).toBe('instances[1]: expected an object of feature values, got string');
    // numbers and booleans are accepted as categories; extra fields are ignored
    const e = encodeRows(t, [
      { ...ok, weekday: 2, extra: 'x' },
      { ...ok, weekday: '2' },
    ]);
    expect(Array.from(e.categorical[1]!)).toEqual([1, 1]);
  });

  it('encodes columns with nulls and undefined as imputed values, and rejects a missing column', () => {
    const t: Transforms = {
      task: 'binary',
      features: [
        { name: 'x', kind: 'numeric', impute: 5, mean: 4, std: 2 },
        { name: 'c', kind: 'categorical', impute: 'b', vocabulary: ['a', 'b'] },
      ],
    };
    const e = encodeColumns(t, { x: [null, 8, Number.NaN, undefined], c: [null, 'a', 'zz', 3] });
    expect(Array.from(e.numeric)).toEqual([0.5, 2, 0.5, 0.5]);
    expect(Array.from(e.categorical[0]!)).toEqual([1, 0, 2, 2]);
    expect(() => encodeColumns(t, { x: [1] })).toThrow('columns: column "c" is missing');
    // a constant training column (std 0) is centred, not divided by zero
    const flat: Transforms = {
      task: 'binary',
      features: [{ name: 'x', kind: 'numeric', impute: 3, mean: 3, std: 0 }],
    };
    expect(Array.from(encodeColumns(flat, { x: [3, 4] }).numeric)).toEqual([0, 1]);
  });

  it('encodes targets by class index, and standardises regression targets', async () => {
    const meta = await readDatasetMeta(hand.dir);
    expect(Array.from(encodeTarget(meta, [true, false, 'true']).values)).toEqual([1, 0, 1]);
    expect(() => encodeTarget(meta, ['maybe'])).toThrow(
      /target "late" value maybe is not one of the classes/,
    );
    const reg = {
      schema: { ...meta.schema, task: 'regression' as const },
      transforms: { ...meta.transforms, task: 'regression' as const, targetMean: 10, targetStd: 5 },
    };
    const y = encodeTarget(reg, [20, 0n, 10]);
    expect(Array.from(y.values)).toEqual([2, -2, 0]);
    expect(Array.from(y.raw!)).toEqual([20, 0, 10]);
    expect(() => encodeTarget(reg, [null])).toThrow('must be a finite number');
  });

  it('reports a missing dataset file or column as TrainingFailed', async () => {
    await expect(readSplit(path.join(root, 'nowhere'), 'train')).rejects.toMatchObject({
      type: 'TrainingFailed',
      message: expect.stringContaining('schema.json'),
    });
    const meta = await readDatasetMeta(hand.dir);
    const renamed = {
      ...meta,
      transforms: { ...meta.transforms, features: [{ ...meta.transforms.features[1]!, name: 'minute' }] },
    };
    await expect(readSplit(hand.dir, 'train', renamed)).rejects.toMatchObject({
      type: 'TrainingFailed',
      message: expect.stringContaining('has no column "minute"'),
    });
  });
});
