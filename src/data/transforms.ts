// Transforms decided on the training split only, stored for training and serving alike: imputation
// values and scaling statistics for numerics (booleans are numeric 0/1), vocabularies for categoricals
// (most frequent first, ties by value; index vocabulary.length is the out-of-vocabulary bucket).
import type { FeatureTransform, TaskKind, Transforms } from '../types';
import { round12 } from './numbers';
import type { TrainStats } from './profile';

/** Vocabulary cap per categorical feature (every value seen at least once in training, up to this). */
export const MAX_VOCABULARY = 1000;

export type FeatureStats =
  | { name: string; kind: 'numeric'; train: TrainStats | null }
  | { name: string; kind: 'categorical'; vocabulary: string[] };

/** A constant or single-row training column has no spread: its scale is left alone. */
function scale(std: number | null): number {
  return std !== null && Number.isFinite(std) && std > 0 ? (round12(std) ?? 1) : 1;
}

export function buildTransforms(
  features: FeatureStats[],
  task: TaskKind,
  classes: string[] | undefined,
  label: TrainStats | null,
): Transforms {
  const out: Transforms = {
    features: features.map((f): FeatureTransform => {
      if (f.kind === 'categorical')
        return { name: f.name, kind: 'categorical', impute: f.vocabulary[0] ?? '', vocabulary: f.vocabulary };
      const mean = f.train?.mean ?? 0;
      return {
        name: f.name,
        kind: 'numeric',
        impute: f.train?.median ?? mean,
        mean,
        std: scale(f.train?.std ?? null),
      };
    }),
    task,
  };
  if (classes) out.classes = classes;
  if (task === 'regression') {
    out.targetMean = label?.mean ?? 0;
    out.targetStd = scale(label?.std ?? null);
  }
  return out;
}
