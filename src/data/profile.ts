// Per-column statistics computed with SQL aggregates (nothing row-by-row in JS): count, missing and
// moments over every row (with, through FILTER clauses, the training split's statistics the
// transforms need), fixed-bin histograms, and quantiles over a deterministic sample. Categorical
// columns are counted once, by value and by split, for the profile, the PII check and the vocabulary.
import type { CategoricalProfile, FeatureKind, NumericProfile } from '../types';
import { round12 } from './numbers';
import { toCount, toNum, type DuckSession, type Row } from './sql';

export interface ProfiledColumn {
  name: string;
  kind: FeatureKind;
  /** Typed expression: DOUBLE for numeric / boolean / timestamp, VARCHAR otherwise. */
  expr: string;
}

export const QUANTILES: [string, number][] = [
  ['p01', 0.01],
  ['p05', 0.05],
  ['p25', 0.25],
  ['p50', 0.5],
  ['p75', 0.75],
  ['p95', 0.95],
  ['p99', 0.99],
];
export const HISTOGRAM_BINS = 20;
/** Percentiles whose exact shares the profile records as the drift reference (`cdf`); every tenth is a decile (`bins`). */
export const CDF_PERCENTILES: number[] = Array.from({ length: 99 }, (_, i) => (i + 1) / 100);
/** Categorical profiles keep this many most frequent values (all of them below it). */
export const TOP_VALUES = 1000;
/** Quantiles, medians and leak scores are computed on a deterministic sample of about this many rows. */
export const QUANTILE_SAMPLE_ROWS = 200_000;

export const isNumericKind = (k: FeatureKind): k is 'numeric' | 'boolean' | 'timestamp' =>
  k === 'numeric' || k === 'boolean' || k === 'timestamp';

/** Condition keeping about `target` of `rows` rows, chosen by a hash of the row key. */
export function sampleClause(rowKey: string, rows: number, target: number, salt: string): string {
  const every = Math.ceil(rows / target);
  return every > 1 ? `hash(${rowKey}, '${salt}') % ${every} = 0` : 'true';
}

/** Equal-width bins over [min, max]; integer columns with a small range get one bin per value. */
export function binEdges(m: { min: number | null; max: number | null; integral: boolean }): number[] {
  if (m.min === null || m.max === null) return [];
  if (m.min === m.max) return [m.min, m.max];
  if (m.integral && m.max - m.min < HISTOGRAM_BINS) {
    const edges: number[] = [];
    for (let v = m.min; v <= m.max + 1; v++) edges.push(v - 0.5);
    return edges;
  }
  const width = (m.max - m.min) / HISTOGRAM_BINS;
  return Array.from({ length: HISTOGRAM_BINS + 1 }, (_, i) =>
    i === HISTOGRAM_BINS ? m.max! : m.min! + i * width,
  );
}

/** SQL bin index of `expr` for `edges` (values outside fall into the first or last bin). */
export function binSql(expr: string, edges: number[]): string {
  const bins = edges.length - 1;
  const lo = edges[0]!;
  const hi = edges[bins]!;
  if (bins <= 1 || hi === lo) return '0';
  const width = (hi - lo) / bins;
  return `LEAST(GREATEST(CAST(floor((${expr} - ${lo}::DOUBLE) / ${width}::DOUBLE) AS INTEGER), 0), ${bins - 1})`;
}

/** The distinct finite percentile values of a quantile_disc list, ascending. */
function cdfPoints(values: unknown): number[] {
  const xs = ((values as (number | null)[] | null) ?? []).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return [...new Set(xs)].sort((a, b) => a - b);
}

/** A DOUBLE literal that DuckDB reads back as exactly this JS number. */
const doubleSql = (x: number): string => `'${String(x)}'::DOUBLE`;

/**
 * The drift reference of a column from the counts of values <= each percentile point (DuckDB's
 * histogram with explicit boundaries: a value counts under the first boundary >= it, larger ones
 * under NULL): exact cumulative shares at the percentiles, and decile bins with exact shares.
 */
function driftReference(
  points: number[],
  entries: unknown,
  percentiles: unknown,
): Pick<NumericProfile, 'bins' | 'cdf'> {
  if (points.length === 0 || !entries) return {};
  const byPoint = new Map<number, number>();
  let total = 0;
  for (const entry of entries as { key: number | null; value: number }[]) {
    const n = toCount(entry.value);
    total += n;
    if (entry.key !== null) byPoint.set(entry.key, n);
  }
  if (total === 0) return {};
  const cumulative: number[] = [];
  let below = 0;
  for (const p of points) cumulative.push((below += byPoint.get(p) ?? 0));
  const cumAt = new Map(points.map((p, j) => [p, cumulative[j]!]));
  const listed = (percentiles as (number | null)[] | null) ?? [];
  const deciles = cdfPoints(CDF_PERCENTILES.map((q, j) => (Math.round(q * 100) % 10 === 0 ? listed[j] : null)));
  const shares: number[] = [];
  let previous = 0;
  for (const d of deciles) {
    const c = cumAt.get(d) ?? previous;
    shares.push(round12((c - previous) / total) ?? 0);
    previous = c;
  }
  shares.push(round12((total - previous) / total) ?? 0);
  return {
    bins: { edges: deciles, shares },
    cdf: { values: points, shares: cumulative.map((c) => round12(c / total) ?? 0) },
  };
}

/** Statistics of the training rows, for the transforms. */
export interface TrainStats {
  mean: number | null;
  std: number | null;
  median: number | null;
}

export interface NumericStats {
  profile: NumericProfile;
  train: TrainStats | null;
}

/**
 * A deterministic sample (about QUANTILE_SAMPLE_ROWS rows, chosen by a hash of the row key) of the
 * typed columns `c0…`, the label `y` and whether the row trains `t`, as a temp table: quantiles,
 * medians and leak scores read it instead of every row.
 */
export interface Sample {
  table: string;
  /** Column of the sample table holding a profiled column, by name. */
  column: Map<string, string>;
}

export async function createSample(
  db: DuckSession,
  input: {
    table: string;
    rowKey: string;
    rows: number;
    cols: ProfiledColumn[];
    labelExpr: string;
    trainWhere: string;
  },
): Promise<Sample> {
  const table = '__kaizen_sample';
  const select = [
    ...input.cols.map((c, i) => `${c.expr} AS c${i}`),
    `${input.labelExpr} AS y`,
    `${input.trainWhere} AS t`,
  ];
  await db.run(
    `CREATE OR REPLACE TEMP TABLE ${table} AS SELECT ${select.join(', ')} FROM ${input.table} WHERE ${sampleClause(input.rowKey, input.rows, QUANTILE_SAMPLE_ROWS, 'sample')}`,
  );
  return { table, column: new Map(input.cols.map((c, i) => [c.name, `c${i}`])) };
}

export interface StatsInput {
  table: string;
  rows: number;
  /** Condition selecting the training rows; no training statistics without. */
  trainWhere?: string;
  sample: Sample;
}

/**
 * Profiles numeric-like columns (and their training statistics): the sample gives quantiles, medians
 * and whether values are whole; one scan of every row gives the moments, a second the histograms over
 * the bounds the first found (one scan doing both is slower: DuckDB parallelises it worse).
 */
export async function numericStats(
  db: DuckSession,
  input: StatsInput,
  cols: ProfiledColumn[],
): Promise<NumericStats[]> {
  if (cols.length === 0) return [];
  const qs = `[${QUANTILES.map(([, q]) => q).join(', ')}]`;
  const pcts = `[${CDF_PERCENTILES.join(', ')}]`;
  const sampled = await db.one(
    `SELECT ${cols
      .map((c, i) => {
        const x = input.sample.column.get(c.name);
        if (!x) throw new Error(`${c.name} is not in the sample`);
        return `quantile_cont(${x}, ${qs}) AS q${i}, bool_and(${x} = floor(${x})) AS int${i}, quantile_cont(${x}, 0.5) FILTER (WHERE t) AS tmed${i}, quantile_disc(${x}, ${pcts}) AS pc${i}`;
      })
      .join(', ')} FROM ${input.sample.table}`,
  );
  const integral = cols.map((_, i) => sampled[`int${i}`] === true);

  const train = input.trainWhere;
  // the typed expressions and the split are computed once per row, in a subquery
  const inner = [...cols.map((c, i) => `${c.expr} AS x${i}`), ...(train ? [`${train} AS __t`] : [])];
  const parts = cols.map((_, i) => {
    const x = `x${i}`;
    let agg = `count(${x}) AS n${i}, avg(${x}) AS mean${i}, stddev_samp(${x}) AS sd${i}, min(${x}) AS lo${i}, max(${x}) AS hi${i}`;
    if (train)
      agg += `, avg(${x}) FILTER (WHERE __t) AS tmean${i}, stddev_samp(${x}) FILTER (WHERE __t) AS tsd${i}`;
    return agg;
  });
  const s = await db.one(`SELECT ${parts.join(', ')} FROM (SELECT ${inner.join(', ')} FROM ${input.table})`);
  const moments = cols.map((_, i) => ({
    count: toCount(s[`n${i}`]),
    mean: toNum(s[`mean${i}`]),
    std: toNum(s[`sd${i}`]),
    min: toNum(s[`lo${i}`]),
    max: toNum(s[`hi${i}`]),
  }));
  const edges = moments.map((m, i) => binEdges({ min: m.min, max: m.max, integral: integral[i]! }));
  const points = cols.map((_, i) => cdfPoints(sampled[`pc${i}`]));
  const hist = await db.one(
    `SELECT ${cols
      .map((c, i) => {
        const h = `map_entries(histogram(${binSql(c.expr, edges[i]!)})) AS h${i}`;
        const p = points[i]!;
        return p.length ? `${h}, map_entries(histogram(${c.expr}, [${p.map(doubleSql).join(', ')}])) AS cd${i}` : h;
      })
      .join(', ')} FROM ${input.table}`,
  );
  return cols.map((c, i) => {
    const m = moments[i]!;
    const e = edges[i]!;
    const counts = new Array<number>(Math.max(0, e.length - 1)).fill(0);
    for (const entry of (hist[`h${i}`] as { key: number | null; value: number }[] | null) ?? []) {
      if (entry.key !== null && entry.key < counts.length) counts[entry.key] = toCount(entry.value);
    }
    const q = (sampled[`q${i}`] as (number | null)[] | null) ?? [];
    const profile: NumericProfile = {
      name: c.name,
      kind: c.kind as NumericProfile['kind'],
      count: m.count,
      missing: input.rows - m.count,
      mean: round12(m.mean),
      std: round12(m.std),
      min: round12(m.min),
      max: round12(m.max),
      quantiles: Object.fromEntries(QUANTILES.map(([k], j) => [k, round12(toNum(q[j]))])),
      histogram: { edges: e.map((x) => round12(x) ?? 0), counts },
      ...driftReference(points[i]!, hist[`cd${i}`], sampled[`pc${i}`]),
    };
    const trainStats = train
      ? {
          mean: round12(toNum(s[`tmean${i}`])),
          std: round12(toNum(s[`tsd${i}`])),
          median: round12(toNum(sampled[`tmed${i}`])),
        }
      : null;
    return { profile, train: trainStats };
  });
}

export interface TopValues {
  values: { value: string; count: number }[];
  cardinality: number;
  count: number;
}

/** The top of a relation of distinct values `v` and their row counts `n`: most frequent first, ties by value. */
export async function topValues(db: DuckSession, counts: string, limit: number): Promise<TopValues> {
  const rows: Row[] = await db.all(
    `SELECT v, n, count(*) OVER () AS card, sum(n) OVER () AS total FROM ${counts} WHERE v IS NOT NULL AND n > 0 ORDER BY n DESC, v LIMIT ${limit}`,
  );
  return {
    values: rows.map((r) => ({ value: String(r['v']), count: toCount(r['n']) })),
    cardinality: toCount(rows[0]?.['card']),
    count: toCount(rows[0]?.['total']),
  };
}

/**
 * Counts the values of VARCHAR expressions, all in one scan, into a temp table: each column becomes
 * a relation `(v, t, n)` (value, whether the rows train, how many). The profile, the PII check and
 * the vocabulary all read it.
 */
export async function countValues(
  db: DuckSession,
  table: string,
  cols: { name: string; expr: string }[],
  trainWhere: string,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (cols.length === 0) return out;
  const name = '__kaizen_values';
  const inner = [...cols.map((c, i) => `${c.expr} AS v${i}`), `${trainWhere} AS t`].join(', ');
  const sets = cols.map((_, i) => `(v${i}, t)`).join(', ');
  await db.run(
    `CREATE OR REPLACE TEMP TABLE ${name} AS SELECT ${cols.map((_, i) => `v${i}`).join(', ')}, t, count(*) AS n FROM (SELECT ${inner} FROM ${table}) GROUP BY GROUPING SETS (${sets})`,
  );
  // a grouping set leaves the other columns NULL, and NULL values are not counted anyway
  cols.forEach((c, i) => out.set(c.name, `(SELECT v${i} AS v, t, n FROM ${name} WHERE v${i} IS NOT NULL)`));
  return out;
}

/** All rows of a value-count relation, as a relation of `v` and `n`. */
export const allValues = (valueTable: string): string =>
  `(SELECT v, sum(n) AS n FROM ${valueTable} GROUP BY v)`;
/** The training rows of a value-count relation, as a relation of `v` and `n`. */
export const trainValues = (valueTable: string): string =>
  `(SELECT v, sum(n) AS n FROM ${valueTable} WHERE t GROUP BY v)`;

export async function categoricalProfile(
  db: DuckSession,
  col: ProfiledColumn,
  valueTable: string,
  rows: number,
): Promise<CategoricalProfile> {
  const vc = await topValues(db, allValues(valueTable), TOP_VALUES);
  return {
    name: col.name,
    kind: col.kind as CategoricalProfile['kind'],
    count: vc.count,
    missing: rows - vc.count,
    cardinality: vc.cardinality,
    top: vc.values,
  };
}
