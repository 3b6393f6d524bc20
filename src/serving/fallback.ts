// The input guard: which rows lie so far outside the training data that the model's answer is not
// to be trusted, so the naive baseline answers instead. Numerics are checked against the training
// profile's quantiles ([p01 - k·IQR, p99 + k·IQR]); categoricals by the share of a row's
// categorical values the model never saw in training.
import type { DatasetProfile, Transforms } from '../types';

export interface FallbackOptions {
  /** Off: the model answers every row (the kill switch still works). Default true. */
  enabled: boolean;
  /** k of [p01 - k·IQR, p99 + k·IQR]. Default 3. */
  iqrMultiplier: number;
  /** A row with a larger share of unseen categories (among its categorical features) falls back. Default 0.5. */
  maxUnseenCategoryShare: number;
}

export const DEFAULT_FALLBACK: FallbackOptions = {
  enabled: true,
  iqrMultiplier: 3,
  maxUnseenCategoryShare: 0.5,
};

export interface NumericRange {
  name: string;
  min: number;
  max: number;
}

/** What a loaded version checks each row against. */
export interface InputGuard {
  numeric: NumericRange[];
  categorical: { name: string; known: Set<string> }[];
  maxUnseenCategoryShare: number;
  /** Whether the training profile was found (without it only categories are checked). */
  profiled: boolean;
}

export function buildInputGuard(
  transforms: Transforms,
  profile: DatasetProfile | null,
  options: FallbackOptions = DEFAULT_FALLBACK,
): InputGuard {
  const numeric: NumericRange[] = [];
  const categorical: InputGuard['categorical'] = [];
  for (const t of transforms.features) {
    if (t.kind === 'categorical') {
      categorical.push({ name: t.name, known: new Set(t.vocabulary) });
      continue;
    }
    const col = profile?.columns.find((c) => c.name === t.name);
    if (!col || !('quantiles' in col)) continue;
    const q = col.quantiles;
    const p01 = q.p01 ?? col.min;
    const p99 = q.p99 ?? col.max;
    if (p01 === null || p01 === undefined || p99 === null || p99 === undefined) continue;
    const iqr = (q.p75 ?? p99) - (q.p25 ?? p01);
    // a column whose middle half is one value (counts, flags) still gets a margin
    const spread = iqr > 0 ? iqr : p99 - p01 > 0 ? p99 - p01 : Math.max(1, Math.abs(p99));
    const k = options.iqrMultiplier;
    numeric.push({ name: t.name, min: p01 - k * spread, max: p99 + k * spread });
  }
  return {
    numeric,
    categorical,
    maxUnseenCategoryShare: options.maxUnseenCategoryShare,
    profiled: profile !== null,
  };
}

/** Why a row is out of profile (a sentence naming the feature), or null when it is fine. */
export function outOfProfile(guard: InputGuard, row: Record<string, unknown>): string | null {
  for (const r of guard.numeric) {
    const v = row[r.name];
    const x = typeof v === 'boolean' ? Number(v) : v;
    if (typeof x !== 'number' || Number.isNaN(x)) continue;
    if (!(x >= r.min && x <= r.max)) {
      return `${r.name}: ${x} is outside the training range [${round(r.min)}, ${round(r.max)}]`;
    }
  }
  if (guard.categorical.length > 0) {
    let unseen = 0;
    const names: string[] = [];
    for (const c of guard.categorical) {
      const v = row[c.name];
      if (v === null || v === undefined) continue;
      if (!c.known.has(String(v))) {
        unseen++;
        names.push(c.name);
      }
    }
    if (unseen / guard.categorical.length > guard.maxUnseenCategoryShare) {
      return `unseen categories in ${names.join(', ')}`;
    }
  }
  return null;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
