import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { KaizenConfig } from '../config';
import { KaizenError } from '../errors';
import { ModelRegistry } from '../registry/registry';
import { createObjectStore } from '../storage/object-store';
import { TASK_QUEUES } from '../types';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORKFLOWS_DIR = path.join(REPO_ROOT, 'workflows');

const IMPORT_RE = /^\s*(?:import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

/**
 * The workflow bundle's inputs, found by following its imports from workflows/index.ts: every
 * source file it pulls in (type-only imports are erased by the bundler and skipped) and the
 * version of every package it imports. Whatever the bundle contains is in this list.
 */
export async function workflowModuleGraph(entry = path.join(WORKFLOWS_DIR, 'index.ts')): Promise<{ files: string[]; packages: Record<string, string> }> {
  const files = new Set<string>();
  const packages: Record<string, string> = {};
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(IMPORT_RE)) {
      if (m[1]) continue;
      const spec = m[2]!;
      if (spec.startsWith('.')) {
        const base = path.resolve(path.dirname(file), spec);
        const resolved = [`${base}.ts`, path.join(base, 'index.ts'), base].find((f) => existsSync(f) && f.endsWith('.ts'));
        if (resolved) queue.push(resolved);
        continue;
      }
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (name in packages) continue;
      const pkgFile = path.join(REPO_ROOT, 'node_modules', name, 'package.json');
      packages[name] = existsSync(pkgFile) ? ((JSON.parse(await readFile(pkgFile, 'utf8')) as { version: string }).version ?? '?') : 'builtin';
    }
  }
  return { files: [...files].sort(), packages };
}

/**
 * The workflow bundle, built once per content of its module graph and cached under KAIZEN_HOME:
 * webpack takes seconds, and every worker start (tests start several) would otherwise pay it again.
 */
export async function workflowBundlePath(cfg: KaizenConfig): Promise<string> {
  const hash = createHash('sha256');
  const graph = await workflowModuleGraph();
  // the SDK's own workflow runtime goes into every bundle
  const sdk = JSON.parse(await readFile(path.join(REPO_ROOT, 'node_modules/@temporalio/workflow/package.json'), 'utf8')) as { version: string };
  hash.update(JSON.stringify({ ...graph.packages, '@temporalio/workflow': sdk.version }));
  for (const file of graph.files) {
    hash.update(path.relative(REPO_ROOT, file));
    hash.update(await readFile(file));
  }
  const dir = path.join(cfg.home, 'cache');
  const file = path.join(dir, `workflows-${hash.digest('hex').slice(0, 16)}.js`);
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  const { code } = await bundleWorkflowCode({ workflowsPath: path.join(WORKFLOWS_DIR, 'index.ts'), logger: quietLogger });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, code);
  await rename(tmp, file);
  return file;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

export interface RunWorkerOptions {
  config: KaizenConfig;
  queues: string[];
  log?: (line: string) => void;
  /** `host:port` to serve Prometheus /metrics on: Temporal's worker metrics and Kaizen's (pipeline runs and outcomes, stage durations, drift scores). */
  metricsAddress?: string;
}

/** `host:port` or `port` → a bind address; a clear error otherwise. */
export function metricsBindAddress(raw: string): string {
  const m = /^(?:([\w.-]+|\[[0-9a-f:]+\]):)?(\d{1,5})$/i.exec(raw.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new KaizenError('SpecInvalid', `--metrics must be host:port or a port, such as 127.0.0.1:9464, got "${raw}"`);
  }
  return `${m[1] ?? '127.0.0.1'}:${port}`;
}

/**
 * Runs workers for the given task queues until SIGINT/SIGTERM, then shuts them down gracefully
 * (in-flight activities finish or are cancelled; the workflows carry on elsewhere).
 */
export async function runWorkers({ config, queues, log = console.log, metricsAddress }: RunWorkerOptions): Promise<void> {
  const known = Object.values(TASK_QUEUES) as string[];
  for (const q of queues) {
    if (!known.includes(q)) throw new KaizenError('SpecInvalid', `unknown task queue "${q}" (known: ${known.join(', ')})`);
  }
  const bindAddress = metricsAddress ? metricsBindAddress(metricsAddress) : null;
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    ...(bindAddress
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress, countersTotalSuffix: true, useSecondsForDurations: true } } } }
      : {}),
  });
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect({ address: config.temporal.address });
  } catch (err) {
    throw new KaizenError('StackNotRunning', `cannot reach Temporal at ${config.temporal.address}: ${(err as Error).message}`);
  }
  const store = createObjectStore(config);
  // a worker on a fresh S3/MinIO (docker compose, a new cluster) creates its bucket itself
  await store.ensureBucket();
  const activities = createActivities({
    config,
    store,
    registry: new ModelRegistry(store),
    workDir: path.join(config.home, 'work'),
  });
  const workers: Worker[] = [];
  for (const taskQueue of queues) {
    const orchestrates = taskQueue === TASK_QUEUES.pipeline;
    workers.push(
      await Worker.create({
        connection,
        namespace: config.temporal.namespace,
        taskQueue,
        activities,
        ...(orchestrates ? { workflowBundle: { codePath: await workflowBundlePath(config) } } : {}),
        // training saturates a core; one at a time per training worker, scale by adding workers
        maxConcurrentActivityTaskExecutions: orchestrates ? 20 : 1,
        shutdownGraceTime: '10s',
        // heartbeats carry training progress and deliver cancellation: send them every 2 s at most
        maxHeartbeatThrottleInterval: '2s',
        defaultHeartbeatThrottleInterval: '2s',
      }),
    );
  }
  const stop = (): void => {
    log('kaizen worker stopping');
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const running = Promise.all(workers.map((w) => w.run()));
  log(`kaizen worker ready (queues: ${queues.join(', ')}; temporal ${config.temporal.address}${bindAddress ? `; metrics http://${bindAddress}/metrics` : ''})`);
  try {
    await running;
  } finally {
    await connection.close();
  }
}
