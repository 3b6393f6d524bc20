// What each workflow accepts, checked in the workflow itself: a person types these inputs into the
// Temporal UI, so nothing may assume a client validated them. A bad input fails the workflow at
// once with a non-retryable ApplicationFailure naming the field; it never reaches code that would
// throw a plain Error (which fails the workflow task and retries it forever).
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { parseDurationMs } from '../duration';
import { isKaizenError } from '../errors';
import type { CanaryInput, CanarySpec, DriftMonitorInput, ExperimentInput, PipelineInput, RollbackInput } from '../types';
import { parseExperiment } from './experiment';
import { canarySchema, duration, modelName, searchSchema, trainSchema } from './spec-schema';
import type { SearchInput, TrialInput } from './search-table';

/** The failure a workflow throws for a bad input: non-retryable, typed, naming the field. */
export function invalidInput(message: string, type = 'SpecInvalid'): ApplicationFailure {
  return ApplicationFailure.create({ message, type, nonRetryable: true });
}

/** Runs a pure parser, turning its typed errors into non-retryable failures of the same type. */
export function checked<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (isKaizenError(err)) throw invalidInput(err.message, err.type);
    throw err;
  }
}

function parseWith<T>(schema: z.ZodType<T>, raw: unknown, origin: string): T {
  const res = schema.safeParse(raw);
  if (res.success) return res.data;
  const first = res.error.issues[0]!;
  const where = first.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  const message = first.code === 'unrecognized_keys' ? `unknown field${first.keys.length > 1 ? 's' : ''} ${first.keys.map((k) => `"${k}"`).join(', ')}` : first.message;
  throw invalidInput(`${origin}${where}: ${message}`);
}

function object(raw: unknown, origin: string): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalidInput(`${origin}: expected a JSON object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`);
  }
  return raw as Record<string, unknown>;
}

const who = z.string().trim().min(1, 'name who acts (a non-empty string)').max(200);

/** What trainingPipeline takes: the spec itself (the JSON of a spec file), or `{ "spec": … }` as the CLI and schedules send it. */
export type PipelineStart = PipelineInput | Record<string, unknown>;

/**
 * The shape of a pipeline input, checked before anything runs: the spec itself or wrapped in
 * `{ spec }`, an object with a model name. The spec's fields are validated by the first activity
 * (resolvePipelineSpec), whose answer is recorded in the history.
 */
export function checkPipelineShape(raw: unknown): { spec: Record<string, unknown>; specUri?: string; trigger?: PipelineInput['trigger'] } {
  const input = object(raw, 'trainingPipeline input');
  const wrapped = 'spec' in input;
  const spec = object(wrapped ? input.spec : input, wrapped ? 'input.spec' : 'the spec');
  if (typeof spec.model !== 'string' || spec.model === '') {
    throw invalidInput(`${wrapped ? 'input.spec' : 'spec'} field model: expected the model's name, e.g. "flights-delay"`);
  }
  if (typeof spec.data !== 'object' || spec.data === null || Array.isArray(spec.data)) {
    throw invalidInput(`${wrapped ? 'input.spec' : 'spec'} field data: expected an object with at least "source" and "target"`);
  }
  return {
    spec,
    ...(wrapped && typeof input.specUri === 'string' ? { specUri: input.specUri } : {}),
    ...(wrapped && input.trigger && typeof input.trigger === 'object' ? { trigger: input.trigger as PipelineInput['trigger'] } : {}),
  };
}

const canaryInputSchema = z
  .object({
    model: modelName,
    candidate: z.number().int().positive(),
    /** Ignored: the rollout reads the champion from the production record when it starts. */
    champion: z.number().int().positive().nullable().optional(),
    canary: canarySchema,
    pipelineWorkflowId: z.string().min(1),
    approvedBy: who,
  })
  .strict();

export function checkCanaryInput(raw: unknown): CanaryInput & { canary: CanarySpec } {
  const input = parseWith(canaryInputSchema, raw, 'canaryRollout input');
  return { ...input, champion: input.champion ?? null } as CanaryInput & { canary: CanarySpec };
}

const experimentInputSchema = z.object({ model: modelName, experiment: z.unknown(), by: who }).strict();

export function checkExperimentInput(raw: unknown): ExperimentInput {
  const input = parseWith(experimentInputSchema, raw, 'championChallenger input');
  const experiment = checked(() => parseExperiment(input.experiment, 'experiment'));
  return { model: input.model, by: input.by, experiment };
}

const driftInputSchema = z
  .object({
    model: modelName,
    window: duration.optional(),
    cooldown: duration.optional(),
    retrain: z.boolean().optional(),
    thresholds: z.record(z.string(), z.number().nonnegative()).optional(),
  })
  .strict();

export function checkDriftMonitorInput(raw: unknown): DriftMonitorInput & { windowMs: number; cooldownMs: number } {
  const input = parseWith(driftInputSchema, raw, 'driftMonitor input') as DriftMonitorInput;
  const windowMs = parseDurationMs(input.window ?? '24h')!;
  const cooldownMs = parseDurationMs(input.cooldown ?? '24h')!;
  if (windowMs <= 0) throw invalidInput(`driftMonitor input.window: must be longer than 0, got ${input.window}`);
  return { ...input, windowMs, cooldownMs };
}

const rollbackInputSchema = z
  .object({
    model: modelName,
    to: z.number().int().positive().optional(),
    by: who,
    reason: z.string().max(500).optional(),
    workflowId: z.string().optional(),
  })
  .strict();

export function checkRollbackInput(raw: unknown): RollbackInput {
  return parseWith(rollbackInputSchema, raw, 'rollbackModel input') as RollbackInput;
}

const datasetShape = z
  .object({ dataVersion: z.string().min(1), uri: z.string().min(1), schema: z.object({ task: z.enum(['binary', 'multiclass', 'regression']) }).passthrough() })
  .passthrough();

const searchInputSchema = z
  .object({
    pipelineWorkflowId: z.string().min(1),
    model: modelName,
    task: z.enum(['binary', 'multiclass', 'regression']),
    dataset: datasetShape,
    train: trainSchema,
    search: searchSchema,
    state: z.object({ budget: z.number().int().nonnegative(), trials: z.array(z.unknown()) }).passthrough().optional(),
  })
  .strict();

/** hyperparameterSearch's input: the search block and the train spec by the spec's own rules. */
export function checkSearchInput(raw: unknown): SearchInput {
  return parseWith(searchInputSchema, raw, 'hyperparameterSearch input') as unknown as SearchInput;
}

const trialInputSchema = z
  .object({
    searchId: z.string().min(1),
    trial: z.number().int().nonnegative(),
    rung: z.number().int().nonnegative(),
    epochs: z.number().int().positive(),
    params: z.record(z.string(), z.unknown()),
    metric: z.string().min(1),
    dataset: datasetShape,
    train: trainSchema,
  })
  .strict();

export function checkTrialInput(raw: unknown): TrialInput {
  return parseWith(trialInputSchema, raw, 'searchTrial input') as unknown as TrialInput;
}
