import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { heartbeat } from '@temporalio/activity';
import { KaizenError } from '../src/errors';
import { disposeBundle, loadBundle } from '../src/ml/bundle';
import { evaluateModel as evaluate } from '../src/ml/evaluate';
import { sha256Hex } from '../src/storage/object-store';
import type { EvaluationReport, PreparedDataset } from '../src/types';
import { asActivity, type ActivityDeps } from './deps';
import { localDataset } from './training';

export interface EvaluateModelInput {
  bundleUri: string;
  bundleSha256: string;
  dataset: PreparedDataset;
}

/** Fetches a bundle, refuses it unless its sha256 matches, and writes it to a local file. */
export async function fetchBundle(deps: ActivityDeps, uri: string, sha256: string): Promise<string> {
  const bytes = await deps.store.getBuffer(deps.store.keyOf(uri));
  if (!bytes) throw new KaizenError('ModelNotFound', `model artifact ${uri} is missing`);
  if (sha256Hex(bytes) !== sha256) throw new KaizenError('ArtifactIntegrity', `model artifact ${uri} does not match its sha256; refusing it`);
  const file = path.join(deps.workDir, 'bundles', sha256, path.basename(deps.store.keyOf(uri)));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  return file;
}

export function createEvaluationActivities(deps: ActivityDeps) {
  return {
    /** Scores the candidate on the test split, with the naive baseline beside it. */
    async evaluateModel(input: EvaluateModelInput): Promise<EvaluationReport> {
      return asActivity(async () => {
        heartbeat({ step: 'fetching' });
        const file = await fetchBundle(deps, input.bundleUri, input.bundleSha256);
        const datasetDir = await localDataset(deps, input.dataset);
        const bundle = await loadBundle(file, input.bundleSha256);
        heartbeat({ step: 'evaluating' });
        try {
          return await evaluate(bundle, datasetDir);
        } finally {
          disposeBundle(bundle);
        }
      });
    },
  };
}
