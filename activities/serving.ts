import path from 'node:path';
import { cancellationSignal } from '@temporalio/activity';
import { KaizenError } from '../src/errors';
import { disposeBundle, predict } from '../src/ml/bundle';
import { readParquetColumns } from '../src/ml/dataset';
import { predictionOutputs } from '../src/serving/client';
import { reloadEveryReplica } from '../src/serving/replicas';
import { runLoadTest, type LoadTestReport } from '../src/serving/load-test';
import { checkServedMatchesOffline, type ServedCheckReport } from '../src/serving/served-check';
import { durationMs } from '../src/spec/pipeline-spec';
import type { LoadTestSpec, PreparedDataset } from '../src/types';
import { asActivity, withHeartbeat, type ActivityDeps } from './deps';
import { fetchBundle } from './evaluation';
import { localDataset } from './training';

/** Rows of the test split as the JSON instances a client would send (raw feature values). */
export async function testRows(deps: ActivityDeps, dataset: PreparedDataset, limit: number): Promise<Record<string, unknown>[]> {
  const dir = await localDataset(deps, dataset);
  const names = dataset.schema.features.map((f) => f.name);
  const columns = await readParquetColumns(path.join(dir, 'test.parquet'), names);
  const n = Math.min(limit, columns[names[0] ?? '']?.length ?? 0);
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const row: Record<string, unknown> = {};
    for (const name of names) {
      const v = columns[name]?.[i];
      row[name] = v instanceof Date ? v.getTime() / 1000 : typeof v === 'bigint' ? Number(v) : v;
    }
    rows.push(row);
  }
  if (rows.length === 0) throw new KaizenError('DataEmpty', `the test split of ${dataset.dataVersion} has no rows to send`);
  return rows;
}

export interface DeployStagingInput {
  model: string;
  version: number;
  bundleUri: string;
  bundleSha256: string;
  dataset: PreparedDataset;
  workflowId: string;
}

export interface LoadTestStagingInput {
  model: string;
  version: number;
  dataset: PreparedDataset;
  loadTest: LoadTestSpec;
}

export function createServingActivities(deps: ActivityDeps) {
  const stagingUrl = deps.config.servers.staging;

  return {
    /**
     * Moves `staging` to the candidate, has the staging server load it, and checks it for real:
     * rows of the test split through HTTP must give the offline predictions (tolerance 1e-5).
     */
    async deployToStaging(input: DeployStagingInput): Promise<ServedCheckReport> {
      return asActivity(() => withHeartbeat(async (step) => {
        step({ step: 'alias' });
        await deps.registry.moveAlias(input.model, 'staging', input.version, {
          reason: 'candidate deployed to staging',
          by: 'trainingPipeline',
          workflowId: input.workflowId,
        });
        // the server also polls the registry; asking it to reload now saves the poll period
        await reloadEveryReplica(deps.store, 'staging', stagingUrl, input.model, deps.config.adminToken).catch(() => undefined);
        const rows = await testRows(deps, input.dataset, 200);
        const bundle = await fetchBundle(deps, input.bundleUri, input.bundleSha256);
        let expected: number[][];
        try {
          expected = predict(bundle, rows).predictions.map(predictionOutputs);
        } finally {
          disposeBundle(bundle);
        }
        step({ step: 'checking served predictions' });
        return checkServedMatchesOffline({
          url: stagingUrl,
          model: input.model,
          rows,
          expected,
          tolerance: 1e-5,
          expectVersion: input.version,
          readyTimeoutMs: 60_000,
          signal: cancellationSignal(),
        });
      }));
    },

    /** A real load test with autocannon against staging, requests built from the test split. */
    async loadTestStaging(input: LoadTestStagingInput): Promise<LoadTestReport> {
      return asActivity(() => withHeartbeat(async (step) => {
        const rows = await testRows(deps, input.dataset, 512);
        return runLoadTest({
          url: stagingUrl,
          model: input.model,
          rows,
          connections: input.loadTest.connections,
          durationMs: durationMs(input.loadTest.duration),
          thresholds: {
            maxP99Ms: input.loadTest.maxP99Ms,
            minRps: input.loadTest.minRps,
            maxErrorRate: input.loadTest.maxErrorRate,
          },
          expectVersion: input.version,
          readyTimeoutMs: 60_000,
          onProgress: (p) => step(p),
          signal: cancellationSignal(),
        });
      }));
    },
  };
}
