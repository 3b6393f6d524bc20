import {
  ApplicationFailure,
  condition,
  executeChild,
  isCancellation,
  log,
  metricMeter,
  ParentClosePolicy,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, TemporalFailure } from '@temporalio/common';
import { canaryRollout } from './canary-rollout';
import { hyperparameterSearch } from './hyperparameter-search';
import { parseDurationMs } from '../src/duration';
import { checkPipelineShape, type PipelineStart } from '../src/policy/inputs';
import {
  MODEL_SEARCH_ATTRIBUTE,
  STAGE_SEARCH_ATTRIBUTE,
  TASK_QUEUES,
  type ApprovalDecision,
  type ApprovalEvidence,
  type EvaluationReport,
  type LoadTestSpec,
  type ModelVersion,
  type PipelineSpec,
  type PipelineResult,
  type PipelineStage,
  type PipelineStatus,
  type PreparedDataset,
  type SearchLineage,
  type StageRecord,
  type TrainedModel,
} from '../src/types';
import { act } from './activities';
import {
  approveSignal,
  approveUpdate,
  rejectSignal,
  rejectUpdate,
  statusQuery,
  type ApprovalSignalInput,
} from './definitions';

const stageKey = defineSearchAttributeKey(STAGE_SEARCH_ATTRIBUTE, 'KEYWORD');
const modelKey = defineSearchAttributeKey(MODEL_SEARCH_ATTRIBUTE, 'KEYWORD');

/** What the Temporal UI shows as a run's current details, by stage. */
const STAGE_DETAILS: Record<PipelineStage, string> = {
  preparing: 'validating the spec, then preparing and validating the data',
  training: 'training (progress: the trainModel activity\'s heartbeat details)',
  evaluating: 'evaluating against the naive baseline and the production version',
  registering: 'registering the candidate with its lineage',
  staging: 'deploying to staging and checking served predictions against offline ones',
  load_testing: 'load-testing the staging server',
  awaiting_approval: 'awaiting approval: send the Update "approve" or "reject" with {"by": "your name", "comment": "why"}',
  canary: 'canary rollout',
  done: 'done',
};

/** The spec was validated, so the duration parses. */
function durationToMs(d: string): number {
  return parseDurationMs(d)!;
}

/**
 * The whole life of one candidate model: prepare and validate the data, train, evaluate against
 * the naive baseline and production, register, wait for approval, promote. Only URIs, hashes and
 * small reports pass through history.
 */
export async function trainingPipeline(rawInput: PipelineStart): Promise<PipelineResult> {
  const input = checkPipelineShape(rawInput);
  const model = input.spec.model as string;
  /** The validated spec, from the first activity on. */
  let spec!: PipelineSpec;
  let specHash = '';
  /** With spec.search: the search, for the version's lineage. */
  let searchLineage: SearchLineage | undefined;
  const { workflowId, runId } = workflowInfo();
  const stages: StageRecord[] = [];
  const result: PipelineResult = {
    workflowId,
    model,
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
    search: null,
    stages,
  };
  const invalidDecisions: NonNullable<PipelineStatus['invalidDecisions']> = [];
  const status: PipelineStatus = {
    workflowId,
    model,
    stage: 'preparing',
    training: null,
    canary: null,
    approval: null,
    invalidDecisions,
    result: null,
  };
  setHandler(statusQuery, () => status, { description: 'Stage, training, approval evidence and deadline, canary step; the result once done.' });

  let decision: ApprovalDecision | null = null;
  /** Why a decision cannot be taken now, or null when it can. */
  const refusal = (kind: 'approve' | 'reject', payload: ApprovalSignalInput | undefined): string | null => {
    if (decision) return `${kind} refused: a decision was already made (${decision.decision} by ${decision.by})`;
    if (status.stage !== 'awaiting_approval') return `${kind} refused: the pipeline is at stage ${status.stage}, not awaiting_approval`;
    const by = typeof payload?.by === 'string' ? payload.by.trim() : '';
    if (!by) return `${kind} refused: it has no "by" naming who decides, e.g. {"by": "alice", "comment": "why"}`;
    return null;
  };
  const decide = (kind: 'approve' | 'reject', payload: ApprovalSignalInput): ApprovalDecision => {
    const comment = typeof payload.comment === 'string' && payload.comment ? { comment: payload.comment } : {};
    decision = { decision: kind, by: String(payload.by).trim(), at: new Date(Date.now()).toISOString(), ...comment };
    return decision;
  };
  for (const [kind, update, signal] of [
    ['approve', approveUpdate, approveSignal],
    ['reject', rejectUpdate, rejectSignal],
  ] as const) {
    // the Update answers its caller; an invalid one is rejected by the validator and leaves no trace
    setHandler(update, (payload) => decide(kind, payload), {
      description: `${kind === 'approve' ? 'Approve' : 'Reject'} the candidate waiting in awaiting_approval: {"by": "your name", "comment": "why"}. Refused (with the reason) without "by", at another stage, or after a decision.`,
      validator: (payload) => {
        const why = refusal(kind, payload);
        if (why) throw new Error(why);
      },
    });
    setHandler(
      signal,
      (payload) => {
        const why = refusal(kind, payload);
        if (why) invalidDecisions.push({ at: new Date(Date.now()).toISOString(), reason: why.replace(' refused:', ' ignored:'), payload });
        else decide(kind, payload);
      },
      { description: `${kind === 'approve' ? 'Approve' : 'Reject'} (signal, for older clients; prefer the Update of the same name): {"by": "your name", "comment": "why"}. An invalid one is ignored and listed in the status's invalidDecisions.` },
    );
  }

  /** The stage for the status query, the KaizenStage search attribute (the outcome once done) and the UI's current details. */
  const enter = (stage: PipelineStage, details: string = STAGE_DETAILS[stage]): void => {
    status.stage = stage;
    upsertSearchAttributes([
      { key: stageKey, value: stage === 'done' ? result.outcome : stage },
      { key: modelKey, value: model },
    ]);
    setCurrentDetails(details);
  };

  // the worker's /metrics (Temporal's Prometheus exporter; not emitted again on replay)
  const stageSeconds = metricMeter.createHistogram('kaizen_pipeline_stage_seconds', 'float', 's', 'duration of a pipeline stage');
  async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
      const value = await fn();
      stages.push({ name, status: 'completed', ms: Date.now() - start });
      stageSeconds.record((Date.now() - start) / 1000, { model, stage: name, status: 'completed' });
      return value;
    } catch (err) {
      stages.push({ name, status: 'failed', ms: Date.now() - start });
      stageSeconds.record((Date.now() - start) / 1000, { model, stage: name, status: 'failed' });
      throw err;
    }
  }

  const finish = (): PipelineResult => {
    enter('done', `done: ${result.outcome}${result.version !== null ? ` (version ${result.version})` : ''}${result.error ? `: ${result.error.message}` : ''}`);
    status.result = result;
    metricMeter.createCounter('kaizen_pipeline_runs', '', 'pipeline runs by outcome').add(1, { model, outcome: result.outcome });
    return result;
  };

  async function awaitApproval(evidence: Omit<ApprovalEvidence, 'deadline' | 'onTimeout'>): Promise<ApprovalDecision> {
    const now = Date.now();
    if (spec.approval.mode === 'auto') {
      return { decision: 'approve', by: 'auto', at: new Date(now).toISOString(), automatic: true, comment: 'approval.mode is auto' };
    }
    const timeoutMs = durationToMs(spec.approval.timeout);
    const deadline = new Date(now + timeoutMs).toISOString();
    status.approval = { ...evidence, deadline, onTimeout: spec.approval.onTimeout };
    setCurrentDetails(
      `awaiting approval of version ${evidence.version} until ${deadline} (then ${spec.approval.onTimeout}): send the Update "approve" or "reject" with {"by": "your name", "comment": "why"}`,
    );
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
    ({ spec, specHash } = await timed('validate', () => act.resolvePipelineSpec({ spec: input.spec })));
    const dataset: PreparedDataset = await timed('prepare', () =>
      act.prepareDataset({ model: spec.model, data: spec.data, task: spec.task, specHash, workflowId, now: new Date().toISOString() }),
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

    let trained: TrainedModel;
    let search: PipelineResult['search'] = null;
    if (spec.search) {
      const searchId = `${workflowId}-search`;
      enter('training', `hyper-parameter search in the child workflow ${searchId} (its status query lists the trials; signals extend and stop go there)`);
      status.search = { workflowId: searchId };
      const found = await timed('search', () =>
        executeChild(hyperparameterSearch, {
          workflowId: searchId,
          taskQueue: TASK_QUEUES.pipeline,
          args: [{ pipelineWorkflowId: workflowId, model, task: dataset.schema.task, dataset, train: spec.train, search: spec.search! }],
        }),
      );
      trained = { bundleUri: found.winner.bundleUri, bundleSha256: found.winner.bundleSha256, training: found.winner.training };
      search = {
        workflowId: searchId,
        strategy: found.strategy,
        metric: found.metric,
        trials: found.trials.length,
        childRuns: found.childRuns,
        epochsSpent: found.epochsSpent,
        winner: { trial: found.winner.trial, params: found.winner.params, score: found.winner.score, rung: found.winner.rung },
        ...(found.stop ? { stoppedBy: found.stop.by } : {}),
      };
      result.search = search;
      searchLineage = {
        workflowId: searchId,
        strategy: found.strategy,
        metric: found.metric,
        space: found.space,
        rungs: found.rungs,
        eta: found.eta,
        epochsSpent: found.epochsSpent,
        trials: found.trials.map((t) => ({ trial: t.trial, params: t.params, status: t.status, scores: t.scores, epochs: t.epochs })),
        winner: search.winner,
      };
    } else {
      enter('training');
      status.training = { epoch: 0, epochs: spec.train.epochs, metrics: {} };
      trained = await timed('train', () => act.trainModel({ workflowId, dataset, train: spec.train }));
    }
    result.training = {
      backend: trained.training.backend,
      epochs: trained.training.epochs,
      resumedFromEpoch: trained.training.resumedFromEpoch,
      samplesPerSecond: trained.training.samplesPerSecond,
    };
    status.training = {
      epoch: trained.training.epochs,
      epochs: trained.training.epochs,
      metrics: trained.training.history.at(-1)?.metrics ?? {},
    };

    enter('evaluating');
    const evaluation: EvaluationReport = await timed('evaluate', () =>
      act.evaluateModel({ bundleUri: trained.bundleUri, bundleSha256: trained.bundleSha256, dataset }),
    );
    const gate = await timed('gate', () => act.qualityGate({ model: spec.model, gate: spec.gate, evaluation, dataset, bundleUri: trained.bundleUri, bundleSha256: trained.bundleSha256 }));
    result.metrics = { test: evaluation.test, baseline: evaluation.baseline, champion: gate.champion?.metrics ?? null };
    const gateOutcome = { passed: gate.report.passed, reasons: gate.report.reasons, ...(gate.report.intervals ? { intervals: gate.report.intervals } : {}) };
    result.gate = gateOutcome;

    enter('registering');
    const version: ModelVersion = await timed('register', () =>
      act.registerModel({
        model: spec.model,
        spec,
        specHash,
        workflowId,
        runId,
        dataset,
        trained,
        evaluation,
        gate: gate.report,
        ...(input.trigger ? { trigger: input.trigger } : {}),
        ...(searchLineage ? { search: searchLineage } : {}),
      }),
    );
    result.version = version.version;
    // the trained bundle is in models/ now: the run's checkpoints have served their purpose
    await act.deleteCheckpoints({ workflowId, runId });
    if (searchLineage) await act.deleteCheckpoints({ workflowId: searchLineage.workflowId });
    // a rejected candidate stays registered, for the record, and never gets an alias
    if (!gate.report.passed) {
      result.outcome = 'rejected';
      return finish();
    }
    result.outcome = 'registered';

    enter('staging');
    const served = await timed('staging', () =>
      act.deployToStaging({
        model: spec.model,
        version: version.version,
        bundleUri: version.artifactUri,
        bundleSha256: version.artifactSha256,
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
        act.loadTestStaging({ model: spec.model, version: version.version, dataset, loadTest: spec.loadTest as LoadTestSpec }),
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
        gate: gateOutcome,
        loadTest: result.loadTest,
      }),
    );
    result.approval = approval;
    await act.recordApproval({ model: spec.model, version: version.version, approval });
    if (approval.decision === 'reject') {
      result.outcome = 'rejected';
      result.gate = { passed: false, reasons: [`rejected by ${approval.by}${approval.comment ? `: ${approval.comment}` : ''}`] };
      return finish();
    }

    if (spec.canary === false) {
      await timed('promote', () =>
        act.changeProduction({
          model: spec.model,
          request: { action: 'promote', champion: version.version, opId: `${workflowId}:promote` },
          by: approval.by,
          reason: `promoted after approval by ${approval.by} (canary: false)`,
          workflowId,
        }),
      );
      result.outcome = 'promoted';
    } else {
      enter('canary', `canary rollout in the child workflow ${workflowId}-canary (signals pause, resume and abort go there)`);
      status.canary = { step: 1, percent: spec.canary.steps[0] ?? 100 };
      const canarySpec = spec.canary;
      const rollout = await timed('canary', () =>
        executeChild(canaryRollout, {
          workflowId: `${workflowId}-canary`,
          taskQueue: TASK_QUEUES.pipeline,
          // a pipeline that is terminated or times out still has the canary restore the champion
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          args: [
            {
              model: spec.model,
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
    // a bug in this code (a TypeError, say) fails the workflow task instead: deploying the fix
    // lets the run carry on where it stopped
    if (!(err instanceof TemporalFailure)) throw err;
    const failure = err instanceof ApplicationFailure ? err : err.cause;
    const type = failure instanceof ApplicationFailure ? (failure.type ?? 'Error') : err.name;
    const message = failure instanceof Error ? failure.message : err.message;
    log.warn('pipeline failed', { type, message });
    result.outcome = 'failed';
    result.error = { type, message };
    finish();
    throw ApplicationFailure.create({ message, type, nonRetryable: true, details: [result] });
  }
}
