import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KaizenConfig } from '../config';
import { KaizenError, errorMessage } from '../errors';
import { ObjectStore } from '../storage/object-store';
import { MODEL_SEARCH_ATTRIBUTE, STAGE_SEARCH_ATTRIBUTE, TASK_QUEUES } from '../types';
import { resolveBinaries, type Binaries } from './binaries';
import { httpOk, temporalHealthy } from './health';
import {
  isPortFree,
  listPidFiles,
  liveProcess,
  logFile,
  logTail,
  pidFile,
  readOwnLog,
  readPidRecord,
  removePidFile,
  spawnDetached,
  stopProcess,
  writePidRecord,
  type PidRecord,
} from './processes';

// The local stack of `kaizen dev up|down|status` and of the integration tests: the Temporal dev
// server (with its UI), MinIO, the workers and the model servers, each a detached process with a
// pid file under <home>/run and a log under <home>/logs, so later commands find exactly what an
// earlier `up` started.

/** The line a worker prints on stdout once it polls its task queues. */
export const WORKER_READY_LINE = 'kaizen worker ready';

const HOST = '127.0.0.1';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const KAIZEN_BIN = path.join(REPO_ROOT, 'bin', 'kaizen.js');

export interface WorkerSpec {
  name: string;
  queues: string[];
  /** argv to run instead of `node bin/kaizen.js worker --queues …` (tests). */
  command?: string[];
  /** Serve the worker's Prometheus /metrics on this port of 127.0.0.1. */
  metricsPort?: number;
}

export interface ServerSpec {
  name: string;
  env: 'production' | 'staging';
  port: number;
  /** argv to run instead of `node bin/kaizen.js serve --env … --port …` (tests). */
  command?: string[];
}

export interface StackOptions {
  home: string;
  temporalPort: number;
  temporalUiPort: number;
  minioPort: number;
  minioConsolePort: number;
  s3: { accessKey: string; secretKey: string; bucket: string; region?: string };
  /** Namespace created at launch besides `default`. */
  namespace?: string;
  workers: WorkerSpec[];
  servers: ServerSpec[];
  /** Extra environment for every component (the stack's own endpoints take precedence). */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** Default: resolveBinaries() (KAIZEN_TEMPORAL_BIN / KAIZEN_MINIO_BIN, else the provisioned cache). */
  binaries?: Binaries;
  /** Limit for Temporal and MinIO to become ready; `up` fails after it. Default 60 s. */
  readyTimeoutMs?: number;
  /** Limit for each worker and server; after it `up` reports it unhealthy. Default 90 s. */
  componentTimeoutMs?: number;
}

export interface ComponentStatus {
  name: string;
  pid: number | null;
  url: string | null;
  healthy: boolean;
}

export interface StackStatus {
  components: ComponentStatus[];
}

export function defaultWorkers(): WorkerSpec[] {
  return [
    { name: 'worker-pipeline', queues: [TASK_QUEUES.pipeline], metricsPort: 9464 },
    { name: 'worker-training', queues: [TASK_QUEUES.training], metricsPort: 9465 },
  ];
}

function portOf(url: string, fallback: number): number {
  try {
    const p = new URL(url.includes('://') ? url : `tcp://${url}`).port;
    return p ? Number(p) : fallback;
  } catch {
    return fallback;
  }
}

export function defaultServers(cfg: KaizenConfig): ServerSpec[] {
  return [
    { name: 'server-production', env: 'production', port: portOf(cfg.servers.production, 8080) },
    { name: 'server-staging', env: 'staging', port: portOf(cfg.servers.staging, 8081) },
  ];
}

export function stackOptionsFromConfig(cfg: KaizenConfig): StackOptions {
  const minioPort = portOf(cfg.s3.endpoint, 9000);
  return {
    home: cfg.home,
    temporalPort: portOf(cfg.temporal.address, 7233),
    temporalUiPort: cfg.temporal.uiPort,
    minioPort,
    minioConsolePort: minioPort + 1,
    s3: {
      accessKey: cfg.s3.accessKey,
      secretKey: cfg.s3.secretKey,
      bucket: cfg.s3.bucket,
      region: cfg.s3.region,
    },
    namespace: cfg.temporal.namespace,
    workers: defaultWorkers(),
    servers: defaultServers(cfg),
  };
}

// ---------------------------------------------------------------------------------------------

interface PortUse {
  port: number;
  what: string;
  /** How to move it elsewhere. */
  hint: string;
}

interface Component {
  name: string;
  kind: 'temporal' | 'minio' | 'worker' | 'server';
  argv: string[];
  env: NodeJS.ProcessEnv;
  ports: PortUse[];
  /** One readiness probe of a live process. */
  ready: (rec: PidRecord) => Promise<boolean>;
  /** Describe it for status, given its live record (or null). */
  status: (rec: PidRecord | null) => Promise<ComponentStatus[]>;
}

const temporalAddress = (o: StackOptions) => `${HOST}:${o.temporalPort}`;
const temporalUiUrl = (o: StackOptions) => `http://${HOST}:${o.temporalUiPort}`;
const minioUrl = (o: StackOptions) => `http://${HOST}:${o.minioPort}`;
const minioConsoleUrl = (o: StackOptions) => `http://${HOST}:${o.minioConsolePort}`;
const serverUrl = (s: ServerSpec) => `http://${HOST}:${s.port}`;

/** The environment that points a worker, server or CLI at this stack. */
export function stackEnvironment(o: StackOptions): Record<string, string> {
  const env: Record<string, string> = {
    KAIZEN_HOME: o.home,
    TEMPORAL_ADDRESS: temporalAddress(o),
    KAIZEN_TEMPORAL_UI_PORT: String(o.temporalUiPort),
    KAIZEN_S3_ENDPOINT: minioUrl(o),
    KAIZEN_S3_ACCESS_KEY: o.s3.accessKey,
    KAIZEN_S3_SECRET_KEY: o.s3.secretKey,
    KAIZEN_BUCKET: o.s3.bucket,
  };
  if (o.s3.region) env.KAIZEN_S3_REGION = o.s3.region;
  if (o.namespace) env.TEMPORAL_NAMESPACE = o.namespace;
  for (const s of o.servers)
    env[s.env === 'production' ? 'KAIZEN_PRODUCTION_URL' : 'KAIZEN_STAGING_URL'] = serverUrl(s);
  return env;
}

const COMPONENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function validate(o: StackOptions): void {
  const names = new Set(['temporal', 'temporal-ui', 'minio', 'minio-console']);
  for (const c of [...o.workers, ...o.servers]) {
    if (!COMPONENT_NAME.test(c.name))
      throw new KaizenError('SpecInvalid', `stack component name "${c.name}" must be a plain file name`);
    if (names.has(c.name))
      throw new KaizenError('SpecInvalid', `stack component name "${c.name}" is used twice`);
    names.add(c.name);
  }
}

function components(o: StackOptions, bins: Binaries | null): Component[] {
  const baseEnv = { ...process.env, ...o.env };
  const childEnv = { ...baseEnv, ...stackEnvironment(o) };
  const dead = (name: string, url: string | null): ComponentStatus => ({
    name,
    pid: null,
    url,
    healthy: false,
  });

  const temporal: Component = {
    name: 'temporal',
    kind: 'temporal',
    argv: [
      bins?.temporal ?? 'temporal',
      'server',
      'start-dev',
      '--ip',
      HOST,
      '--port',
      String(o.temporalPort),
      '--ui-port',
      String(o.temporalUiPort),
      '--db-filename',
      path.join(o.home, 'temporal.db'),
      ...(o.namespace && o.namespace !== 'default' ? ['--namespace', o.namespace] : []),
      '--dynamic-config-value',
      'frontend.enableServerVersionCheck=false',
      '--search-attribute',
      `${STAGE_SEARCH_ATTRIBUTE}=Keyword`,
      '--search-attribute',
      `${MODEL_SEARCH_ATTRIBUTE}=Keyword`,
      '--log-level',
      'warn',
    ],
    env: baseEnv,
    ports: [
      { port: o.temporalPort, what: 'Temporal gRPC', hint: 'set TEMPORAL_ADDRESS=127.0.0.1:<port>' },
      { port: o.temporalUiPort, what: 'Temporal UI', hint: 'set KAIZEN_TEMPORAL_UI_PORT' },
    ],
    ready: async () => (await temporalHealthy(HOST, o.temporalPort)) && (await httpOk(temporalUiUrl(o))),
    status: async (rec) => {
      if (!rec) return [dead('temporal', temporalAddress(o)), dead('temporal-ui', temporalUiUrl(o))];
      const [grpc, ui] = await Promise.all([temporalHealthy(HOST, o.temporalPort), httpOk(temporalUiUrl(o))]);
      return [
        { name: 'temporal', pid: rec.pid, url: temporalAddress(o), healthy: grpc },
        { name: 'temporal-ui', pid: rec.pid, url: temporalUiUrl(o), healthy: ui },
      ];
    },
  };

  const minio: Component = {
    name: 'minio',
    kind: 'minio',
    argv: [
      bins?.minio ?? 'minio',
      'server',
      path.join(o.home, 'minio'),
      '--address',
      `${HOST}:${o.minioPort}`,
      '--console-address',
      `${HOST}:${o.minioConsolePort}`,
      // keeps MinIO from creating ~/.minio/certs
      '--certs-dir',
      path.join(o.home, 'minio-certs'),
    ],
    env: { ...baseEnv, MINIO_ROOT_USER: o.s3.accessKey, MINIO_ROOT_PASSWORD: o.s3.secretKey },
    ports: [
      { port: o.minioPort, what: 'MinIO API', hint: 'set KAIZEN_S3_ENDPOINT=http://127.0.0.1:<port>' },
      { port: o.minioConsolePort, what: 'MinIO console', hint: 'it is the MinIO API port + 1' },
    ],
    ready: async () =>
      (await httpOk(`${minioUrl(o)}/minio/health/live`)) && (await httpOk(minioConsoleUrl(o))),
    status: async (rec) => {
      if (!rec) return [dead('minio', minioUrl(o)), dead('minio-console', minioConsoleUrl(o))];
      const [api, consoleUp] = await Promise.all([
        httpOk(`${minioUrl(o)}/minio/health/live`),
        httpOk(minioConsoleUrl(o)),
      ]);
      return [
        { name: 'minio', pid: rec.pid, url: minioUrl(o), healthy: api },
        { name: 'minio-console', pid: rec.pid, url: minioConsoleUrl(o), healthy: consoleUp },
      ];
    },
  };

  const workers = o.workers.map((w): Component => {
    const ready = async (rec: PidRecord) => readOwnLog(rec).includes(WORKER_READY_LINE);
    return {
      name: w.name,
      kind: 'worker',
      argv: w.command ?? [
        process.execPath,
        KAIZEN_BIN,
        'worker',
        '--queues',
        w.queues.join(','),
        ...(w.metricsPort ? ['--metrics', `${HOST}:${w.metricsPort}`] : []),
      ],
      env: childEnv,
      ports: w.metricsPort ? [{ port: w.metricsPort, what: `${w.name} metrics`, hint: 'give the worker another metricsPort' }] : [],
      ready,
      status: async (rec) => {
        const url = w.metricsPort ? `http://${HOST}:${w.metricsPort}/metrics` : null;
        return rec ? [{ name: w.name, pid: rec.pid, url, healthy: await ready(rec) }] : [dead(w.name, url)];
      },
    };
  });

  const servers = o.servers.map((s): Component => {
    const ready = () => httpOk(`${serverUrl(s)}/healthz`);
    return {
      name: s.name,
      kind: 'server',
      argv: s.command ?? [process.execPath, KAIZEN_BIN, 'serve', '--env', s.env, '--port', String(s.port)],
      env: childEnv,
      ports: [{ port: s.port, what: `${s.env} model server`, hint: `set KAIZEN_${s.env.toUpperCase()}_URL` }],
      ready,
      status: async (rec) =>
        rec
          ? [{ name: s.name, pid: rec.pid, url: serverUrl(s), healthy: await ready() }]
          : [dead(s.name, serverUrl(s))],
    };
  });

  return [temporal, minio, ...workers, ...servers];
}

// ---------------------------------------------------------------------------------------------

interface Ensured {
  rec: PidRecord | null;
  healthy: boolean;
  reused: boolean;
}

function sameArgv(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Polls a component until ready, it exits, or the deadline passes. */
async function waitReady(
  c: Component,
  rec: PidRecord,
  timeoutMs: number,
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  let pause = 100;
  for (;;) {
    if (!liveProcess(rec)) return 'exited';
    if (await c.ready(rec)) {
      if (c.kind !== 'worker') return 'ready';
      // a worker that prints its line and then crashes (bad config, lost connection) is not ready
      await sleep(500);
      return liveProcess(rec) ? 'ready' : 'exited';
    }
    if (Date.now() >= deadline) return 'timeout';
    await sleep(pause);
    pause = Math.min(pause * 2, 500);
  }
}

interface Inspected {
  live: PidRecord | null;
  /** It ran until recently: its sockets may take a moment to be released. */
  recentlyDied: boolean;
}

/** A component's live process (verified), after clearing a stale pid file or an outdated process. */
async function inspect(o: StackOptions, c: Component): Promise<Inspected> {
  const log = o.log ?? (() => undefined);
  const file = pidFile(o.home, c.name);
  const recorded = await readPidRecord(file);
  const live = liveProcess(recorded);
  if (live && sameArgv(live.argv, c.argv)) return { live, recentlyDied: false };
  if (live) {
    log(`${c.name}: its command line changed (ports, binary or options); restarting it`);
    await stopProcess(live);
  } else if (recorded) {
    log(`${c.name} (pid ${recorded.pid}) is not running; starting it again`);
  }
  await removePidFile(file);
  return { live: null, recentlyDied: recorded !== null };
}

/** Ports needed by components about to start that something else holds, as one message. */
async function portConflicts(o: StackOptions, toStart: Component[], graceMs = 0): Promise<string | null> {
  const wanted = toStart.flatMap((c) => c.ports);
  let taken: PortUse[] = [];
  // the sockets of a process that has just died are released a moment after it exits
  const deadline = Date.now() + graceMs;
  for (;;) {
    taken = [];
    for (const p of wanted) if (!(await isPortFree(p.port, HOST))) taken.push(p);
    if (taken.length === 0 || Date.now() >= deadline) break;
    await sleep(200);
  }
  if (taken.length === 0) return null;
  const why = taken.map(
    (p) =>
      `port ${p.port} (${p.what}) is in use by a process that is not part of this stack; stop it or ${p.hint}`,
  );
  return `cannot start the Kaizen stack in ${o.home}: ${why.join('; ')}`;
}

/** Reuses a live, healthy component; waits for one that is starting; (re)starts a dead one. */
async function ensure(
  o: StackOptions,
  c: Component,
  live: PidRecord | null,
  timeoutMs: number,
): Promise<Ensured> {
  const log = o.log ?? (() => undefined);
  if (live) {
    const state = await waitReady(c, live, timeoutMs);
    if (state === 'ready') return { rec: live, healthy: true, reused: true };
    if (state === 'timeout') {
      return failed(
        o,
        c,
        live,
        `${c.name} (pid ${live.pid}) is running but not healthy after ${seconds(timeoutMs)}`,
      );
    }
    log(`${c.name} (pid ${live.pid}) exited; starting it again`);
    await removePidFile(pidFile(o.home, c.name));
    const conflict = await portConflicts(o, [c], 2_000);
    if (conflict) throw new KaizenError('StackNotRunning', conflict);
  }
  const started = Date.now();
  let rec: PidRecord;
  try {
    rec = await spawnDetached({
      name: c.name,
      argv: c.argv,
      env: c.env,
      cwd: REPO_ROOT,
      logFile: logFile(o.home, c.name),
    });
  } catch (err) {
    throw new KaizenError('StackNotRunning', errorMessage(err));
  }
  await writePidRecord(pidFile(o.home, c.name), rec);
  const state = await waitReady(c, rec, timeoutMs);
  if (state === 'ready') {
    log(`${c.name} started (pid ${rec.pid}) and ready in ${seconds(Date.now() - started)}`);
    return { rec, healthy: true, reused: false };
  }
  const why =
    state === 'exited'
      ? `${c.name} exited while starting`
      : `${c.name} (pid ${rec.pid}) was not ready after ${seconds(timeoutMs)}`;
  return failed(o, c, rec, why);
}

/** Temporal and MinIO are required: their failure fails `up`; a worker or server is reported unhealthy. */
function failed(o: StackOptions, c: Component, rec: PidRecord, why: string): Ensured {
  const tail = logTail(rec);
  const message = `${why}; see ${rec.logFile}${tail ? `; last lines:\n${tail}` : ''}`;
  if (c.kind === 'temporal' || c.kind === 'minio') throw new KaizenError('StackNotRunning', message);
  (o.log ?? (() => undefined))(`WARNING: ${message}`);
  return { rec: liveProcess(rec), healthy: false, reused: false };
}

/** MinIO answers /live before it accepts requests; retry bucket creation until it does. */
async function ensureBucketWithRetry(o: StackOptions, timeoutMs: number): Promise<void> {
  const store = new ObjectStore({
    endpoint: minioUrl(o),
    accessKey: o.s3.accessKey,
    secretKey: o.s3.secretKey,
    bucket: o.s3.bucket,
    region: o.s3.region ?? 'us-east-1',
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await store.ensureBucket();
      return;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied'].includes(code)) {
        throw new KaizenError(
          'StackNotRunning',
          `MinIO at ${minioUrl(o)} refuses the access key "${o.s3.accessKey}" (${code}); its data in ${path.join(o.home, 'minio')} may belong to other credentials (KAIZEN_S3_ACCESS_KEY / KAIZEN_S3_SECRET_KEY)`,
        );
      }
      if (Date.now() >= deadline) {
        throw new KaizenError(
          'StackNotRunning',
          `cannot create bucket ${o.s3.bucket} on MinIO at ${minioUrl(o)}: ${errorMessage(err)}`,
        );
      }
      await sleep(250);
    }
  }
}

async function settleAll<T>(tasks: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(tasks);
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Starts whatever of the stack is not running and healthy (idempotent): Temporal and MinIO in
 * parallel, then the bucket, then workers and servers. Throws when Temporal or MinIO cannot start;
 * a worker or server that does not get ready in time is reported with healthy=false.
 */
export async function upStack(o: StackOptions): Promise<StackStatus> {
  validate(o);
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  await mkdir(path.join(o.home, 'run'), { recursive: true });
  await mkdir(path.join(o.home, 'logs'), { recursive: true });
  const bins = o.binaries ?? resolveBinaries({ ...process.env, ...o.env });
  const all = components(o, bins);
  const infraTimeout = o.readyTimeoutMs ?? 60_000;
  const componentTimeout = o.componentTimeoutMs ?? 90_000;

  // every port is checked before anything starts, so a conflict leaves nothing half-started
  const inspected = await Promise.all(all.map((c) => inspect(o, c)));
  const live = inspected.map((i) => i.live);
  const grace = inspected.some((i) => i.recentlyDied) ? 2_000 : 0;
  const conflict = await portConflicts(
    o,
    all.filter((_, i) => !live[i]),
    grace,
  );
  if (conflict) throw new KaizenError('StackNotRunning', conflict);

  const isInfra = (c: Component) => c.kind === 'temporal' || c.kind === 'minio';
  await settleAll(
    all
      .map((c, i) => (isInfra(c) ? ensure(o, c, live[i] ?? null, infraTimeout) : null))
      .filter((p) => p !== null),
  );
  await ensureBucketWithRetry(o, infraTimeout);
  const ensured = await settleAll(
    all
      .map((c, i) => (isInfra(c) ? null : ensure(o, c, live[i] ?? null, componentTimeout)))
      .filter((p) => p !== null),
  );

  const status = await stackStatus(o);
  const byName = new Map(status.components.map((c) => [c.name, c]));
  const pidOf = (name: string) => byName.get(name)?.pid ?? '-';
  log(
    `Temporal       ${temporalAddress(o)}  namespace ${o.namespace ?? 'default'}  (pid ${pidOf('temporal')})`,
  );
  log(`Temporal UI    ${temporalUiUrl(o)}`);
  log(`MinIO          ${minioUrl(o)}  bucket ${o.s3.bucket}  (pid ${pidOf('minio')})`);
  log(`MinIO console  ${minioConsoleUrl(o)}  user ${o.s3.accessKey}`);
  for (const w of o.workers) {
    log(
      `${w.name.padEnd(14)} queues ${w.queues.join(',')}  (pid ${pidOf(w.name)}${byName.get(w.name)?.healthy ? '' : ', NOT READY'})`,
    );
  }
  for (const s of o.servers) {
    log(
      `${s.name.padEnd(14)} ${serverUrl(s)}  (pid ${pidOf(s.name)}${byName.get(s.name)?.healthy ? '' : ', NOT READY'})`,
    );
  }
  log(
    `logs in ${path.join(o.home, 'logs')}; stack up in ${seconds(Date.now() - t0)}${ensured.some((e) => !e.healthy) ? ' (some components are not ready)' : ''}`,
  );
  return status;
}

/** Stops every process an `up` recorded under <home>/run (workers and servers first), and nothing else. */
export async function downStack(o: StackOptions): Promise<StackStatus> {
  const log = o.log ?? (() => undefined);
  const records = await Promise.all(
    (await listPidFiles(o.home)).map(async (file) => ({ file, rec: await readPidRecord(file) })),
  );
  const infraNames = new Set(['temporal', 'minio']);
  const stop = async ({ file, rec }: { file: string; rec: PidRecord | null }) => {
    const live = liveProcess(rec);
    if (live) {
      const t = Date.now();
      await stopProcess(live);
      log(`stopped ${live.name} (pid ${live.pid}) in ${seconds(Date.now() - t)}`);
    }
    await removePidFile(file);
  };
  // workers first, so they shut down cleanly while Temporal still answers
  await Promise.all(records.filter((r) => !infraNames.has(r.rec?.name ?? '')).map(stop));
  await Promise.all(records.filter((r) => infraNames.has(r.rec?.name ?? '')).map(stop));
  if (records.length === 0) log(`nothing to stop in ${o.home}`);
  return stackStatus(o);
}

/** Health of every component, from the pid files and live probes; starts and stops nothing. */
export async function stackStatus(o: StackOptions): Promise<StackStatus> {
  validate(o);
  const all = components(o, o.binaries ?? null);
  const parts = await Promise.all(
    all.map(async (c) => {
      const live = liveProcess(await readPidRecord(pidFile(o.home, c.name)));
      return c.status(live);
    }),
  );
  return { components: parts.flat() };
}
