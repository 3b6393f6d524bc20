import path from 'node:path';
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { downloadDataset } from '../src/data/prepare';
import { BUNDLE_FILE, disposeBundle, serializeBundle } from '../src/ml/bundle';
import { trainModel as train } from '../src/ml/train';
import { sha256Hex } from '../src/hashing';
import { versionHex } from '../src/storage/paths';
import type { PreparedDataset, TrainedModel, TrainingProgress, TrainSpec } from '../src/types';
import { asActivity, withHeartbeat, type ActivityDeps } from './deps';

export interface TrainModelInput {
  workflowId: string;
  dataset: PreparedDataset;
  train: TrainSpec;
  /**
   * A search trial: its checkpoints live under the trial, not the workflow run, so the next rung
   * (another child run) continues from where this one stopped.
   */
  trial?: { searchId: string; trial: number };
}

export interface DeleteCheckpointsInput {
  workflowId: string;
  /** The run whose checkpoints go (its trained bundle is copied into models/ by then); absent: every run's and trial's. */
  runId?: string;
}

/** Where a training run's checkpoints and trained bundle lie until the model is registered. */
export function checkpointPrefix(workflowId: string, runId?: string): string {
  return runId === undefined ? `checkpoints/${workflowId}/` : `checkpoints/${workflowId}/${runId}/`;
}

/** Where a search trial's checkpoints and latest bundle lie, across its rungs. */
export function trialCheckpointPrefix(searchId: string, trial: number): string {
  return `checkpoints/${searchId}/trial-${trial}/`;
}

interface CheckpointPointer {
  epoch: number;
  key: string;
}

/** Local copy of a prepared dataset, shared by every activity of this worker that needs it. */
export async function localDataset(deps: ActivityDeps, dataset: PreparedDataset): Promise<string> {
  const dir = path.join(deps.workDir, 'datasets', versionHex(dataset.dataVersion));
  await downloadDataset(deps.store, dataset.uri, dir);
  return dir;
}

export function createTrainingActivities(deps: ActivityDeps) {
  return {
    /**
     * Trains on the training task queue. Checkpoints every epoch to the object store and resumes
     * from the latest one when Temporal retries the activity (worker crash, timeout).
     */
    async trainModel(input: TrainModelInput): Promise<TrainedModel> {
      return asActivity(async () => {
        const workflowRunId = activityInfo().workflowExecution?.runId ?? 'standalone';
        const prefix = input.trial
          ? trialCheckpointPrefix(input.trial.searchId, input.trial.trial)
          : checkpointPrefix(input.workflowId, workflowRunId);
        const pointerKey = `${prefix}latest.json`;
        heartbeat({ step: 'downloading dataset' });
        const datasetDir = await localDataset(deps, input.dataset);

        const pointer = await deps.store.getJson<CheckpointPointer>(pointerKey);
        const resume = pointer ? await deps.store.getBuffer(pointer.value.key) : null;

        const { model, summary } = await train({
          datasetDir,
          trainSpec: input.train,
          resume: resume ?? undefined,
          signal: cancellationSignal(),
          onProgress: async (p) => {
            if (p.checkpoint) {
              const key = `${prefix}epoch-${p.epoch}.ckpt`;
              await deps.store.put(key, p.checkpoint);
              const previous = await deps.store.getJson<CheckpointPointer>(pointerKey);
              await deps.store.putJson(pointerKey, { epoch: p.epoch, key } satisfies CheckpointPointer);
              // only the latest checkpoint is kept: it is all a resumed attempt needs
              if (previous && previous.value.key !== key) await deps.store.remove(previous.value.key);
              const { checkpoint: _omit, ...rest } = p;
              // the heartbeat details are the training progress: the UI shows them on the pending
              // activity, and `kaizen pipeline status` reads them from there
              heartbeat({ ...rest, checkpointUri: deps.store.uri(key) } satisfies TrainingProgress);
            } else {
              heartbeat({ epoch: p.epoch, epochs: p.epochs, batch: p.batch, metrics: p.metrics } satisfies TrainingProgress);
            }
          },
        });

        const bytes = serializeBundle(model);
        disposeBundle(model);
        const bundleSha256 = sha256Hex(bytes);
        const key = `${prefix}${BUNDLE_FILE}`;
        await deps.store.put(key, bytes);
        return { bundleUri: deps.store.uri(key), bundleSha256, training: summary };
      });
    },

    /** Deletes a training run's checkpoints and scratch bundle once the model is registered (idempotent). */
    async deleteCheckpoints(input: DeleteCheckpointsInput): Promise<{ deleted: number }> {
      return asActivity(() => withHeartbeat(async () => {
        const objects = await deps.store.list(checkpointPrefix(input.workflowId, input.runId));
        for (const o of objects) await deps.store.remove(o.key);
        return { deleted: objects.length };
      }));
    },
  };
}
