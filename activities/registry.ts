import path from 'node:path';
import { codeVersion, libraryVersions } from '../src/lineage';
import type { QualityGateReport } from '../src/quality-gate';
import type { AliasMove, ApprovalDecision, EvaluationReport, ModelVersion, PipelineSpec, PreparedDataset, TrainedModel, PipelineTrigger, SearchLineage } from '../src/types';
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
  gate: QualityGateReport;
  trigger?: PipelineTrigger;
  search?: SearchLineage;
}

export interface RecordApprovalInput {
  model: string;
  version: number;
  approval: ApprovalDecision;
}

export interface MoveAliasInput {
  model: string;
  alias: string;
  version: number | null;
  reason: string;
  by: string;
  workflowId: string;
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
            // with a search: the winner's parameters and the epochs it trained
            hyperParameters: {
              ...spec.train,
              ...(input.search ? { ...input.search.winner.params, epochs: trained.training.epochs } : {}),
              task: evaluation.task,
            },
            workflowId: input.workflowId,
            runId: input.runId,
            ...(input.search ? { search: input.search } : {}),
            extra: { spec, gate: input.gate, ...(input.trigger ? { trigger: input.trigger } : {}) },
          },
        });
      });
    },

    /** Stores who decided, when and why in the version's lineage. */
    async recordApproval(input: RecordApprovalInput): Promise<void> {
      return asActivity(() => deps.registry.annotate(input.model, input.version, { approval: input.approval }));
    },

    /** Moves an alias atomically (conditional write); a no-op when it already points there. */
    async moveAlias(input: MoveAliasInput): Promise<AliasMove | null> {
      return asActivity(() =>
        deps.registry.moveAlias(input.model, input.alias, input.version, {
          reason: input.reason,
          by: input.by,
          workflowId: input.workflowId,
        }),
      );
    },
  };
}
