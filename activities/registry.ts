import path from 'node:path';
import { codeVersion, libraryVersions } from '../src/lineage';
import type { EvaluationReport, ModelVersion, PipelineSpec, PreparedDataset, TrainedModel } from '../src/types';
import { asActivity, type ActivityDeps } from './deps';

export interface RegisterModelInput {
  model: string;
  spec: PipelineSpec;
  specHash: string;
  workflowId: string;
  runId: string;
  dataset: PreparedDataset;
  trained: TrainedModel;
  evaluation: EvaluationReport;
}

export function createRegistryActivities(deps: ActivityDeps) {
  return {
    /** Registers the candidate with its full lineage; idempotent per workflow. */
    async registerModel(input: RegisterModelInput): Promise<ModelVersion> {
      return asActivity(async () => {
        const { trained, dataset, evaluation, spec } = input;
        return deps.registry.register(input.model, {
          sourceArtifactUri: trained.bundleUri,
          artifactFile: path.posix.basename(deps.store.keyOf(trained.bundleUri)),
          artifactSha256: trained.bundleSha256,
          task: evaluation.task,
          metrics: { test: evaluation.test, baseline: evaluation.baseline },
          training: trained.training,
          lineage: {
            dataVersion: dataset.dataVersion,
            datasetUri: dataset.uri,
            specHash: input.specHash,
            code: codeVersion(),
            libraries: libraryVersions({ 'tfjs-backend': trained.training.backend }),
            hyperParameters: { ...spec.train, task: evaluation.task },
            workflowId: input.workflowId,
            runId: input.runId,
            extra: { spec },
          },
        });
      });
    },
  };
}
