// The request side of a served model: the body's shape, each instance checked against the model's
// transforms (with messages that quote the offending value), the public input schema, and the
// warm-up row a freshly loaded model must answer before it takes traffic.
import { KaizenError } from '../errors';
import type { ModelBundle } from '../ml/bundle';
import type { FeatureKind, FeatureTransform, Transforms } from '../types';

export interface ServingLimits {
  /** Largest request body in bytes (fastify bodyLimit); larger bodies get 413. */
  bodyLimitBytes: number;
  /** Most instances in one predict request; more get 413 naming the limit. */
  maxInstances: number;
}

export const DEFAULT_LIMITS: ServingLimits = { bodyLimitBytes: 1024 * 1024, maxInstances: 1000 };

export interface InputFeature {
  name: string;
  /** Kind of the column in the dataset (numeric, categorical, boolean, timestamp). */
  kind: FeatureKind;
  /** JSON type a request must send; null is accepted and imputed as in training. */
  type: 'number' | 'string';
  /** Categorical features: known categories; any other value goes to the out-of-vocabulary bucket. */
  vocabulary_size?: number;
}

export interface InputSchema {
  features: InputFeature[];
}

/** The public description of what a model reads. */
export function describeInputSchema(bundle: Pick<ModelBundle, 'schema' | 'transforms'>): InputSchema {
  const kinds = new Map(bundle.schema.features.map((f) => [f.name, f.kind]));
  return {
    features: bundle.transforms.features.map((t): InputFeature => {
      const kind = kinds.get(t.name) ?? t.kind;
      return t.kind === 'numeric'
        ? { name: t.name, kind, type: 'number' }
        : { name: t.name, kind, type: 'string', vocabulary_size: t.vocabulary.length };
    }),
  };
}

/**
 * Checks the body's shape and the instance count; returns the instances. Empty or malformed is
 * InvalidInput (400); more than `maxInstances` is PayloadTooLarge (413).
 */
export function instancesOf(
  body: unknown,
  limits: Pick<ServingLimits, 'maxInstances'>,
): Record<string, unknown>[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new KaizenError(
      'InvalidInput',
      `body: expected a JSON object {"instances": [...]}, got ${describe(body)}`,
    );
  }
  const instances = (body as { instances?: unknown }).instances;
  if (instances === undefined) {
    throw new KaizenError(
      'InvalidInput',
      'instances: missing; expected an array of objects of feature values',
    );
  }
  if (!Array.isArray(instances)) {
    throw new KaizenError(
      'InvalidInput',
      `instances: expected an array of objects of feature values, got ${describe(instances)}`,
    );
  }
  if (instances.length === 0) {
    throw new KaizenError('InvalidInput', 'instances: empty; send at least one instance');
  }
  if (instances.length > limits.maxInstances) {
    throw new KaizenError(
      'PayloadTooLarge',
      `instances: ${instances.length} instances exceed the limit of ${limits.maxInstances} per request; split them into several requests`,
      { limit: limits.maxInstances, got: instances.length },
    );
  }
  return instances as Record<string, unknown>[];
}

/**
 * Validates instances against the model's transforms, naming the first bad field:
 * `instances[2].distance: expected a number, got "abc"`. It accepts exactly what the shared
 * encoder (src/ml/dataset.ts) accepts: numbers and booleans for numeric features; strings,
 * numbers and booleans for categorical ones; null for either (imputed). Extra fields are ignored.
 */
export function validateInstances(
  transforms: Transforms,
  instances: readonly unknown[],
  where = 'instances',
): void {
  const features = transforms.features;
  for (let i = 0; i < instances.length; i++) {
    const row = instances[i];
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw new KaizenError(
        'InvalidInput',
        `${where}[${i}]: expected an object of feature values, got ${describe(row)}`,
      );
    }
    const record = row as Record<string, unknown>;
    for (const t of features) {
      if (!Object.hasOwn(record, t.name) || record[t.name] === undefined) {
        throw new KaizenError('InvalidInput', `${where}[${i}].${t.name}: missing; expected ${expected(t)}`);
      }
      const value = record[t.name];
      if (!accepts(t, value)) {
        throw new KaizenError(
          'InvalidInput',
          `${where}[${i}].${t.name}: expected ${expected(t)}, got ${describe(value)}`,
        );
      }
    }
  }
}

function accepts(t: FeatureTransform, value: unknown): boolean {
  if (value === null) return true;
  const type = typeof value;
  if (t.kind === 'numeric') return type === 'number' || type === 'boolean';
  return type === 'string' || type === 'number' || type === 'boolean';
}

function expected(t: FeatureTransform): string {
  return t.kind === 'numeric' ? 'a number' : 'a string';
}

/** A value as a person reads it in an error message: strings quoted and cut, containers by kind. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': {
      const s = value.length > 40 ? `${value.slice(0, 40)}…` : value;
      return JSON.stringify(s);
    }
    case 'object':
      return 'an object';
    case 'undefined':
      return 'nothing';
    default:
      return String(value);
  }
}

/** One row of training-time imputation values: every model can answer it. */
export function warmUpInstance(transforms: Transforms): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const t of transforms.features) row[t.name] = t.impute;
  return row;
}
