// Champion/challenger experiments: several registered versions take a small share of production
// traffic beside the champion; after the experiment's duration the challenger with the best live
// accuracy is promoted only if it beats the champion significantly (one-sided two-proportion
// z-test, Bonferroni-corrected for the number of challengers). Pure: the workflow decides.
import { z } from 'zod';
import { DURATION_PATTERN, parseDurationMs } from '../duration';
import { KaizenError } from '../errors';
import type { ExperimentArm, ExperimentCounts, ExperimentSpec } from '../types';

/** Reads at most this far apart, well inside the production server's 10 minutes of per-second figures. */
export const MAX_READ_EVERY_MS = 300_000;

const within = (ms: number | null, min: number, max: number) => ms !== null && ms >= min && ms <= max;

export const experimentSchema = z
  .object({
    challengers: z.array(z.number().int().positive()).min(1).max(9),
    split: z.array(z.number().gt(0).max(100)).optional(),
    duration: z.string().regex(DURATION_PATTERN, 'a duration like "30s", "10m" or "24h"').default('1h'),
    minSamples: z.number().int().positive().default(200),
    alpha: z.number().gt(0).lt(0.5).default(0.05),
    readEvery: z
      .string()
      .regex(DURATION_PATTERN, 'a duration like "30s" or "1m"')
      .refine((d) => within(parseDurationMs(d), 1_000, MAX_READ_EVERY_MS), 'between 1s and 5m (the production server keeps 10 minutes of figures)')
      .default('1m'),
    readsPerRun: z.number().int().min(2).max(5000).default(500),
  })
  .strict()
  .superRefine((e, ctx) => {
    if (new Set(e.challengers).size !== e.challengers.length) {
      ctx.addIssue({ code: 'custom', path: ['challengers'], message: 'each challenger version may appear once' });
    }
    if (e.split) {
      if (e.split.length !== e.challengers.length + 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['split'],
          message: `one weight for the champion and one per challenger: expected ${e.challengers.length + 1} numbers, got ${e.split.length}`,
        });
      }
    }
  });

/**
 * Validates an experiment. `split` holds relative weights, champion first ([95, 1, 1, 1, 1] as the
 * seeds say it, though it sums to 99), normalised here to percentages summing to exactly 100 (the
 * champion absorbs the rounding); without it the champion has 95 and each challenger 1.
 */
export function parseExperiment(raw: unknown, origin = 'experiment'): ExperimentSpec {
  const res = experimentSchema.safeParse(raw);
  if (!res.success) {
    const first = res.error.issues[0]!;
    const where = first.path.map(String).join('.');
    throw new KaizenError('SpecInvalid', `${origin}${where ? `.${where}` : ''}: ${first.message}`);
  }
  const e = res.data;
  const split = normaliseSplit(e.split ?? [95, ...e.challengers.map(() => 1)]);
  return {
    challengers: e.challengers,
    split,
    duration: e.duration,
    minSamples: e.minSamples,
    alpha: e.alpha,
    readEvery: e.readEvery,
    readsPerRun: e.readsPerRun,
  };
}

/** Standard normal CDF, from the erfc approximation of Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
export function normalCdf(x: number): number {
  // on |x|/√2, mirrored for negative x
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erfc = poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/**
 * One-sided two-proportion z-test of "b's success rate is above a's", with the pooled variance.
 * Returns z and the p-value P(Z >= z); null when either sample is empty or the pooled rate is 0 or 1.
 */
export function twoProportionZTest(
  a: { successes: number; trials: number },
  b: { successes: number; trials: number },
): { z: number; pValue: number } | null {
  if (a.trials <= 0 || b.trials <= 0) return null;
  const pa = a.successes / a.trials;
  const pb = b.successes / b.trials;
  const pooled = (a.successes + b.successes) / (a.trials + b.trials);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials));
  if (!(se > 0)) return null;
  const zStat = (pb - pa) / se;
  return { z: zStat, pValue: 1 - normalCdf(zStat) };
}

export interface ExperimentDecision {
  decision: 'promote' | 'keep';
  winner: number | null;
  arms: ExperimentArm[];
  alphaAdjusted: number;
  reasons: string[];
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);

/** Judges each challenger against the champion and picks the winner, if any. */
export function decideExperiment(
  spec: ExperimentSpec,
  champion: { version: number; counts: ExperimentCounts },
  challengers: { version: number; counts: ExperimentCounts }[],
): ExperimentDecision {
  const alphaAdjusted = spec.alpha / Math.max(1, challengers.length);
  const accuracy = (c: ExperimentCounts) => (c.labelled > 0 ? c.correct / c.labelled : null);
  const champ = champion.counts;
  const champEnough = champ.labelled >= spec.minSamples;
  const arms: ExperimentArm[] = [
    {
      version: champion.version,
      role: 'champion',
      weight: spec.split[0]!,
      ...champ,
      accuracy: accuracy(champ),
      z: null,
      pValue: null,
      significant: false,
      verdict: champEnough
        ? 'champion'
        : `champion has ${champ.labelled} labelled predictions, fewer than minSamples ${spec.minSamples}`,
    },
  ];
  for (const [i, ch] of challengers.entries()) {
    const c = ch.counts;
    const base: Omit<ExperimentArm, 'z' | 'pValue' | 'significant' | 'verdict'> = {
      version: ch.version,
      role: 'challenger',
      weight: spec.split[i + 1]!,
      ...c,
      accuracy: accuracy(c),
    };
    if (!champEnough || c.labelled < spec.minSamples) {
      arms.push({
        ...base,
        z: null,
        pValue: null,
        significant: false,
        verdict: `insufficient data: ${c.labelled} labelled predictions (champion ${champ.labelled}), minSamples ${spec.minSamples}`,
      });
      continue;
    }
    if (c.requests > 0 && c.errors / c.requests > 0.01 + (champ.requests > 0 ? champ.errors / champ.requests : 0)) {
      arms.push({
        ...base,
        z: null,
        pValue: null,
        significant: false,
        verdict: `error rate ${pct(c.errors / c.requests)} is above the champion's by more than 1 point`,
      });
      continue;
    }
    const test = twoProportionZTest({ successes: champ.correct, trials: champ.labelled }, { successes: c.correct, trials: c.labelled });
    const significant = test !== null && test.pValue < alphaAdjusted;
    arms.push({
      ...base,
      z: test?.z ?? null,
      pValue: test?.pValue ?? null,
      significant,
      verdict: significant
        ? `beats the champion: accuracy ${pct(base.accuracy)} vs ${pct(accuracy(champ))}, p = ${test!.pValue.toExponential(2)} < ${alphaAdjusted}`
        : `not significantly better: accuracy ${pct(base.accuracy)} vs ${pct(accuracy(champ))}, p = ${test ? test.pValue.toFixed(4) : 'n/a'} >= ${alphaAdjusted}`,
    });
  }
  const winners = arms.filter((a) => a.significant).sort((a, b) => (b.accuracy ?? 0) - (a.accuracy ?? 0) || (a.pValue ?? 1) - (b.pValue ?? 1));
  const winner = winners[0] ?? null;
  const reasons = winner
    ? [`version ${winner.version} ${winner.verdict}; the other challengers are demoted`]
    : [`no challenger beat champion version ${champion.version} significantly (alpha ${spec.alpha}, ${alphaAdjusted} per challenger); the champion keeps all traffic`];
  return { decision: winner ? 'promote' : 'keep', winner: winner?.version ?? null, arms, alphaAdjusted, reasons };
}

/** Adds one window's figures to the running totals. */
export function addCounts(a: ExperimentCounts, b: ExperimentCounts): ExperimentCounts {
  return { requests: a.requests + b.requests, errors: a.errors + b.errors, labelled: a.labelled + b.labelled, correct: a.correct + b.correct };
}

/** Relative weights → percentages with at most 4 decimals, summing to exactly 100. */
export function normaliseSplit(weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const shares = weights.map((w) => Math.round((w / total) * 100 * 1e4) / 1e4);
  const rest = shares.slice(1).reduce((a, b) => a + b, 0);
  shares[0] = Math.round((100 - rest) * 1e4) / 1e4;
  return shares;
}
