import { KaizenError } from '../src/errors';
import { deserializeBundle, disposeBundle, type ModelBundle } from '../src/ml/bundle';
import { evaluateModel as evaluate } from '../src/ml/evaluate';
import { evaluateQualityGate, type QualityGateReport } from '../src/quality-gate';
import type { EvaluationReport, GateSpec, Metrics, PreparedDataset } from '../src/types';
import { asActivity, withHeartbeat, type ActivityDeps } from './deps';
import { localDataset } from './training';

export interface EvaluateModelInput {
  bundleUri: string;
  bundleSha256: string;
  dataset: PreparedDataset;
}

/** A trained bundle from the object store, refused unless its sha256 matches (no local copy). */
export async function fetchBundle(deps: ActivityDeps, uri: string, sha256: string): Promise<ModelBundle> {
  const bytes = await deps.store.getBuffer(deps.store.keyOf(uri));
  if (!bytes) throw new KaizenError('ModelNotFound', `model artifact ${uri} is missing`);
  return deserializeBundle(bytes, sha256, uri);
}

export interface QualityGateActivityInput {
  model: string;
  gate: GateSpec;
  evaluation: EvaluationReport;
  dataset: PreparedDataset;
}

export interface QualityGateResult {
  report: QualityGateReport;
  champion: { version: number; metrics: Metrics } | null;
}

export function createEvaluationActivities(deps: ActivityDeps) {
  /** The production model scored on the candidate's own test split (fair comparison). */
  async function evaluateChampion(
    model: string,
    dataset: PreparedDataset,
  ): Promise<{ version: number; metrics: Metrics } | { error: string } | null> {
    const version = await deps.registry.aliasVersion(model, 'production');
    if (!version) return null;
    try {
      const bundle = await deserializeBundle(await deps.registry.loadArtifact(version), version.artifactSha256, version.artifactUri);
      try {
        const report = await evaluate(bundle, await localDataset(deps, dataset));
        return { version: version.version, metrics: report.test };
      } finally {
        disposeBundle(bundle);
      }
    } catch (err) {
      if (err instanceof KaizenError && err.type === 'ArtifactIntegrity') throw err;
      return { error: `version ${version.version} could not score this test split (${(err as Error).message})` };
    }
  }

  return {
    /** The validation gate: absolute threshold, naive baseline, production re-evaluated on this split. */
    async qualityGate(input: QualityGateActivityInput): Promise<QualityGateResult> {
      return asActivity(() => withHeartbeat(async (step) => {
        step({ step: 'champion' });
        const champion = await evaluateChampion(input.model, input.dataset);
        const championOk = champion && 'metrics' in champion ? champion : null;
        const report = evaluateQualityGate({
          task: input.evaluation.task,
          gate: input.gate,
          candidate: input.evaluation.test,
          baseline: input.evaluation.baseline,
          champion: championOk?.metrics ?? null,
          championError: champion && 'error' in champion ? champion.error : null,
        });
        return { report, champion: championOk };
      }));
    },

    /** Scores the candidate on the test split, with the naive baseline beside it. */
    async evaluateModel(input: EvaluateModelInput): Promise<EvaluationReport> {
      return asActivity(() => withHeartbeat(async (step) => {
        step({ step: 'fetching' });
        const bundle = await fetchBundle(deps, input.bundleUri, input.bundleSha256);
        const datasetDir = await localDataset(deps, input.dataset);
        step({ step: 'evaluating' });
        try {
          return await evaluate(bundle, datasetDir);
        } finally {
          disposeBundle(bundle);
        }
      }));
    },
  };
}
