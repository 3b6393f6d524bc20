// Column kinds: inferred from DuckDB types and, for text columns, from what their values parse as;
// overridden by data.schema. Every kind has one typed SQL expression used everywhere downstream:
// DOUBLE for numeric / boolean (0/1) / timestamp (epoch seconds), VARCHAR for categorical / text.
import { KaizenError } from '../errors';
import type { FeatureKind, TaskKind } from '../types';
import { ident, toCount, toNum, type DuckSession } from './sql';

export interface ColumnInfo {
  name: string;
  /** DuckDB type after `derive`. */
  sqlType: string;
  kind: FeatureKind;
  /** What the data said, before data.schema. */
  inferredKind: FeatureKind;
  /** Typed expression over the data table (DOUBLE or VARCHAR, see above). */
  expr: string;
  /** True when `expr` can turn a non-null value into NULL: such values are type violations. */
  fallible: boolean;
  nonNull: number;
  /** Approximate number of distinct non-null values (string columns only; 0 for others). */
  distinct: number;
  min: number | null;
  max: number | null;
}

const INTEGER_TYPE =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/;
const FLOAT_TYPE = /^(FLOAT|DOUBLE|REAL)$/;
const DECIMAL_TYPE = /^DECIMAL\(/;
const TEMPORAL_TYPE = /^(DATE|TIMESTAMP.*)$/;
const STRING_TYPE = /^(VARCHAR|JSON)$/;

export const isIntegerType = (t: string): boolean => INTEGER_TYPE.test(t);
export const isNumericType = (t: string): boolean =>
  INTEGER_TYPE.test(t) || FLOAT_TYPE.test(t) || DECIMAL_TYPE.test(t);
export const isTemporalType = (t: string): boolean => TEMPORAL_TYPE.test(t);
export const isStringType = (t: string): boolean => STRING_TYPE.test(t) || t.startsWith('ENUM(');
/** Types whose values can be compared with regular expressions (PII) or grouped (categories). */
export const isScalarType = (t: string): boolean =>
  isNumericType(t) || isTemporalType(t) || isStringType(t) || t === 'BOOLEAN' || t === 'UUID';

const TRUE_WORDS = ['true', 't', 'yes', 'y', '1'];
const FALSE_WORDS = ['false', 'f', 'no', 'n', '0'];
const words = (list: string[]): string => list.map((w) => `'${w}'`).join(', ');

/** Share of sampled values that must parse as a kind for a text column to take that kind. */
const PARSE_SHARE = 0.95;
/** A string column with more distinct values than this (or mostly unique ones) is free text. */
const TEXT_MIN_DISTINCT = 1000;
const TEXT_UNIQUE_SHARE = 0.5;
const TEXT_MIN_LENGTH = 64;
/** Rows sampled to decide what a string column parses as. */
const INFERENCE_SAMPLE_ROWS = 50_000;

const finiteOrNull = (e: string): string => `CASE WHEN isfinite(${e}) THEN ${e} END`;

/** The typed expression of `name` (of DuckDB type `sqlType`) read as `kind`. */
export function typedExpr(
  name: string,
  sqlType: string,
  kind: FeatureKind,
): { expr: string; fallible: boolean } {
  const x = ident(name);
  const str = isStringType(sqlType);
  const s = `trim(${stringOf(name, sqlType)})`;
  switch (kind) {
    case 'numeric':
      if (isIntegerType(sqlType) || DECIMAL_TYPE.test(sqlType) || sqlType === 'BOOLEAN')
        return { expr: `CAST(${x} AS DOUBLE)`, fallible: false };
      if (FLOAT_TYPE.test(sqlType)) return { expr: finiteOrNull(`CAST(${x} AS DOUBLE)`), fallible: true };
      if (isTemporalType(sqlType)) return { expr: `CAST(epoch(${x}) AS DOUBLE)`, fallible: false };
      if (str) return { expr: finiteOrNull(`TRY_CAST(${s} AS DOUBLE)`), fallible: true };
      return { expr: finiteOrNull(`TRY_CAST(${x} AS DOUBLE)`), fallible: true };
    case 'boolean':
      if (sqlType === 'BOOLEAN') return { expr: `CAST(${x} AS DOUBLE)`, fallible: false };
      if (isNumericType(sqlType))
        return {
          expr: `CASE WHEN ${x} IS NULL THEN NULL WHEN ${x} = 0 THEN 0.0 ELSE 1.0 END`,
          fallible: false,
        };
      if (str) {
        return {
          expr: `CASE WHEN lower(${s}) IN (${words(TRUE_WORDS)}) THEN 1.0 WHEN lower(${s}) IN (${words(FALSE_WORDS)}) THEN 0.0 END`,
          fallible: true,
        };
      }
      return { expr: `CAST(TRY_CAST(${x} AS BOOLEAN) AS DOUBLE)`, fallible: true };
    case 'timestamp':
      if (isTemporalType(sqlType)) return { expr: `CAST(epoch(${x}) AS DOUBLE)`, fallible: false };
      if (isNumericType(sqlType)) return { expr: `CAST(${x} AS DOUBLE)`, fallible: false };
      if (str) return { expr: `CAST(epoch(TRY_CAST(${s} AS TIMESTAMP)) AS DOUBLE)`, fallible: true };
      return { expr: `CAST(epoch(TRY_CAST(${x} AS TIMESTAMP)) AS DOUBLE)`, fallible: true };
    case 'categorical':
    case 'text':
      return { expr: stringOf(name, sqlType), fallible: false };
  }
}

/** A column as VARCHAR; JSON strings lose their quotes (mixed-type JSON columns come back as JSON). */
export function stringOf(name: string, sqlType: string): string {
  const x = ident(name);
  if (sqlType === 'VARCHAR') return x;
  if (sqlType === 'JSON') return `json_extract_string(${x}, '$')`;
  return `CAST(${x} AS VARCHAR)`;
}

/** The kind a DuckDB type implies when its values need not be looked at. */
function kindOfType(sqlType: string): FeatureKind | null {
  if (sqlType === 'BOOLEAN') return 'boolean';
  if (isNumericType(sqlType)) return 'numeric';
  if (isTemporalType(sqlType)) return 'timestamp';
  if (sqlType.startsWith('ENUM(')) return 'categorical';
  if (isStringType(sqlType)) return null;
  // nested, binary, interval, time, uuid: nothing a tabular model can use directly
  return 'text';
}

/**
 * Counts the rows of `table` and infers the kind of every column (one full scan for counts, one scan
 * of a sample of about 50,000 rows for what the string columns parse as), then applies `overrides`.
 */
export async function inferColumns(
  db: DuckSession,
  table: string,
  rowKey: string,
  columns: { name: string; type: string }[],
  overrides: Record<string, FeatureKind>,
): Promise<{ rows: number; columns: ColumnInfo[] }> {
  const full: string[] = ['count(*) AS __rows'];
  columns.forEach((c, i) => {
    const x = ident(c.name);
    full.push(`count(${x}) AS n${i}`);
    // distinct counts only tell text from categories: strings only (they are not cheap)
    full.push(isStringType(c.type) ? `approx_count_distinct(${x}) AS d${i}` : `0 AS d${i}`);
    if (isNumericType(c.type))
      full.push(`CAST(min(${x}) AS DOUBLE) AS lo${i}`, `CAST(max(${x}) AS DOUBLE) AS hi${i}`);
  });
  const stats = await db.one(`SELECT ${full.join(', ')} FROM ${table}`);
  const rows = toCount(stats['__rows']);

  const strings = columns
    .map((c, i) => ({ ...c, i }))
    .filter((c) => isStringType(c.type) && !c.type.startsWith('ENUM('));
  let sample: Record<string, unknown> = {};
  if (strings.length) {
    const every = Math.max(1, Math.ceil(rows / INFERENCE_SAMPLE_ROWS));
    const parts = strings.flatMap(({ name, type, i }) => {
      const s = `trim(${stringOf(name, type)})`;
      return [
        `count(${s}) AS s${i}`,
        `count(${finiteOrNull(`TRY_CAST(${s} AS DOUBLE)`)}) AS num${i}`,
        `count(*) FILTER (WHERE lower(${s}) IN (${words([...TRUE_WORDS, ...FALSE_WORDS])})) AS bool${i}`,
        `count(TRY_CAST(${s} AS TIMESTAMP)) AS ts${i}`,
        `avg(length(${s})) AS len${i}`,
      ];
    });
    const where = every > 1 ? ` WHERE hash(${rowKey}, 'kinds') % ${every} = 0` : '';
    sample = await db.one(`SELECT ${parts.join(', ')} FROM ${table}${where}`);
  }

  const infos = columns.map((c, i): ColumnInfo => {
    const nonNull = toCount(stats[`n${i}`]);
    const distinct = toCount(stats[`d${i}`]);
    let inferred = kindOfType(c.type);
    if (inferred === null) {
      const s = toCount(sample[`s${i}`]);
      const parses = (key: string): boolean => s > 0 && toCount(sample[`${key}${i}`]) >= PARSE_SHARE * s;
      if (parses('num')) inferred = 'numeric';
      else if (parses('bool')) inferred = 'boolean';
      else if (parses('ts')) inferred = 'timestamp';
      else if (
        distinct > TEXT_MIN_DISTINCT ||
        (nonNull >= 20 && distinct > TEXT_UNIQUE_SHARE * nonNull) ||
        (toNum(sample[`len${i}`]) ?? 0) > TEXT_MIN_LENGTH
      ) {
        inferred = 'text';
      } else inferred = 'categorical';
    }
    const kind = overrides[c.name] ?? inferred;
    const { expr, fallible } = typedExpr(c.name, c.type, kind);
    return {
      name: c.name,
      sqlType: c.type,
      kind,
      inferredKind: inferred,
      expr,
      fallible,
      nonNull,
      distinct,
      min: toNum(stats[`lo${i}`]),
      max: toNum(stats[`hi${i}`]),
    };
  });
  return { rows, columns: infos };
}

/** Classification with more classes than this is refused (the target is probably an identifier). */
export const MAX_CLASSES = 1000;
/** An integer target with at most this many distinct values is read as classes. */
export const MAX_INTEGER_CLASSES = 20;

/**
 * The task for a target: boolean or two distinct values → binary; categorical, or integral with at
 * most 20 distinct values → multiclass; other numerics → regression. A given `task` is checked.
 */
export function decideTask(
  target: ColumnInfo,
  distinct: number,
  integral: boolean,
  task: TaskKind | undefined,
): TaskKind {
  const name = `target column "${target.name}"`;
  if (distinct < 2)
    throw new KaizenError(
      'TargetInvalid',
      `${name} is constant (${distinct} distinct value${distinct === 1 ? '' : 's'}); nothing to learn`,
    );
  if (target.kind === 'timestamp')
    throw new KaizenError('TargetInvalid', `${name} is a timestamp; derive a label from it instead`);
  if (task === 'binary') {
    if (distinct !== 2)
      throw new KaizenError(
        'TargetInvalid',
        `${name} has ${distinct} distinct values; a binary task needs exactly 2`,
      );
    return task;
  }
  if (task === 'multiclass') {
    if (distinct > MAX_CLASSES)
      throw new KaizenError(
        'TargetInvalid',
        `${name} has ${distinct} distinct values; at most ${MAX_CLASSES} classes are supported`,
      );
    return task;
  }
  if (task === 'regression') {
    if (target.kind !== 'numeric' && target.kind !== 'boolean') {
      throw new KaizenError(
        'TargetInvalid',
        `${name} is ${target.kind}; a regression task needs a numeric target`,
      );
    }
    return task;
  }
  if (target.kind === 'boolean' || distinct === 2) return 'binary';
  if (target.kind === 'categorical' || target.kind === 'text') {
    if (distinct > MAX_CLASSES)
      throw new KaizenError(
        'TargetInvalid',
        `${name} has ${distinct} distinct values; at most ${MAX_CLASSES} classes are supported`,
      );
    return 'multiclass';
  }
  return integral && distinct <= MAX_INTEGER_CLASSES ? 'multiclass' : 'regression';
}
