import {
  ApplicationFailure,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  log,
  isCancellation,
} from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { Activities } from '../activities';
import { NON_RETRYABLE_ERROR_TYPES } from '../src/errors';
import {
  MODEL_SEARCH_ATTRIBUTE,
  STAGE_SEARCH_ATTRIBUTE,
  TASK_QUEUES,
  type EvaluationReport,
  type ModelVersion,
  type PipelineInput,
  type PipelineResult,
  type PipelineStage,
  type PipelineStatus,
  type PreparedDataset,
  type StageRecord,
  type TrainedModel,
} from '../src/types';
import { statusQuery, trainingProgressSignal } from './definitions';

const stageKey = defineSearchAttributeKey(STAGE_SEARCH_ATTRIBUTE, 'KEYWORD');
const modelKey = defineSearchAttributeKey(MODEL_SEARCH_ATTRIBUTE, 'KEYWORD');

const retry = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
};

const light = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.pipeline,
  startToCloseTimeout: '30m',
  heartbeatTimeout: '2m',
  retry,
});

const heavy = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.training,
  startToCloseTimeout: '12h',
  heartbeatTimeout: '60s',
  retry,
});

/**
 * The whole life of one candidate model: prepare and validate the data, train, evaluate against
 * the naive baseline, register. Only URIs, hashes and small reports pass through history.
 */
export async function trainingPipeline(input: PipelineInput): Promise<PipelineResult> {
  const { spec } = input;
  const { workflowId, runId } = workflowInfo();
  const stages: StageRecord[] = [];
  const result: PipelineResult = {
    workflowId,
    model: spec.model,
    outcome: 'failed',
    version: null,
    dataVersion: null,
    metrics: null,
    gate: null,
    validation: null,
    training: null,
    loadTest: null,
    approval: null,
    canary: null,
    stages,
  };
  const status: PipelineStatus = { workflowId, model: spec.model, stage: 'preparing', training: null, canary: null, result: null };
  setHandler(statusQuery, () => status);
  setHandler(trainingProgressSignal, (p) => {
    if (status.stage === 'training') status.training = { epoch: p.epoch, epochs: p.epochs, metrics: p.metrics };
  });

  const enter = (stage: PipelineStage): void => {
    status.stage = stage;
    upsertSearchAttributes([
      { key: stageKey, value: stage },
      { key: modelKey, value: spec.model },
    ]);
  };

  async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
      const value = await fn();
      stages.push({ name, status: 'completed', ms: Date.now() - start });
      return value;
    } catch (err) {
      stages.push({ name, status: 'failed', ms: Date.now() - start });
      throw err;
    }
  }

  const finish = (): PipelineResult => {
    enter('done');
    status.result = result;
    return result;
  };

  try {
    enter('preparing');
    const dataset: PreparedDataset = await timed('prepare', () =>
      light.prepareDataset({ model: spec.model, data: spec.data, task: spec.task, specHash: input.specHash, workflowId }),
    );
    result.dataVersion = dataset.dataVersion;
    result.validation = {
      rows: dataset.validation.rows,
      anomalies: dataset.validation.findings.map((f) => ({ column: f.column, kind: f.kind, count: f.count })),
    };
    if (!dataset.validation.passed) {
      result.outcome = 'rejected';
      result.gate = { passed: false, reasons: dataset.validation.reasons };
      return finish();
    }

    enter('training');
    status.training = { epoch: 0, epochs: spec.train.epochs, metrics: {} };
    const trained: TrainedModel = await timed('train', () =>
      heavy.trainModel({ workflowId, dataset, train: spec.train }),
    );
    result.training = {
      backend: trained.training.backend,
      epochs: trained.training.epochs,
      resumedFromEpoch: trained.training.resumedFromEpoch,
      samplesPerSecond: trained.training.samplesPerSecond,
    };
    status.training = {
      epoch: trained.training.epochs,
      epochs: spec.train.epochs,
      metrics: trained.training.history.at(-1)?.metrics ?? {},
    };

    enter('evaluating');
    const evaluation: EvaluationReport = await timed('evaluate', () =>
      heavy.evaluateModel({ bundleUri: trained.bundleUri, bundleSha256: trained.bundleSha256, dataset }),
    );
    result.metrics = { test: evaluation.test, baseline: evaluation.baseline, champion: null };

    enter('registering');
    const version: ModelVersion = await timed('register', () =>
      light.registerModel({
        model: spec.model,
        spec,
        specHash: input.specHash,
        workflowId,
        runId,
        dataset,
        trained,
        evaluation,
      }),
    );
    result.version = version.version;
    result.outcome = 'registered';
    return finish();
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failure = err instanceof ApplicationFailure ? err : (err as { cause?: unknown }).cause;
    const type = failure instanceof ApplicationFailure ? (failure.type ?? 'Error') : 'Error';
    const message = failure instanceof Error ? failure.message : err instanceof Error ? err.message : String(err);
    log.warn('pipeline failed', { type, message });
    result.outcome = 'failed';
    result.error = { type, message };
    finish();
    throw ApplicationFailure.create({ message, type, nonRetryable: true, details: [result] });
  }
}
