// Pure types and constants shared by workflows, activities and src/. No runtime imports here:
// workflows/ import this file, and it must stay deterministic and free of I/O.
import type { SearchSpec } from './policy/search';
import type { SearchStatus } from './policy/search-table';

export const TASK_QUEUES = { pipeline: 'kaizen-pipeline', training: 'kaizen-training' } as const;
export type TaskQueueName = (typeof TASK_QUEUES)[keyof typeof TASK_QUEUES];

/** Search attribute the workflows upsert so the Temporal UI can list runs by stage. */
export const STAGE_SEARCH_ATTRIBUTE = 'KaizenStage';
export const MODEL_SEARCH_ATTRIBUTE = 'KaizenModel';

/** How many seconds of per-second live figures a model server keeps (what canary analyses can read). */
export const LIVE_METRICS_RETENTION_SECONDS = 600;

export type TaskKind = 'binary' | 'multiclass' | 'regression';
export type FeatureKind = 'numeric' | 'categorical' | 'boolean' | 'timestamp' | 'text';
export type DataFormat = 'csv' | 'tsv' | 'parquet' | 'json' | 'ndjson';

// ---------------------------------------------------------------------------------------------
// Pipeline spec (validated and defaulted by src/spec; this is the normalised shape)
// ---------------------------------------------------------------------------------------------

export interface SplitSpec {
  validation: number;
  test: number;
  seed: number;
  /** Timestamp column: split by time, the latest period is the test set. */
  by?: string;
}

export interface ValidationThresholds {
  /** A column with a larger share of missing values is an error (warning above half of it). */
  maxMissingFraction: number;
  /** Share of duplicate rows above which a warning is raised. */
  maxDuplicateFraction: number;
  /** Share of out-of-range numerics (against the reference profile) above which an error is raised. */
  maxOutOfRangeFraction: number;
  /** Share of unseen categories (against the reference profile) above which an error is raised. */
  maxUnseenCategoryFraction: number;
  /** Absolute change of any class share of the label against the reference above which an error is raised. */
  maxLabelShift: number;
  /** A single feature reaching this score (AUC / accuracy / R²) on the target is reported as a likely leak. */
  leakThreshold: number;
}

export interface DataSpec {
  /**
   * One file or object (`data/flights.parquet`, `s3://bucket/flights.parquet`), a prefix or directory
   * (`s3://bucket/flights/`, `data/flights/`), or a glob (`*`, `?`, `**`): every selected file is read
   * as one table.
   */
  source: string;
  /** Prefix or glob: read only the N most recently modified objects (ties: the later name is newer). */
  newest?: number;
  /** Prefix or glob: read only the objects modified within this duration ("24h", "7d") before the run. */
  window?: string;
  format?: DataFormat;
  where?: string;
  derive: Record<string, string>;
  target: string;
  features?: string[];
  exclude: string[];
  sample?: number;
  split: SplitSpec;
  pii: 'reject' | 'drop';
  schema: Record<string, FeatureKind>;
  validation: ValidationThresholds;
}

export interface TrainSpec {
  hiddenUnits: number[];
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  patience: number;
  backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** Heartbeat (and progress) every N batches inside an epoch. */
  heartbeatEveryBatches: number;
  /**
   * Classification: `balanced` weighs each training row's loss by n / (k · n_class), as
   * scikit-learn's class_weight="balanced", so a rare class counts as much as a common one.
   * Default `none`. Validation loss (early stopping) stays unweighted.
   */
  classWeights?: 'none' | 'balanced';
  /** L2 penalty λ·Σw² on every dense kernel, added to the training loss. Default 0. */
  l2?: number;
  /**
   * Binary: the threshold on P(positive) above which the label is the positive class. `f1`
   * (default) or `accuracy` choose it on the validation split to maximise that; a number fixes it.
   */
  decisionThreshold?: 'f1' | 'accuracy' | number;
}

export interface GateSpec {
  /** Default per task: binary auc, multiclass macroF1, regression r2. */
  metric?: string;
  min?: number;
  maxRegression: number;
  /**
   * `point` (default) compares point estimates; `not_worse` passes when the 95% interval of the
   * gain over production stays above -maxRegression; `better` when it lies above 0. Both also
   * need the interval of the gain over the naive baseline above 0.
   */
  require?: 'point' | 'not_worse' | 'better';
  resamples?: number;
  slices?: string[];
  sliceTop?: number;
  maxSliceRegression?: number;
}

export interface LoadTestSpec {
  connections: number;
  duration: string;
  maxP99Ms: number;
  minRps: number;
  maxErrorRate: number;
}

export interface ApprovalSpec {
  mode: 'manual' | 'auto';
  timeout: string;
  onTimeout: 'reject' | 'approve';
}

export interface CanarySpec {
  steps: number[];
  stepDuration: string;
  minRequestsPerStep: number;
  maxErrorRate: number;
  maxP99Ms: number;
  maxMetricDrop: number;
}

export interface PipelineSpec {
  model: string;
  data: DataSpec;
  task?: TaskKind;
  train: TrainSpec;
  gate: GateSpec;
  loadTest: LoadTestSpec | false;
  approval: ApprovalSpec;
  canary: CanarySpec | false;
  /** Hyper-parameter search: with it, training is the hyperparameterSearch child workflow. */
  search?: SearchSpec;
}

// ---------------------------------------------------------------------------------------------
// Datasets
// ---------------------------------------------------------------------------------------------

export interface ColumnSchema {
  name: string;
  kind: FeatureKind;
  /** DuckDB type name of the column after `derive`. */
  sqlType: string;
  /**
   * DuckDB type of the column in the prepared parquet splits: integer and BOOLEAN columns as they
   * are, other numerics (and regression targets) as DOUBLE, categoricals as VARCHAR; a class label as
   * BOOLEAN / integer / VARCHAR, so that `classes.indexOf(String(value))` is its class index.
   */
  storedType?: string;
}

export interface DatasetSchema {
  target: string;
  task: TaskKind;
  /** Feature columns in model input order. */
  features: ColumnSchema[];
  targetColumn: ColumnSchema;
  /** Label values in class-index order (classification only), as strings. */
  classes?: string[];
  /** Columns of the source left out of the features, and why (excluded, personal data, free text, constant…). */
  excluded?: { name: string; reason: string }[];
  /** The timestamp column of a time split (`data.split.by`). */
  splitBy?: string;
}

export type FeatureTransform =
  | { name: string; kind: 'numeric'; impute: number; mean: number; std: number }
  | {
      name: string;
      kind: 'categorical';
      impute: string;
      /** Known values; index = position, `vocabulary.length` is the out-of-vocabulary bucket. */
      vocabulary: string[];
    };

export interface Transforms {
  features: FeatureTransform[];
  task: TaskKind;
  classes?: string[];
  /** Regression target scaling (from the training split). */
  targetMean?: number;
  targetStd?: number;
}

export interface NumericProfile {
  name: string;
  kind: 'numeric' | 'boolean' | 'timestamp';
  count: number;
  missing: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  /** p01, p05, p25, p50, p75, p95, p99 */
  quantiles: Record<string, number | null>;
  histogram: { edges: number[]; counts: number[] };
  /**
   * Drift reference bins: the deciles (of the quantile sample, real values, duplicates removed) as
   * `edges`, and the exact share of all non-missing values in each bin, ties included. Bins are
   * closed on the right: (-∞, edges[0]], (edges[0], edges[1]], …, (edges[n-1], +∞), so
   * `shares.length === edges.length + 1`. Absent in profiles made before drift detection.
   */
  bins?: { edges: number[]; shares: number[] };
  /**
   * Reference CDF for the KS statistic: the percentiles p1…p99 (real values, duplicates removed) and
   * the exact share of all non-missing values <= each. Absent in older profiles.
   */
  cdf?: { values: number[]; shares: number[] };
}

export interface CategoricalProfile {
  name: string;
  kind: 'categorical' | 'text';
  count: number;
  missing: number;
  cardinality: number;
  top: { value: string; count: number }[];
}

export type ColumnProfile = NumericProfile | CategoricalProfile;

export interface DatasetProfile {
  rows: number;
  columns: ColumnProfile[];
  /** Class shares of the target (classification) or its numeric profile (regression). */
  label: { classes?: Record<string, number>; numeric?: NumericProfile };
}

export type FindingKind =
  | 'missing'
  | 'type_violation'
  | 'constant'
  | 'duplicate_rows'
  | 'out_of_range'
  | 'unseen_category'
  | 'label_shift'
  | 'target_leak'
  | 'pii'
  | 'pii_dropped'
  /** A column not used as a feature although it would have been (free text, a raw timestamp). */
  | 'excluded';

export interface Finding {
  column: string | null;
  kind: FindingKind;
  count: number;
  severity: 'error' | 'warning';
  message: string;
}

/** Every gate returns a verdict like this; the workflow decides what to do with it. */
export interface GateReport {
  passed: boolean;
  reasons: string[];
  metrics: Record<string, number>;
  thresholds: Record<string, number>;
}

export interface ValidationReport extends GateReport {
  rows: number;
  findings: Finding[];
}

export interface PreparedDataset {
  /** `sha256:<hex>` of the spec hash, the source identity and the output contents. */
  dataVersion: string;
  /** `s3://bucket/datasets/<hex>/` */
  uri: string;
  rows: { total: number; train: number; validation: number; test: number };
  schema: DatasetSchema;
  validation: ValidationReport;
  /** True when an identical dataset already existed and nothing was uploaded. */
  reused: boolean;
}

// ---------------------------------------------------------------------------------------------
// Training, evaluation, registry
// ---------------------------------------------------------------------------------------------

export type Metrics = Record<string, number>;

export interface TrainingProgress {
  epoch: number;
  epochs: number;
  batch?: number;
  metrics: Metrics;
  checkpointUri?: string;
}

export interface TrainingSummary {
  backend: string;
  epochs: number;
  bestEpoch: number;
  resumedFromEpoch: number | null;
  samplesPerSecond: number;
  history: { epoch: number; loss: number; valLoss?: number; metrics: Metrics }[];
  /** Binary: the decision threshold the bundle labels with (absent: 0.5). */
  decisionThreshold?: number;
}

export interface TrainedModel {
  /** `s3://bucket/checkpoints/<workflowId>/model/` — the bundle before registration. */
  bundleUri: string;
  bundleSha256: string;
  training: TrainingSummary;
}

export interface EvaluationReport {
  task: TaskKind;
  rows: number;
  test: Metrics;
  baseline: Metrics;
  /** Extra structured results (confusion matrix, per-class recall). */
  details?: Record<string, unknown>;
}

export interface AliasMove {
  alias: string;
  from: number | null;
  to: number | null;
  at: string;
  reason: string;
  by: string;
  workflowId?: string;
}

export interface ModelLineage {
  dataVersion: string;
  datasetUri: string;
  specHash: string;
  code: { gitCommit: string | null; packageVersion: string };
  libraries: Record<string, string>;
  hyperParameters: Record<string, unknown>;
  workflowId: string;
  runId: string;
  approval?: ApprovalDecision;
  /** The hyper-parameter search that chose this version's parameters, when there was one. */
  search?: SearchLineage;
  extra?: Record<string, unknown>;
}

/** A search as the winner's lineage records it: the space, how it searched, every trial, the winner. */
export interface SearchLineage {
  workflowId: string;
  strategy: string;
  metric: string;
  space: Record<string, unknown>;
  rungs: number[];
  eta: number | null;
  epochsSpent: number;
  trials: { trial: number; params: Record<string, unknown>; status: string; scores: number[]; epochs: number }[];
  winner: SearchOutcome['winner'];
}

/** A search in a pipeline's result. */
export interface SearchOutcome {
  workflowId: string;
  strategy: string;
  metric: string;
  trials: number;
  childRuns: number;
  epochsSpent: number;
  winner: { trial: number; params: Record<string, unknown>; score: number; rung: number };
  stoppedBy?: string;
}

export interface ModelVersion {
  version: number;
  createdAt: string;
  artifactUri: string;
  artifactSha256: string;
  task: TaskKind;
  metrics: { test: Metrics; baseline: Metrics };
  training: TrainingSummary;
  lineage: ModelLineage;
}

/** The kill switch: while set, every request is answered by the naive baseline. */
export interface ModelKillSwitch {
  at: string;
  by: string;
  reason: string;
}

/**
 * The one production record of a model. Every release action (canary step, promotion, rollback,
 * experiment start or end, kill switch) changes it in one conditional write of the registry
 * document, together with its history entry; production servers route from it alone.
 */
export interface ProductionState {
  /** The version production stands on: the rollback target of the next release, the fallback of any split. */
  champion: number;
  /** Traffic by version, percentages summing to 100 (`{ "<champion>": 100 }` without a split). */
  weights: Record<string, number>;
  /** Versions kept loaded without traffic (the previous champion, for an instant rollback). */
  warm: number[];
  /** Set while the kill switch is on. */
  killSwitch: ModelKillSwitch | null;
  /** The champion before this one: where `kaizen rollback` goes without `--to`. */
  previousChampion: number | null;
  /** Counts the changes (1 for the first). */
  revision: number;
  updatedAt: string;
  by: string;
  reason: string;
  workflowId?: string;
}

export type ProductionAction =
  | 'promote'
  | 'canary_step'
  | 'canary_restore'
  | 'rollback'
  | 'experiment_start'
  | 'experiment_end'
  | 'kill_switch'
  | 'split';

/** One entry of the production history: the record as the change left it, and who made it why. */
export interface ProductionChange {
  revision: number;
  action: ProductionAction;
  at: string;
  by: string;
  reason: string;
  workflowId?: string;
  /** Idempotency key of the change (a retried activity finds its own entry and writes nothing). */
  opId?: string;
  champion: number;
  /** The champion before the change. */
  from: number | null;
  weights: Record<string, number>;
  warm: number[];
  killSwitch: boolean;
}

/** Traffic split of the registry documents written before the production record (read for migration). */
export interface LegacyTrafficRouting {
  weights: Record<string, number>;
  warm?: number[];
  updatedAt: string;
  by: string;
  reason: string;
  workflowId?: string;
}

export interface RegistryDocument {
  model: string;
  versions: ModelVersion[];
  /** Aliases other than `production` (staging, …); production is the `production` record. */
  aliases: Record<string, number>;
  /** Moves of those aliases. */
  history: AliasMove[];
  /** Absent until the first promotion. */
  production?: ProductionState | null;
  /** The latest production changes, oldest first (bounded). */
  productionHistory?: ProductionChange[];
  /** Legacy (before the production record): migrated on read, never written. */
  routing?: LegacyTrafficRouting | null;
  /** Legacy kill switch: migrated on read, never written. */
  disabled?: ModelKillSwitch | null;
  /** Legacy routing history: kept as it was, never written. */
  routingHistory?: unknown[];
}

// ---------------------------------------------------------------------------------------------
// Pipeline result and status
// ---------------------------------------------------------------------------------------------

export type PipelineOutcome = 'promoted' | 'registered' | 'rejected' | 'rolled_back' | 'failed';
export type PipelineStage =
  | 'preparing'
  | 'training'
  | 'evaluating'
  | 'registering'
  | 'staging'
  | 'load_testing'
  | 'awaiting_approval'
  | 'canary'
  | 'done';

export interface StageRecord {
  name: string;
  status: 'completed' | 'failed' | 'skipped';
  ms: number;
}

export interface ApprovalDecision {
  decision: 'approve' | 'reject';
  by: string;
  at: string;
  comment?: string;
  automatic?: boolean;
}

export interface PipelineResult {
  workflowId: string;
  model: string;
  outcome: PipelineOutcome;
  version: number | null;
  dataVersion: string | null;
  metrics: { test: Metrics; baseline: Metrics; champion: Metrics | null } | null;
  gate: GateOutcome | null;
  validation: { rows: number; anomalies: { column: string | null; kind: FindingKind; count: number }[] } | null;
  training: { backend: string; epochs: number; resumedFromEpoch: number | null; samplesPerSecond: number } | null;
  loadTest: { rps: number; p99Ms: number; errorRate: number; passed: boolean } | null;
  approval: ApprovalDecision | null;
  canary: { steps: { percent: number; passed: boolean; requests: number }[]; decision: string; reasons?: string[] } | null;
  /** With spec.search: the search that chose the parameters. */
  search?: SearchOutcome | null;
  stages: StageRecord[];
  error?: { type: string; message: string };
}

/** A gate's verdict as results and approvals show it: with the bootstrap intervals behind it, if any. */
export interface GateOutcome {
  passed: boolean;
  reasons: string[];
  /** The candidate's gain over the baseline / production with its 95% interval (paired bootstrap on the test split). */
  intervals?: Record<string, { delta: number; low: number; high: number; resamples: number }>;
}

export interface ApprovalEvidence {
  version: number;
  metric: string;
  test: Metrics;
  baseline: Metrics;
  champion: { version: number; metrics: Metrics } | null;
  gate: GateOutcome;
  loadTest: PipelineResult['loadTest'];
  /** When the wait ends and what happens then. */
  deadline: string;
  onTimeout: 'approve' | 'reject';
}

export interface PipelineStatus {
  workflowId: string;
  model: string;
  stage: PipelineStage;
  training: { epoch: number; epochs: number; metrics: Metrics } | null;
  /** With spec.search: the search's child workflow, whose own status query lists the trials (the CLI adds its status). */
  search?: { workflowId: string; status?: SearchStatus } | null;
  canary: { step: number; percent: number } | null;
  /** While awaiting_approval: what the approver needs to decide. */
  approval?: ApprovalEvidence | null;
  /** Decisions that were ignored (e.g. no `by`), kept for the audit trail. */
  invalidDecisions?: { at: string; reason: string; payload: unknown }[];
  result: PipelineResult | null;
}

export interface PipelineInput {
  spec: PipelineSpec;
  /** sha256 of the normalised spec, computed by the client. */
  specHash: string;
  /** Absolute path or URI of the spec file, for lineage. */
  specUri?: string;
  /** Why the run started, when not by hand (recorded in the new version's lineage). */
  trigger?: PipelineTrigger;
}

/** What started a pipeline run: a drift monitor names the report that caused the retrain. */
export interface PipelineTrigger {
  kind: 'drift';
  monitorWorkflowId: string;
  reportUri: string;
  driftedFeatures: string[];
  driftedShare: number | null;
  at: string;
}

export interface DriftMonitorInput {
  model: string;
  /** Traffic looked at: [now - window, now). Default 24h. */
  window?: string;
  /** No second drift retrain of the model within this time of the last one. Default 24h. */
  cooldown?: string;
  /** Start a retrain when the data drifted. Default true. */
  retrain?: boolean;
  /** Drift thresholds (see src/monitoring/drift.ts): psi, datasetShare, minSamples, … */
  thresholds?: Record<string, number>;
}

/** The verdict of one drift check, as small as a workflow carries it (the full report is at `reportUri`). */
export interface DriftSummary {
  version: number | null;
  drifted: boolean | 'insufficient data';
  samples: number;
  driftedShare: number | null;
  driftedFeatures: string[];
  reasons: string[];
  reportUri: string;
}

export interface DriftMonitorResult extends DriftSummary {
  model: string;
  /** What happened about a retrain. */
  action: 'none' | 'retrain_started' | 'retrain_running' | 'cooldown' | 'retrain_disabled' | 'no_spec';
  retrainWorkflowId: string | null;
  detail: string | null;
}

export interface RollbackInput {
  model: string;
  /** Version to go back to; default: the one production had before its current one. */
  to?: number;
  by: string;
  reason?: string;
  workflowId?: string;
}

export interface RollbackResult {
  model: string;
  from: number;
  to: number;
  at: string;
  /** Whether the production server confirmed it serves `to` (it also follows the registry on its own). */
  serving: boolean;
}

export interface CanaryInput {
  model: string;
  /** Ignored (kept for older callers): the rollout reads the champion from the production record when it starts. */
  champion?: number | null;
  candidate: number;
  canary: CanarySpec;
  /** The pipeline that started the rollout, for the alias history. */
  pipelineWorkflowId: string;
  approvedBy: string;
}

export interface CanaryResult {
  decision: 'promote' | 'rollback';
  steps: { percent: number; passed: boolean; requests: number; reasons: string[] }[];
  reasons: string[];
}

// ---------------------------------------------------------------------------------------------
// Champion/challenger experiments
// ---------------------------------------------------------------------------------------------

export interface ExperimentSpec {
  /** Registered versions run beside the production champion. */
  challengers: number[];
  /** Traffic percentages: the champion first, then each challenger (sum 100), e.g. [95, 1, 1, 1, 1]. */
  split: number[];
  /** How long the experiment collects live traffic and feedback. */
  duration: string;
  /** Labelled predictions each arm needs before it can be judged. */
  minSamples: number;
  /** Significance level of the one-sided two-proportion z-test (Bonferroni-corrected across challengers). */
  alpha: number;
  /** How often the arms' live figures are collected (default 1m, at most 5m). */
  readEvery: string;
  /** Reads per workflow run; then the experiment continues as new, carrying its counts and cursor. */
  readsPerRun: number;
}

export interface ExperimentInput {
  model: string;
  experiment: ExperimentSpec;
  /** Who started it (the production history names it). */
  by: string;
}

/** What an experiment carries into its next run when it continues as new. */
export interface ExperimentCarry {
  champion: number;
  /** The production server's metrics cursor (unix seconds). */
  cursor: number;
  counts: Record<string, ExperimentCounts>;
  startedAt: string;
  /** Workflow time (ms) when traffic was first split. */
  beganAtMs: number;
  /** Runs so far (1 for the first). */
  run: number;
  reads: number;
}

/** One arm's live figures over the experiment and its test against the champion. */
export interface ExperimentArm {
  version: number;
  role: 'champion' | 'challenger';
  weight: number;
  requests: number;
  errors: number;
  labelled: number;
  correct: number;
  accuracy: number | null;
  /** Challengers: z statistic and one-sided p-value of "beats the champion"; null for the champion or without data. */
  z: number | null;
  pValue: number | null;
  significant: boolean;
  verdict: string;
}

export interface ExperimentCounts {
  requests: number;
  errors: number;
  labelled: number;
  correct: number;
}

export interface ExperimentResult {
  model: string;
  champion: number;
  decision: 'promote' | 'keep';
  winner: number | null;
  arms: ExperimentArm[];
  alpha: number;
  /** alpha / number of challengers judged. */
  alphaAdjusted: number;
  reasons: string[];
  startedAt: string;
  endedAt: string;
  /** Where the decision and its statistics are stored (reports/<workflowId>/experiment.json). */
  reportUri: string | null;
}

/** What a championChallenger experiment shows while it runs (its own `status` query). */
export interface ExperimentStatus {
  model: string;
  phase: 'starting' | 'running' | 'deciding' | 'done';
  champion: number | null;
  weights: Record<string, number>;
  elapsedMs: number;
  durationMs: number;
  /** Running totals per version: requests, errors, labelled, correct. */
  counts: Record<string, { requests: number; errors: number; labelled: number; correct: number }>;
  decision: 'promote' | 'keep' | null;
  winner: number | null;
  /** Workflow runs so far: a long experiment continues as new to keep each history small. */
  run: number;
  reads: number;
}
