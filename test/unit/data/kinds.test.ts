import { describe, expect, it } from 'vitest';
import { decideTask, typedExpr, type ColumnInfo } from '../../../src/data/kinds';
import { detectFormat } from '../../../src/data/source';
import { KaizenError } from '../../../src/errors';

function column(kind: ColumnInfo['kind'], sqlType = 'VARCHAR'): ColumnInfo {
  return {
    name: 'y',
    sqlType,
    kind,
    inferredKind: kind,
    expr: '"y"',
    fallible: false,
    nonNull: 10,
    distinct: 0,
    min: null,
    max: null,
  };
}

describe('decideTask', () => {
  it('infers binary from a boolean or two distinct values', () => {
    expect(decideTask(column('boolean', 'BOOLEAN'), 2, true, undefined)).toBe('binary');
    expect(decideTask(column('categorical'), 2, false, undefined)).toBe('binary');
    expect(decideTask(column('numeric', 'BIGINT'), 2, true, undefined)).toBe('binary');
  });

  it('infers multiclass from strings, or integers with at most 20 values', () => {
    expect(decideTask(column('categorical'), 5, false, undefined)).toBe('multiclass');
    expect(decideTask(column('numeric', 'BIGINT'), 20, true, undefined)).toBe('multiclass');
  });

  it('infers regression from other numerics', () => {
    expect(decideTask(column('numeric', 'BIGINT'), 21, true, undefined)).toBe('regression');
    expect(decideTask(column('numeric', 'DOUBLE'), 5, false, undefined)).toBe('regression');
  });

  it('refuses a constant target, and a given task the target cannot serve', () => {
    const fails = (fn: () => unknown, re: RegExp): void => {
      try {
        fn();
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(KaizenError);
        expect((err as KaizenError).type).toBe('TargetInvalid');
        expect((err as Error).message).toMatch(re);
      }
    };
    fails(() => decideTask(column('categorical'), 1, false, undefined), /"y" is constant/);
    fails(
      () => decideTask(column('categorical'), 3, false, 'binary'),
      /3 distinct values; a binary task needs exactly 2/,
    );
    fails(
      () => decideTask(column('categorical'), 3, false, 'regression'),
      /regression task needs a numeric target/,
    );
    fails(() => decideTask(column('timestamp', 'TIMESTAMP'), 9, false, undefined), /timestamp/);
  });
});

describe('typedExpr', () => {
  it('quotes any column name and marks conversions that can fail', () => {
    expect(typedExpr('a "b" c', 'BIGINT', 'numeric')).toEqual({
      expr: 'CAST("a ""b"" c" AS DOUBLE)',
      fallible: false,
    });
    expect(typedExpr('x', 'VARCHAR', 'numeric').fallible).toBe(true);
    expect(typedExpr('x', 'DOUBLE', 'numeric').fallible).toBe(true);
    expect(typedExpr('x', 'TIMESTAMP', 'numeric').expr).toContain('epoch');
  });
});

describe('detectFormat', () => {
  it('goes by the extension, or data.format', () => {
    expect(detectFormat('a/b.csv')).toBe('csv');
    expect(detectFormat('a/b.CSV.gz')).toBe('csv');
    expect(detectFormat('s3://bucket/x/y.tsv')).toBe('tsv');
    expect(detectFormat('y.parquet')).toBe('parquet');
    expect(detectFormat('y.json')).toBe('json');
    expect(detectFormat('y.jsonl')).toBe('ndjson');
    expect(detectFormat('y.ndjson')).toBe('ndjson');
    expect(detectFormat('y.txt', 'csv')).toBe('csv');
  });

  it('names the file it cannot place', () => {
    expect(() => detectFormat('data/file.xyz')).toThrow(/data\/file\.xyz.*data\.format/);
  });
});
