// The pipeline spec's schema: validation and defaults, with errors that name the field. Pure, so
// workflows validate their own input with the same rules the CLI applies.
import { z } from 'zod';
import { DURATION_PATTERN, parseDurationMs } from '../duration';
import { KaizenError } from '../errors';
import { LIVE_METRICS_RETENTION_SECONDS, type PipelineSpec } from '../types';

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

const trainSchema = z
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
  })
  .strict();

const gateSchema = z
  .object({
    metric: z.string().min(1).optional(),
    min: z.number().optional(),
    maxRegression: z.number().min(0).default(0.005),
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

