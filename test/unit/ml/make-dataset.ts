// Builders for prepared dataset directories (train/validation/test parquet + schema.json +
// transforms.json), in the layout the data stage writes. The flights builder samples real rows
// from vega-datasets' flights-3m.parquet with DuckDB; writeDataset writes hand-made rows.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type {
  ColumnSchema,
  DatasetSchema,
  FeatureKind,
  FeatureTransform,
  TaskKind,
  Transforms,
} from '../../../src/types';

export const FLIGHTS_PARQUET = path.resolve(
  import.meta.dirname,
  '../../../node_modules/vega-datasets/data/flights-3m.parquet',
);

const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`;
const literal = (value: string): string => `'${value.replaceAll("'", "''")}'`;

export interface FlightsDatasetOptions {
  /** Total rows sampled (default 5000), split 70/10/20. */
  rows?: number;
  seed?: number;
  task?: TaskKind;
  /** Every k-th row gets a NULL distance and origin (0: none). */
  nullEvery?: number;
  /** Column names to use instead of distance / hour / origin / weekday (e.g. with spaces, unicode). */
  names?: Partial<Record<'distance' | 'hour' | 'origin' | 'weekday', string>>;
  fractions?: { validation: number; test: number };
}

export interface BuiltDataset {
  dir: string;
  schema: DatasetSchema;
  transforms: Transforms;
  rows: { train: number; validation: number; test: number };
}

/** flights: distance (numeric), hour (numeric), origin (categorical, ~230 airports), weekday (categorical, 7). */
export async function makeFlightsDataset(
  dir: string,
  options: FlightsDatasetOptions = {},
): Promise<BuiltDataset> {
  const rows = options.rows ?? 5000;
  const seed = options.seed ?? 42;
  const task = options.task ?? 'binary';
  const nullEvery = options.nullEvery ?? 0;
  const fractions = options.fractions ?? { validation: 0.1, test: 0.2 };
  const n = { distance: 'distance', hour: 'hour', origin: 'origin', weekday: 'weekday', ...options.names };
  const target = task === 'binary' ? 'late' : task === 'multiclass' ? 'status' : 'delay';
  const targetExpr =
    task === 'binary'
      ? 'delay > 15'
      : task === 'multiclass'
        ? "CASE WHEN delay <= 0 THEN 'early' WHEN delay <= 15 THEN 'on_time' ELSE 'late' END"
        : 'CAST(least(delay, 300) AS DOUBLE)';
  const nulled = (expr: string): string =>
    nullEvery > 0 ? `CASE WHEN rid % ${nullEvery} = 0 THEN NULL ELSE ${expr} END` : expr;

  await mkdir(dir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  try {
    await c.run(`
      CREATE TABLE sampled AS
      SELECT row_number() OVER (ORDER BY hash(file_row_number + ${seed})) - 1 AS ord, *
      FROM (
        SELECT file_row_number, file_row_number AS rid, date, delay, distance, origin
        FROM read_parquet(${literal(FLIGHTS_PARQUET)}, file_row_number = true)
        WHERE delay IS NOT NULL
        ORDER BY hash(file_row_number + ${seed})
        LIMIT ${rows}
      )`);
    const trainEnd = Math.round(rows * (1 - fractions.validation - fractions.test));
    const validationEnd = trainEnd + Math.round(rows * fractions.validation);
    await c.run(`
      CREATE TABLE data AS SELECT
        ord,
        CASE WHEN ord < ${trainEnd} THEN 'train' WHEN ord < ${validationEnd} THEN 'validation' ELSE 'test' END AS split,
        ${nulled('CAST(distance AS INTEGER)')} AS ${ident(n.distance)},
        CAST(hour(date) AS INTEGER) AS ${ident(n.hour)},
        ${nulled('origin')} AS ${ident(n.origin)},
        dayofweek(date) AS ${ident(n.weekday)},
        ${targetExpr} AS ${ident(target)}
      FROM sampled`);
    const columns = [n.distance, n.hour, n.origin, n.weekday, target];
    const counts = { train: 0, validation: 0, test: 0 };
    for (const split of ['train', 'validation', 'test'] as const) {
      const file = path.join(dir, `${split}.parquet`);
      await c.run(
        `COPY (SELECT ${columns.map(ident).join(', ')} FROM data WHERE split = '${split}' ORDER BY ord) TO ${literal(file)} (FORMAT parquet)`,
      );
      counts[split] = Number(
        (await c.runAndReadAll(`SELECT count(*) FROM data WHERE split = '${split}'`)).getRows()[0]![0],
      );
    }
    const kinds: Record<string, FeatureKind> = {
      [n.distance]: 'numeric',
      [n.hour]: 'numeric',
      [n.origin]: 'categorical',
      [n.weekday]: 'categorical',
    };
    const built = await describeAndFit(
      c,
      'data',
      "split = 'train'",
      [n.distance, n.hour, n.origin, n.weekday],
      kinds,
      target,
      task,
    );
    await writeMeta(dir, built.schema, built.transforms);
    return { dir, ...built, rows: counts };
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

/** Schema from DuckDB types and transforms fitted on the rows matching `trainWhere`, as the data stage does. */
async function describeAndFit(
  c: DuckDBConnection,
  table: string,
  trainWhere: string,
  features: string[],
  kinds: Record<string, FeatureKind>,
  target: string,
  task: TaskKind,
): Promise<{ schema: DatasetSchema; transforms: Transforms }> {
  const described = (await c.runAndReadAll(`DESCRIBE ${table}`)).getRowObjectsJS();
  const sqlType = (name: string): string =>
    String(described.find((r) => r['column_name'] === name)?.['column_type']);
  const column = (name: string, kind: FeatureKind): ColumnSchema => ({ name, kind, sqlType: sqlType(name) });
  const transforms: FeatureTransform[] = [];
  for (const name of features) {
    const col = ident(name);
    if (kinds[name] === 'numeric') {
      const row = (
        await c.runAndReadAll(
          `SELECT avg(${col}), coalesce(stddev_pop(${col}), 0) FROM ${table} WHERE ${trainWhere}`,
        )
      ).getRows()[0]!;
      const mean = Number(row[0]);
      transforms.push({ name, kind: 'numeric', impute: mean, mean, std: Number(row[1]) });
    } else {
      const vocab = (
        await c.runAndReadAll(
          `SELECT CAST(${col} AS VARCHAR) AS v, count(*) AS n FROM ${table} WHERE ${trainWhere} AND ${col} IS NOT NULL GROUP BY v ORDER BY n DESC, v`,
        )
      )
        .getRows()
        .map((r) => String(r[0]));
      transforms.push({ name, kind: 'categorical', impute: vocab[0] ?? '', vocabulary: vocab });
    }
  }
  const t = ident(target);
  let classes: string[] | undefined;
  const extra: Partial<Transforms> = {};
  if (task === 'regression') {
    const row = (
      await c.runAndReadAll(`SELECT avg(${t}), stddev_pop(${t}) FROM ${table} WHERE ${trainWhere}`)
    ).getRows()[0]!;
    extra.targetMean = Number(row[0]);
    extra.targetStd = Number(row[1]);
  } else if (sqlType(target) === 'BOOLEAN') {
    classes = ['false', 'true'];
  } else {
    classes = (
      await c.runAndReadAll(
        `SELECT DISTINCT CAST(${t} AS VARCHAR) AS v FROM ${table} WHERE ${trainWhere} ORDER BY v`,
      )
    )
      .getRows()
      .map((r) => String(r[0]));
  }
  const schema: DatasetSchema = {
    target,
    task,
    features: features.map((f) => column(f, kinds[f]!)),
    targetColumn: column(
      target,
      task === 'regression' ? 'numeric' : sqlType(target) === 'BOOLEAN' ? 'boolean' : 'categorical',
    ),
    ...(classes ? { classes } : {}),
  };
  return { schema, transforms: { features: transforms, task, ...(classes ? { classes } : {}), ...extra } };
}

async function writeMeta(dir: string, schema: DatasetSchema, transforms: Transforms): Promise<void> {
  await writeFile(path.join(dir, 'schema.json'), JSON.stringify(schema, null, 2));
  await writeFile(path.join(dir, 'transforms.json'), JSON.stringify(transforms, null, 2));
}

export interface HandMadeDataset {
  /** Column name → DuckDB type, in order (features then target). */
  columns: Record<string, string>;
  kinds: Record<string, FeatureKind>;
  target: string;
  task: TaskKind;
  train: Record<string, unknown>[];
  validation?: Record<string, unknown>[];
  test?: Record<string, unknown>[];
}

const sqlValue = (v: unknown): string =>
  v === null || v === undefined
    ? 'NULL'
    : typeof v === 'string'
      ? literal(v)
      : typeof v === 'boolean'
        ? v
          ? 'TRUE'
          : 'FALSE'
        : String(v);

/** Writes hand-made rows as a prepared dataset; transforms are fitted on `train`. */
export async function writeDataset(dir: string, d: HandMadeDataset): Promise<BuiltDataset> {
  await mkdir(dir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  try {
    const names = Object.keys(d.columns);
    await c.run(
      `CREATE TABLE data (split VARCHAR, ${names.map((name) => `${ident(name)} ${d.columns[name]}`).join(', ')})`,
    );
    const splits = { train: d.train, validation: d.validation ?? d.train, test: d.test ?? d.train };
    for (const [split, rows] of Object.entries(splits)) {
      if (rows.length === 0) continue;
      const values = rows.map(
        (r) => `(${[literal(split), ...names.map((name) => sqlValue(r[name]))].join(', ')})`,
      );
      await c.run(`INSERT INTO data VALUES ${values.join(', ')}`);
    }
    for (const split of Object.keys(splits)) {
      const file = path.join(dir, `${split}.parquet`);
      await c.run(
        `COPY (SELECT ${names.map(ident).join(', ')} FROM data WHERE split = '${split}') TO ${literal(file)} (FORMAT parquet)`,
      );
    }
    const features = names.filter((name) => name !== d.target);
    const built = await describeAndFit(c, 'data', "split = 'train'", features, d.kinds, d.target, d.task);
    await writeMeta(dir, built.schema, built.transforms);
    return {
      dir,
      ...built,
      rows: { train: splits.train.length, validation: splits.validation.length, test: splits.test.length },
    };
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}
