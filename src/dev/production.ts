import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KaizenError } from '../errors';
import { MODEL_SEARCH_ATTRIBUTE, STAGE_SEARCH_ATTRIBUTE } from '../types';
import type { Binaries } from './binaries';
import {
  HOST,
  deadStatus,
  minioComponent,
  serverComponent,
  serverUrl,
  stackEnvironment,
  temporalAddress,
  temporalUiUrl,
  workerComponent,
  type Component,
  type Plan,
  type ServerSpec,
  type StackOptions,
  type WorkerSpec,
} from './components';
import { parseEnvFile, productionEnvFile } from '../config';
import { TASK_QUEUES } from '../types';
import { httpOk, temporalHealthy } from './health';
import { freePortRange, tcpOpen } from './processes';

// The production profile on one machine: PostgreSQL (Debian's package, run as an unprivileged
// user under KAIZEN_HOME), the Temporal server v1.29.1 as four processes (frontend, history,
// matching, worker) on it, the Temporal UI server, MinIO with erasure coding over four drives,
// two workers per task queue, two production replicas and a staging server, and HAProxy in front
// of the model servers. Every config file is written here, from the options, under <home>/config.

/** Offsets from ProductionOptions.portBase (keep the base under 32756: Temporal stores membership ports as a SQL smallint). */
export const PRODUCTION_PORTS = {
  postgres: 0,
  frontendMembership: 1,
  frontendHttp: 2,
  history: 3,
  historyMembership: 4,
  matching: 5,
  matchingMembership: 6,
  worker: 7,
  workerMembership: 8,
  replica1: 9,
  replica2: 10,
  stagingServer: 11,
} as const;
export const PRODUCTION_PORT_COUNT = 12;


/** The production profile's workers: two per task queue. */
export function productionWorkers(): WorkerSpec[] {
  return [
    { name: 'worker-pipeline-1', queues: [TASK_QUEUES.pipeline] },
    { name: 'worker-pipeline-2', queues: [TASK_QUEUES.pipeline] },
    { name: 'worker-training-1', queues: [TASK_QUEUES.training] },
    { name: 'worker-training-2', queues: [TASK_QUEUES.training] },
  ];
}

/** Two production replicas and one staging server, on the ports after the Temporal services'. */
export function productionServers(portBase: number): ServerSpec[] {
  return [
    { name: 'server-production-1', env: 'production', port: portBase + PRODUCTION_PORTS.replica1 },
    { name: 'server-production-2', env: 'production', port: portBase + PRODUCTION_PORTS.replica2 },
    { name: 'server-staging', env: 'staging', port: portBase + PRODUCTION_PORTS.stagingServer },
  ];
}

/** The secrets the production profile generates once into <home>/production.env (no defaults). */
export const PRODUCTION_SECRETS = ['KAIZEN_ADMIN_TOKEN', 'KAIZEN_FEEDBACK_TOKEN', 'KAIZEN_S3_ACCESS_KEY', 'KAIZEN_S3_SECRET_KEY', 'KAIZEN_POSTGRES_PASSWORD'] as const;

/** New values of every production secret (the S3 access key readable, the rest 32 random bytes). */
export function freshSecrets(): Record<string, string> {
  return Object.fromEntries(PRODUCTION_SECRETS.map((k) => [k, k === 'KAIZEN_S3_ACCESS_KEY' ? `kaizen-${randomBytes(6).toString('hex')}` : newSecret()]));
}

/** `<home>/production.env`: made with fresh secrets on first use (mode 0600), read afterwards. */
export async function productionSecrets(home: string): Promise<Record<string, string>> {
  const file = productionEnvFile(home);
  const existing = await readFile(file, 'utf8').catch(() => null);
  if (existing !== null) return parseEnvFile(existing);
  const values = freshSecrets();
  await mkdir(home, { recursive: true });
  await writeFile(file, `${Object.entries(values).map(([k, v]) => `${k}=${v}`).join('\n')}\n`, { mode: 0o600 });
  return values;
}

/** The Temporal services, each its own process, so one can fail (or be killed) alone. */
export const TEMPORAL_SERVICES = ['history', 'matching', 'frontend', 'worker'] as const;
export type TemporalService = (typeof TEMPORAL_SERVICES)[number];

export const MINIO_DRIVES = 4;
/** History shards: fixed when the database is created. */
const HISTORY_SHARDS = 4;
const SCHEMA_VERSION = { temporal: '1.18', visibility: '1.9' } as const;
/** The unprivileged account PostgreSQL runs as when Kaizen runs as root (Debian's package makes it). */
const POSTGRES_USER = 'postgres';

const port = (o: StackOptions, k: keyof typeof PRODUCTION_PORTS) => o.production!.portBase + PRODUCTION_PORTS[k];

const configDir = (o: StackOptions) => path.join(o.home, 'config');
const pgDir = (o: StackOptions) => path.join(o.home, 'postgres');

/** A secret for the production profile: 32 random bytes, URL-safe. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The Temporal server's configuration (JSON is YAML), for every service alike. */
export function temporalServerConfig(o: StackOptions): Record<string, unknown> {
  const sql = (database: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName: database,
      connectAddr: `${HOST}:${port(o, 'postgres')}`,
      connectProtocol: 'tcp',
      user: 'temporal',
      password: o.production!.postgresPassword,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const rpc = (grpcPort: number, membershipPort: number, extra: Record<string, unknown> = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: HISTORY_SHARDS,
      datastores: { default: sql('temporal', 20), visibility: sql('temporal_visibility', 10) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: HOST } },
    services: {
      frontend: rpc(o.temporalPort, port(o, 'frontendMembership'), { httpPort: port(o, 'frontendHttp') }),
      history: rpc(port(o, 'history'), port(o, 'historyMembership')),
      matching: rpc(port(o, 'matching'), port(o, 'matchingMembership')),
      worker: rpc(port(o, 'worker'), port(o, 'workerMembership')),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: temporalAddress(o) },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: path.join(configDir(o), 'dynamicconfig.yaml'), pollInterval: '10s' },
  };
}

/** Dynamic config: no call home for a version check (there may be no internet), search attributes seen at once. */
export function temporalDynamicConfig(): Record<string, unknown> {
  return {
    'frontend.enableServerVersionCheck': [{ value: false }],
    'system.forceSearchAttributesCacheRefreshOnRead': [{ value: true }],
  };
}

export function temporalUiConfig(o: StackOptions): Record<string, unknown> {
  return {
    temporalGrpcAddress: temporalAddress(o),
    host: HOST,
    port: o.temporalUiPort,
    enableUi: true,
    defaultNamespace: o.namespace ?? 'default',
    notifyOnNewVersion: false,
    hideLogs: true,
    cors: { cookieInsecure: true, allowOrigins: [temporalUiUrl(o)] },
  };
}

/**
 * HAProxy in front of the model servers: the production port balances over the replicas (least
 * connections), each checked on /readyz every second, so a replica that dies or drains leaves the
 * rotation within about two seconds; a request whose connection failed is tried on another one.
 */
export function haproxyConfig(o: StackOptions): string {
  const lb = o.production!.loadBalancer;
  const backend = (name: string, servers: ServerSpec[]) => [
    `backend ${name}`,
    '  balance leastconn',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    '  retries 2',
    '  option redispatch',
    '  retry-on conn-failure empty-response response-timeout',
    ...servers.map((s) => `  server ${s.name} ${HOST}:${s.port} check inter 1s fall 2 rise 1`),
    '',
  ];
  const production = o.servers.filter((s) => s.env === 'production');
  const staging = o.servers.filter((s) => s.env === 'staging');
  return [
    '# written by `kaizen dev up --profile production`; rewritten at every up',
    'global',
    '  maxconn 4096',
    '',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 75s',
    '  timeout server 35s',
    '  timeout http-keep-alive 75s',
    '  option http-keep-alive',
    '',
    'frontend production',
    `  bind ${HOST}:${lb.production}`,
    '  default_backend production_replicas',
    '',
    'frontend staging',
    `  bind ${HOST}:${lb.staging}`,
    '  default_backend staging_servers',
    '',
    ...backend('production_replicas', production),
    ...backend('staging_servers', staging),
  ].join('\n');
}

async function writeConfig(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content, { mode: 0o600 });
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** PostgreSQL refuses to run as root: as root it runs as Debian's `postgres` account. */
function asPostgresUser(argv: string[]): string[] {
  return isRoot() ? ['/usr/bin/setpriv', `--reuid=${POSTGRES_USER}`, `--regid=${POSTGRES_USER}`, '--clear-groups', '--', ...argv] : argv;
}

function postgresIds(): { uid: number; gid: number } | null {
  if (!isRoot()) return null;
  const res = spawnSync('id', ['-u', POSTGRES_USER], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', POSTGRES_USER], { encoding: 'utf8' });
  if (res.status !== 0 || gid.status !== 0) {
    throw new KaizenError('ProvisionFailed', `running as root, PostgreSQL needs the "${POSTGRES_USER}" account of Debian's postgresql package; run \`npm run provision -- --production\``);
  }
  return { uid: Number(res.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** initdb once: the `temporal` role with a password, peer auth on the socket, scram over TCP. */
async function initPostgres(o: StackOptions, bins: Binaries): Promise<void> {
  const data = path.join(pgDir(o), 'data');
  if (await stat(path.join(data, 'PG_VERSION')).then(() => true, () => false)) return;
  const ids = postgresIds();
  await mkdir(path.join(pgDir(o), 'socket'), { recursive: true });
  if (ids) {
    // the postgres account must reach its directory: the home may be traversed, not listed
    await chmod(o.home, 0o711);
    for (const d of [pgDir(o), path.join(pgDir(o), 'socket')]) await chown(d, ids.uid, ids.gid);
  }
  const pwfile = path.join(pgDir(o), '.initdb-password');
  await writeFile(pwfile, o.production!.postgresPassword, { mode: 0o600 });
  if (ids) await chown(pwfile, ids.uid, ids.gid);
  try {
    const argv = asPostgresUser([
      path.join(bins.production!.postgres, 'initdb'),
      '-D', data, '-U', 'temporal', '-E', 'UTF8', '--auth-local=peer', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`,
    ]);
    const res = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    if (res.status !== 0) {
      await rm(data, { recursive: true, force: true });
      throw new KaizenError('StackNotRunning', `initdb failed (exit ${res.status}): ${(res.stderr || res.stdout).trim().slice(-800)}`);
    }
  } finally {
    await rm(pwfile, { force: true });
  }
}

function sqlTool(o: StackOptions, bins: Binaries, args: string[]): { ok: boolean; output: string } {
  const res = spawnSync(bins.production!.sqlTool, args, {
    encoding: 'utf8',
    env: {
      ...process.env,
      SQL_PLUGIN: 'postgres12',
      SQL_HOST: HOST,
      SQL_PORT: String(port(o, 'postgres')),
      SQL_USER: 'temporal',
      SQL_PASSWORD: o.production!.postgresPassword,
    },
  });
  return { ok: res.status === 0, output: `${res.stdout}${res.stderr}` };
}

/** The two databases and their schemas, with Temporal's own SQL tool; once (a stamp file records it). */
async function setupSchema(o: StackOptions, bins: Binaries, timeoutMs: number): Promise<void> {
  const stamp = path.join(pgDir(o), 'schema.version');
  const want = `temporal ${SCHEMA_VERSION.temporal} visibility ${SCHEMA_VERSION.visibility}`;
  if ((await readFile(stamp, 'utf8').catch(() => '')).trim() === want) return;
  const deadline = Date.now() + timeoutMs;
  for (const [db, name, version] of [
    ['temporal', 'postgresql/v12/temporal', SCHEMA_VERSION.temporal],
    ['temporal_visibility', 'postgresql/v12/visibility', SCHEMA_VERSION.visibility],
  ] as const) {
    // PostgreSQL may accept connections a moment after its port opens
    for (;;) {
      const created = sqlTool(o, bins, ['--db', db, 'create-database']);
      if (created.ok || /already exists/.test(created.output)) break;
      if (Date.now() > deadline) throw new KaizenError('StackNotRunning', `cannot create database ${db}: ${created.output.slice(-800)}`);
      await sleep(500);
    }
    const setup = sqlTool(o, bins, ['--db', db, 'setup-schema', '--schema-name', name, '--version', version]);
    if (!setup.ok && !/already exists/.test(setup.output)) {
      throw new KaizenError('StackNotRunning', `cannot set up the ${db} schema: ${setup.output.slice(-800)}`);
    }
  }
  await writeFile(stamp, `${want}\n`);
}

/** The namespaces (default and the stack's) and Kaizen's search attributes, through the frontend. */
async function setupNamespaces(o: StackOptions, bins: Binaries, timeoutMs: number): Promise<void> {
  const namespaces = [...new Set(['default', o.namespace ?? 'default'])];
  const deadline = Date.now() + timeoutMs;
  const run = (args: string[]) => {
    const res = spawnSync(bins.temporal, [...args, '--address', temporalAddress(o)], { encoding: 'utf8' });
    return { ok: res.status === 0, output: `${res.stdout}${res.stderr}` };
  };
  for (const ns of namespaces) {
    for (;;) {
      const created = run(['operator', 'namespace', 'create', '--namespace', ns, '--retention', '72h']);
      if (created.ok || /already (exists|registered)/i.test(created.output)) break;
      if (Date.now() > deadline) throw new KaizenError('StackNotRunning', `cannot create namespace ${ns}: ${created.output.slice(-600)}`);
      await sleep(1_000);
    }
    for (;;) {
      const sa = run(['operator', 'search-attribute', 'create', '--namespace', ns, '--name', STAGE_SEARCH_ATTRIBUTE, '--type', 'Keyword', '--name', MODEL_SEARCH_ATTRIBUTE, '--type', 'Keyword']);
      if (sa.ok || /already exists/i.test(sa.output)) break;
      if (Date.now() > deadline) throw new KaizenError('StackNotRunning', `cannot create search attributes in ${ns}: ${sa.output.slice(-600)}`);
      await sleep(1_000);
    }
  }
}

export function productionPlan(o: StackOptions, bins: Binaries | null, ensureBucket: () => Promise<void>): Plan {
  const p = o.production!;
  const baseEnv = { ...process.env, ...o.env };
  const childEnv = { ...baseEnv, ...stackEnvironment(o) };
  const prod = bins?.production;
  const timeout = o.readyTimeoutMs ?? 60_000;
  const data = path.join(pgDir(o), 'data');
  const postgresArgv = [
    path.join(prod?.postgres ?? '', 'postgres'),
    '-D', data, '-p', String(port(o, 'postgres')), '-k', path.join(pgDir(o), 'socket'),
    '-c', `listen_addresses=${HOST}`, '-c', 'max_connections=200', '-c', 'fsync=on',
  ];
  const postgres: Component = {
    name: 'postgres',
    kind: 'postgres',
    phase: 0,
    required: true,
    argv: asPostgresUser(postgresArgv),
    execArgv: isRoot() ? postgresArgv : undefined,
    env: baseEnv,
    ports: [{ port: port(o, 'postgres'), what: 'PostgreSQL', hint: 'choose another KAIZEN_PRODUCTION_PORT_BASE' }],
    ready: () => tcpOpen(port(o, 'postgres'), HOST),
    status: async (rec) => [rec ? { name: 'postgres', pid: rec.pid, url: `postgres://${HOST}:${port(o, 'postgres')}`, healthy: await tcpOpen(port(o, 'postgres'), HOST) } : deadStatus('postgres', null)],
  };
  const temporalConfigRoot = configDir(o);
  const services = TEMPORAL_SERVICES.map((svc): Component => {
    const name = `temporal-${svc}`;
    const grpc = svc === 'frontend' ? o.temporalPort : port(o, svc);
    const url = `${HOST}:${grpc}`;
    // the worker service serves no gRPC of its own: it is up once it joins the membership ring
    const probe = svc === 'worker' ? port(o, 'workerMembership') : grpc;
    const ready = () => (svc === 'frontend' ? temporalHealthy(HOST, grpc) : tcpOpen(probe, HOST));
    return {
      name,
      kind: 'temporal',
      // history first: on a new database the first service to start writes the cluster metadata
      phase: svc === 'history' ? 1 : 1.5,
      required: true,
      argv: [prod?.server ?? 'temporal-server', '--root', temporalConfigRoot, '--config', 'temporal', '--env', 'production', '--allow-no-auth', 'start', '--service', svc],
      env: baseEnv,
      ports: [
        { port: grpc, what: `Temporal ${svc} gRPC`, hint: svc === 'frontend' ? 'set TEMPORAL_ADDRESS' : 'choose another KAIZEN_PRODUCTION_PORT_BASE' },
        { port: port(o, `${svc}Membership` as keyof typeof PRODUCTION_PORTS), what: `Temporal ${svc} membership`, hint: 'choose another KAIZEN_PRODUCTION_PORT_BASE' },
        ...(svc === 'frontend' ? [{ port: port(o, 'frontendHttp'), what: 'Temporal HTTP API', hint: 'choose another KAIZEN_PRODUCTION_PORT_BASE' }] : []),
      ],
      ready,
      status: async (rec) => [rec ? { name, pid: rec.pid, url, healthy: await ready() } : deadStatus(name, url)],
    };
  });
  const ui: Component = {
    name: 'temporal-ui',
    kind: 'temporal',
    phase: 2,
    required: false,
    argv: [prod?.ui ?? 'temporal-ui-server', '--root', temporalConfigRoot, '--config', 'ui', '--env', 'production', 'start'],
    env: baseEnv,
    ports: [{ port: o.temporalUiPort, what: 'Temporal UI', hint: 'set KAIZEN_TEMPORAL_UI_PORT' }],
    ready: () => httpOk(temporalUiUrl(o)),
    status: async (rec) => [rec ? { name: 'temporal-ui', pid: rec.pid, url: temporalUiUrl(o), healthy: await httpOk(temporalUiUrl(o)) } : deadStatus('temporal-ui', temporalUiUrl(o))],
  };
  const lbUrl = `http://${HOST}:${p.loadBalancer.production}`;
  const haproxyCfg = path.join(configDir(o), 'haproxy.cfg');
  const lb: Component = {
    name: 'load-balancer',
    kind: 'load-balancer',
    phase: 3,
    required: true,
    argv: [prod?.haproxy ?? 'haproxy', '-db', '-f', haproxyCfg],
    env: baseEnv,
    ports: [
      { port: p.loadBalancer.production, what: 'load balancer (production)', hint: 'set KAIZEN_PRODUCTION_URL' },
      { port: p.loadBalancer.staging, what: 'load balancer (staging)', hint: 'set KAIZEN_STAGING_URL' },
    ],
    ready: () => httpOk(`${lbUrl}/healthz`),
    status: async (rec) => [rec ? { name: 'load-balancer', pid: rec.pid, url: lbUrl, healthy: await httpOk(`${lbUrl}/healthz`) } : deadStatus('load-balancer', lbUrl)],
  };
  const need = () => {
    if (!bins?.production) throw new KaizenError('ProvisionFailed', 'the production profile binaries are not resolved; run `npm run provision -- --production`');
    return bins;
  };
  return {
    components: [
      postgres,
      minioComponent(o, bins, baseEnv, [path.join(o.home, 'minio', `drive{1...${MINIO_DRIVES}}`)]),
      ...services,
      ui,
      ...o.workers.map((w) => workerComponent(w, childEnv, 2)),
      ...o.servers.map((s) => serverComponent(s, childEnv, 2)),
      lb,
    ],
    steps: [
      {
        beforePhase: 0,
        name: 'configuration and PostgreSQL data directory',
        run: async () => {
          await writeConfig(path.join(configDir(o), 'temporal', 'production.yaml'), JSON.stringify(temporalServerConfig(o), null, 2));
          await writeConfig(path.join(configDir(o), 'dynamicconfig.yaml'), JSON.stringify(temporalDynamicConfig(), null, 2));
          await writeConfig(path.join(configDir(o), 'ui', 'production.yaml'), JSON.stringify(temporalUiConfig(o), null, 2));
          await writeConfig(haproxyCfg, haproxyConfig(o));
          for (let i = 1; i <= MINIO_DRIVES; i++) await mkdir(path.join(o.home, 'minio', `drive${i}`), { recursive: true });
          await initPostgres(o, need());
        },
      },
      { beforePhase: 1, name: 'bucket', run: ensureBucket },
      { beforePhase: 1, name: 'Temporal schema (temporal-sql-tool)', run: () => setupSchema(o, need(), timeout) },
      { beforePhase: 2, name: 'namespaces and search attributes', run: () => setupNamespaces(o, need(), timeout) },
    ],
  };
}

/** The URL of each production replica, directly (not through the load balancer). */
export function replicaUrls(o: StackOptions): string[] {
  return o.servers.filter((s) => s.env === 'production').map(serverUrl);
}

/** Fresh secrets and a free internal port range for a throw-away production stack (tests, benchmarks). */
export async function throwawayProductionEnv(): Promise<Record<string, string>> {
  const values = freshSecrets();
  // Temporal stores membership ports as a SQL smallint: the range stays under 32768
  values.KAIZEN_PRODUCTION_PORT_BASE = String(await freePortRange(PRODUCTION_PORT_COUNT, 20_000, 32_000));
  return values;
}
