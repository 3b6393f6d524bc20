// The pipeline's data stage. prepareLocal opens one in-memory DuckDB per call, defines the data as
// a view (source + derive + where, then labelled rows and the sample), infers the schema,
// validates, profiles, splits and decides the transforms (SQL aggregates only: no rows are pulled
// into JS), and writes a content-addressed dataset directory with COPY … TO parquet.
// prepareDataset adds the object store: the source may be s3://, and the dataset is published under
// datasets/<sha256>/ unless that version already exists.
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { KaizenError } from '../errors';
import { pathInside } from '../storage/paths';
import { sha256Hex } from '../hashing';
import type { ObjectStore } from '../storage/object-store';
import type {
  ColumnProfile,
  DataSpec,
  DatasetProfile,
  DatasetSchema,
  FeatureKind,
  Finding,
  PreparedDataset,
  SplitSpec,
  TaskKind,
  Transforms,
  ValidationReport,
  ValidationThresholds,
} from '../types';
import {
  contentHash,
  DATASET_FILES,
  DATASET_FORMAT,
  dataSpecHash,
  fileEntry,
  MANIFEST_FILE,
  publishDataset,
  SPLIT_FILES,
  writeJson,
  type DatasetManifest,
  type DatasetRows,
  type FileEntry,
} from './dataset';
import {
  decideTask,
  inferColumns,
  isIntegerType,
  isStringType,
  stringOf,
  typedExpr,
  type ColumnInfo,
} from './kinds';
import { round12, share, short } from './numbers';
import { describePii, detectPii } from './pii';
import {
  allValues,
  categoricalProfile,
  countValues,
  createSample,
  isNumericKind,
  numericStats,
  topValues,
  trainValues,
  type ProfiledColumn,
} from './profile';
import {
  checkSameColumns,
  identifySources,
  isS3Uri,
  isSourcePattern,
  readerSql,
  resolveSources,
  s3Parts,
  type ResolvedSource,
  type SourceIdentity,
  type SourceStore,
} from './source';
import { planSplit, SPLITS } from './split';
import {
  DuckSession,
  engineMessage,
  engineVersion,
  isSandboxRefusal,
  ident,
  literal,
  toCount,
  type SessionOptions,
} from './sql';
import { buildTransforms, MAX_VOCABULARY, type FeatureStats } from './transforms';
import {
  buildReport,
  finding,
  isConstant,
  leakFindings,
  leakScores,
  missingFindings,
  referenceFindings,
  type LeakScore,
  type ReferenceResult,
} from './validate';

/** The defaults of src/spec (the spec normally arrives normalised; these fill a partial one). */
export const DEFAULT_VALIDATION_THRESHOLDS: ValidationThresholds = {
  maxMissingFraction: 0.3,
  maxDuplicateFraction: 0.05,
  maxOutOfRangeFraction: 0.05,
  maxUnseenCategoryFraction: 0.05,
  maxLabelShift: 0.15,
  leakThreshold: 0.98,
};
export const DEFAULT_SPLIT: SplitSpec = { validation: 0.1, test: 0.2, seed: 42 };

/** Fills what a partially normalised spec may leave out (src/spec normally has done it already). */
export function withDataDefaults(spec: DataSpec): DataSpec {
  return {
    ...spec,
    derive: spec.derive ?? {},
    exclude: spec.exclude ?? [],
    split: { ...DEFAULT_SPLIT, ...spec.split },
    pii: spec.pii ?? 'reject',
    schema: spec.schema ?? {},
    validation: { ...DEFAULT_VALIDATION_THRESHOLDS, ...spec.validation },
  };
}

export interface PrepareLocalInput {
  spec: DataSpec;
  /** Inferred from the target when absent. */
  task?: TaskKind;
  /** A relative data.source is relative to this directory. */
  specDir: string;
  /** Scratch space; the dataset is written to `<workDir>/<hex>/`. */
  workDir: string;
  /** Profile of the production model's training data, for the reference checks. */
  reference?: DatasetProfile | null;
  /** Fetches an s3:// source to a local file. */
  fetchSource?: (uri: string) => Promise<string>;
  /** Lists and downloads the objects of an s3:// prefix or glob source. */
  sourceStore?: SourceStore;
  /** The run's time: data.window counts back from it (default: the current time). */
  now?: Date | string;
  /** Hash of the whole pipeline spec, recorded in the manifest. */
  specHash?: string;
  /** Object-store metadata of an s3:// source, recorded in the manifest. */
  sourceMeta?: { etag?: string; lastModified?: Date };
  duckdb?: SessionOptions;
}

export interface PreparedLocal {
  /** The dataset directory, `<workDir>/<hex>/`. */
  dir: string;
  dataVersion: string;
  /** `<hex>` of dataVersion. */
  contentHash: string;
  schema: DatasetSchema;
  transforms: Transforms;
  profile: DatasetProfile;
  validation: ValidationReport;
  rows: DatasetRows;
  /** Absolute path of every file in the directory, by name (manifest included). */
  files: Record<string, string>;
  manifest: DatasetManifest;
  /** Milliseconds per step. */
  timings: StepTimings;
}

export interface PrepareDatasetInput extends Omit<
  PrepareLocalInput,
  'specHash' | 'sourceMeta' | 'sourceStore'
> {
  store: ObjectStore;
  specHash: string;
}

const ROW = '__kaizen_row';
const SRC = '__kaizen_src';
const RAW = '__kaizen_raw';
const BASE = '__kaizen_base';
const DATA = '__kaizen_data';
const FILE = '__kaizen_file';

// ---------------------------------------------------------------------------------------------
// Reading, derive, where
// ---------------------------------------------------------------------------------------------

/**
 * Source rows as a relation with a stable row key: the row's position in the file. Parquet is
 * not copied: scanning it again is cheaper than materialising it (and holds no memory); text
 * formats are parsed once, into a table.
 *
 * Several files (a prefix or glob) are read as one table; a row's key is its file's key (from the
 * file's name) plus its position in that file, so a row keeps its key, and its split, when files
 * are added or dropped.
 */
async function loadSource(db: DuckSession, source: ResolvedSource, label: string): Promise<void> {
  const { format } = source;
  const many = source.selection !== null;
  const file = many ? source.files.map((f) => f.file) : source.files[0]!.file;
  const unreadable = (err: unknown): KaizenError =>
    new KaizenError('DataFormatUnreadable', `cannot read ${label} as ${format}: ${engineMessage(err)}`);
  if (many) await checkSameColumns(db, source);
  const keys = `[${fileKeys(source.files.map((f) => f.name)).join(', ')}]`;
  if (format === 'parquet') {
    const key = many ? `${keys}[file_index::BIGINT + 1] + file_row_number` : 'file_row_number';
    const from = many
      ? `read_parquet([${(file as string[]).map(literal).join(', ')}], file_row_number = true)`
      : `read_parquet(${literal(file as string)}, file_row_number = true)`;
    try {
      await db.run(`CREATE VIEW ${SRC} AS SELECT ${key} AS ${ROW}, * EXCLUDE (file_row_number) FROM ${from}`);
    } catch (err) {
      throw unreadable(err);
    }
    return;
  }
  const fileIndex = many ? `, file_index AS ${FILE}` : '';
  try {
    await db.run(`CREATE TABLE ${RAW} AS SELECT *${fileIndex} FROM ${readerSql(file, format)}`);
  } catch (err) {
    if (format !== 'csv' && format !== 'tsv') throw unreadable(err);
    try {
      await db.run(
        `CREATE OR REPLACE TABLE ${RAW} AS SELECT *${fileIndex} FROM ${readerSql(file, format, { allVarchar: true })}`,
      );
    } catch {
      throw unreadable(err);
    }
  }
  // a table keeps the files' order, and rowid numbers it
  if (!many) {
    await db.run(`CREATE VIEW ${SRC} AS SELECT rowid AS ${ROW}, * FROM ${RAW}`);
    return;
  }
  // each file's rows are contiguous: a row's position in its file is its rowid less the file's first
  const starts = new Array<number>(source.files.length).fill(0);
  for (const r of await db.all(`SELECT ${FILE} AS f, min(rowid) AS s FROM ${RAW} GROUP BY 1`))
    starts[toCount(r['f'])] = toCount(r['s']);
  await db.run(
    `CREATE VIEW ${SRC} AS SELECT ${keys}[${FILE}::BIGINT + 1] + rowid - [${starts.join(', ')}][${FILE}::BIGINT + 1] AS ${ROW}, * EXCLUDE (${FILE}) FROM ${RAW}`,
  );
}

/**
 * Each file's key: 31 bits of the sha256 of its name, shifted above the 32 bits of a row's position
 * (an integer key is cheaper per row than hashing the name). A clash takes the next free key.
 */
function fileKeys(names: string[]): string[] {
  const used = new Set<bigint>();
  return names.map((name) => {
    let id = BigInt(`0x${sha256Hex(name).slice(0, 8)}`) & 0x7fffffffn;
    while (used.has(id)) id = (id + 1n) & 0x7fffffffn;
    used.add(id);
    return `${id << 32n}::BIGINT`;
  });
}

/** A spec's name for a column → the column's real name (exact, else the one case-insensitive match). */
function resolver(columns: string[]): (name: string) => string | null {
  const exact = new Set(columns);
  const lower = new Map<string, string[]>();
  for (const c of columns) lower.set(c.toLowerCase(), [...(lower.get(c.toLowerCase()) ?? []), c]);
  return (name) => {
    if (exact.has(name)) return name;
    const m = lower.get(name.toLowerCase());
    return m && m.length === 1 ? m[0]! : null;
  };
}

function columnList(columns: string[]): string {
  const shown = columns
    .slice(0, 30)
    .map((c) => `"${c}"`)
    .join(', ');
  return columns.length > 30 ? `${shown}, … (${columns.length} columns)` : shown;
}

const SQL_ERROR =
  /^(Binder|Parser|Conversion|Out of Range|Invalid Input|Catalog|Not implemented|Invalid type|Type mismatch)/i;

/**
 * Why a spec expression failed: the engine's message, or, when the sandbox refused a file or an
 * extension, that a spec's SQL is confined to the source's columns.
 */
function expressionProblem(err: unknown): string {
  if (isSandboxRefusal(err)) {
    return `it reaches outside the data (${engineMessage(err)}); a spec's SQL may use only the columns of data.source: reading or writing files, loading extensions and changing settings are refused`;
  }
  return engineMessage(err);
}

/**
 * Defines the base relation (source + derive, filtered by where) and checks every expression: bind
 * errors name the expression; `explain` turns a failure of the first scan into one that does.
 */
async function deriveAndFilter(
  db: DuckSession,
  spec: DataSpec,
  file: string,
): Promise<{ sourceColumns: string[]; explain: (err: unknown) => Promise<KaizenError> }> {
  const srcColumns = (await db.describe(SRC)).map((c) => c.name).filter((c) => c !== ROW);
  if (srcColumns.length === 0) throw new KaizenError('DataFormatUnreadable', `${file} has no columns`);
  const existing = resolver(srcColumns);
  const derives = Object.entries(spec.derive).map(([name, expr]) => ({
    name,
    expr,
    real: existing(name) ?? name,
    replaces: existing(name) !== null,
  }));
  const selectFor = (upTo: number): string => {
    const some = derives.slice(0, upTo);
    const replace = some.filter((d) => d.replaces).map((d) => `(${d.expr}) AS ${ident(d.real)}`);
    const added = some.filter((d) => !d.replaces).map((d) => `, (${d.expr}) AS ${ident(d.real)}`);
    return `SELECT *${replace.length ? ` REPLACE (${replace.join(', ')})` : ''}${added.join('')} FROM ${SRC}`;
  };
  for (let i = 0; i < derives.length; i++) {
    const d = derives[i]!;
    try {
      await db.check(selectFor(i + 1));
    } catch (err) {
      throw new KaizenError(
        'SqlError',
        `data.derive.${d.name} (${d.expr}) is not valid: ${expressionProblem(err)}`,
        { field: `data.derive.${d.name}` },
      );
    }
  }
  const derived = selectFor(derives.length);
  const filtered = spec.where ? `SELECT * FROM (${derived}) WHERE (${spec.where})` : derived;
  if (spec.where) {
    try {
      await db.check(filtered);
    } catch (err) {
      throw new KaizenError('SqlError', `data.where (${spec.where}) is not valid: ${expressionProblem(err)}`, {
        field: 'data.where',
      });
    }
  }
  await db.run(`CREATE VIEW ${BASE} AS ${filtered}`);
  // the first scan of the data (it counts every column, so every derive is evaluated) may fail at
  // run time: this names the expression at fault
  const explain = async (err: unknown): Promise<KaizenError> => {
    const msg = engineMessage(err);
    if (isSandboxRefusal(err)) {
      const what = spec.where ? 'data.where or data.derive' : 'data.derive';
      return new KaizenError('SqlError', `${what} failed on the data: ${expressionProblem(err)}`, {
        field: spec.where ? 'data.where' : 'data.derive',
      });
    }
    if (!SQL_ERROR.test(msg)) return new KaizenError('DataFormatUnreadable', `cannot read ${file}: ${msg}`);
    // only on this error path: each is a scan
    for (let i = 0; i < derives.length; i++) {
      const d = derives[i]!;
      try {
        await db.run(`SELECT count(${ident(d.real)}) FROM (${selectFor(i + 1)})`);
      } catch (inner) {
        return new KaizenError(
          'SqlError',
          `data.derive.${d.name} (${d.expr}) failed on the data: ${expressionProblem(inner)}`,
          {
            field: `data.derive.${d.name}`,
          },
        );
      }
    }
    const what = spec.where ? `data.where (${spec.where})` : 'data.derive';
    return new KaizenError('SqlError', `${what} failed on the data: ${msg}`, {
      field: spec.where ? 'data.where' : 'data.derive',
    });
  };
  return { sourceColumns: srcColumns, explain };
}

// ---------------------------------------------------------------------------------------------
// What the parquet splits hold
// ---------------------------------------------------------------------------------------------

/**
 * A feature as stored in the splits: integers and booleans as they are (cheaper to write, exact),
 * other numerics as DOUBLE (converted, NaN and infinities as NULL), categoricals as VARCHAR.
 */
function storedColumn(c: ColumnInfo, kind: FeatureKind, expr: string): { expr: string; type: string } {
  if (
    !c.fallible &&
    ((kind === 'numeric' && isIntegerType(c.sqlType)) || (kind === 'boolean' && c.sqlType === 'BOOLEAN'))
  ) {
    return { expr: ident(c.name), type: c.sqlType };
  }
  return { expr, type: isNumericKind(kind) ? 'DOUBLE' : 'VARCHAR' };
}

/**
 * The label as stored: a regression target as DOUBLE; a class label as its own value when that
 * prints as its class string in JS as well as in SQL (BOOLEAN, integers, VARCHAR), else as the
 * class string itself. Either way `classes.indexOf(String(value))` is its class index.
 */
function storedLabel(target: ColumnInfo, labelExpr: string, task: TaskKind): { expr: string; type: string } {
  if (task === 'regression') return { expr: labelExpr, type: 'DOUBLE' };
  const t = target.sqlType;
  if (!target.fallible && (t === 'BOOLEAN' || t === 'VARCHAR' || isIntegerType(t)))
    return { expr: ident(target.name), type: t };
  return { expr: labelExpr, type: 'VARCHAR' };
}

// ---------------------------------------------------------------------------------------------
// prepareLocal
// ---------------------------------------------------------------------------------------------

interface Feature extends ProfiledColumn {
  info: ColumnInfo;
}

export async function prepareLocal(input: PrepareLocalInput): Promise<PreparedLocal> {
  const spec = withDataDefaults(input.spec);
  const resolved = await resolveSources(spec, {
    specDir: input.specDir,
    fetchSource: input.fetchSource,
    store: input.sourceStore,
    downloadDir: path.join(input.workDir, 'source'),
    now: input.now === undefined ? undefined : new Date(input.now),
  });
  const label = resolved.selection
    ? `data.source ${resolved.selection.pattern} (${resolved.files.length === 1 ? '1 file' : `${resolved.files.length} files`})`
    : resolved.files[0]!.file;
  // hashing the source overlaps with DuckDB's work; it is awaited when the version is computed
  const source = identifySources(spec.source, resolved, input.sourceMeta);
  source.catch(() => undefined);
  await mkdir(input.workDir, { recursive: true });
  const staging = path.join(input.workDir, `.staging-${randomUUID()}`);
  await mkdir(staging, { recursive: true });

  const db = await DuckSession.open({
    tempDirectory: path.join(input.workDir, '.duckdb-tmp'),
    ...input.duckdb,
    sandbox: { readFiles: resolved.files.map((f) => f.file), directories: [staging] },
  });
  try {
    const result = await prepareInto(db, staging, spec, input, source, resolved, label);
    return await publishLocal(input.workDir, staging, result);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  } finally {
    db.close();
  }
}

/** Milliseconds per step, for benchmarks and logs. */
export type StepTimings = Record<string, number>;

function stepClock(): { lap(step: string): void; timings: StepTimings } {
  const timings: StepTimings = {};
  let last = performance.now();
  return {
    timings,
    lap(step) {
      const now = performance.now();
      timings[step] = Math.round((timings[step] ?? 0) + now - last);
      last = now;
    },
  };
}

interface Prepared {
  timings: StepTimings;
  schema: DatasetSchema;
  transforms: Transforms;
  profile: DatasetProfile;
  validation: ValidationReport;
  rows: DatasetRows;
  manifest: DatasetManifest;
  hex: string;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

async function prepareInto(
  db: DuckSession,
  dir: string,
  spec: DataSpec,
  input: PrepareLocalInput,
  sourceIdentity: Promise<SourceIdentity>,
  resolved: ResolvedSource,
  file: string,
): Promise<Prepared> {
  const thresholds = spec.validation;
  const clock = stepClock();
  await loadSource(db, resolved, file);
  const base = await deriveAndFilter(db, spec, file);
  const described = (await db.describe(BASE)).filter((c) => c.name !== ROW);
  const names = described.map((c) => c.name);
  const resolve = resolver(names);
  const need = (name: string, field: string): string => {
    const real = resolve(name);
    if (!real) {
      throw new KaizenError(
        'ColumnNotFound',
        `${field} names column "${name}", which does not exist; columns are ${columnList(names)}`,
        { field, column: name },
      );
    }
    return real;
  };

  // --- the spec's column names against the data ------------------------------------------------
  const targetName = resolve(spec.target);
  if (!targetName) {
    throw new KaizenError(
      'TargetInvalid',
      `target column "${spec.target}" does not exist; columns are ${columnList(names)}`,
      { field: 'data.target', column: spec.target },
    );
  }
  const explicit = spec.features ? [...new Set(spec.features.map((f) => need(f, 'data.features')))] : null;
  if (explicit?.includes(targetName))
    throw new KaizenError('SpecInvalid', `data.features lists the target "${targetName}"`, {
      field: 'data.features',
    });
  const excluded = new Set(spec.exclude.map((e) => need(e, 'data.exclude')));
  const splitBy = spec.split.by ? need(spec.split.by, 'data.split.by') : undefined;
  const overrides: Record<string, FeatureKind> = {};
  for (const [name, kind] of Object.entries(spec.schema)) overrides[need(name, 'data.schema')] = kind;

  // --- kinds (the first scan of the data) --------------------------------------------------------
  let inferred: { rows: number; columns: ColumnInfo[] };
  try {
    inferred = await inferColumns(db, BASE, ROW, described, overrides);
  } catch (err) {
    throw await base.explain(err);
  }
  let rows = inferred.rows;
  if (rows === 0) {
    throw new KaizenError(
      'DataEmpty',
      spec.where ? `no rows are left after data.where (${spec.where}) in ${file}` : `${file} has no rows`,
    );
  }
  const info = new Map(inferred.columns.map((c) => [c.name, c]));
  const findings: Finding[] = [];
  clock.lap('read+kinds');

  // --- target and task; rows without a label go; sample -----------------------------------------
  const t0 = info.get(targetName)!;
  // a free-text target is still a set of labels
  const target: ColumnInfo =
    t0.kind === 'text'
      ? { ...t0, kind: 'categorical', ...typedExpr(t0.name, t0.sqlType, 'categorical') }
      : t0;
  const ts = await db.one(
    `SELECT count(DISTINCT ${target.expr}) AS d, ${isNumericKind(target.kind) ? `bool_and(${target.expr} = floor(${target.expr}))` : 'false'} AS integral, count(${target.expr}) AS n FROM ${BASE}`,
  );
  const labelled = toCount(ts['n']);
  if (labelled === 0)
    throw new KaizenError('TargetInvalid', `target column "${targetName}" has no values`, {
      column: targetName,
    });
  const task = decideTask(target, toCount(ts['d']), ts['integral'] === true, input.task);
  const classification = task !== 'regression';
  const labelExpr = classification
    ? target.fallible
      ? `(CASE WHEN ${target.expr} IS NOT NULL THEN ${stringOf(targetName, target.sqlType)} END)`
      : stringOf(targetName, target.sqlType)
    : target.expr;

  const filters: string[] = [];
  const defineData = async (): Promise<void> => {
    await db.run(
      `CREATE OR REPLACE VIEW ${DATA} AS SELECT * FROM ${BASE}${filters.length ? ` WHERE ${filters.join(' AND ')}` : ''}`,
    );
  };
  const unlabelled = rows - labelled;
  if (unlabelled > 0) {
    filters.push(`(${labelExpr}) IS NOT NULL`);
    const s = share(unlabelled, rows);
    findings.push(
      finding(
        targetName,
        'missing',
        unlabelled,
        s > thresholds.maxMissingFraction ? 'error' : 'warning',
        `target "${targetName}" is missing${target.fallible ? ` or not ${target.kind}` : ''} in ${unlabelled} of ${rows} rows; those rows were dropped`,
      ),
    );
    rows = labelled;
  }
  await defineData();
  if (spec.sample !== undefined && spec.sample !== null) {
    if (!Number.isInteger(spec.sample) || spec.sample < 1)
      throw new KaizenError('SpecInvalid', `data.sample must be a positive integer, got ${spec.sample}`, {
        field: 'data.sample',
      });
    if (spec.sample < rows) {
      // the rows with the smallest seeded hashes of their key: the same rows for the same seed
      const h = `hash(${ROW}, ${Math.trunc(spec.split.seed)}, 'sample')`;
      const cut = await db.one(
        `SELECT CAST(max(h) AS VARCHAR) AS h FROM (SELECT ${h} AS h FROM ${DATA} ORDER BY h LIMIT ${spec.sample})`,
      );
      filters.push(`${h} <= ${String(cut['h'])}::UBIGINT`);
      await defineData();
      rows = toCount((await db.one(`SELECT count(*) AS n FROM ${DATA}`))['n']);
    }
  }

  const classRows = classification
    ? await db.all(
        `SELECT ${labelExpr} AS label, count(*) AS n FROM ${DATA} GROUP BY 1 ORDER BY min(${target.expr}), 1`,
      )
    : [];
  const classCounts = classRows.map((r) => ({ value: String(r['label']), count: toCount(r['n']) }));
  const classes = classification ? classCounts.map((c) => c.value) : undefined;
  if (classes && classes.length < 2) {
    throw new KaizenError(
      'TargetInvalid',
      `target column "${targetName}" has a single value (${JSON.stringify(classes[0])}) in the ${rows} rows kept`,
      { column: targetName },
    );
  }
  const classShares = classification
    ? Object.fromEntries(classCounts.map((c) => [c.value, round12(share(c.count, rows)) ?? 0]))
    : undefined;
  clock.lap('target');

  // --- split: decided before the statistics, so one scan serves the profile and the transforms ----
  let timeExpr: string | undefined;
  if (splitBy) {
    const c = info.get(splitBy)!;
    if (c.kind !== 'timestamp' && c.kind !== 'numeric') {
      throw new KaizenError(
        'SpecInvalid',
        `data.split.by "${splitBy}" is ${c.kind}; a time split needs a timestamp (or numeric) column`,
        { field: 'data.split.by' },
      );
    }
    timeExpr = c.expr;
  }
  const plan = await planSplit(db, {
    table: DATA,
    rowKey: ROW,
    rows,
    split: spec.split,
    strata: classification && !timeExpr ? { expr: labelExpr, counts: classCounts } : undefined,
    timeExpr,
    timeColumn: splitBy,
  });
  const trainWhere = plan.where.train;
  clock.lap('split');

  // --- features: candidates, personal data, unusable kinds --------------------------------------
  const candidates = (explicit ?? names.filter((n) => n !== targetName))
    .filter((n) => !excluded.has(n))
    .map((n) => info.get(n)!);
  // every string-kind candidate is counted once, by value and split: for PII, the profile and the vocabulary
  const valueTables = await countValues(
    db,
    DATA,
    candidates.filter((c) => c.kind === 'categorical' || c.kind === 'text'),
    trainWhere,
  );
  const schemaExcluded: { name: string; reason: string }[] = [...excluded].map((name) => ({
    name,
    reason: 'data.exclude',
  }));
  const pii = new Map(
    (await detectPii(db, DATA, candidates, new Map([...valueTables].map(([k, t]) => [k, allValues(t)])))).map(
      (m) => [m.column, m],
    ),
  );
  const kept: ColumnInfo[] = [];
  for (const c of candidates) {
    const m = pii.get(c.name);
    if (m) {
      if (spec.pii === 'drop') {
        findings.push(
          finding(
            c.name,
            'pii_dropped',
            m.count,
            'warning',
            `column "${c.name}" holds personal data (${describePii(m)}) and was dropped (data.pii = "drop")`,
          ),
        );
        schemaExcluded.push({ name: c.name, reason: 'personal data, dropped' });
      } else {
        findings.push(
          finding(
            c.name,
            'pii',
            m.count,
            'error',
            `column "${c.name}" holds personal data (${describePii(m)}); remove it or set data.pii to "drop"`,
          ),
        );
        schemaExcluded.push({ name: c.name, reason: 'personal data, rejected' });
      }
      continue;
    }
    if (c.kind === 'text') {
      const message = isStringType(c.sqlType)
        ? `column "${c.name}" is free text (about ${c.distinct} distinct values) and is not used as a feature; set data.schema["${c.name}"] = "categorical" to use it`
        : `column "${c.name}" is of type ${c.sqlType}, which is not used as a feature; derive a scalar from it`;
      findings.push(finding(c.name, 'excluded', c.nonNull, 'warning', message));
      schemaExcluded.push({
        name: c.name,
        reason: isStringType(c.sqlType) ? 'free text' : `unsupported type ${c.sqlType}`,
      });
      continue;
    }
    if (c.kind === 'timestamp') {
      // a raw timestamp extrapolates badly and cannot be sent as-is at serving time: derive parts of it
      findings.push(
        finding(
          c.name,
          'excluded',
          c.nonNull,
          'warning',
          `column "${c.name}" is a timestamp and is not used as a feature; derive parts of it (e.g. hour(${ident(c.name)})) or set data.schema["${c.name}"] = "numeric" for epoch seconds`,
        ),
      );
      schemaExcluded.push({ name: c.name, reason: 'timestamp' });
      continue;
    }
    kept.push(c);
  }
  clock.lap('pii');

  // --- type violations --------------------------------------------------------------------------
  const fallible = kept.filter((c) => c.fallible);
  if (fallible.length) {
    const v = await db.one(
      `SELECT ${fallible.map((c, i) => `count(${ident(c.name)}) - count(${c.expr}) AS v${i}, count(${ident(c.name)}) AS n${i}`).join(', ')} FROM ${DATA}`,
    );
    fallible.forEach((c, i) => {
      const bad = toCount(v[`v${i}`]);
      if (bad === 0) return;
      const s = share(bad, toCount(v[`n${i}`]));
      findings.push(
        finding(
          c.name,
          'type_violation',
          bad,
          s > thresholds.maxMissingFraction ? 'error' : 'warning',
          `${plural(bad, 'value')} of "${c.name}" ${bad === 1 ? 'is' : 'are'} not ${c.kind} (${short(s * 100)}% of its values) and ${bad === 1 ? 'is' : 'are'} treated as missing`,
        ),
      );
    });
  }

  // --- profile (and training statistics); constant features go ---------------------------------
  let features: Feature[] = kept.map((c) => ({
    name: c.name,
    kind: c.kind,
    expr: c.expr,
    info: c,
  }));
  const numericFeatures = features.filter((f) => isNumericKind(f.kind));
  // the regression label is profiled like a feature; in the sample it is `y`
  const labelColumn: ProfiledColumn = {
    name: targetName,
    kind: 'numeric',
    expr: labelExpr,
  };
  const sample = await createSample(db, {
    table: DATA,
    rowKey: ROW,
    rows,
    cols: features,
    labelExpr,
    trainWhere,
  });
  if (!classification) sample.column.set(targetName, 'y');
  const stats = await numericStats(
    db,
    { table: DATA, rows, trainWhere, sample },
    classification ? numericFeatures : [...numericFeatures, labelColumn],
  );
  const statsOf = new Map(numericFeatures.map((f, i) => [f.name, stats[i]!]));
  const labelStats = classification ? null : stats[numericFeatures.length]!;
  let profiles: ColumnProfile[] = [];
  for (const f of features) {
    profiles.push(
      isNumericKind(f.kind)
        ? statsOf.get(f.name)!.profile
        : await categoricalProfile(db, f, valueTables.get(f.name)!, rows),
    );
  }
  const constant = new Set(profiles.filter(isConstant).map((p) => p.name));
  for (const p of profiles.filter((x) => constant.has(x.name))) {
    const what = p.count === 0 ? 'has no values' : 'has a single value';
    findings.push(
      finding(
        p.name,
        'constant',
        p.count,
        'warning',
        `column "${p.name}" ${what} and is not used as a feature`,
      ),
    );
    schemaExcluded.push({ name: p.name, reason: 'constant' });
  }
  features = features.filter((f) => !constant.has(f.name));
  profiles = profiles.filter((p) => !constant.has(p.name));
  findings.push(...missingFindings(profiles, rows, thresholds));
  const label: DatasetProfile['label'] = classification
    ? { classes: classShares }
    : { numeric: { ...labelStats!.profile } };
  const profile: DatasetProfile = { rows, columns: profiles, label };
  clock.lap('profile');

  if (features.length === 0 && !findings.some((f) => f.severity === 'error')) {
    throw new KaizenError(
      'SpecInvalid',
      `no usable feature columns are left (${schemaExcluded.map((e) => `"${e.name}": ${e.reason}`).join('; ') || 'none given'})`,
      { field: 'data.features' },
    );
  }

  // --- files, written while the checks below run ------------------------------------------------
  // The data keeps the source's row order, so the splits need no ORDER BY. Each split is written on
  // its own connection while this one runs the checks; the session's floor of two threads keeps the
  // row groups, and so the bytes, the same on every machine (see SessionOptions.threads).
  const stored = [
    ...features.map((f) => storedColumn(f.info, f.kind, f.expr)),
    storedLabel(target, labelExpr, task),
  ];
  const select = stored
    .map((c, i) => `${c.expr} AS ${ident(i < features.length ? features[i]!.name : targetName)}`)
    .join(', ');
  const writing = db.runConcurrently(
    SPLITS.map(
      (s) =>
        `COPY (SELECT ${select} FROM ${DATA} WHERE ${plan.where[s]}) TO ${literal(path.join(dir, SPLIT_FILES[s]))} (FORMAT parquet)`,
    ),
  );

  // --- duplicates, leaks, reference -------------------------------------------------------------
  const runChecks = async (): Promise<{
    dup: DuplicateCount;
    leaks: LeakScore[];
    reference: ReferenceResult | null;
  }> => {
    // derived columns are functions of the source's: duplicates of the source columns are the duplicates
    const dup = await duplicateRows(db, base.sourceColumns, rows);
    const leaks = await leakScores(db, { task, classes, features, profiles, sample });
    const reference = input.reference
      ? await referenceFindings(
          db,
          { table: DATA, rows, task, labelExpr, features, reference: input.reference, classShares },
          thresholds,
        )
      : null;
    return { dup, leaks, reference };
  };
  const [checked, written] = await Promise.allSettled([runChecks(), writing]);
  if (checked.status === 'rejected') throw checked.reason;
  if (written.status === 'rejected') throw written.reason;
  const checks = checked.value;
  clock.lap('write+checks');
  const { dup, leaks } = checks;
  if (dup.share > thresholds.maxDuplicateFraction) {
    findings.push(
      finding(
        null,
        'duplicate_rows',
        dup.count,
        'warning',
        `${plural(dup.count, 'row')} (${short(dup.share * 100)}%) duplicate another row${dup.estimated ? ' (estimated from a sample)' : ''}; at most ${thresholds.maxDuplicateFraction * 100}% expected`,
      ),
    );
  }
  findings.push(...leakFindings(leaks, thresholds));
  if (checks.reference) findings.push(...checks.reference.findings);
  const referenceMetrics = checks.reference?.metrics ?? {};

  // --- transforms, from the training rows only --------------------------------------------------
  const featureStats: FeatureStats[] = [];
  for (const f of features) {
    if (isNumericKind(f.kind))
      featureStats.push({ name: f.name, kind: 'numeric', train: statsOf.get(f.name)!.train });
    else {
      const top = await topValues(db, trainValues(valueTables.get(f.name)!), MAX_VOCABULARY);
      featureStats.push({ name: f.name, kind: 'categorical', vocabulary: top.values.map((v) => v.value) });
    }
  }
  const transforms = buildTransforms(featureStats, task, classes, labelStats?.train ?? null);
  clock.lap('transforms');

  const schema: DatasetSchema = {
    target: targetName,
    task,
    features: features.map((f, i) => ({
      name: f.name,
      kind: f.kind,
      sqlType: f.info.sqlType,
      storedType: stored[i]!.type,
    })),
    targetColumn: {
      name: targetName,
      kind: target.kind,
      sqlType: target.sqlType,
      storedType: stored[features.length]!.type,
    },
  };
  if (classes) schema.classes = classes;
  if (schemaExcluded.length) schema.excluded = schemaExcluded;
  if (splitBy) schema.splitBy = splitBy;

  const metrics: Record<string, number> = {
    features: features.length,
    train: plan.rows.train,
    validation: plan.rows.validation,
    test: plan.rows.test,
    duplicateRows: dup.count,
    duplicateFraction: dup.share,
    maxMissingFraction: Math.max(0, ...profiles.map((p) => share(p.missing, rows))),
    maxLeakScore: Math.max(0, ...leaks.map((l) => l.score)),
    ...referenceMetrics,
  };
  for (const k of Object.keys(metrics)) metrics[k] = round12(metrics[k]!) ?? 0;
  const validation = buildReport(rows, findings, thresholds, metrics);

  await writeJson(path.join(dir, 'schema.json'), schema);
  await writeJson(path.join(dir, 'transforms.json'), transforms);
  await writeJson(path.join(dir, 'profile.json'), profile);
  await writeJson(path.join(dir, 'validation.json'), validation);

  const files: Record<string, FileEntry> = {};
  const entries = await Promise.all(DATASET_FILES.map((name) => fileEntry(path.join(dir, name))));
  DATASET_FILES.forEach((name, i) => (files[name] = entries[i]!));
  const specHash = dataSpecHash(spec, input.task);
  const source = await sourceIdentity;
  const hex = contentHash(specHash, source, files);
  const datasetRows: DatasetRows = { total: rows, ...plan.rows };
  const manifest: DatasetManifest = {
    format: DATASET_FORMAT,
    dataVersion: `sha256:${hex}`,
    source,
    specHash: input.specHash ?? null,
    dataSpecHash: specHash,
    task,
    target: targetName,
    rows: datasetRows,
    files,
    engine: { duckdb: engineVersion() },
    validation: {
      passed: validation.passed,
      errors: validation.metrics['errors'] ?? 0,
      warnings: validation.metrics['warnings'] ?? 0,
    },
  };
  // the manifest is written last: a directory without one is incomplete
  await writeJson(path.join(dir, MANIFEST_FILE), manifest);
  clock.lap('hash');
  return {
    timings: clock.timings,
    schema,
    transforms,
    profile,
    validation,
    rows: datasetRows,
    manifest,
    hex,
  };
}

/** Above this many rows duplicates are estimated from a sample. */
const DUPLICATE_SAMPLE_ROWS = 300_000;

interface DuplicateCount {
  count: number;
  share: number;
  estimated: boolean;
}

/**
 * Rows that duplicate another row (over `names`). Above 300,000 rows a sample estimates it; the
 * sample is chosen by the hash of the row's content, so duplicates are in or out together and the
 * share is unbiased.
 */
async function duplicateRows(db: DuckSession, names: string[], rows: number): Promise<DuplicateCount> {
  const every = Math.ceil(rows / DUPLICATE_SAMPLE_ROWS);
  const h = `hash(${names.map(ident).join(', ')})`;
  const r = await db.one(
    `SELECT count(*) AS n, count(DISTINCT h) AS d FROM (SELECT ${h} AS h FROM ${DATA})${every > 1 ? ` WHERE h % ${every} = 0` : ''}`,
  );
  const n = toCount(r['n']);
  const s = share(n - toCount(r['d']), n);
  return { count: every > 1 ? Math.round(s * rows) : n - toCount(r['d']), share: s, estimated: every > 1 };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Moves the staging directory to `<workDir>/<hex>/` (an identical complete one already there wins). */
async function publishLocal(workDir: string, staging: string, p: Prepared): Promise<PreparedLocal> {
  const dir = path.join(workDir, p.hex);
  if (await exists(path.join(dir, MANIFEST_FILE))) {
    await rm(staging, { recursive: true, force: true });
  } else {
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  }
  const files = Object.fromEntries([...DATASET_FILES, MANIFEST_FILE].map((n) => [n, path.join(dir, n)]));
  return {
    dir,
    dataVersion: p.manifest.dataVersion,
    contentHash: p.hex,
    schema: p.schema,
    transforms: p.transforms,
    profile: p.profile,
    validation: p.validation,
    rows: p.rows,
    files,
    manifest: p.manifest,
    timings: p.timings,
  };
}

// ---------------------------------------------------------------------------------------------
// prepareDataset: with the object store
// ---------------------------------------------------------------------------------------------

/**
 * Prepares and publishes a dataset. Bad input throws a non-retryable KaizenError; validation
 * errors do not throw (they are in `validation`); StorageUnavailable propagates to be retried.
 */
export async function prepareDataset(input: PrepareDatasetInput): Promise<PreparedDataset> {
  const { store, ...rest } = input;
  let sourceMeta: PrepareLocalInput['sourceMeta'];
  let fetchSource = input.fetchSource;
  if (!fetchSource && isS3Uri(input.spec.source) && !isSourcePattern(input.spec.source)) {
    const uri = input.spec.source;
    const { bucket, key } = s3Parts(uri);
    const info = await store.stat(key, bucket);
    if (!info) throw new KaizenError('DataSourceNotFound', `data source not found: ${uri}`);
    sourceMeta = { etag: info.etag, lastModified: info.lastModified };
    const local = pathInside(path.join(input.workDir, 'source'), [path.basename(key) || 'source'], 'data.source object');
    await store.getFile(key, local, bucket);
    fetchSource = async () => local;
  }
  const local = await prepareLocal({
    ...rest,
    fetchSource,
    sourceStore: store,
    specHash: input.specHash,
    sourceMeta,
  });
  const { uri, reused } = await publishDataset(store, local.dir, local.manifest);
  return {
    dataVersion: local.dataVersion,
    uri,
    rows: local.rows,
    schema: local.schema,
    validation: local.validation,
    reused,
  };
}

export { downloadDataset, loadDatasetDir, readProfile, readRemoteProfile } from './dataset';
