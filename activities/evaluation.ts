import { KaizenError } from '../src/errors';
import { deserializeBundle, disposeBundle, type ModelBundle } from '../src/ml/bundle';
import { compareOutputs, sliceMetrics, type BootstrapInterval, type SliceResult } from '../src/ml/bootstrap';
import { baselineTestOutputs, evaluateModel as evaluate, testOutputs, type TestOutputs } from '../src/ml/evaluate';
import { DEFAULT_GATE_METRIC, evaluateQualityGate, lowerIsBetter as isLowerBetter, type QualityGateReport } from '../src/quality-gate';
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
  /** The candidate's bundle: with it the gate computes bootstrap intervals and slices. */
  bundleUri?: string;
  bundleSha256?: string;
}

/** The bootstrap's seed: fixed, so the same candidate, champion and split give the same interval. */
const BOOTSTRAP_SEED = 20_011;
/** A slice needs this many test rows to be reported. */
const MIN_SLICE_ROWS = 30;

export interface QualityGateResult {
  report: QualityGateReport;
  champion: { version: number; metrics: Metrics } | null;
}

export function createEvaluationActivities(deps: ActivityDeps) {
  /** The production model scored on the candidate's own test split (fair comparison), with its outputs. */
  async function evaluateChampion(
    model: string,
    dataset: PreparedDataset,
    withOutputs: boolean,
  ): Promise<{ version: number; metrics: Metrics; outputs: TestOutputs | null } | { error: string } | null> {
    const version = await deps.registry.aliasVersion(model, 'production');
    if (!version) return null;
    try {
      const bundle = await deserializeBundle(await deps.registry.loadArtifact(version), version.artifactSha256, version.artifactUri);
      try {
        const dir = await localDataset(deps, dataset);
        const report = await evaluate(bundle, dir);
        return { version: version.version, metrics: report.test, outputs: withOutputs ? await testOutputs(bundle, dir) : null };
      } finally {
        disposeBundle(bundle);
      }
    } catch (err) {
      if (err instanceof KaizenError && err.type === 'ArtifactIntegrity') throw err;
      return { error: `version ${version.version} could not score this test split (${(err as Error).message})` };
    }
  }

  /** The candidate's and the baseline's outputs on the test split, when the gate has a bundle to score. */
  async function candidateOutputs(input: QualityGateActivityInput): Promise<{ candidate: TestOutputs; baseline: TestOutputs } | null> {
    if (!input.bundleUri || !input.bundleSha256) return null;
    const bundle = await fetchBundle(deps, input.bundleUri, input.bundleSha256);
    try {
      const dir = await localDataset(deps, input.dataset);
      return { candidate: await testOutputs(bundle, dir), baseline: await baselineTestOutputs(bundle, dir) };
    } finally {
      disposeBundle(bundle);
    }
  }

  return {
    /** The validation gate: absolute threshold, naive baseline, production re-evaluated on this split. */
    async qualityGate(input: QualityGateActivityInput): Promise<QualityGateResult> {
      return asActivity(() => withHeartbeat(async (step) => {
        step({ step: 'candidate' });
        const resamples = input.gate.resamples ?? 1000;
        const slices = input.gate.slices ?? [];
        const scored = resamples > 0 || slices.length > 0 ? await candidateOutputs(input) : null;
        step({ step: 'champion' });
        const champion = await evaluateChampion(input.model, input.dataset, scored !== null);
        const championOk = champion && 'metrics' in champion ? champion : null;
        const metric = input.gate.metric || DEFAULT_GATE_METRIC[input.evaluation.task];
        const lowerIsBetter = isLowerBetter(metric);
        let intervals: { baseline: BootstrapInterval | null; champion: BootstrapInterval | null } | undefined;
        let sliceResults: SliceResult[] = [];
        if (scored) {
          step({ step: 'bootstrap' });
          const options = { resamples, seed: BOOTSTRAP_SEED, lowerIsBetter };
          intervals = resamples > 0
            ? {
                baseline: compareOutputs(scored.candidate, scored.baseline, metric, options),
                champion: championOk?.outputs ? compareOutputs(scored.candidate, championOk.outputs, metric, options) : null,
              }
            : undefined;
          for (const column of slices) {
            if (!scored.candidate.categories[column]) {
              throw new KaizenError(
                'SpecInvalid',
                `gate.slices: "${column}" is not a categorical feature of this model; use one of: ${Object.keys(scored.candidate.categories).join(', ') || '(none)'}`,
              );
            }
            sliceResults = sliceResults.concat(
              sliceMetrics(scored.candidate, championOk?.outputs ?? null, column, metric, { top: input.gate.sliceTop ?? 10, minRows: MIN_SLICE_ROWS, lowerIsBetter }),
            );
          }
        }
        const report = evaluateQualityGate({
          task: input.evaluation.task,
          gate: input.gate,
          candidate: input.evaluation.test,
          baseline: input.evaluation.baseline,
          champion: championOk?.metrics ?? null,
          championError: champion && 'error' in champion ? champion.error : null,
          ...(intervals ? { intervals } : {}),
          ...(sliceResults.length ? { slices: sliceResults } : {}),
        });
        return { report, champion: championOk ? { version: championOk.version, metrics: championOk.metrics } : null };
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
