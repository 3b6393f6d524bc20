import {
  ApplicationFailure,
  condition,
  executeChild,
  isCancellation,
  log,
  metricMeter,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import { canaryRollout } from './canary-rollout';
import type { Activities } from '../activities';
import { parseDurationMs } from '../src/duration';
import { NON_RETRYABLE_ERROR_TYPES } from '../src/errors';
import {
  MODEL_SEARCH_ATTRIBUTE,
  STAGE_SEARCH_ATTRIBUTE,
  TASK_QUEUES,
  type ApprovalDecision,
  type ApprovalEvidence,
  type EvaluationReport,
  type LoadTestSpec,
  type ModelVersion,
  type PipelineInput,
  type PipelineResult,
  type PipelineStage,
  type PipelineStatus,
  type PreparedDataset,
  type StageRecord,
  type TrainedModel,
} from '../src/types';
import {
  approveSignal,
  rejectSignal,
  statusQuery,
  trainingProgressSignal,
  type ApprovalSignalInput,
} from './definitions';

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

// Training heartbeats every few batches; a worker that dies is noticed within heartbeatTimeout and
// the retried attempt resumes from the last epoch checkpoint.
const heavy = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.training,
  startToCloseTimeout: '12h',
  heartbeatTimeout: '20s',
  retry,
});

/** The spec was validated, so the duration parses; a non-retryable failure if it somehow does not. */
function durationToMs(d: string): number {
  const ms = parseDurationMs(d);
  if (ms === null) throw ApplicationFailure.nonRetryable(`not a duration: ${d}`, 'SpecInvalid');
  return ms;
}

/**
 * The whole life of one candidate model: prepare and validate the data, train, evaluate against
 * the naive baseline and production, register, wait for approval, promote. Only URIs, hashes and
 * small reports pass through history.
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
  const invalidDecisions: NonNullable<PipelineStatus['invalidDecisions']> = [];
  const status: PipelineStatus = {
    workflowId,
    model: spec.model,
    stage: 'preparing',
    training: null,
    canary: null,
    approval: null,
    invalidDecisions,
    result: null,
  };
  setHandler(statusQuery, () => status);
  setHandler(trainingProgressSignal, (p) => {
    if (status.stage === 'training') status.training = { epoch: p.epoch, epochs: p.epochs, metrics: p.metrics };
  });

  let decision: ApprovalDecision | null = null;
  const onDecision = (kind: 'approve' | 'reject') => (payload: ApprovalSignalInput) => {
    const by = typeof payload?.by === 'string' ? payload.by.trim() : '';
    const at = new Date(Date.now()).toISOString();
    if (status.stage !== 'awaiting_approval' || decision) {
      const why = decision ? 'a decision was already made' : `the pipeline is at stage ${status.stage}`;
      invalidDecisions.push({ at, reason: `${kind} ignored: ${why}`, payload });
      return;
    }
    if (!by) {
      invalidDecisions.push({ at, reason: `${kind} ignored: it has no "by" naming who decides`, payload });
      return;
    }
    const comment = typeof payload.comment === 'string' && payload.comment ? { comment: payload.comment } : {};
    decision = { decision: kind, by, at, ...comment };
  };
  setHandler(approveSignal, onDecision('approve'));
  setHandler(rejectSignal, onDecision('reject'));

  const enter = (stage: PipelineStage): void => {
    status.stage = stage;
    upsertSearchAttributes([
      { key: stageKey, value: stage },
      { key: modelKey, value: spec.model },
    ]);
  };

  // the worker's /metrics (Temporal's Prometheus exporter; not emitted again on replay)
  const stageSeconds = metricMeter.createHistogram('kaizen_pipeline_stage_seconds', 'float', 's', 'duration of a pipeline stage');
  async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
      const value = await fn();
      stages.push({ name, status: 'completed', ms: Date.now() - start });
      stageSeconds.record((Date.now() - start) / 1000, { model: spec.model, stage: name, status: 'completed' });
      return value;
    } catch (err) {
      stages.push({ name, status: 'failed', ms: Date.now() - start });
      stageSeconds.record((Date.now() - start) / 1000, { model: spec.model, stage: name, status: 'failed' });
      throw err;
    }
  }

  const finish = (): PipelineResult => {
    enter('done');
    status.result = result;
    metricMeter.createCounter('kaizen_pipeline_runs', '', 'pipeline runs by outcome').add(1, { model: spec.model, outcome: result.outcome });
    return result;
  };

  async function awaitApproval(evidence: Omit<ApprovalEvidence, 'deadline' | 'onTimeout'>): Promise<ApprovalDecision> {
    const now = Date.now();
    if (spec.approval.mode === 'auto') {
      return { decision: 'approve', by: 'auto', at: new Date(now).toISOString(), automatic: true, comment: 'approval.mode is auto' };
    }
    const timeoutMs = durationToMs(spec.approval.timeout);
    status.approval = { ...evidence, deadline: new Date(now + timeoutMs).toISOString(), onTimeout: spec.approval.onTimeout };
    const decided = await condition(() => decision !== null, timeoutMs);
    status.approval = null;
    if (decided && decision) return decision;
    return {
      decision: spec.approval.onTimeout,
      by: 'timeout',
      at: new Date(Date.now()).toISOString(),
      automatic: true,
      comment: `no decision within approval.timeout ${spec.approval.timeout}; approval.onTimeout is ${spec.approval.onTimeout}`,
    };
  }

  try {
    enter('preparing');
    const dataset: PreparedDataset = await timed('prepare', () =>
      light.prepareDataset({ model: spec.model, data: spec.data, task: spec.task, specHash: input.specHash, workflowId, now: new Date().toISOString() }),
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
    const trained: TrainedModel = await timed('train', () => heavy.trainModel({ workflowId, dataset, train: spec.train }));
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
    const gate = await timed('gate', () => heavy.qualityGate({ model: spec.model, gate: spec.gate, evaluation, dataset }));
    result.metrics = { test: evaluation.test, baseline: evaluation.baseline, champion: gate.champion?.metrics ?? null };
    result.gate = { passed: gate.report.passed, reasons: gate.report.reasons };

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
        gate: gate.report,
        ...(input.trigger ? { trigger: input.trigger } : {}),
      }),
    );
    result.version = version.version;
    // a rejected candidate stays registered, for the record, and never gets an alias
    if (!gate.report.passed) {
      result.outcome = 'rejected';
      return finish();
    }
    result.outcome = 'registered';

    enter('staging');
    const served = await timed('staging', () =>
      heavy.deployToStaging({
        model: spec.model,
        version: version.version,
        bundleUri: trained.bundleUri,
        bundleSha256: trained.bundleSha256,
        dataset,
        workflowId,
      }),
    );
    if (!served.passed) {
      result.outcome = 'rejected';
      result.gate = { passed: false, reasons: served.reasons };
      return finish();
    }

    if (spec.loadTest !== false) {
      enter('load_testing');
      const load = await timed('load_test', () =>
        heavy.loadTestStaging({ model: spec.model, version: version.version, dataset, loadTest: spec.loadTest as LoadTestSpec }),
      );
      result.loadTest = { rps: load.metrics.rps, p99Ms: load.metrics.p99Ms, errorRate: load.metrics.errorRate, passed: load.passed };
      if (!load.passed) {
        result.outcome = 'rejected';
        result.gate = { passed: false, reasons: load.reasons };
        return finish();
      }
    }

    enter('awaiting_approval');
    const approval = await timed('approval', () =>
      awaitApproval({
        version: version.version,
        metric: gate.report.metric,
        test: evaluation.test,
        baseline: evaluation.baseline,
        champion: gate.champion,
        gate: { passed: gate.report.passed, reasons: gate.report.reasons },
        loadTest: result.loadTest,
      }),
    );
    result.approval = approval;
    await light.recordApproval({ model: spec.model, version: version.version, approval });
    if (approval.decision === 'reject') {
      result.outcome = 'rejected';
      result.gate = { passed: false, reasons: [`rejected by ${approval.by}${approval.comment ? `: ${approval.comment}` : ''}`] };
      return finish();
    }

    if (spec.canary === false) {
      await timed('promote', () =>
        light.moveAlias({
          model: spec.model,
          alias: 'production',
          version: version.version,
          reason: `promoted after approval by ${approval.by}`,
          by: approval.by,
          workflowId,
        }),
      );
      result.outcome = 'promoted';
    } else {
      enter('canary');
      status.canary = { step: 1, percent: spec.canary.steps[0] ?? 100 };
      const canarySpec = spec.canary;
      const rollout = await timed('canary', () =>
        executeChild(canaryRollout, {
          workflowId: `${workflowId}-canary`,
          taskQueue: TASK_QUEUES.pipeline,
          args: [
            {
              model: spec.model,
              champion: gate.champion?.version ?? null,
              candidate: version.version,
              canary: canarySpec,
              pipelineWorkflowId: workflowId,
              approvedBy: approval.by,
            },
          ],
        }),
      );
      const last = rollout.steps.at(-1);
      status.canary = { step: rollout.steps.length, percent: last?.percent ?? 100 };
      result.canary = {
        steps: rollout.steps.map((s) => ({ percent: s.percent, passed: s.passed, requests: s.requests })),
        decision: rollout.decision,
        reasons: rollout.reasons,
      };
      result.outcome = rollout.decision === 'promote' ? 'promoted' : 'rolled_back';
    }
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
