import { rm } from 'node:fs/promises';
import path from 'node:path';
import { prepareDataset as prepare } from '../src/data/prepare';
import { resolveRunSpec } from '../src/spec/pipeline-spec';
import { pathInside } from '../src/storage/paths';
import type { DataSpec, PipelineSpec, PreparedDataset, TaskKind } from '../src/types';
import { asActivity, withHeartbeat, type ActivityDeps } from './deps';

export interface PrepareDatasetInput {
  model: string;
  data: DataSpec;
  task?: TaskKind;
  specHash: string;
  workflowId: string;
  /** The run's time, fixed by the workflow, so a retry selects the same files of a moving source (data.window). */
  now?: string;
}

export interface ResolvedSpec {
  spec: PipelineSpec;
  specHash: string;
}

export function createDataActivities(deps: ActivityDeps) {
  return {
    /** The run's spec validated (the CLI's zod schema), defaulted and hashed: the first step of every pipeline. */
    async resolvePipelineSpec(input: { spec: unknown }): Promise<ResolvedSpec> {
      return asActivity(async () => resolveRunSpec(input.spec));
    },

    async prepareDataset(input: PrepareDatasetInput): Promise<PreparedDataset> {
      return asActivity(() => withHeartbeat(async (step) => {
        step({ step: 'reference' });
        const reference = await deps.registry.productionProfile(input.model);
        step({ step: 'preparing' });
        // the workflow id is whatever its starter typed
        // (encoded: an id with "/" in it is one directory, never a parent of another run's)
        const workDir = pathInside(path.join(deps.workDir, 'prepare'), [encodeURIComponent(input.workflowId)], 'workflow id');
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
          // everything needed later is in the object store now
          await rm(workDir, { recursive: true, force: true });
        }
      }));
    },
  };
}
