// Every supported format, messy files included; names with spaces, punctuation and unicode
// survive into the schema, the transforms and the parquet splits.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareLocal } from '../../../src/data/prepare';
import {
  cleanScratch,
  csvToParquet,
  dataSpec,
  fixture,
  readParquet,
  scratch,
  sql,
  writeCsv,
} from './helpers';

afterAll(cleanScratch);

describe('prepareLocal reads', () => {
  it('a messy CSV: quoted commas and newlines, nulls, a stray string in a numeric column, unicode names', async () => {
    const workDir = await scratch();
    const r = await prepareLocal({
      spec: dataSpec({ source: 'messy.csv', target: 'churned' }),
      specDir: fixture(''),
      workDir,
    });
    expect(r.rows.total).toBe(60);
    expect(r.rows.train + r.rows.validation + r.rows.test).toBe(60);
    expect(r.schema.task).toBe('binary');
    expect(r.schema.classes).toEqual(['false', 'true']);
    const kinds = Object.fromEntries(r.schema.features.map((f) => [f.name, f.kind]));
    expect(kinds).toEqual({
      'customer id': 'numeric',
      âge: 'numeric',
      'Température (°C)': 'numeric',
      'city, name': 'categorical',
      'plan type': 'categorical',
      'active?': 'boolean',
      notes: 'categorical',
    });
    // "unknown" in âge is one type violation, not a reason to read the column as text
    const violation = r.validation.findings.find((f) => f.kind === 'type_violation');
    expect(violation).toMatchObject({ column: 'âge', count: 1, severity: 'warning' });
    // the date column is a timestamp: left out, with a warning saying how to use it
    expect(r.validation.findings).toContainEqual(
      expect.objectContaining({ column: 'signup date', kind: 'excluded', severity: 'warning' }),
    );
    expect(r.schema.excluded).toContainEqual({ name: 'signup date', reason: 'timestamp' });
    // quoted values with commas and newlines are categories like any other
    const notes = r.transforms.features.find((f) => f.name === 'notes');
    expect(notes?.kind === 'categorical' && notes.vocabulary).toEqual(
      expect.arrayContaining(['multi\nline note', 'comma, inside', 'said "hello, world"']),
    );

    const rows = await readParquet(r.files['train.parquet']!);
    expect(Object.keys(rows[0]!)).toEqual([
      'customer id',
      'âge',
      'Température (°C)',
      'city, name',
      'plan type',
      'active?',
      'notes',
      'churned',
    ]);
    const types = await sql(`DESCRIBE SELECT * FROM read_parquet('${r.files['train.parquet']}')`);
    // as the schema says: integers and booleans as they are, other numerics DOUBLE, categories VARCHAR
    const stored = Object.fromEntries(types.map((t) => [t['column_name'], t['column_type']]));
    expect(stored).toEqual({
      'customer id': 'BIGINT',
      âge: 'DOUBLE',
      'Température (°C)': 'DOUBLE',
      'city, name': 'VARCHAR',
      'plan type': 'VARCHAR',
      'active?': 'BOOLEAN',
      notes: 'VARCHAR',
      churned: 'BOOLEAN',
    });
    expect(
      Object.fromEntries([...r.schema.features, r.schema.targetColumn].map((c) => [c.name, c.storedType])),
    ).toEqual(stored);
    // a label's class index is classes.indexOf(String(value))
    expect(new Set(rows.map((x) => r.schema.classes!.indexOf(String(x['churned']))))).toEqual(
      new Set([0, 1]),
    );
  });

  it('a TSV with unicode headers (multiclass target)', async () => {
    const r = await prepareLocal({
      spec: dataSpec({ source: fixture('people.tsv'), target: 'klasse' }),
      specDir: '/',
      workDir: await scratch(),
    });
    expect(r.schema.task).toBe('multiclass');
    expect(r.schema.classes).toEqual(['A', 'B', 'C']);
    expect(r.schema.features.map((f) => f.name)).toEqual(['größe (cm)', 'farbe', 'gewicht kg']);
    expect(r.profile.columns.find((c) => c.name === 'gewicht kg')).toMatchObject({
      kind: 'numeric',
      missing: 1,
    });
  });

  it.each(['events.json', 'events.ndjson'])(
    '%s (JSON with nulls, mixed types, nested values, spaces in keys)',
    async (name) => {
      const r = await prepareLocal({
        spec: dataSpec({ source: fixture(name), target: 'converted', exclude: ['user id'] }),
        specDir: '/',
        workDir: await scratch(),
      });
      expect(r.rows.total).toBe(30);
      const kinds = Object.fromEntries(r.schema.features.map((f) => [f.name, f.kind]));
      // "code" mixes numbers and a string: a category; the nested "meta" object is not a feature
      expect(kinds).toEqual({
        visits: 'numeric',
        plan: 'categorical',
        'spend €': 'numeric',
        code: 'categorical',
      });
      expect(r.schema.excluded).toContainEqual({
        name: 'meta',
        reason: expect.stringMatching(/^unsupported type STRUCT/),
      });
      const code = r.transforms.features.find((f) => f.name === 'code');
      expect(code?.kind === 'categorical' && [...code.vocabulary].sort()).toEqual(['1', '2', 'x']);
      const spend = r.profile.columns.find((c) => c.name === 'spend €');
      expect(spend?.missing).toBe(5);
    },
  );

  it('parquet (and gives the same splits as the CSV it came from)', async () => {
    const dir = await scratch();
    const parquet = await csvToParquet(fixture('people.tsv'), path.join(dir, 'people.parquet'));
    const fromParquet = await prepareLocal({
      spec: dataSpec({ source: parquet, target: 'klasse' }),
      specDir: '/',
      workDir: await scratch(),
    });
    const fromTsv = await prepareLocal({
      spec: dataSpec({ source: fixture('people.tsv'), target: 'klasse' }),
      specDir: '/',
      workDir: await scratch(),
    });
    expect(fromParquet.rows).toEqual(fromTsv.rows);
    const a = await readParquet(fromParquet.files['test.parquet']!);
    const b = await readParquet(fromTsv.files['test.parquet']!);
    expect(a).toEqual(b);
  });

  it('a real file: vega flights-5k.json with derived columns', async () => {
    const r = await prepareLocal({
      spec: dataSpec({
        source: path.resolve(import.meta.dirname, '../../../node_modules/vega-datasets/data/flights-5k.json'),
        derive: {
          late: 'delay > 15',
          hour: 'hour(CAST(date AS TIMESTAMP))',
          'day of week': 'dayofweek(CAST(date AS TIMESTAMP))',
        },
        target: 'late',
        exclude: ['delay', 'date'],
      }),
      specDir: '/',
      workDir: await scratch(),
    });
    expect(r.rows.total).toBe(5000);
    expect(r.schema.features.map((f) => `${f.name}:${f.kind}`)).toEqual([
      'distance:numeric',
      'origin:categorical',
      'destination:categorical',
      'hour:numeric',
      'day of week:numeric',
    ]);
    expect(r.validation.passed).toBe(true);
    const origin = r.transforms.features.find((f) => f.name === 'origin');
    expect(origin?.kind).toBe('categorical');
    if (origin?.kind === 'categorical') expect(origin.impute).toBe(origin.vocabulary[0]);
    const hour = r.profile.columns.find((c) => c.name === 'hour');
    expect(hour).toMatchObject({ kind: 'numeric', min: 0, max: 23, missing: 0 });
  });
});

describe('kinds and overrides', () => {
  it('data.schema turns a timestamp into epoch seconds, or integer codes into categories', async () => {
    const r = await prepareLocal({
      spec: dataSpec({
        source: 'messy.csv',
        target: 'churned',
        schema: { 'signup date': 'numeric', 'customer id': 'categorical' },
      }),
      specDir: fixture(''),
      workDir: await scratch(),
    });
    const kinds = Object.fromEntries(
      r.schema.features.map((f) => [f.name, `${f.kind}/${f.sqlType}/${f.storedType}`]),
    );
    expect(kinds['signup date']).toBe('numeric/DATE/DOUBLE');
    expect(kinds['customer id']).toBe('categorical/BIGINT/VARCHAR');
    const date = r.profile.columns.find((c) => c.name === 'signup date');
    // 2023-01-01 .. 2023-12-31 as seconds since the epoch
    expect(date).toMatchObject({ kind: 'numeric' });
    expect(date && 'min' in date && date.min).toBeGreaterThanOrEqual(1672531200);
    expect(date && 'max' in date && date.max).toBeLessThan(1704067200);
  });

  it('data.exclude also applies to data.features; yes/no strings are booleans; a regression target is DOUBLE', async () => {
    const dir = await scratch();
    const rows = Array.from({ length: 50 }, (_, i) => [
      i % 3 === 0 ? 'yes' : 'no',
      i * 1.5,
      (i * 7) % 11,
      i * 2.25 + 0.5,
    ]);
    const file = await writeCsv(path.join(dir, 'r.csv'), ['subscribed', 'spend', 'visits', 'revenue'], rows);
    const r = await prepareLocal({
      spec: dataSpec({
        source: file,
        target: 'revenue',
        features: ['subscribed', 'spend', 'visits'],
        exclude: ['visits'],
      }),
      specDir: '/',
      workDir: dir,
    });
    expect(r.schema.task).toBe('regression');
    expect(r.schema.features.map((f) => `${f.name}:${f.kind}`)).toEqual([
      'subscribed:boolean',
      'spend:numeric',
    ]);
    expect(r.transforms.targetMean).toBeGreaterThan(0);
    expect(r.transforms.targetStd).toBeGreaterThan(0);
    expect(r.transforms.features[0]).toMatchObject({ name: 'subscribed', kind: 'numeric', impute: 0 });
    const rowsBack = await readParquet(r.files['train.parquet']!);
    expect(new Set(rowsBack.map((x) => Number(x['subscribed'])))).toEqual(new Set([0, 1]));
    expect(typeof rowsBack[0]!['revenue']).toBe('number');
  });
  it('quotes in column names, a where on a derived column, a time split on a numeric column', async () => {
    const dir = await scratch();
    const rows = Array.from({ length: 120 }, (_, i) => [
      i,
      (i * 37) % 100,
      ['a', 'b', 'c'][i % 3],
      i % 4 === 0,
    ]);
    const file = await writeCsv(path.join(dir, 'q.csv'), ['day', `it's "quoted"`, 'kind; of', 'ok'], rows);
    const r = await prepareLocal({
      spec: dataSpec({
        source: file,
        derive: { 'double "it"': `2 * "it's ""quoted"""` },
        where: `"double ""it""" >= 20`,
        target: 'ok',
        split: { by: 'day' },
      }),
      specDir: '/',
      workDir: dir,
    });
    expect(r.schema.features.map((f) => f.name)).toEqual(['day', `it's "quoted"`, 'kind; of', 'double "it"']);
    expect(r.rows.total).toBe(107);
    const train = await sql(`SELECT max(day) AS hi FROM read_parquet('${r.files['train.parquet']}')`);
    const test = await sql(`SELECT min(day) AS lo FROM read_parquet('${r.files['test.parquet']}')`);
    expect(Number(train[0]!['hi'])).toBeLessThan(Number(test[0]!['lo']));
    const back = await readParquet(r.files['test.parquet']!);
    expect(Object.keys(back[0]!)).toEqual(['day', `it's "quoted"`, 'kind; of', 'double "it"', 'ok']);
  });
});
