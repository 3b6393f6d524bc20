import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { PipelineStatus, TrainingProgress } from '../src/types';

/** Payload of the approve / reject signals, as sent from the Temporal UI or `kaizen approve`. */
export interface ApprovalSignalInput {
  by?: string;
  comment?: string;
}

export const statusQuery = defineQuery<PipelineStatus>('status');
export const approveSignal = defineSignal<[ApprovalSignalInput]>('approve');
export const rejectSignal = defineSignal<[ApprovalSignalInput]>('reject');

/** Sent by the training activity once per epoch so the status query can show live progress. */
export const trainingProgressSignal = defineSignal<[TrainingProgress]>('trainingProgress');
