// What the serving benchmarks share: the model they serve, and server child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SERVER_READY_LINE } from '../src/cli/serve';
import { loadConfig } from '../src/config';
import { resolveBinaries } from '../src/dev/binaries';
import { KAIZEN_BIN } from '../src/dev/components';
import { freePorts } from '../src/dev/processes';
import { ModelRegistry } from '../src/registry/registry';
import { createObjectStore } from '../src/storage/object-store';
import type { ModelVersion } from '../src/types';
import { selectBackend } from '../src/ml/backend';
import { disposeBundle, serializeBundle } from '../src/ml/bundle';
import { trainModel } from '../src/ml/train';
import { makeFlightsDataset } from '../test/unit/ml/make-dataset';

/** Rows the benchmarks send, one of each shape of flight. */
export const SAMPLE_ROWS = [
  { distance: 1000, hour: 18, origin: 'ORD', weekday: 5, destination: 'LAX' },
  { distance: 300, hour: 7, origin: 'ATL', weekday: 1, destination: 'MCO' },
  { distance: 2500, hour: 22, origin: 'SFO', weekday: 6, destination: 'JFK' },
  { distance: 450, hour: 12, origin: 'DEN', weekday: 3, destination: 'PHX' },
];

/** The pipeline's default architecture trained one epoch on `rows` flights (serving cost does not depend on training). */
export async function trainBenchBundle(
  dir: string,
  rows: number,
): Promise<{ bundlePath: string; features: string[]; sample: typeof SAMPLE_ROWS }> {
  await selectBackend('cpu');
  const data = await makeFlightsDataset(path.join(dir, 'data'), { rows });
  const { model } = await trainModel({
    datasetDir: data.dir,
    trainSpec: {
      hiddenUnits: [64, 32],
      epochs: 1,
      batchSize: 512,
      learningRate: 0.001,
      seed: 42,
      patience: 0,
      heartbeatEveryBatches: 20,
      backend: 'cpu',
    },
  });
  const bundlePath = path.join(dir, 'model.kzn');
  await writeFile(bundlePath, serializeBundle(model));
  const features = model.transforms.features.map((f) => f.name);
  disposeBundle(model);
  return { bundlePath, features, sample: SAMPLE_ROWS };
}

/** Starts `script --child <kind> …extra` and resolves once it prints `READY <url> [backend]`. */
export function startChild(
  script: string,
  kind: string,
  extra: string[],
): Promise<{ child: ChildProcess; url: string; backend: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, '--child', kind, ...extra], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)(?: (\S+))?/.exec(out);
      if (m) resolve({ child, url: m[1]!, backend: m[2] ?? null });
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${kind} child exited with ${code} before it was ready`)));
  });
}

/** SIGTERM to the child (by its own handle), waiting for it to exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** User + system CPU seconds of a process so far (Linux), or null. */
export async function cpuSeconds(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may hold spaces): utime and stime are the 12th and 13th
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Resident memory of a process (Linux /proc), MiB, or null. */
export async function rssMb(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? null : Math.round((Number(kb) / 1024) * 10) / 10;
  } catch {
    return null;
  }
}

/** What a registry entry of the bench model records besides its number, time and artifact URI. */
export function benchVersionFields(bytes: Buffer): Omit<ModelVersion, 'version' | 'createdAt' | 'artifactUri'> {
  return {
    artifactSha256: createHash('sha256').update(bytes).digest('hex'),
    task: 'binary',
    metrics: { test: {}, baseline: {} },
    training: { backend: 'cpu', epochs: 1, bestEpoch: 1, resumedFromEpoch: null, samplesPerSecond: 0, history: [] },
    lineage: {
      dataVersion: 'sha256:bench',
      datasetUri: 'file:///bench/',
      specHash: 'bench',
      code: { gitCommit: null, packageVersion: '0.0.0' },
      libraries: {},
      hyperParameters: {},
      workflowId: 'bench',
      runId: 'bench',
    },
  };
}

/** Polls `ok` (a failed poll counts as not yet) until it holds; `gone` ends the wait early with its reason. */
async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 30_000, gone: () => string | null = () => null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok().catch(() => false))) {
    const why = gone();
    if (why) throw new Error(`${what}: ${why}`);
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `kaizen serve --env production` as it runs in a deployment: a real MinIO (the provisioned binary,
 * in `dir`, on free ports) holds the registry, the artifact and the prediction log; the server
 * polls the registry, logs with pino at info, guards inputs (fallback) and writes its prediction
 * log to MinIO. Resolves once the model is loaded; `stop` ends both processes, by their handles.
 */
export async function startKaizenServe(
  dir: string,
  model: string,
  bundlePath: string,
  /** Settings for the server process besides the stack's (e.g. KAIZEN_PREDICTION_LOG=off). */
  settings: Record<string, string> = {},
  /** Node flags for the server process (e.g. --cpu-prof, to profile it). */
  nodeArgs: string[] = [],
): Promise<{ url: string; pid: number | undefined; storePid: number | undefined; stop: () => Promise<void>; predictionObjects: () => Promise<number> }> {
  const bins = resolveBinaries();
  const [s3Port, consolePort, serverPort] = await freePorts(3);
  const secret = randomBytes(12).toString('hex');
  const env = {
    ...process.env,
    KAIZEN_HOME: path.join(dir, 'home'),
    KAIZEN_S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
    KAIZEN_S3_ACCESS_KEY: 'bench',
    KAIZEN_S3_SECRET_KEY: secret,
    KAIZEN_ADMIN_TOKEN: randomBytes(12).toString('hex'),
    KAIZEN_PRODUCTION_URL: `http://127.0.0.1:${serverPort}`,
  };
  const drive = path.join(dir, 'minio');
  await mkdir(drive, { recursive: true });
  const minio = spawn(
    bins.minio,
    ['server', drive, '--address', `127.0.0.1:${s3Port}`, '--console-address', `127.0.0.1:${consolePort}`, '--certs-dir', path.join(dir, 'certs')],
    { env: { ...env, MINIO_ROOT_USER: 'bench', MINIO_ROOT_PASSWORD: secret }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  let server: ChildProcess | null = null;
  const stop = async () => {
    if (server) await stopChild(server);
    await stopChild(minio);
  };
  try {
    await until('MinIO', async () => (await fetch(`${env.KAIZEN_S3_ENDPOINT}/minio/health/live`)).ok);
    const cfg = loadConfig(env);
    const store = createObjectStore(cfg);
    await store.ensureBucket();
    const bytes = await readFile(bundlePath);
    const scratch = 'scratch/bench/model.kzn';
    await store.put(scratch, bytes);
    const registry = new ModelRegistry(store);
    await registry.register(model, { ...benchVersionFields(bytes), sourceArtifactUri: store.uri(scratch), artifactFile: 'model.kzn' });
    await registry.changeProduction(model, { action: 'promote', champion: 1 }, { by: 'bench', reason: 'bench:serve' });
    const child = spawn(process.execPath, [...nodeArgs, KAIZEN_BIN, 'serve', '--env', 'production', '--models', model], {
      env: { ...env, ...settings },
      // pino writes its lines to stdout, which this process reads as a log collector would
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    server = child;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      if (out.length < 1 << 16) out += d.toString();
    });
    let exited: number | null = null;
    child.once('exit', (code) => (exited = code ?? -1));
    await until(
      'kaizen serve',
      async () => out.includes(SERVER_READY_LINE) && (await fetch(`${env.KAIZEN_PRODUCTION_URL}/readyz`)).ok,
      60_000,
      () => (exited === null ? null : `exited with ${exited} before it was ready`),
    );
    return {
      url: env.KAIZEN_PRODUCTION_URL,
      pid: child.pid,
      storePid: minio.pid,
      stop,
      predictionObjects: async () => (await store.list(`predictions/${model}/`)).length,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
