import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalDecision, ExperimentStatus, PipelineStatus } from '../src/types';
import type { SearchStatus } from '../src/policy/search-table';

export type { ExperimentStatus } from '../src/types';

/** Payload of the approve / reject signals, as sent from the Temporal UI or `kaizen approve`. */
export interface ApprovalSignalInput {
  by?: string;
  comment?: string;
}

export const statusQuery = defineQuery<PipelineStatus>('status');

/**
 * The approval as Temporal Updates: the caller (the UI's Update form, `kaizen approve`) learns
 * whether the decision was accepted. An approval without `by`, at the wrong stage or after a
 * decision is rejected by the validator and never enters the history.
 */
export const approveUpdate = defineUpdate<ApprovalDecision, [ApprovalSignalInput]>('approve');
export const rejectUpdate = defineUpdate<ApprovalDecision, [ApprovalSignalInput]>('reject');

/** The same decisions as signals, for older clients; an invalid one is kept in `invalidDecisions`. */
export const approveSignal = defineSignal<[ApprovalSignalInput]>('approve');
export const rejectSignal = defineSignal<[ApprovalSignalInput]>('reject');


/** What a canaryRollout shows while it runs (its own `status` query). */
export interface CanaryStatus {
  model: string;
  champion: number | null;
  candidate: number;
  step: number;
  percent: number;
  weights: Record<string, number>;
  paused: boolean;
  steps: { percent: number; passed: boolean; requests: number; reasons: string[] }[];
  decision: 'promote' | 'rollback' | null;
  /** What the rollout waits for now (an analysis window, a resume), if anything. */
  waitingFor: string | null;
}

export const canaryStatusQuery = defineQuery<CanaryStatus>('status');
export const pauseSignal = defineSignal<[{ by?: string }?]>('pause');
export const resumeSignal = defineSignal<[{ by?: string }?]>('resume');
export const abortSignal = defineSignal<[{ by?: string; reason?: string }?]>('abort');

export const experimentStatusQuery = defineQuery<ExperimentStatus>('status');

/** `extend` adds trials to a running hyperparameterSearch; `stop` finishes it with the best so far. */
export const extendSignal = defineSignal<[{ trials?: number; by?: string }]>('extend');
export const stopSearchSignal = defineSignal<[{ by?: string; reason?: string }?]>('stop');
export const searchStatusQuery = defineQuery<SearchStatus>('status');
