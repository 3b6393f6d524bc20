// Every activity's options, in one place: its task queue, how long it may take and how often it
// must heartbeat. An activity that can run longer than its heartbeat timeout heartbeats on a timer
// (activities/deps.ts `withHeartbeat`), so a dead worker is noticed within that timeout whatever
// the work; one that cannot heartbeat has no heartbeat timeout.
import type { ActivityOptions, RetryPolicy } from '@temporalio/common';
import type { Activities } from '../../activities';
import { NON_RETRYABLE_ERROR_TYPES } from '../errors';
import { TASK_QUEUES } from '../types';

export type ActivityName = keyof Activities;

/** How often long activities heartbeat (a timer, independent of batch sizes or data volume). */
export const HEARTBEAT_EVERY_MS = 5_000;

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
};

/** Live figures of a running release: retried briskly, a little longer than a canary step can wait. */
const releaseRetry: RetryPolicy = { ...retry, maximumInterval: '10s', maximumAttempts: 20 };

/**
 * Writes of the production record are retried until they land (or fail for good, non-retryably):
 * a restore after a failed canary must not give up while the object store restarts.
 */
const { maximumAttempts: _bounded, ...unbounded } = retry;
const productionRetry: RetryPolicy = { ...unbounded, maximumInterval: '10s' };

const pipeline = (startToCloseTimeout: ActivityOptions['startToCloseTimeout'], extra: Partial<ActivityOptions> = {}): ActivityOptions => ({
  taskQueue: TASK_QUEUES.pipeline,
  startToCloseTimeout,
  retry,
  ...extra,
});

const training = (startToCloseTimeout: ActivityOptions['startToCloseTimeout'], extra: Partial<ActivityOptions> = {}): ActivityOptions => ({
  taskQueue: TASK_QUEUES.training,
  startToCloseTimeout,
  retry,
  ...extra,
});

/** Heartbeat timeout of activities that heartbeat on the HEARTBEAT_EVERY_MS timer: several beats may be lost. */
const beats = { heartbeatTimeout: '1m' } as const;

export const ACTIVITY_OPTIONS: Record<ActivityName, ActivityOptions> = {
  resolvePipelineSpec: pipeline('1m'),
  prepareDataset: pipeline('2h', beats),
  // a retried attempt resumes from the last epoch checkpoint
  trainModel: training('12h', beats),
  evaluateModel: training('2h', beats),
  qualityGate: training('2h', beats),
  registerModel: pipeline('15m', beats),
  recordApproval: pipeline('2m'),
  moveAlias: pipeline('2m'),
  deployToStaging: training('30m', beats),
  loadTestStaging: training('1h', beats),
  readProduction: pipeline('1m', { retry: releaseRetry }),
  changeProduction: pipeline('1m', { retry: productionRetry }),
  rollbackProduction: pipeline('1m', { retry: productionRetry }),
  analyseCanaryStep: pipeline('1m', { retry: releaseRetry }),
  startExperiment: pipeline('1m', { retry: releaseRetry }),
  readExperimentWindow: pipeline('1m', { retry: releaseRetry }),
  concludeExperiment: pipeline('5m', { retry: releaseRetry }),
  checkModelDrift: pipeline('1h', beats),
  planRetrain: pipeline('2m'),
  recordRetrain: pipeline('2m'),
  deleteCheckpoints: pipeline('15m', beats),
};
