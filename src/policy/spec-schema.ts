// The pipeline spec's schema: validation and defaults, with errors that name the field. Pure, so
// workflows validate their own input with the same rules the CLI applies.
import { z } from 'zod';
import { DURATION_PATTERN, parseDurationMs } from '../duration';
import { KaizenError } from '../errors';
import { LIVE_METRICS_RETENTION_SECONDS, type PipelineSpec } from '../types';
import { SEARCH_METRICS } from './search';

export const duration = z
  .string()
  .regex(DURATION_PATTERN, 'a duration like "500ms", "10s", "1m", "24h" or "7d"');

const featureKind = z.enum(['numeric', 'categorical', 'boolean', 'timestamp', 'text']);
export const modelName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, ".", "_" and "-", at most 63 characters');

const validationSchema = z
  .object({
    maxMissingFraction: z.number().min(0).max(1).default(0.3),
    maxDuplicateFraction: z.number().min(0).max(1).default(0.05),
    maxOutOfRangeFraction: z.number().min(0).max(1).default(0.05),
    maxUnseenCategoryFraction: z.number().min(0).max(1).default(0.05),
    maxLabelShift: z.number().min(0).max(1).default(0.15),
    leakThreshold: z.number().min(0).max(1).default(0.98),
  })
  .strict();

const dataSchema = z
  .object({
    source: z.string().min(1),
    newest: z.number().int().positive().optional(),
    window: duration.optional(),
    format: z.enum(['csv', 'tsv', 'parquet', 'json', 'ndjson']).optional(),
    where: z.string().min(1).optional(),
    derive: z.record(z.string(), z.string().min(1)).default({}),
    target: z.string().min(1),
    features: z.array(z.string().min(1)).min(1).optional(),
    exclude: z.array(z.string().min(1)).default([]),
    sample: z.number().int().positive().optional(),
    split: z
      .object({
        validation: z.number().min(0).max(0.5).default(0.1),
        test: z.number().gt(0).max(0.5).default(0.2),
        seed: z.number().int().default(42),
        by: z.string().min(1).optional(),
      })
      .strict()
      .default({ validation: 0.1, test: 0.2, seed: 42 }),
    pii: z.enum(['reject', 'drop']).default('reject'),
    schema: z.record(z.string(), featureKind).default({}),
    validation: validationSchema.default(validationSchema.parse({})),
  })
  .strict();

export const trainSchema = z
  .object({
    hiddenUnits: z.array(z.number().int().positive().max(4096)).max(8).default([64, 32]),
    epochs: z.number().int().positive().max(1000).default(8),
    batchSize: z.number().int().positive().max(65536).default(512),
    learningRate: z.number().positive().max(1).default(0.001),
    seed: z.number().int().default(42),
    patience: z.number().int().positive().default(3),
    backend: z.enum(['tensorflow', 'wasm', 'cpu']).optional(),
    heartbeatEveryBatches: z.number().int().positive().default(50),
    classWeights: z.enum(['none', 'balanced']).default('none'),
    l2: z.number().min(0).max(1).default(0),
    /** Binary: the threshold on P(positive) for a label; "f1"/"accuracy" choose it on the validation split. */
    decisionThreshold: z.union([z.enum(['f1', 'accuracy']), z.number().gt(0).lt(1)]).default('f1'),
  })
  .strict();

const trainFieldSchemas = trainSchema.shape;

/** The train fields a search may vary, each checked by the train schema's own rule. */
export const SEARCHABLE_FIELDS = ['hiddenUnits', 'learningRate', 'batchSize', 'l2', 'classWeights', 'patience'] as const;

const rangeSchema = z
  .object({
    min: z.number(),
    max: z.number(),
    log: z.boolean().default(false),
    integer: z.boolean().default(false),
  })
  .strict()
  .refine((r) => r.min <= r.max, 'min must be <= max')
  .refine((r) => !r.log || r.min > 0, 'a log range needs min > 0');

export const searchSchema = z
  .object({
    /** Trials (configurations) to start; default: the grid's size for grid, else 20. */
    trials: z.number().int().positive().max(10_000).optional(),
    parallelism: z.number().int().positive().max(64).default(2),
    strategy: z.enum(['random', 'grid', 'tpe']).default('random'),
    seed: z.number().int().default(42),
    /** Validation metric to rank trials by; default valAuc (binary), valLoss otherwise. */
    metric: z.enum(SEARCH_METRICS).optional(),
    space: z.partialRecord(z.enum(SEARCHABLE_FIELDS), z.union([z.array(z.unknown()).min(1), rangeSchema])),
    /** Successive halving: rungs at minEpochs·eta^k up to train.epochs; false trains every trial to train.epochs. */
    asha: z
      .union([
        z.literal(false),
        z.object({ minEpochs: z.number().int().positive().default(1), eta: z.number().int().min(2).max(10).default(3) }).strict(),
      ])
      .default({ minEpochs: 1, eta: 3 }),
    /** Child runs per coordinator run before it continues-as-new (keeps the history small). */
    continueAsNewEvery: z.number().int().positive().max(1000).default(100),
    /** Grid points per range parameter. */
    gridSteps: z.number().int().min(2).max(20).default(3),
  })
  .strict()
  .superRefine((s, ctx) => {
    const names = Object.keys(s.space);
    if (names.length === 0) ctx.addIssue({ code: 'custom', path: ['space'], message: 'name at least one parameter to search' });
    for (const name of names as (typeof SEARCHABLE_FIELDS)[number][]) {
      const field = trainFieldSchemas[name];
      const p = s.space[name]!;
      const values = Array.isArray(p) ? p : [p.min, p.max];
      values.forEach((v, i) => {
        const r = field.safeParse(v);
        if (!r.success) {
          ctx.addIssue({
            code: 'custom',
            path: ['space', name, ...(Array.isArray(p) ? [i] : [i === 0 ? 'min' : 'max'])],
            message: `not a valid train.${name}: ${r.error.issues[0]!.message}`,
          });
        }
      });
    }
  });

const gateSchema = z
  .object({
    metric: z.string().min(1).optional(),
    min: z.number().optional(),
    maxRegression: z.number().min(0).default(0.005),
    /** How comparisons decide: the point estimate, or the paired bootstrap's 95% interval. */
    require: z.enum(['point', 'not_worse', 'better']).default('point'),
    /** Paired bootstrap resamples of the test split (0: no intervals). */
    resamples: z.number().int().min(0).max(10_000).default(1000),
    /** Categorical features to report the metric for, per value. */
    slices: z.array(z.string().min(1)).max(10).default([]),
    sliceTop: z.number().int().positive().max(100).default(10),
    /** Block a candidate that is worse than production by more than this on any reported slice. */
    maxSliceRegression: z.number().min(0).optional(),
  })
  .strict();

const loadTestSchema = z
  .object({
    connections: z.number().int().positive().max(1024).default(32),
    duration: duration.default('10s'),
    maxP99Ms: z.number().positive().default(50),
    minRps: z.number().nonnegative().default(500),
    maxErrorRate: z.number().min(0).max(1).default(0.001),
  })
  .strict();

const approvalSchema = z
  .object({
    mode: z.enum(['manual', 'auto']).default('manual'),
    timeout: duration.default('24h'),
    onTimeout: z.enum(['reject', 'approve']).default('reject'),
  })
  .strict();

export const canarySchema = z
  .object({
    steps: z.array(z.number().gt(0).max(100)).min(1).default([5, 25, 50, 100]),
    // the analysis reads the production server's per-second figures, of which it keeps 10 minutes
    stepDuration: duration
      .refine((d) => {
        const ms = parseDurationMs(d);
        return ms !== null && ms >= 1_000 && ms <= LIVE_METRICS_RETENTION_SECONDS * 1000;
      }, 'between 1s and 10m (the production server keeps 10 minutes of live figures)')
      .default('1m'),
    minRequestsPerStep: z.number().int().nonnegative().default(200),
    maxErrorRate: z.number().min(0).max(1).default(0.01),
    maxP99Ms: z.number().positive().default(50),
    maxMetricDrop: z.number().min(0).max(1).default(0.02),
  })
  .strict();

export const pipelineSpecSchema = z
  .object({
    model: modelName,
    data: dataSchema,
    task: z.enum(['binary', 'multiclass', 'regression']).optional(),
    train: trainSchema.default(trainSchema.parse({})),
    gate: gateSchema.default(gateSchema.parse({})),
    loadTest: z.union([z.literal(false), loadTestSchema]).default(loadTestSchema.parse({})),
    approval: approvalSchema.default(approvalSchema.parse({})),
    canary: z.union([z.literal(false), canarySchema]).default(canarySchema.parse({})),
    search: searchSchema.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const steps = spec.canary === false ? [] : spec.canary.steps;
    for (let i = 1; i < steps.length; i++) {
      if (steps[i]! <= steps[i - 1]!) {
        ctx.addIssue({ code: 'custom', path: ['canary', 'steps', i], message: 'steps must increase' });
      }
    }
    if (spec.data.split.validation + spec.data.split.test >= 0.9) {
      ctx.addIssue({ code: 'custom', path: ['data', 'split'], message: 'validation + test must leave at least 10% for training' });
    }
  });

function issuePath(p: readonly PropertyKey[]): string {
  return p.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
}

/** Validates and defaults a spec object. Errors name the field: `spec.train.epochs: …`. */
export function parsePipelineSpec(raw: unknown, origin = 'spec'): PipelineSpec {
  const res = pipelineSpecSchema.safeParse(raw);
  if (!res.success) {
    const first = res.error.issues[0]!;
    const where = issuePath(first.path);
    const extra = res.error.issues.length > 1 ? ` (and ${res.error.issues.length - 1} more)` : '';
    let message = first.message;
    if (first.code === 'unrecognized_keys') message = `unknown field${first.keys.length > 1 ? 's' : ''} ${first.keys.map((k) => `"${k}"`).join(', ')}`;
    throw new KaizenError('SpecInvalid', `${origin}${where ? ` field ${where}` : ''}: ${message}${extra}`, {
      issues: res.error.issues.map((i) => ({ path: issuePath(i.path), message: i.message })),
    });
  }
  return res.data as PipelineSpec;
}

