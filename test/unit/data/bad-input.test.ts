// Bad input is a non-retryable KaizenError of the right type whose message names the culprit.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareLocal } from '../../../src/data/prepare';
import { KaizenError, type ErrorType } from '../../../src/errors';
import {
  cleanScratch,
  dataSpec,
  fixture,
  makeClassification,
  scratch,
  writeCsv,
  type SpecOverrides,
} from './helpers';

afterAll(cleanScratch);

async function failure(
  spec: SpecOverrides,
  task?: 'binary' | 'multiclass' | 'regression',
): Promise<KaizenError> {
  try {
    await prepareLocal({ spec: dataSpec(spec), task, specDir: fixture(''), workDir: await scratch() });
  } catch (err) {
    expect(err).toBeInstanceOf(KaizenError);
    return err as KaizenError;
  }
  throw new Error('prepareLocal did not fail');
}

function expectError(err: KaizenError, type: ErrorType, message: RegExp): void {
  expect(err.type).toBe(type);
  expect(err.retryable).toBe(false);
  expect(err.message).toMatch(message);
}

describe('bad input', () => {
  it('a missing file: DataSourceNotFound naming it', async () => {
    expectError(
      await failure({ source: 'nope/missing.csv', target: 'y' }),
      'DataSourceNotFound',
      /nope\/missing\.csv/,
    );
  });

  it('an s3:// source without an object store: DataSourceNotFound naming it', async () => {
    expectError(
      await failure({ source: 's3://bucket/data.csv', target: 'y' }),
      'DataSourceNotFound',
      /s3:\/\/bucket\/data\.csv/,
    );
  });

  it('a directory of assorted files, a corrupt parquet file, an unknown extension: DataFormatUnreadable naming the file', async () => {
    // a directory is read as a prefix: every file in it, of one format
    expectError(
      await failure({ source: '.', target: 'y' }),
      'DataFormatUnreadable',
      /matches .*data\.xyz, whose format cannot be told from its extension/,
    );
    expectError(
      await failure({ source: 'corrupt.parquet', target: 'y' }),
      'DataFormatUnreadable',
      /corrupt\.parquet/,
    );
    expectError(await failure({ source: 'data.xyz', target: 'y' }), 'DataFormatUnreadable', /data\.xyz/);
  });

  it('an empty file, a header without rows: DataEmpty', async () => {
    expectError(await failure({ source: 'empty.csv', target: 'label' }), 'DataEmpty', /empty\.csv.*empty/);
    expectError(
      await failure({ source: 'header-only.csv', target: 'label' }),
      'DataEmpty',
      /header-only\.csv has no rows/,
    );
  });

  it('no rows left after where: DataEmpty naming the where clause', async () => {
    expectError(
      await failure({ source: 'messy.csv', target: 'churned', where: '"customer id" > 1000' }),
      'DataEmpty',
      /data\.where \("customer id" > 1000\)/,
    );
  });

  it('the target missing: TargetInvalid naming it', async () => {
    expectError(
      await failure({ source: 'messy.csv', target: 'outcome' }),
      'TargetInvalid',
      /target column "outcome" does not exist/,
    );
  });

  it('a constant target: TargetInvalid naming it', async () => {
    const dir = await scratch();
    const file = await writeCsv(
      path.join(dir, 'constant.csv'),
      ['x', 'y'],
      [
        [1, 'a'],
        [2, 'a'],
        [3, 'a'],
        [4, null],
      ],
    );
    expectError(
      await failure({ source: file, target: 'y' }),
      'TargetInvalid',
      /target column "y" is constant/,
    );
  });

  it('a target with no values: TargetInvalid', async () => {
    const dir = await scratch();
    const file = await writeCsv(
      path.join(dir, 'unlabelled.csv'),
      ['x', 'y'],
      [
        [1, null],
        [2, null],
      ],
    );
    expectError(await failure({ source: file, target: 'y' }), 'TargetInvalid', /"y" has no values/);
  });

  it('a task the target cannot serve: TargetInvalid', async () => {
    expectError(
      await failure({ source: 'people.tsv', target: 'klasse' }, 'binary'),
      'TargetInvalid',
      /"klasse" has 3 distinct values/,
    );
  });

  it('SQL errors in where and derive: SqlError naming the expression', async () => {
    expectError(
      await failure({ source: 'messy.csv', target: 'churned', where: 'no_such_column > 3' }),
      'SqlError',
      /data\.where \(no_such_column > 3\).*no_such_column/,
    );
    expectError(
      await failure({ source: 'messy.csv', target: 'churned', where: 'âge >>> 3' }),
      'SqlError',
      /data\.where/,
    );
    expectError(
      await failure({
        source: 'messy.csv',
        target: 'churned',
        derive: { ok: '1', 'bad one': 'frobnicate("âge")' },
      }),
      'SqlError',
      /data\.derive\.bad one \(frobnicate\("âge"\)\).*frobnicate/,
    );
    // fails only on the data (a conversion at run time), and the value is not in the message
    const err = await failure({
      source: 'messy.csv',
      target: 'churned',
      derive: { age2: 'CAST("âge" AS INTEGER)' },
    });
    expectError(err, 'SqlError', /data\.derive\.age2.*failed on the data/);
    expect(err.message).not.toContain('unknown');
  });

  it('a feature, exclude, schema or split.by column that does not exist: ColumnNotFound naming it', async () => {
    expectError(
      await failure({ source: 'messy.csv', target: 'churned', features: ['âge', 'shoe size'] }),
      'ColumnNotFound',
      /data\.features names column "shoe size"/,
    );
    expectError(
      await failure({ source: 'messy.csv', target: 'churned', exclude: ['ghost'] }),
      'ColumnNotFound',
      /data\.exclude names column "ghost"/,
    );
    expectError(
      await failure({ source: 'messy.csv', target: 'churned', schema: { phantom: 'numeric' } }),
      'ColumnNotFound',
      /data\.schema names column "phantom"/,
    );
    const dir = await scratch();
    const { file } = await makeClassification(dir, { rows: 50 });
    expectError(
      await failure({
        source: file,
        target: 'label',
        split: { validation: 0.1, test: 0.2, seed: 1, by: 'when' },
      }),
      'ColumnNotFound',
      /data\.split\.by names column "when"/,
    );
  });

  it('spec names are matched without regard to case when unambiguous', async () => {
    const r = await prepareLocal({
      spec: dataSpec({ source: 'messy.csv', target: 'CHURNED', features: ['ÂGE', 'Plan Type'] }),
      specDir: fixture(''),
      workDir: await scratch(),
    });
    expect(r.schema.target).toBe('churned');
    expect(r.schema.features.map((f) => f.name)).toEqual(['âge', 'plan type']);
  });

  it('split fractions that leave nothing to train on: SpecInvalid', async () => {
    expectError(
      await failure({
        source: 'messy.csv',
        target: 'churned',
        split: { validation: 0.5, test: 0.5, seed: 1 },
      }),
      'SpecInvalid',
      /data\.split/,
    );
  });
});
