import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KaizenError } from '../errors';
import { MODEL_SEARCH_ATTRIBUTE, STAGE_SEARCH_ATTRIBUTE } from '../types';
import type { Binaries } from './binaries';
import { httpOk, temporalHealthy } from './health';
import { readOwnLog, type PidRecord } from './processes';

// What the stack is made of: the options, and each component as a process to start with its ports
// and probes. The supervisor (stack.ts) starts them phase by phase; the dev profile is built here,
// the production profile in production.ts.

/** The line a worker prints on stdout once it polls its task queues. */
export const WORKER_READY_LINE = 'kaizen worker ready';

export const HOST = '127.0.0.1';
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const KAIZEN_BIN = path.join(REPO_ROOT, 'bin', 'kaizen.js');

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

/** The production profile's own parts (see production.ts). */
export interface ProductionOptions {
  /** PostgreSQL and the Temporal services' internal ports take consecutive ports from here (PRODUCTION_PORTS). */
  portBase: number;
  /** Password of PostgreSQL's `temporal` role. */
  postgresPassword: string;
  /** The load balancer's ports, which KAIZEN_PRODUCTION_URL / KAIZEN_STAGING_URL name. */
  loadBalancer: { production: number; staging: number };
}

export interface StackOptions {
  home: string;
  /** `dev` (default): the Temporal dev server on SQLite. `production`: see production.ts. */
  profile?: 'dev' | 'production';
  temporalPort: number;
  temporalUiPort: number;
  minioPort: number;
  minioConsolePort: number;
  s3: { accessKey: string; secretKey: string; bucket: string; region?: string };
  /** Namespace created at launch besides `default`. */
  namespace?: string;
  workers: WorkerSpec[];
  servers: ServerSpec[];
  production?: ProductionOptions;
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

export interface PortUse {
  port: number;
  what: string;
  /** How to move it elsewhere. */
  hint: string;
}

export interface Component {
  name: string;
  kind: 'temporal' | 'minio' | 'postgres' | 'load-balancer' | 'worker' | 'server';
  /** Components start phase by phase (0 first); within a phase, side by side. */
  phase: number;
  /** Its failure fails `up` (Temporal, MinIO, PostgreSQL); otherwise it is reported unhealthy. */
  required: boolean;
  argv: string[];
  /** The argv the process has once `argv` exec'd it (a wrapper such as setpriv); default argv. */
  execArgv?: string[];
  env: NodeJS.ProcessEnv;
  ports: PortUse[];
  /** One readiness probe of a live process. */
  ready: (rec: PidRecord) => Promise<boolean>;
  /** Describe it for status, given its live record (or null). */
  status: (rec: PidRecord | null) => Promise<ComponentStatus[]>;
}

/** One-off work between phases (a bucket, a schema, a namespace); idempotent. */
export interface Step {
  beforePhase: number;
  name: string;
  run: () => Promise<void>;
}

export interface Plan {
  components: Component[];
  steps: Step[];
}

export const temporalAddress = (o: StackOptions) => `${HOST}:${o.temporalPort}`;
export const temporalUiUrl = (o: StackOptions) => `http://${HOST}:${o.temporalUiPort}`;
export const minioUrl = (o: StackOptions) => `http://${HOST}:${o.minioPort}`;
export const minioConsoleUrl = (o: StackOptions) => `http://${HOST}:${o.minioConsolePort}`;
export const serverUrl = (s: ServerSpec) => `http://${HOST}:${s.port}`;

export function deadStatus(name: string, url: string | null): ComponentStatus {
  return { name, pid: null, url, healthy: false };
}

/** The variables that put a stack's endpoints on loopback ports (what loadConfig reads for them). */
export function loopbackEndpoints(p: { temporal: number; ui: number; minio: number; production: number; staging: number }): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: `${HOST}:${p.temporal}`,
    KAIZEN_TEMPORAL_UI_PORT: String(p.ui),
    KAIZEN_S3_ENDPOINT: `http://${HOST}:${p.minio}`,
    KAIZEN_PRODUCTION_URL: `http://${HOST}:${p.production}`,
    KAIZEN_STAGING_URL: `http://${HOST}:${p.staging}`,
  };
}

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
  if (o.profile === 'production' && o.production) {
    // clients go through the load balancer; each replica announces its own address to its peers
    env.KAIZEN_PRODUCTION_URL = `http://${HOST}:${o.production.loadBalancer.production}`;
    env.KAIZEN_STAGING_URL = `http://${HOST}:${o.production.loadBalancer.staging}`;
  } else {
    for (const s of o.servers)
      env[s.env === 'production' ? 'KAIZEN_PRODUCTION_URL' : 'KAIZEN_STAGING_URL'] = serverUrl(s);
  }
  return env;
}

const COMPONENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Names the profiles use for their own components. */
const RESERVED = ['temporal', 'temporal-ui', 'minio', 'minio-console', 'postgres', 'load-balancer'];

export function validateStack(o: StackOptions): void {
  const names = new Set(RESERVED);
  for (const c of [...o.workers, ...o.servers]) {
    if (!COMPONENT_NAME.test(c.name))
      throw new KaizenError('SpecInvalid', `stack component name "${c.name}" must be a plain file name`);
    if (names.has(c.name) || c.name.startsWith('temporal-'))
      throw new KaizenError('SpecInvalid', `stack component name "${c.name}" is used twice`);
    names.add(c.name);
  }
  if (o.profile === 'production' && !o.production) {
    throw new KaizenError('SpecInvalid', 'the production profile needs its options (ports, PostgreSQL password, load balancer)');
  }
}

/** MinIO on one directory (dev) or with erasure coding over several drives (production). */
export function minioComponent(o: StackOptions, bins: Binaries | null, baseEnv: NodeJS.ProcessEnv, drives: string[]): Component {
  return {
    name: 'minio',
    kind: 'minio',
    phase: 0,
    required: true,
    argv: [
      bins?.minio ?? 'minio',
      'server',
      ...drives,
      '--address',
      `${HOST}:${o.minioPort}`,
      '--console-address',
      `${HOST}:${o.minioConsolePort}`,
      // keeps MinIO from creating ~/.minio/certs
      '--certs-dir',
      path.join(o.home, 'minio-certs'),
    ],
    env: {
      ...baseEnv,
      MINIO_ROOT_USER: o.s3.accessKey,
      MINIO_ROOT_PASSWORD: o.s3.secretKey,
      // MinIO refuses erasure drives on the root disk unless told this is a rehearsal on one disk;
      // the four drives of the one-machine production profile are directories on one disk
      ...(drives.length > 1 || drives.some((d) => d.includes('...')) ? { MINIO_CI_CD: 'on' } : {}),
    },
    ports: [
      { port: o.minioPort, what: 'MinIO API', hint: 'set KAIZEN_S3_ENDPOINT=http://127.0.0.1:<port>' },
      { port: o.minioConsolePort, what: 'MinIO console', hint: 'it is the MinIO API port + 1' },
    ],
    ready: async () =>
      (await httpOk(`${minioUrl(o)}/minio/health/live`)) && (await httpOk(minioConsoleUrl(o))),
    status: async (rec) => {
      if (!rec) return [deadStatus('minio', minioUrl(o)), deadStatus('minio-console', minioConsoleUrl(o))];
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
}

export function workerComponent(w: WorkerSpec, childEnv: NodeJS.ProcessEnv, phase: number): Component {
  const ready = async (rec: PidRecord) => readOwnLog(rec).includes(WORKER_READY_LINE);
  return {
    name: w.name,
    kind: 'worker',
    phase,
    required: false,
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
      return rec ? [{ name: w.name, pid: rec.pid, url, healthy: await ready(rec) }] : [deadStatus(w.name, url)];
    },
  };
}

export function serverComponent(s: ServerSpec, childEnv: NodeJS.ProcessEnv, phase: number): Component {
  const ready = () => httpOk(`${serverUrl(s)}/healthz`);
  return {
    name: s.name,
    kind: 'server',
    phase,
    required: false,
    argv: s.command ?? [process.execPath, KAIZEN_BIN, 'serve', '--env', s.env, '--port', String(s.port)],
    env: { ...childEnv, KAIZEN_ADVERTISE_URL: serverUrl(s) },
    ports: [{ port: s.port, what: `${s.env} model server`, hint: `set KAIZEN_${s.env.toUpperCase()}_URL` }],
    ready,
    status: async (rec) =>
      rec
        ? [{ name: s.name, pid: rec.pid, url: serverUrl(s), healthy: await ready() }]
        : [deadStatus(s.name, serverUrl(s))],
  };
}

/** The dev profile: `temporal server start-dev` (SQLite, UI built in), MinIO on one directory, workers, servers. */
export function devPlan(o: StackOptions, bins: Binaries | null, ensureBucket: () => Promise<void>): Plan {
  const baseEnv = { ...process.env, ...o.env };
  const childEnv = { ...baseEnv, ...stackEnvironment(o) };
  const temporal: Component = {
    name: 'temporal',
    kind: 'temporal',
    phase: 0,
    required: true,
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
      if (!rec) return [deadStatus('temporal', temporalAddress(o)), deadStatus('temporal-ui', temporalUiUrl(o))];
      const [grpc, ui] = await Promise.all([temporalHealthy(HOST, o.temporalPort), httpOk(temporalUiUrl(o))]);
      return [
        { name: 'temporal', pid: rec.pid, url: temporalAddress(o), healthy: grpc },
        { name: 'temporal-ui', pid: rec.pid, url: temporalUiUrl(o), healthy: ui },
      ];
    },
  };
  return {
    components: [
      temporal,
      minioComponent(o, bins, baseEnv, [path.join(o.home, 'minio')]),
      ...o.workers.map((w) => workerComponent(w, childEnv, 1)),
      ...o.servers.map((s) => serverComponent(s, childEnv, 1)),
    ],
    steps: [{ beforePhase: 1, name: 'bucket', run: ensureBucket }],
  };
}
