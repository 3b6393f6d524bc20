import { rm } from 'node:fs/promises';
import path from 'node:path';
import { heartbeat } from '@temporalio/activity';
import { prepareDataset as prepare } from '../src/data/prepare';
import type { DataSpec, DatasetProfile, PreparedDataset, TaskKind } from '../src/types';
import { asActivity, type ActivityDeps } from './deps';

export interface PrepareDatasetInput {
  model: string;
  data: DataSpec;
  task?: TaskKind;
  specHash: string;
  workflowId: string;
}

export function createDataActivities(deps: ActivityDeps) {
  /** The production model's training-data profile: the reference for drift-of-training-data checks. */
  async function referenceProfile(model: string): Promise<DatasetProfile | null> {
    const doc = await deps.registry.read(model);
    const prod = doc?.aliases.production;
    const version = prod === undefined ? undefined : doc?.versions.find((v) => v.version === prod);
    if (!version) return null;
    const profile = await deps.store.getJson<DatasetProfile>(`${deps.store.keyOf(version.lineage.datasetUri)}profile.json`);
    return profile?.value ?? null;
  }

  return {
    async prepareDataset(input: PrepareDatasetInput): Promise<PreparedDataset> {
      return asActivity(async () => {
        heartbeat({ step: 'reference' });
        const reference = await referenceProfile(input.model);
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
