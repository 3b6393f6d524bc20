import { rm } from 'node:fs/promises';
import path from 'node:path';
import { heartbeat } from '@temporalio/activity';
import { prepareDataset as prepare } from '../src/data/prepare';
import type { DataSpec, PreparedDataset, TaskKind } from '../src/types';
import { asActivity, type ActivityDeps } from './deps';

export interface PrepareDatasetInput {
  model: string;
  data: DataSpec;
  task?: TaskKind;
  specHash: string;
  workflowId: string;
  /** The run's time, fixed by the workflow, so a retry selects the same files of a moving source (data.window). */
  now?: string;
}

export function createDataActivities(deps: ActivityDeps) {
  return {
    async prepareDataset(input: PrepareDatasetInput): Promise<PreparedDataset> {
      return asActivity(async () => {
        heartbeat({ step: 'reference' });
        const reference = await deps.registry.productionProfile(input.model);
        const timer = setInterval(() => heartbeat({ step: 'preparing' }), 5_000);
        const workDir = path.join(deps.workDir, 'prepare', input.workflowId);
        try {
          return await prepare({
            spec: input.data,
            task: input.task,
            specDir: process.cwd(),
            workDir,
            reference,
            store: deps.store,
            specHash: input.specHash,
            ...(input.now ? { now: input.now } : {}),
          });
        } finally {
          clearInterval(timer);
          // everything needed later is in the object store now
          await rm(workDir, { recursive: true, force: true });
        }
      });
    },
  };
}
