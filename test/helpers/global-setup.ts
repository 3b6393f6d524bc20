import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config';
import { loopbackEndpoints } from '../../src/dev/components';
import { freePorts } from '../../src/dev/processes';
import {
  downStack,
  stackEnvironment,
  stackOptionsFromConfig,
  upStack,
  type StackOptions,
} from '../../src/dev/stack';

// One real stack (Temporal dev server, MinIO, workers) per integration test run, on free ports in a
// temporary KAIZEN_HOME. Test files reach it through test/helpers/stack-env.ts.
//   KAIZEN_TEST_WORKERS=0     no workers (while bin/kaizen.js worker is not usable)
//   KAIZEN_KEEP_TEST_HOME=1   keep the temporary home (logs, data) after the run

export interface TestStack {
  home: string;
  /** The variables that point a CLI, worker or loadConfig() at this stack. */
  env: Record<string, string>;
  temporalAddress: string;
  temporalUiUrl: string;
  s3Endpoint: string;
  minioConsoleUrl: string;
  bucket: string;
  workers: boolean;
  startupMs: number;
  /** The exact options the stack was started with, so a test can repair it (e.g. after kill -9). */
  options: Omit<StackOptions, 'log'>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    kaizenStack: TestStack;
  }
}

function withoutLog(o: StackOptions): Omit<StackOptions, 'log'> {
  const { log: _log, ...rest } = o;
  return rest;
}

const say = (line: string) => console.log(`[kaizen test stack] ${line}`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  const home = await mkdtemp(path.join(os.tmpdir(), 'kaizen-test-'));
  const withWorkers = process.env.KAIZEN_TEST_WORKERS !== '0';
  const [temporal, ui, minio, minioConsole, production, staging, pipelineMetrics, trainingMetrics] = (await freePorts(8)) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const cfg = loadConfig({ KAIZEN_HOME: home, ...loopbackEndpoints({ temporal, ui, minio, production, staging }) });
  const defaults = stackOptionsFromConfig(cfg);
  const o: StackOptions = {
    ...defaults,
    minioConsolePort: minioConsole,
    workers: withWorkers
      ? defaults.workers.map((w) => ({ ...w, metricsPort: w.name === 'worker-pipeline' ? pipelineMetrics : trainingMetrics }))
      : [],
    componentTimeoutMs: 180_000,
    // the servers accept injected faults (canary rollback test) and flush the prediction log often
    env: { ...defaults.env, KAIZEN_FAULT_INJECTION: '1', KAIZEN_PREDICTION_LOG_WINDOW: '1s' },
    log: say,
  };

  return launchTestStack(project, o, { t0, say, withWorkers, extraEnv: {} });
}

/**
 * Starts a test stack (any profile), provides it to the test files and returns its teardown; a
 * stack that fails to start, or starts with a component not ready, is stopped and the run fails.
 */
export async function launchTestStack(
  project: TestProject,
  o: StackOptions,
  { t0, say, withWorkers, extraEnv }: { t0: number; say: (line: string) => void; withWorkers: boolean; extraEnv: Record<string, string> },
): Promise<() => Promise<void>> {
  const home = o.home;
  const keep = process.env.KAIZEN_KEEP_TEST_HOME === '1';
  const teardown = async () => {
    await downStack({ ...o, log: () => undefined });
    if (keep) say(`kept ${home} (KAIZEN_KEEP_TEST_HOME=1)`);
    else await rm(home, { recursive: true, force: true });
  };

  let unhealthy: string[];
  try {
    const status = await upStack(o);
    unhealthy = status.components.filter((c) => !c.healthy).map((c) => c.name);
  } catch (err) {
    await downStack({ ...o, log: () => undefined });
    say(`failed to start; logs kept in ${path.join(home, 'logs')}`);
    throw err;
  }
  if (unhealthy.length > 0) {
    await downStack({ ...o, log: () => undefined });
    throw new Error(
      `test stack: ${unhealthy.join(', ')} did not become ready; logs kept in ${path.join(home, 'logs')}` +
        (withWorkers ? ' (KAIZEN_TEST_WORKERS=0 runs the tests without workers)' : ''),
    );
  }

  const startupMs = Date.now() - t0;
  project.provide('kaizenStack', {
    home,
    env: { ...stackEnvironment(o), ...extraEnv },
    temporalAddress: `127.0.0.1:${o.temporalPort}`,
    temporalUiUrl: `http://127.0.0.1:${o.temporalUiPort}`,
    s3Endpoint: `http://127.0.0.1:${o.minioPort}`,
    minioConsoleUrl: `http://127.0.0.1:${o.minioConsolePort}`,
    bucket: o.s3.bucket,
    workers: withWorkers,
    startupMs,
    options: withoutLog(o),
  });
  say(`up in ${(startupMs / 1000).toFixed(1)}s (workers ${withWorkers ? 'on' : 'off'}, home ${home})`);
  return teardown;
}

