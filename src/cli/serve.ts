// `kaizen serve --env production|staging [--port N] [--host H] [--models a,b]` and
// `kaizen predict <model> --input '<json>' [--env production|staging] [--json]`.
import { readFile } from 'node:fs/promises';
import type { KaizenConfig } from '../config';
import { parseDurationMs } from '../duration';
import { KaizenError, errorMessage, isKaizenError } from '../errors';
import { ensureBackend, selectBackend, type BackendName } from '../ml/backend';
import type { Prediction } from '../ml/bundle';
import { advertisedUrl } from '../serving/replicas';
import { ModelRegistry } from '../registry/registry';
import { postPredict } from '../serving/client';
import { DEFAULT_FALLBACK } from '../serving/fallback';
import { checkExposure } from '../serving/auth';
import { DEFAULT_FEEDBACK_MEMORY } from '../serving/feedback-memory';
import { DEFAULT_PREDICTION_LOG_BYTES } from '../serving/prediction-log';
import { buildServer, DEFAULT_TIMEOUTS, type ServerTimeouts, type ServingEnv } from '../serving/server';
import { OffThreadWrites } from '../storage/off-thread-writes';
import { createObjectStore } from '../storage/object-store';
import { CliExit, fmtNum, table, type Output } from './output';

/** The line `kaizen serve` prints on stdout once it accepts requests. */
export const SERVER_READY_LINE = 'kaizen server ready';

const ENVS: readonly ServingEnv[] = ['production', 'staging'];

export interface ServeOptions {
  env: ServingEnv;
  /** Default: the port of cfg.servers[env]. */
  port?: number;
  /** Default: the host of cfg.servers[env]. */
  host?: string;
  /** Models to load at start (readiness waits for them); others load on their first request. */
  models?: string[];
  /** tfjs backend; default the best available (tensorflow, wasm, cpu). */
  backend?: BackendName;
  /** Registry poll period; default KAIZEN_SERVE_REFRESH_MS or 2000. */
  refreshIntervalMs?: number;
}

function checkEnv(env: string): ServingEnv {
  if (!ENVS.includes(env as ServingEnv))
    throw new CliExit(`--env must be production or staging, got "${env}"`);
  return env as ServingEnv;
}

function endpointOf(cfg: KaizenConfig, env: ServingEnv): URL {
  const raw = cfg.servers[env];
  try {
    return new URL(raw);
  } catch {
    throw new CliExit(`KAIZEN_${env.toUpperCase()}_URL is not a URL: "${raw}"`);
  }
}

/**
 * Runs a model server until SIGINT or SIGTERM, then stops accepting requests, lets in-flight ones
 * finish (at most 10 s) and returns 0. A second signal exits at once.
 */
export async function serveCommand(cfg: KaizenConfig, opts: ServeOptions): Promise<number> {
  const env = checkEnv(opts.env);
  const endpoint = endpointOf(cfg, env);
  const port = opts.port ?? Number(endpoint.port || (endpoint.protocol === 'https:' ? 443 : 80));
  const host = opts.host ?? endpoint.hostname;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliExit(`--port must be a port number, got ${port}`);
  const refreshEnv = process.env.KAIZEN_SERVE_REFRESH_MS;
  const refreshIntervalMs = opts.refreshIntervalMs ?? (refreshEnv ? Number(refreshEnv) : undefined);
  if (refreshIntervalMs !== undefined && !(refreshIntervalMs >= 0)) {
    throw new CliExit(`KAIZEN_SERVE_REFRESH_MS must be a number of milliseconds, got "${refreshEnv}"`);
  }

  const serving = servingSettings(env, process.env);
  // before anything else: a server reachable from other machines needs real secrets
  const { warnings } = checkExposure({
    host,
    adminToken: cfg.adminToken,
    feedbackToken: cfg.feedbackToken,
    s3: cfg.s3,
  });

  // choose the backend before listening, so the first model load does not pay for it
  if (opts.backend) await selectBackend(opts.backend);
  else await ensureBackend();

  const store = createObjectStore(cfg);
  const registry = new ModelRegistry(store);
  // the prediction log's objects are hashed and sent from a thread of their own, off the event loop
  const writes = serving.predictionLog ? new OffThreadWrites(cfg.s3, store) : null;
  const app = buildServer({
    registry,
    env,
    adminToken: cfg.adminToken,
    feedbackToken: cfg.feedbackToken,
    timeouts: serving.timeouts,
    feedbackMemory: serving.feedbackMemory,
    models: opts.models,
    refreshIntervalMs,
    logger: { level: process.env.KAIZEN_LOG_LEVEL ?? 'info', base: { service: 'kaizen-server', env } },
    fallback: serving.fallback,
    faultInjection: serving.faultInjection,
    // every replica registers, so analyses read them all and feedback finds the one that answered
    replicas: { store, url: (a) => advertisedUrl(host, a.port, cfg.servers.advertise || undefined) },
    ...(serving.predictionLog
      ? {
          predictionLog: {
            sink: writes ?? store,
            windowMs: serving.predictionLog.windowMs,
            sensitiveColumns: serving.predictionLog.sensitiveColumns,
            maxBufferedBytes: serving.predictionLog.maxBufferedBytes,
          },
        }
      : {}),
  });

  for (const w of warnings) app.log.warn(w);
  let address: string;
  try {
    address = await app.listen({ port, host });
  } catch (err) {
    await app.close().catch(() => undefined);
    await writes?.close();
    if ((err as { code?: string }).code === 'EADDRINUSE') {
      throw new CliExit(
        `port ${port} on ${host} is in use; pass --port or set KAIZEN_${env.toUpperCase()}_URL`,
      );
    }
    throw err;
  }
  process.stdout.write(`${SERVER_READY_LINE} (${env}, ${address})\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        app.log.warn({ signal }, 'second signal; exiting without waiting');
        process.exit(130);
      }
      stopping = true;
      app.log.info({ signal }, 'shutting down: finishing in-flight requests');
      const force = setTimeout(() => {
        app.log.error('in-flight requests did not finish within 10 s; exiting');
        process.exit(1);
      }, 10_000);
      force.unref();
      app
        .close()
        .then(() => writes?.close())
        .then(
          () => {
            clearTimeout(force);
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
            resolve(0);
          },
          (err: unknown) => {
            app.log.error({ err }, 'error while shutting down');
            resolve(1);
          },
        );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export interface ServingSettings {
  fallback: { enabled: boolean; iqrMultiplier: number; maxUnseenCategoryShare: number };
  predictionLog: { windowMs: number; sensitiveColumns: string[]; maxBufferedBytes: number } | null;
  faultInjection: boolean;
  feedbackMemory: { maxEntries: number; maxBytes: number };
  timeouts: ServerTimeouts;
}

function onOff(name: string, raw: string | undefined, dflt: boolean): boolean {
  if (raw === undefined || raw === '') return dflt;
  if (/^(1|on|true|yes)$/i.test(raw)) return true;
  if (/^(0|off|false|no)$/i.test(raw)) return false;
  throw new CliExit(`${name} must be on or off, got "${raw}"`);
}

function positive(name: string, raw: string | undefined, dflt: number, max = Infinity): number {
  if (raw === undefined || raw === '') return dflt;
  const x = Number(raw);
  if (!(x > 0 && x <= max))
    throw new CliExit(
      `${name} must be a number above 0${max < Infinity ? ` and at most ${max}` : ''}, got "${raw}"`,
    );
  return x;
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** A byte size such as 67108864, "64MiB" or "1GB". */
export function parseBytes(raw: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return null;
  return Math.floor(Number(m[1]) * unit);
}

function bytesSetting(name: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined || raw === '') return dflt;
  const x = parseBytes(raw);
  if (x === null || x < 1024)
    throw new CliExit(`${name} must be a size of at least 1KiB such as "64MiB", got "${raw}"`);
  return x;
}

function durationSetting(name: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined || raw === '') return dflt;
  const ms = parseDurationMs(raw);
  if (ms === null || !(ms >= 1000))
    throw new CliExit(`${name} must be a duration of at least 1s such as "30s", got "${raw}"`);
  return Math.round(ms);
}

/**
 * The server's behaviour from the environment. Production answers out-of-profile rows with the
 * naive baseline and logs every prediction; staging does neither by default, because its check
 * compares served predictions with offline ones and its load test is not real traffic.
 */
export function servingSettings(env: ServingEnv, vars: NodeJS.ProcessEnv): ServingSettings {
  const prod = env === 'production';
  const windowRaw = vars.KAIZEN_PREDICTION_LOG_WINDOW;
  const windowMs = windowRaw ? parseDurationMs(windowRaw) : 60_000;
  if (windowMs === null || !(windowMs >= 100)) {
    throw new CliExit(
      `KAIZEN_PREDICTION_LOG_WINDOW must be a duration of at least 100ms such as "60s", got "${windowRaw}"`,
    );
  }
  const sensitiveColumns = (vars.KAIZEN_SENSITIVE_COLUMNS ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  return {
    fallback: {
      enabled: onOff('KAIZEN_FALLBACK', vars.KAIZEN_FALLBACK, prod),
      iqrMultiplier: positive(
        'KAIZEN_FALLBACK_IQR',
        vars.KAIZEN_FALLBACK_IQR,
        DEFAULT_FALLBACK.iqrMultiplier,
      ),
      maxUnseenCategoryShare: positive(
        'KAIZEN_FALLBACK_UNSEEN_SHARE',
        vars.KAIZEN_FALLBACK_UNSEEN_SHARE,
        DEFAULT_FALLBACK.maxUnseenCategoryShare,
        1,
      ),
    },
    predictionLog: onOff('KAIZEN_PREDICTION_LOG', vars.KAIZEN_PREDICTION_LOG, prod)
      ? {
          windowMs,
          sensitiveColumns,
          maxBufferedBytes: bytesSetting(
            'KAIZEN_PREDICTION_LOG_BUFFER_BYTES',
            vars.KAIZEN_PREDICTION_LOG_BUFFER_BYTES,
            DEFAULT_PREDICTION_LOG_BYTES,
          ),
        }
      : null,
    faultInjection: onOff('KAIZEN_FAULT_INJECTION', vars.KAIZEN_FAULT_INJECTION, false),
    feedbackMemory: {
      maxEntries: Math.floor(
        positive(
          'KAIZEN_FEEDBACK_MEMORY_ENTRIES',
          vars.KAIZEN_FEEDBACK_MEMORY_ENTRIES,
          DEFAULT_FEEDBACK_MEMORY.maxEntries,
          10_000_000,
        ),
      ),
      maxBytes: bytesSetting(
        'KAIZEN_FEEDBACK_MEMORY_BYTES',
        vars.KAIZEN_FEEDBACK_MEMORY_BYTES,
        DEFAULT_FEEDBACK_MEMORY.maxBytes,
      ),
    },
    timeouts: {
      requestMs: durationSetting(
        'KAIZEN_REQUEST_TIMEOUT',
        vars.KAIZEN_REQUEST_TIMEOUT,
        DEFAULT_TIMEOUTS.requestMs,
      ),
      keepAliveMs: durationSetting(
        'KAIZEN_KEEP_ALIVE_TIMEOUT',
        vars.KAIZEN_KEEP_ALIVE_TIMEOUT,
        DEFAULT_TIMEOUTS.keepAliveMs,
      ),
    },
  };
}

export interface PredictOptions {
  /** One JSON object of feature values, an array of them, or `@file.json`. */
  input: string;
  env?: ServingEnv;
  /** Default 10 s. */
  timeoutMs?: number;
}

async function parseInput(input: string): Promise<Record<string, unknown>[]> {
  let text = input;
  if (input.startsWith('@')) {
    try {
      text = await readFile(input.slice(1), 'utf8');
    } catch (err) {
      throw new CliExit(
        `--input ${input}: cannot read the file (${(err as { code?: string }).code ?? errorMessage(err)})`,
      );
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliExit(`--input is not valid JSON: ${errorMessage(err)}`);
  }
  const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(value)) return [value as Record<string, unknown>];
  if (Array.isArray(value)) {
    if (value.length === 0)
      throw new CliExit('--input is an empty array; give at least one object of feature values');
    const bad = value.findIndex((v) => !isObject(v));
    if (bad >= 0) throw new CliExit(`--input[${bad}] is not an object of feature values`);
    return value as Record<string, unknown>[];
  }
  throw new CliExit('--input must be a JSON object of feature values or an array of them');
}

function describePrediction(p: Prediction): [string, string] {
  if ('value' in p) return ['', fmtNum(p.value)];
  if ('probability' in p) return [p.label, fmtNum(p.probability)];
  return [p.label, fmtNum(p.probabilities[p.label])];
}

/** Sends instances to the env's model server and prints the predictions. */
export async function predictCommand(
  cfg: KaizenConfig,
  model: string,
  opts: PredictOptions,
  out: Output,
): Promise<number> {
  const env = checkEnv(opts.env ?? 'production');
  const instances = await parseInput(opts.input);
  const url = endpointOf(cfg, env).toString().replace(/\/$/, '');
  let res;
  try {
    res = await postPredict(url, model, instances, { timeoutMs: opts.timeoutMs });
  } catch (err) {
    if (isKaizenError(err) && err.type === 'NotReady') {
      throw new CliExit(
        `the ${env} model server at ${url} is not reachable (${String(err.details?.reason ?? err.message)}); start it with \`kaizen dev up\` or \`kaizen serve --env ${env}\``,
      );
    }
    throw err;
  }
  if (!res.ok) {
    const doc = { error: res.error };
    throw new CliExit(`${env} server (${res.status} ${res.error.type}): ${res.error.message}`, 1, doc);
  }
  const body = res.body;
  out.result({ ...body, env }, () => {
    const regression = body.predictions.some((p) => 'value' in p);
    const header = regression ? ['#', 'value'] : ['#', 'label', 'probability'];
    const rows = body.predictions.map((p, i) => {
      const [label, number] = describePrediction(p);
      return regression ? [String(i), number] : [String(i), label, number];
    });
    return `${body.model} version ${body.model_version} (${env})\n${table([header, ...rows])}`;
  });
  return 0;
}

/** `--models a,b` → names. */
export function parseModelList(list: string | undefined): string[] | undefined {
  if (list === undefined) return undefined;
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(n))
      throw new KaizenError('SpecInvalid', `--models: "${n}" is not a model name`);
  }
  return names;
}
