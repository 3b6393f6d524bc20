// The data validation gate: findings { column, kind, count, severity, message } and a verdict.
// Errors block the pipeline, warnings do not; the workflow decides, nothing here throws.
import type {
  CategoricalProfile,
  ColumnProfile,
  DatasetProfile,
  Finding,
  NumericProfile,
  TaskKind,
  ValidationReport,
  ValidationThresholds,
} from '../types';
import { percent, share, short } from './numbers';
import { maskIfPersonal } from './pii';
import { binSql, isNumericKind, type ProfiledColumn, type Sample } from './profile';
import { literal, toCount, toNum, type DuckSession } from './sql';

export function finding(
  column: string | null,
  kind: Finding['kind'],
  count: number,
  severity: Finding['severity'],
  message: string,
): Finding {
  return { column, kind, count, severity, message };
}

const quote = (name: string): string => `"${name}"`;

/** Missing values: an error above maxMissingFraction, a warning above half of it. */
export function missingFindings(profiles: ColumnProfile[], rows: number, t: ValidationThresholds): Finding[] {
  const out: Finding[] = [];
  for (const p of profiles) {
    const s = share(p.missing, rows);
    if (p.missing === 0 || s <= t.maxMissingFraction / 2) continue;
    const severity = s > t.maxMissingFraction ? 'error' : 'warning';
    out.push(
      finding(
        p.name,
        'missing',
        p.missing,
        severity,
        `column ${quote(p.name)} is missing in ${p.missing} of ${rows} rows (${percent(s)}; at most ${percent(t.maxMissingFraction)} allowed)`,
      ),
    );
  }
  return out;
}

/** A profile without spread: at most one distinct non-null value. */
export function isConstant(p: ColumnProfile): boolean {
  if ('cardinality' in p) return p.cardinality <= 1;
  return p.count === 0 || p.min === p.max;
}

// ---------------------------------------------------------------------------------------------
// Target leaks: a single feature that predicts the target almost perfectly
// ---------------------------------------------------------------------------------------------

export interface LeakScore {
  name: string;
  metric: 'AUC' | 'accuracy' | 'R²';
  score: number;
  rows: number;
  /** Accuracy of always predicting the majority class (multiclass), for context. */
  baseline?: number;
}

/** Categorical features are scored only with at least this many rows per category (in-sample scores of rarer ones flatter). */
const LEAK_MIN_ROWS_PER_CATEGORY = 20;
/** Numeric features with more distinct values are binned for multiclass scoring. */
const LEAK_BINS = 100;

export interface LeakInput {
  task: TaskKind;
  classes?: string[];
  features: ProfiledColumn[];
  profiles: ColumnProfile[];
  /** The sample of the features (and the label `y`) the scores are computed on. */
  sample: Sample;
}

export async function leakScores(db: DuckSession, input: LeakInput): Promise<LeakScore[]> {
  const out: LeakScore[] = [];
  for (const f of input.features) {
    const profile = input.profiles.find((p) => p.name === f.name);
    const column = input.sample.column.get(f.name);
    if (!profile || profile.count === 0 || !column) continue;
    const score = await leakScore(db, input.sample.table, column, f, profile, input);
    if (score) out.push(score);
  }
  return out;
}

async function leakScore(
  db: DuckSession,
  table: string,
  x0: string,
  f: ProfiledColumn,
  profile: ColumnProfile,
  input: LeakInput,
): Promise<LeakScore | null> {
  const numeric = isNumericKind(f.kind);
  if (!numeric && (profile as CategoricalProfile).cardinality * LEAK_MIN_ROWS_PER_CATEGORY > profile.count)
    return null;
  const from = `FROM ${table} WHERE ${x0} IS NOT NULL`;
  if (input.task === 'binary') {
    const pos = literal(input.classes?.[1] ?? 'true');
    const base = `SELECT ${x0} AS v, count(*) FILTER (WHERE y = ${pos}) AS p, count(*) FILTER (WHERE y <> ${pos}) AS q ${from} GROUP BY 1`;
    // a categorical scores by its in-sample positive rate
    const score = numeric ? 'v' : 'p / (p + q)';
    const r = await db.one(
      `WITH b AS (${base}), g AS (SELECT ${score} AS x, sum(p) AS p, sum(q) AS q FROM b GROUP BY 1),
            c AS (SELECT p, q, coalesce(sum(q) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS below FROM g)
       SELECT CAST(sum(p * below + 0.5 * p * q) AS DOUBLE) / (CAST(sum(p) AS DOUBLE) * CAST(sum(q) AS DOUBLE)) AS auc, sum(p) + sum(q) AS n FROM c`,
    );
    const auc = toNum(r['auc']);
    return auc === null
      ? null
      : { name: f.name, metric: 'AUC', score: Math.max(auc, 1 - auc), rows: toCount(r['n']) };
  }
  if (input.task === 'multiclass') {
    const np = profile as NumericProfile;
    let x = x0;
    if (numeric && np.min !== null && np.max !== null && np.max > np.min) {
      const distinct = toCount((await db.one(`SELECT count(DISTINCT ${x0}) AS d ${from}`))['d']);
      if (distinct > LEAK_BINS)
        x = `floor((${x0} - ${np.min}::DOUBLE) / ${(np.max - np.min) / LEAK_BINS}::DOUBLE)`;
    }
    const r = await db.one(
      `WITH g AS (SELECT ${x} AS x, y, count(*) AS n ${from} GROUP BY 1, 2),
            m AS (SELECT max(n) AS top FROM g GROUP BY x), c AS (SELECT y, sum(n) AS n FROM g GROUP BY y)
       SELECT CAST((SELECT sum(top) FROM m) AS DOUBLE) / (SELECT sum(n) FROM c) AS acc, CAST((SELECT max(n) FROM c) AS DOUBLE) / (SELECT sum(n) FROM c) AS base, (SELECT sum(n) FROM c) AS n`,
    );
    const acc = toNum(r['acc']);
    return acc === null
      ? null
      : {
          name: f.name,
          metric: 'accuracy',
          score: acc,
          rows: toCount(r['n']),
          baseline: toNum(r['base']) ?? 0,
        };
  }
  const r = numeric
    ? await db.one(`SELECT power(corr(${x0}, y), 2) AS r2, count(*) AS n ${from}`)
    : await db.one(
        `WITH g AS (SELECT ${x0} AS x, count(*) AS n, var_pop(y) AS v ${from} GROUP BY 1)
         SELECT 1 - sum(n * coalesce(v, 0)) / (sum(n) * (SELECT var_pop(y) ${from})) AS r2, sum(n) AS n FROM g`,
      );
  const r2 = toNum(r['r2']);
  return r2 === null ? null : { name: f.name, metric: 'R²', score: r2, rows: toCount(r['n']) };
}

export function leakFindings(scores: LeakScore[], t: ValidationThresholds): Finding[] {
  return scores
    .filter((s) => s.score >= t.leakThreshold && (s.baseline === undefined || s.baseline < t.leakThreshold))
    .map((s) =>
      finding(
        s.name,
        'target_leak',
        s.rows,
        'error',
        `feature ${quote(s.name)} alone predicts the target almost perfectly (${s.metric} ${short(s.score)} ≥ ${t.leakThreshold} on ${s.rows} rows): a likely target leak; exclude it or fix how it is computed`,
      ),
    );
}

// ---------------------------------------------------------------------------------------------
// Against a reference profile (the production model's training data)
// ---------------------------------------------------------------------------------------------

export interface ReferenceInput {
  table: string;
  rows: number;
  task: TaskKind;
  labelExpr: string;
  features: ProfiledColumn[];
  reference: DatasetProfile;
  /** Current label class shares (classification). */
  classShares?: Record<string, number>;
}

export interface ReferenceResult {
  findings: Finding[];
  metrics: Record<string, number>;
}

/** Examples of unseen categories shown in messages (features are never personal data: PII columns are gone by now). */
const UNSEEN_EXAMPLES = 3;

export async function referenceFindings(
  db: DuckSession,
  input: ReferenceInput,
  t: ValidationThresholds,
): Promise<ReferenceResult> {
  const ref = new Map(input.reference.columns.map((c) => [c.name, c]));
  const findings: Finding[] = [];
  const metrics: Record<string, number> = {};
  const parts: string[] = [];
  const checks: {
    f: ProfiledColumn;
    type: 'range' | 'vocab';
    ref: ColumnProfile;
    i: number;
    inList?: string;
  }[] = [];
  input.features.forEach((f, i) => {
    const r = ref.get(f.name);
    if (!r) return;
    if (f.kind === 'numeric' && r.kind === 'numeric' && r.min !== null && r.max !== null) {
      parts.push(
        `count(*) FILTER (WHERE ${f.expr} < ${r.min}::DOUBLE OR ${f.expr} > ${r.max}::DOUBLE) AS o${i}, count(${f.expr}) AS n${i}`,
      );
      checks.push({ f, type: 'range', ref: r, i });
    } else if (
      f.kind === 'categorical' &&
      r.kind === 'categorical' &&
      r.top.length > 0 &&
      r.top.length >= r.cardinality
    ) {
      // only a complete reference vocabulary can tell a category is new
      const inList = `${f.expr} IN (${r.top.map((v) => literal(v.value)).join(', ')})`;
      parts.push(
        `count(*) FILTER (WHERE ${f.expr} IS NOT NULL AND NOT ${inList}) AS u${i}, count(DISTINCT ${f.expr}) FILTER (WHERE NOT ${inList}) AS ud${i}, count(${f.expr}) AS n${i}`,
      );
      checks.push({ f, type: 'vocab', ref: r, i, inList });
    }
  });
  const counts = parts.length ? await db.one(`SELECT ${parts.join(', ')} FROM ${input.table}`) : {};
  let maxOut = 0;
  let maxUnseen = 0;
  for (const c of checks) {
    const n = toCount(counts[`n${c.i}`]);
    const name = c.f.name;
    if (c.type === 'range') {
      const r = c.ref as NumericProfile;
      const o = toCount(counts[`o${c.i}`]);
      const s = share(o, n);
      maxOut = Math.max(maxOut, s);
      if (o === 0) continue;
      const severity = s > t.maxOutOfRangeFraction ? 'error' : 'warning';
      findings.push(
        finding(
          name,
          'out_of_range',
          o,
          severity,
          `${o} values of ${quote(name)} (${percent(s)}) fall outside the reference range [${r.min}, ${r.max}] (at most ${percent(t.maxOutOfRangeFraction)} allowed)`,
        ),
      );
    } else {
      const u = toCount(counts[`u${c.i}`]);
      const s = share(u, n);
      maxUnseen = Math.max(maxUnseen, s);
      if (u === 0) continue;
      const distinct = toCount(counts[`ud${c.i}`]);
      const examples = await db.all(
        `SELECT DISTINCT ${c.f.expr} AS v FROM ${input.table} WHERE ${c.f.expr} IS NOT NULL AND NOT ${c.inList} ORDER BY 1 LIMIT ${UNSEEN_EXAMPLES}`,
      );
      const e = examples.map((r) => JSON.stringify(maskIfPersonal(String(r['v'])))).join(', ');
      const severity = s > t.maxUnseenCategoryFraction ? 'error' : 'warning';
      findings.push(
        finding(
          name,
          'unseen_category',
          u,
          severity,
          `${u} values of ${quote(name)} (${percent(s)}) are ${distinct} categories the reference never saw, e.g. ${e} (at most ${percent(t.maxUnseenCategoryFraction)} allowed)`,
        ),
      );
    }
  }
  metrics['outOfRangeFraction'] = maxOut;
  metrics['unseenCategoryFraction'] = maxUnseen;

  const shift = await labelShift(db, input);
  if (shift) {
    metrics['labelShift'] = shift.shift;
    if (shift.shift > t.maxLabelShift) {
      findings.push(
        finding(
          null,
          'label_shift',
          input.rows,
          'error',
          `${shift.message} (at most ${t.maxLabelShift} allowed)`,
        ),
      );
    }
  }
  return { findings, metrics };
}

async function labelShift(
  db: DuckSession,
  input: ReferenceInput,
): Promise<{ shift: number; message: string } | null> {
  const label = input.reference.label;
  if (input.task !== 'regression') {
    if (!label.classes || !input.classShares) return null;
    const now = input.classShares;
    const before = label.classes;
    let worst: { cls: string; from: number; to: number } | null = null;
    const order = [...Object.keys(before), ...Object.keys(now)];
    for (const cls of [...new Set(order)]) {
      const from = before[cls] ?? 0;
      const to = now[cls] ?? 0;
      // on a tie (both classes of a binary label) the later class, the positive one, is reported
      if (!worst || Math.abs(to - from) >= Math.abs(worst.to - worst.from) - 1e-12) worst = { cls, from, to };
    }
    if (!worst) return null;
    const shift = Math.abs(worst.to - worst.from);
    return {
      shift,
      message: `the share of label ${JSON.stringify(worst.cls)} moved from ${short(worst.from)} to ${short(worst.to)} (change ${short(shift)})`,
    };
  }
  const h = label.numeric?.histogram;
  if (!h || h.edges.length < 2) return null;
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rows = await db.all(
    `SELECT ${binSql(input.labelExpr, h.edges)} AS b, count(*) AS n FROM ${input.table} GROUP BY 1`,
  );
  const now = new Array<number>(h.counts.length).fill(0);
  for (const r of rows) now[toCount(r['b'])] = toCount(r['n']);
  const n = now.reduce((a, b) => a + b, 0);
  let shift = 0;
  let at = 0;
  h.counts.forEach((c, i) => {
    const d = Math.abs(share(now[i] ?? 0, n) - share(c, total));
    if (d > shift) [shift, at] = [d, i];
  });
  return {
    shift,
    message: `the share of target values in [${short(h.edges[at]!)}, ${short(h.edges[at + 1]!)}] moved from ${short(share(h.counts[at]!, total))} to ${short(share(now[at] ?? 0, n))} (change ${short(shift)})`,
  };
}

// ---------------------------------------------------------------------------------------------
// The verdict
// ---------------------------------------------------------------------------------------------

export function buildReport(
  rows: number,
  findings: Finding[],
  thresholds: ValidationThresholds,
  metrics: Record<string, number>,
): ValidationReport {
  const errors = findings.filter((f) => f.severity === 'error');
  return {
    passed: errors.length === 0,
    reasons: errors.map((f) => f.message),
    metrics: { rows, errors: errors.length, warnings: findings.length - errors.length, ...metrics },
    thresholds: { ...thresholds },
    rows,
    findings,
  };
}
