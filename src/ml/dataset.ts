// Reads a prepared dataset directory (train/validation/test parquet + schema.json + transforms.json)
// and encodes features with the transforms decided on the training split. Training and serving
// share one encoder per feature: encodeColumns (parquet columns) and encodeRows (JSON instances)
// both call the same `encodeValue`, so a model never sees features encoded two different ways.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { KaizenError } from '../errors';
import type { DatasetSchema, FeatureTransform, TaskKind, Transforms } from '../types';
import { ident, literal } from '../data/sql';

export type SplitName = 'train' | 'validation' | 'test';

/**
 * Encoded features, ready for tensors: standardised numerics row-major in `numeric`
 * (rows × numericNames.length), and one index array per categorical feature (in transforms order;
 * index `vocabulary.length` is the out-of-vocabulary bucket).
 */
export interface EncodedFeatures {
  rows: number;
  numericNames: string[];
  numeric: Float32Array;
  categoricalNames: string[];
  categorical: Int32Array[];
}

/** Targets as the loss sees them: class indices, or the standardised regression value. */
export interface EncodedTarget {
  /** binary: 0/1; multiclass: class index; regression: (y - targetMean) / targetStd */
  values: Float32Array;
  /** regression only: the value in its original unit */
  raw?: Float64Array;
}

export interface DatasetMeta {
  schema: DatasetSchema;
  transforms: Transforms;
}

export interface EncodedSplit extends DatasetMeta {
  split: SplitName;
  features: EncodedFeatures;
  target: EncodedTarget;
}

// ---------------------------------------------------------------------------------------------
// Per-value encoding: the one code path shared by training and serving
// ---------------------------------------------------------------------------------------------

/** What a feature value must look like, for error messages. */
export function expectedType(t: FeatureTransform): string {
  return t.kind === 'numeric' ? 'a number' : 'a string';
}

/** A compiled encoder for one feature; `encode` returns undefined when the value has the wrong type. */
interface FeatureEncoder {
  transform: FeatureTransform;
  encode(value: unknown): number | undefined;
}

function compileEncoder(t: FeatureTransform): FeatureEncoder {
  if (t.kind === 'numeric') {
    // A constant training column has std 0: centre it and leave the scale alone.
    const std = Number.isFinite(t.std) && t.std > 0 ? t.std : 1;
    const mean = t.mean;
    const imputed = (t.impute - mean) / std;
    return {
      transform: t,
      encode(value) {
        if (value === null) return imputed;
        const x = toNumber(value);
        if (x === undefined) return undefined;
        return Number.isNaN(x) ? imputed : (x - mean) / std;
      },
    };
  }
  const index = new Map<string, number>();
  t.vocabulary.forEach((v, i) => {
    if (!index.has(v)) index.set(v, i);
  });
  const oov = t.vocabulary.length;
  const imputed = index.get(t.impute) ?? oov;
  return {
    transform: t,
    encode(value) {
      if (value === null) return imputed;
      const s = toCategory(value);
      if (s === undefined) return undefined;
      return index.get(s) ?? oov;
    },
  };
}

function toNumber(value: unknown): number | undefined {
  switch (typeof value) {
    case 'number':
      return value;
    case 'bigint':
      return Number(value);
    case 'boolean':
      return value ? 1 : 0;
    default:
      // DuckDB returns TIMESTAMP/DATE as Date; seconds since the epoch, as DuckDB's epoch().
      return value instanceof Date ? value.getTime() / 1000 : undefined;
  }
}

function toCategory(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    default:
      return undefined;
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

function allocate(
  transforms: Transforms,
  rows: number,
): { out: EncodedFeatures; slots: { numeric: boolean; slot: number }[] } {
  const numericNames: string[] = [];
  const categoricalNames: string[] = [];
  const slots = transforms.features.map((t) => {
    const list = t.kind === 'numeric' ? numericNames : categoricalNames;
    list.push(t.name);
    return { numeric: t.kind === 'numeric', slot: list.length - 1 };
  });
  return {
    slots,
    out: {
      rows,
      numericNames,
      numeric: new Float32Array(rows * numericNames.length),
      categoricalNames,
      categorical: categoricalNames.map(() => new Int32Array(rows)),
    },
  };
}

/**
 * Encodes column arrays (e.g. read from parquet). `columns` is keyed by feature name; a null,
 * undefined or NaN value is imputed. `where` names the source in error messages.
 */
export function encodeColumns(
  transforms: Transforms,
  columns: Record<string, ArrayLike<unknown>>,
  where = 'columns',
): EncodedFeatures {
  const first = transforms.features[0];
  const rows = first ? (columns[first.name]?.length ?? 0) : 0;
  const { out, slots } = allocate(transforms, rows);
  const width = out.numericNames.length;
  transforms.features.forEach((t, f) => {
    const column = columns[t.name];
    if (!column) throw new KaizenError('InvalidInput', `${where}: column "${t.name}" is missing`);
    if (column.length !== rows)
      throw new KaizenError(
        'InvalidInput',
        `${where}: column "${t.name}" has ${column.length} values, expected ${rows}`,
      );
    const enc = compileEncoder(t);
    const { numeric, slot } = slots[f]!;
    const target = numeric ? out.numeric : out.categorical[slot]!;
    const stride = numeric ? width : 1;
    const offset = numeric ? slot : 0;
    for (let r = 0; r < rows; r++) {
      const raw = column[r];
      const v = enc.encode(raw === undefined ? null : raw);
      if (v === undefined) {
        throw new KaizenError(
          'InvalidInput',
          `${where}[${r}].${t.name}: expected ${expectedType(t)}, got ${describe(raw)}`,
        );
      }
      target[r * stride + offset] = v;
    }
  });
  return out;
}

/**
 * Encodes JSON instances for serving. Every feature must be present (null is allowed and imputed);
 * a missing feature or a value of the wrong type is an InvalidInput error naming
 * `<where>[i].<feature>`. Unknown categories go to the out-of-vocabulary bucket; extra fields are ignored.
 */
export function encodeRows(
  transforms: Transforms,
  rows: readonly Record<string, unknown>[],
  where = 'instances',
): EncodedFeatures {
  const { out, slots } = allocate(transforms, rows.length);
  const width = out.numericNames.length;
  const encoders = transforms.features.map(compileEncoder);
  rows.forEach((row, r) => {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw new KaizenError(
        'InvalidInput',
        `${where}[${r}]: expected an object of feature values, got ${row === null ? 'null' : describe(row)}`,
      );
    }
    encoders.forEach((enc, f) => {
      const t = enc.transform;
      if (!Object.hasOwn(row, t.name) || row[t.name] === undefined) {
        throw new KaizenError(
          'InvalidInput',
          `${where}[${r}].${t.name}: missing; expected ${expectedType(t)}`,
        );
      }
      const raw = row[t.name];
      const v = enc.encode(raw);
      if (v === undefined) {
        throw new KaizenError(
          'InvalidInput',
          `${where}[${r}].${t.name}: expected ${expectedType(t)}, got ${describe(raw)}`,
        );
      }
      const { numeric, slot } = slots[f]!;
      if (numeric) out.numeric[r * width + slot] = v;
      else out.categorical[slot]![r] = v;
    });
  });
  return out;
}

/** Rows `indices` of `encoded`, in that order (batches, chunks). */
export function sliceEncoded(encoded: EncodedFeatures, indices: ArrayLike<number>): EncodedFeatures {
  const n = indices.length;
  const width = encoded.numericNames.length;
  const numeric = new Float32Array(n * width);
  const categorical = encoded.categorical.map(() => new Int32Array(n));
  for (let i = 0; i < n; i++) {
    const r = indices[i]!;
    if (width > 0) numeric.set(encoded.numeric.subarray(r * width, r * width + width), i * width);
    for (let c = 0; c < categorical.length; c++) categorical[c]![i] = encoded.categorical[c]![r]!;
  }
  return {
    rows: n,
    numericNames: encoded.numericNames,
    numeric,
    categoricalNames: encoded.categoricalNames,
    categorical,
  };
}

// ---------------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------------

/** The label strings in class-index order (classification), from the transforms or the schema. */
export function classesOf(meta: { transforms: Transforms; schema?: DatasetSchema }): string[] {
  const classes = meta.transforms.classes ?? meta.schema?.classes;
  if (!classes || classes.length < 2) {
    throw new KaizenError(
      'TrainingFailed',
      `a ${meta.transforms.task} task needs at least two classes in transforms.classes or schema.classes`,
    );
  }
  return classes;
}

/** Encodes target values: class index = classes.indexOf(String(value)); regression is standardised. */
export function encodeTarget(meta: DatasetMeta, values: ArrayLike<unknown>, where = 'target'): EncodedTarget {
  const task: TaskKind = meta.transforms.task;
  const n = values.length;
  const out = new Float32Array(n);
  if (task === 'regression') {
    const mean = meta.transforms.targetMean ?? 0;
    const std =
      meta.transforms.targetStd !== undefined && meta.transforms.targetStd > 0
        ? meta.transforms.targetStd
        : 1;
    const raw = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const y = values[i] === null ? undefined : toNumber(values[i]);
      if (y === undefined || !Number.isFinite(y)) {
        throw new KaizenError(
          'TrainingFailed',
          `${where}[${i}]: target "${meta.schema.target}" must be a finite number, got ${String(values[i])}`,
        );
      }
      raw[i] = y;
      out[i] = (y - mean) / std;
    }
    return { values: out, raw };
  }
  const classes = classesOf(meta);
  const index = new Map(classes.map((c, i) => [c, i] as const));
  for (let i = 0; i < n; i++) {
    const k = index.get(String(values[i]));
    if (k === undefined) {
      throw new KaizenError(
        'TrainingFailed',
        `${where}[${i}]: target "${meta.schema.target}" value ${String(values[i])} is not one of the classes ${JSON.stringify(classes)}`,
      );
    }
    out[i] = k;
  }
  return { values: out };
}

// ---------------------------------------------------------------------------------------------
// Reading a prepared dataset directory
// ---------------------------------------------------------------------------------------------

export async function readDatasetMeta(datasetDir: string): Promise<DatasetMeta> {
  // both read at once, but a failure is reported in file order, so the same broken directory always gets the same message
  const [s, t] = await Promise.allSettled([
    readJson<DatasetSchema>(path.join(datasetDir, 'schema.json')),
    readJson<Transforms>(path.join(datasetDir, 'transforms.json')),
  ]);
  if (s.status === 'rejected') throw s.reason;
  if (t.status === 'rejected') throw t.reason;
  const schema = s.value;
  const transforms = t.value;
  if (transforms.features.length === 0)
    throw new KaizenError('TrainingFailed', `${datasetDir}/transforms.json lists no features`);
  return { schema, transforms };
}

async function readJson<T>(file: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new KaizenError('TrainingFailed', `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new KaizenError('TrainingFailed', `${file} is not valid JSON: ${(err as Error).message}`);
  }
}

const NUMERIC_SQL_TYPE =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|DECIMAL.*|INT\d*)$/i;

/**
 * Reads `columns` of a parquet file as JS arrays, keyed by column name. Integer and decimal
 * columns come back as doubles (not BigInt); other types as DuckDB's JS values.
 */
export async function readParquetColumns(
  file: string,
  columns: readonly string[],
): Promise<Record<string, unknown[]>> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const source = `read_parquet(${literal(file)})`;
    const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
    const types = new Map<string, string>();
    for (const row of described.getRowObjectsJS())
      types.set(String(row['column_name']), String(row['column_type']));
    const select = columns.map((name, i) => {
      const type = types.get(name);
      if (type === undefined) throw new KaizenError('TrainingFailed', `${file} has no column "${name}"`);
      const col = ident(name);
      return `${NUMERIC_SQL_TYPE.test(type) ? `CAST(${col} AS DOUBLE)` : col} AS c${i}`;
    });
    const reader = await connection.runAndReadAll(`SELECT ${select.join(', ')} FROM ${source}`);
    const data = reader.getColumnsJS();
    const out: Record<string, unknown[]> = {};
    columns.forEach((name, i) => {
      out[name] = (data[i] ?? []) as unknown[];
    });
    return out;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Reads and encodes one split of a prepared dataset directory. */
export async function readSplit(
  datasetDir: string,
  split: SplitName,
  meta?: DatasetMeta,
): Promise<EncodedSplit> {
  const m = meta ?? (await readDatasetMeta(datasetDir));
  const file = path.join(datasetDir, `${split}.parquet`);
  const names = m.transforms.features.map((t) => t.name);
  let columns: Record<string, unknown[]>;
  try {
    columns = await readParquetColumns(file, [...names, m.schema.target]);
  } catch (err) {
    if (err instanceof KaizenError) throw err;
    throw new KaizenError('TrainingFailed', `cannot read ${file}: ${(err as Error).message}`);
  }
  let features: EncodedFeatures;
  try {
    features = encodeColumns(m.transforms, columns, `${split}.parquet`);
  } catch (err) {
    // Bad values in prepared data are a training failure, not a client's bad request.
    if (err instanceof KaizenError) throw new KaizenError('TrainingFailed', err.message);
    throw err;
  }
  const target = encodeTarget(m, columns[m.schema.target] ?? [], `${split}.parquet`);
  return { ...m, split, features, target };
}
