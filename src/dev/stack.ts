import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KaizenConfig } from '../config';
import { KaizenError, errorMessage } from '../errors';
import { ObjectStore } from '../storage/object-store';
import { TASK_QUEUES } from '../types';
import { resolveBinaries, type Binaries } from './binaries';
import {
  HOST,
  REPO_ROOT,
  devPlan,
  minioUrl,
  serverUrl,
  temporalAddress,
  temporalUiUrl,
  minioConsoleUrl,
  validateStack,
  type Component,
  type Plan,
  type PortUse,
  type ServerSpec,
  type StackOptions,
  type StackStatus,
  type WorkerSpec,
} from './components';
import { PRODUCTION_PORT_COUNT, productionPlan, productionServers, productionWorkers } from './production';
import {
  isPortFree,
  listPidFiles,
  liveProcess,
  logFile,
  logTail,
  pidFile,
  readPidRecord,
  removePidFile,
  spawnDetached,
  stopProcess,
  writePidRecord,
  type PidRecord,
} from './processes';

// The supervisor of `kaizen dev up|down|status` and of the integration tests: it starts a profile's
// components (components.ts: dev; production.ts: production) phase by phase, each a detached
// process with a pid file under <home>/run and a log under <home>/logs, so later commands find
// exactly what an earlier `up` started.

export {
  WORKER_READY_LINE,
  stackEnvironment,
  type ComponentStatus,
  type ServerSpec,
  type StackOptions,
  type StackStatus,
  type WorkerSpec,
} from './components';

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

export function stackOptionsFromConfig(cfg: KaizenConfig, profile: 'dev' | 'production' = 'dev'): StackOptions {
  const minioPort = portOf(cfg.s3.endpoint, 9000);
  if (profile === 'production') {
    const b = cfg.production.portBase;
    if (!Number.isInteger(b) || b < 1024 || b > 32767 - PRODUCTION_PORT_COUNT) {
      throw new KaizenError('ConfigInvalid', `KAIZEN_PRODUCTION_PORT_BASE must be a port from 1024 to ${32767 - PRODUCTION_PORT_COUNT} (Temporal keeps membership ports in a SQL smallint), got "${String(b)}"`);
    }
    if (!cfg.production.postgresPassword) {
      throw new KaizenError('ConfigInvalid', 'the production profile needs KAIZEN_POSTGRES_PASSWORD (`kaizen dev up --profile production` generates it into <home>/production.env)');
    }
  }
  const production =
    profile === 'production'
      ? {
          profile,
          production: {
            portBase: cfg.production.portBase,
            postgresPassword: cfg.production.postgresPassword,
            loadBalancer: { production: portOf(cfg.servers.production, 8080), staging: portOf(cfg.servers.staging, 8081) },
          },
          workers: productionWorkers(),
          servers: productionServers(cfg.production.portBase),
        }
      : {};
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
    ...production,
  };
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
  if (live && sameArgv(live.argv, c.execArgv ?? c.argv)) return { live, recentlyDied: false };
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
      execArgv: c.execArgv,
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

/** A required component's failure fails `up`; a worker or server is reported unhealthy. */
function failed(o: StackOptions, c: Component, rec: PidRecord, why: string): Ensured {
  const tail = logTail(rec);
  const message = `${why}; see ${rec.logFile}${tail ? `; last lines:\n${tail}` : ''}`;
  if (c.required) throw new KaizenError('StackNotRunning', message);
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

/** The profile's components and steps. */
function planOf(o: StackOptions, bins: Binaries | null): Plan {
  const timeout = o.readyTimeoutMs ?? 60_000;
  const bucket = () => ensureBucketWithRetry(o, timeout);
  return o.profile === 'production' ? productionPlan(o, bins, bucket) : devPlan(o, bins, bucket);
}

/**
 * Starts whatever of the stack is not running and healthy (idempotent), phase by phase: the
 * components of a phase side by side, the steps (bucket, schema, namespace) between phases.
 * Throws when a required component (Temporal, MinIO, PostgreSQL) cannot start; a worker or server
 * that does not get ready in time is reported with healthy=false.
 */
export async function upStack(o: StackOptions): Promise<StackStatus> {
  validateStack(o);
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  await mkdir(path.join(o.home, 'run'), { recursive: true });
  await mkdir(path.join(o.home, 'logs'), { recursive: true });
  const bins = o.binaries ?? resolveBinaries({ ...process.env, ...o.env }, o.profile ?? 'dev');
  const plan = planOf(o, bins);
  const all = plan.components;
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

  const phases = [...new Set([...all.map((c) => c.phase), ...plan.steps.map((s) => s.beforePhase)])].sort((x, y) => x - y);
  const ensured: Ensured[] = [];
  for (const phase of phases) {
    for (const step of plan.steps.filter((s) => s.beforePhase === phase)) {
      const t = Date.now();
      await step.run();
      log(`${step.name}: done in ${seconds(Date.now() - t)}`);
    }
    ensured.push(
      ...(await settleAll(
        all
          .map((c, i) => (c.phase === phase ? ensure(o, c, live[i] ?? null, c.required ? infraTimeout : componentTimeout) : null))
          .filter((p) => p !== null),
      )),
    );
  }

  const status = await stackStatus(o);
  const byName = new Map(status.components.map((c) => [c.name, c]));
  const pidOf = (name: string) => byName.get(name)?.pid ?? '-';
  const temporalPid = pidOf(o.profile === 'production' ? 'temporal-frontend' : 'temporal');
  log(`Temporal       ${temporalAddress(o)}  namespace ${o.namespace ?? 'default'}  (pid ${temporalPid})`);
  log(`Temporal UI    ${temporalUiUrl(o)}`);
  if (o.profile === 'production' && o.production) {
    const lb = o.production.loadBalancer;
    log(`PostgreSQL     127.0.0.1:${o.production.portBase}  (pid ${pidOf('postgres')})`);
    log(`load balancer  production http://127.0.0.1:${lb.production}, staging http://127.0.0.1:${lb.staging}  (pid ${pidOf('load-balancer')})`);
  }
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
  // the reverse of the start order: what depends on Temporal and MinIO stops while they still answer
  const phaseOf = new Map(planOf(o, null).components.map((c) => [c.name, c.phase]));
  const phases = [...new Set(records.map((r) => phaseOf.get(r.rec?.name ?? '') ?? Infinity))].sort((x, y) => y - x);
  const stop = async ({ file, rec }: { file: string; rec: PidRecord | null }) => {
    const live = liveProcess(rec);
    if (live) {
      const t = Date.now();
      await stopProcess(live);
      log(`stopped ${live.name} (pid ${live.pid}) in ${seconds(Date.now() - t)}`);
    }
    await removePidFile(file);
  };
  for (const phase of phases) {
    await Promise.all(records.filter((r) => (phaseOf.get(r.rec?.name ?? '') ?? Infinity) === phase).map(stop));
  }
  if (records.length === 0) log(`nothing to stop in ${o.home}`);
  return stackStatus(o);
}

/** Health of every component, from the pid files and live probes; starts and stops nothing. */
export async function stackStatus(o: StackOptions): Promise<StackStatus> {
  validateStack(o);
  const all = planOf(o, o.binaries ?? null).components;
  const parts = await Promise.all(
    all.map(async (c) => {
      const live = liveProcess(await readPidRecord(pidFile(o.home, c.name)));
      return c.status(live);
    }),
  );
  return { components: parts.flat() };
}
