// Workflow tests: the real workflow code on a real Temporal server, activities faked at the
// activity boundary. TestWorkflowEnvironment.createTimeSkipping() needs Temporal's Java test
// server, which the SDK downloads at run time; where KAIZEN_TEST_SERVER names that binary it is
// used (timers skip), otherwise the pinned Temporal dev server runs the same tests in real time
// with durations scaled down (T.*).
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll } from 'vitest';
import { DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { loadConfig } from '../../src/config';
import { resolveBinaries } from '../../src/dev/binaries';
import { applyProduction, productionOf, rollbackTarget, type ProductionRequest } from '../../src/registry/production';
import { ACTIVITY_OPTIONS } from '../../src/policy/activity-options';
import { workflowBundlePath } from '../../src/temporal/worker';
import { MODEL_SEARCH_ATTRIBUTE, STAGE_SEARCH_ATTRIBUTE, TASK_QUEUES, type ModelVersion, type PreparedDataset, type RegistryDocument } from '../../src/types';

export const timeSkipping = Boolean(process.env.KAIZEN_TEST_SERVER);

/** Durations used by the tests: the real ones under time skipping, seconds on the dev server. */
export const T = timeSkipping
  ? { day: '24h', step: '1m', long: '30d', read: '1m' }
  : { day: '2s', step: '1s', long: '8s', read: '1s' };

let quiet = false;

export async function startEnv(): Promise<TestWorkflowEnvironment> {
  if (!quiet) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    quiet = true;
  }
  if (timeSkipping) {
    return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: process.env.KAIZEN_TEST_SERVER! } } });
  }
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: resolveBinaries().temporal },
      searchAttributes: [
        { name: STAGE_SEARCH_ATTRIBUTE, type: 'KEYWORD' },
        { name: MODEL_SEARCH_ATTRIBUTE, type: 'KEYWORD' },
      ],
      log: { format: 'pretty', level: 'error' },
    },
  });
}

/** One test environment for a test file: started before its tests, torn down after them. */
export function useWorkflowEnv(): () => TestWorkflowEnvironment {
  let env: TestWorkflowEnvironment | undefined;
  beforeAll(async () => {
    env = await startEnv();
  }, 120_000);
  afterAll(async () => {
    await env?.teardown();
  });
  return () => env!;
}

/** The workflow bundle, built once per content and cached beside the other test runs'. */
export function testBundle(): Promise<string> {
  return workflowBundlePath({ ...loadConfig({}), home: path.join(os.tmpdir(), 'kaizen-workflow-tests') });
}

/** An activity the test did not fake fails for good, naming itself, instead of retrying. */
function unfaked(name: string) {
  return async () => {
    throw ApplicationFailure.nonRetryable(`activity ${name} is not faked in this test`, 'NotFaked');
  };
}

/**
 * Runs `fn` with workers on both Kaizen task queues (the workflows and the faked activities), the
 * way `kaizen worker` runs them, and shuts them down afterwards.
 */
export async function withWorkers<T>(env: TestWorkflowEnvironment, fakes: Partial<Activities>, fn: () => Promise<T>, extra: Partial<WorkerOptions> = {}): Promise<T> {
  const activities = Object.fromEntries(
    (Object.keys(ACTIVITY_OPTIONS) as (keyof Activities)[]).map((name) => [name, fakes[name] ?? unfaked(name)]),
  );
  const bundle = await testBundle();
  const training = await Worker.create({ connection: env.nativeConnection, taskQueue: TASK_QUEUES.training, activities });
  let pipeline: Worker;
  try {
    pipeline = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUES.pipeline,
      workflowBundle: { codePath: bundle },
      activities,
      ...extra,
    });
  } catch (err) {
    await training.runUntil(Promise.resolve());
    throw err;
  }
  return pipeline.runUntil(training.runUntil(fn()));
}

/**
 * The registry's production record, in memory, changed by the real pure functions: fakes of the
 * production activities that behave like the real ones (idempotent, ProductionChanged included).
 */
export class FakeProduction {
  doc: RegistryDocument;
  writes: ProductionRequest[] = [];

  constructor(model: string, versions: number[], champion: number | null) {
    this.doc = { model, versions: versions.map((version) => ({ version }) as ModelVersion), aliases: {}, history: [] };
    if (champion !== null) applyProduction(this.doc, { action: 'promote', champion }, { by: 'setup', reason: 'setup' }, new Date());
  }

  get state() {
    return productionOf(this.doc);
  }

  private change(request: ProductionRequest, by: string, reason: string, workflowId?: string) {
    try {
      const outcome = applyProduction(this.doc, request, { by, reason, ...(workflowId ? { workflowId } : {}) }, new Date());
      if (outcome.changed) this.writes.push(request);
      return outcome;
    } catch (err) {
      const e = err as { type?: string; message: string };
      if (e.type) throw ApplicationFailure.create({ message: e.message, type: e.type, nonRetryable: e.type !== 'RegistryConflict' });
      throw err;
    }
  }

  /** An operator's rollback or promotion, made beside a running release. */
  operator(request: ProductionRequest): void {
    this.change(request, 'operator', 'by hand');
  }

  activities(): Pick<Activities, 'readProduction' | 'changeProduction' | 'rollbackProduction'> {
    return {
      readProduction: async () => this.state,
      changeProduction: async (input) => {
        const outcome = this.change(input.request, input.by, input.reason, input.workflowId);
        return { state: outcome.state, changed: outcome.changed, applied: true };
      },
      rollbackProduction: async (input) => {
        const opId = `${input.workflowId}:rollback`;
        const done = this.doc.productionHistory?.find((h) => h.opId === opId);
        let target: { from: number; to: number };
        try {
          target = done ? { from: done.from!, to: done.champion } : rollbackTarget(this.doc, input.to);
        } catch (err) {
          throw ApplicationFailure.nonRetryable((err as Error).message, (err as { type: string }).type);
        }
        const outcome = this.change({ action: 'rollback', champion: target.to, weights: { [String(target.to)]: 100 }, warm: [target.from], expectChampion: done ? target.to : target.from, opId }, input.by, input.reason ?? 'rollback', input.workflowId);
        return { model: input.model, from: target.from, to: target.to, at: outcome.state.updatedAt, serving: true };
      },
    };
  }
}

/** The failure at the bottom of a chain (workflow failure → activity failure → application failure). */
export function rootCause(err: unknown): { type?: string; message: string; nonRetryable?: boolean } {
  let e = err as { cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e as { type?: string; message: string; nonRetryable?: boolean };
}

/** Where the replay test finds the recorded histories. */
export const HISTORIES_DIR = path.resolve(import.meta.dirname, '../fixtures/histories');

/**
 * With KAIZEN_RECORD_HISTORIES=1 (`npm run record:histories`), keeps the history of a finished run
 * under test/fixtures/histories/<name>.json for the replay test; otherwise does nothing.
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (!process.env.KAIZEN_RECORD_HISTORIES) return;
  const history = await handle.fetchHistory();
  await mkdir(HISTORIES_DIR, { recursive: true });
  // the id (a child's id derives from it) and the history in protobufjs' JSON form, which History.fromObject reads back
  await writeFile(path.join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify({ workflowId: handle.workflowId, history }, null, 1)}\n`);
}

/** A prepared dataset's report as the fake prepareDataset returns it: binary, 100 rows. */
export const FAKE_DATASET: PreparedDataset = {
  dataVersion: `sha256:${'cd'.repeat(32)}`,
  uri: 's3://kaizen/datasets/cd/',
  rows: { total: 100, train: 70, validation: 10, test: 20 },
  schema: { target: 'late', task: 'binary', features: [], targetColumn: { name: 'late', kind: 'boolean', sqlType: 'BOOLEAN' }, classes: ['false', 'true'] },
  validation: { passed: true, reasons: [], metrics: {}, thresholds: {}, rows: 100, findings: [] },
  reused: false,
};
