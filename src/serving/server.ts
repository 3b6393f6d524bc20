// The model server: predictions over HTTP for the models the registry's alias (the server's env)
// points to. Built apart from listen() so tests drive it with app.inject().
//
//   POST /v1/models/<model>:predict   {"instances": [{feature: value}]} → {"predictions", "model_version"}
//   GET  /v1/models/<model>           version, lineage summary, metrics, input schema
//   GET  /healthz  /readyz  /metrics
//   GET  /admin/models   POST /admin/models/<model>/reload   (Authorization: Bearer <admin token>)
//   GET|PUT /admin/models/<model>/routing   traffic split among versions (kept in the registry)
//   POST /v1/models/<model>:feedback (or /feedback)   ground truth for a logged prediction, once per
//        request id (Authorization: Bearer <feedback token or admin token>)
//   GET|PUT|DELETE /admin/models/<model>/faults   injected errors / latency (only with faultInjection)
//
// A predict body may carry `"key"` (or the header `x-kaizen-key`): requests with one key always go
// to the same version of a split; without one a request goes to a weighted-random version.
import { randomUUID } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { KaizenError } from '../errors';
import { productionOf, type ChangeMeta, type ProductionOutcome, type ProductionRequest } from '../registry/production';
import { currentBackend } from '../ml/backend';
import { baselinePredict, predict, type Prediction } from '../ml/bundle';
import { bearerTokenChecker } from './auth';
import { errorBody, toHttpError } from './http-errors';
import { createServingMetrics, NO_VERSION, UNKNOWN_MODEL } from './metrics';
import { ModelHost, type ModelSource, type ServedModel } from './model-host';
import { DEFAULT_MICRO_BATCHING, MicroBatcher, type MicroBatchingOptions } from './batcher';
import { DEFAULT_FALLBACK, outOfProfile, type FallbackOptions } from './fallback';
import { FaultInjector } from './faults';
import { FeedbackMemory, issuerOf, newServerId, type FeedbackMemoryOptions } from './feedback-memory';
import { FORWARDED_HEADER, ReplicaDirectory, ReplicaRegistration, forwardFeedback, type ReplicaStore } from './replicas';
import { PredictionLog, type PredictionLogOptions } from './prediction-log';
import { LiveMetrics, parseWindow, predictionScalar } from './live-metrics';
import { routingKeyOf } from './routing';
import {
  DEFAULT_LIMITS,
  instancesOf,
  validateInstances,
  type InputSchema,
  type ServingLimits,
} from './schema';

export type ServingEnv = 'production' | 'staging';

declare module 'fastify' {
  interface FastifyRequest {
    /** What a predict request did (set by its handler), for its metrics once answered. */
    kaizenAnswered: Answered | null;
  }
}

export interface ServerDeps {
  /** The model registry (a ModelRegistry, or anything with `read` and a sha256-checking `loadArtifact`). */
  registry: ModelSource;
  env: ServingEnv;
  /** KAIZEN_ADMIN_TOKEN; empty disables the admin API. */
  adminToken: string;
  /** KAIZEN_FEEDBACK_TOKEN: feedback takes it or the admin token; empty: only the admin token. */
  feedbackToken?: string;
  /** Connection timeouts (slow clients cannot hold a connection forever). */
  timeouts?: Partial<ServerTimeouts>;
  /** Models loaded at start (readiness waits for them); any other is loaded on its first request. */
  models?: string[];
  limits?: Partial<ServingLimits>;
  /** Fastify's logger option (pino): false in tests, `{ level: 'info' }` in `kaizen serve`. */
  logger?: FastifyServerOptions['logger'];
  /** Log every request (info); off by default: the metrics count them. */
  requestLogging?: boolean;
  /** Registry poll period for alias changes; 0 disables it. Default 2000 ms. */
  refreshIntervalMs?: number;
  /** Registry alias to follow instead of `env` (e.g. `canary`). */
  alias?: string;
  /** Process metrics (CPU, memory, event loop) in /metrics besides Kaizen's. Default true. */
  defaultMetrics?: boolean;
  /**
   * Naive fallback for rows outside the training profile (see src/serving/fallback.ts). Off unless
   * `enabled: true`; the kill switch works either way.
   */
  fallback?: Partial<FallbackOptions>;
  /** Micro-batching of concurrent requests per version (on by default; `{ enabled: false }` turns it off). */
  microBatching?: Partial<MicroBatchingOptions>;
  /**
   * The prediction log (object store sink, window, buffer bound, sensitive columns). Without it
   * nothing is logged; feedback still joins predictions held in memory.
   */
  predictionLog?: Omit<PredictionLogOptions, 'instanceId' | 'onDrop' | 'onError'> & { instanceId?: string };
  /** Predictions remembered for feedback joins: at most so many, and so many bytes (see feedback-memory.ts). */
  feedbackMemory?: Omit<FeedbackMemoryOptions, 'onEvict'>;
  /** How far back GET /admin/models/<model>/metrics can look, in seconds. Default 600. */
  liveMetricsRetentionSeconds?: number;
  /** Serve /admin/models/<model>/faults (rehearsing a bad release). Off by default. */
  faultInjection?: boolean;
  /** This server's id, the prefix of its request ids; default a new one (newServerId()). */
  serverId?: string;
  /**
   * Register in the object store (servers/<alias>/<id>.json, with a heartbeat) so analyses find every
   * replica, and forward feedback for another replica's request id to it. `url` is where peers reach
   * this server directly; a function gets the listening address once the server listens.
   */
  replicas?: { store: ReplicaStore; url: string | ((address: { host: string; port: number }) => string); intervalMs?: number };
}

export interface ServerTimeouts {
  /** A request must arrive whole within this (headers and body). Default 30 s. */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. Default 72 s (longer than common load balancers' idle timeouts). */
  keepAliveMs: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = { requestMs: 30_000, keepAliveMs: 72_000 };

/** What a predict request did, for its metrics once the response is sent. */
interface Answered {
  version: number;
  instances: number;
  predictionSum: number;
  predictionCount: number;
  fallback: boolean;
}

/** Fastify's own type for a serialised JSON body. */
const JSON_TYPE = 'application/json; charset=utf-8';

/** Model names as the pipeline spec allows them. */
const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export interface ModelInfo {
  model: string;
  alias: string;
  version: number;
  task: string;
  target: string;
  classes: string[] | null;
  created_at: string;
  loaded_at: string;
  artifact_sha256: string;
  lineage: {
    data_version: string;
    dataset_uri: string;
    workflow_id: string;
    spec_hash: string;
    git_commit: string | null;
    package_version: string;
    training_backend: string;
    epochs: number;
    approval: unknown;
  };
  metrics: { test: Record<string, number>; baseline: Record<string, number> };
  input_schema: InputSchema;
  serving_backend: string | null;
  /** `compiled` (the plain-JS forward pass) or `tfjs`, with why tfjs. */
  inference: { path: 'compiled' | 'tfjs'; reason: string | null };
}

export function modelInfo(m: ServedModel, alias: string): ModelInfo {
  const v = m.version;
  return {
    model: m.name,
    alias,
    version: v.version,
    task: v.task,
    target: m.bundle.schema.target,
    classes: m.bundle.transforms.classes ?? null,
    created_at: v.createdAt,
    loaded_at: m.loadedAt.toISOString(),
    artifact_sha256: v.artifactSha256,
    lineage: {
      data_version: v.lineage.dataVersion,
      dataset_uri: v.lineage.datasetUri,
      workflow_id: v.lineage.workflowId,
      spec_hash: v.lineage.specHash,
      git_commit: v.lineage.code.gitCommit,
      package_version: v.lineage.code.packageVersion,
      training_backend: v.training.backend,
      epochs: v.training.epochs,
      approval: v.lineage.approval ?? null,
    },
    metrics: { test: v.metrics.test, baseline: v.metrics.baseline },
    input_schema: m.inputSchema,
    serving_backend: currentBackend()?.name ?? null,
    inference: m.bundle.compiled?.forward
      ? { path: 'compiled', reason: null }
      : { path: 'tfjs', reason: m.bundle.compiled?.reason ?? 'the bundle was not loaded from an artifact' },
  };
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const limits: ServingLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const alias = deps.alias ?? deps.env;
  const given: ServerTimeouts = { ...DEFAULT_TIMEOUTS, ...deps.timeouts };
  // whole milliseconds: Node and Fastify refuse fractions
  const timeouts: ServerTimeouts = { requestMs: Math.round(given.requestMs), keepAliveMs: Math.round(given.keepAliveMs) };
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: limits.bodyLimitBytes,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // Node checks the request timeout on a timer: often enough that a slow client is cut off near it
    // (Node checks headersTimeout against its own requestTimeout when the server is created)
    http: {
      requestTimeout: timeouts.requestMs,
      headersTimeout: timeouts.requestMs,
      connectionsCheckingInterval: Math.max(250, Math.min(5000, Math.floor(timeouts.requestMs / 4))),
    },
    logController: new LogController({ disableRequestLogging: !deps.requestLogging }),
    // fastify's own 503 while closing has another body shape; the hooks below answer instead
    return503OnClosing: false,
  });
  const metrics = createServingMetrics({ env: deps.env, defaultMetrics: deps.defaultMetrics });
  const host = new ModelHost({
    source: deps.registry,
    alias,
    metrics,
    log: app.log,
    pinned: deps.models ?? [],
    refreshIntervalMs: deps.refreshIntervalMs,
    fallback: { ...DEFAULT_FALLBACK, enabled: false, ...deps.fallback },
  });
  const checkAdmin = bearerTokenChecker(deps.adminToken);
  // feedback decides canaries and experiments: only a label source holding a token may send it
  const checkFeedback = bearerTokenChecker(
    [deps.adminToken, deps.feedbackToken ?? ''],
    'KAIZEN_FEEDBACK_TOKEN or KAIZEN_ADMIN_TOKEN',
  );
  // the version that answered a predict request, for its metrics labels
  app.decorateRequest('kaizenAnswered', null);
  const live = new LiveMetrics({ retentionSeconds: deps.liveMetricsRetentionSeconds });
  // at the entry bound every request evicts one: the labelled series are taken once
  const evictedBy = { entries: metrics.feedbackEvictions.labels('entries'), bytes: metrics.feedbackEvictions.labels('bytes') };
  const serverId = deps.serverId ?? newServerId();
  const recent = new FeedbackMemory({
    ...deps.feedbackMemory,
    prefix: serverId,
    onEvict: (reason, n) => evictedBy[reason].inc(n),
  });
  const faults = new FaultInjector();
  const predictionLog = deps.predictionLog
    ? new PredictionLog({
        ...deps.predictionLog,
        instanceId: deps.predictionLog.instanceId ?? randomUUID().slice(0, 8),
        onDrop: (model, n, reason) => metrics.predictionLogDrops.inc({ model, reason }, n),
        onError: (err) => app.log.warn({ err }, 'prediction log write failed; records dropped'),
      })
    : null;
  const batching: MicroBatchingOptions = { ...DEFAULT_MICRO_BATCHING, ...deps.microBatching };
  // one lookup a request for both series of a (model, version, status)
  const requestSeries = new Map<
    string,
    { requests: { inc(): void }; latency: { observe(v: number): void } }
  >();
  const versionSeries = new Map<
    string,
    { instances: { inc(n: number): void }; prediction: { observe(v: number): void } }
  >();
  const seriesOf = (model: string, version: string, status: string) => {
    const key = `${model}\u0000${version}\u0000${status}`;
    let s = requestSeries.get(key);
    if (!s) {
      if (requestSeries.size > 10_000) requestSeries.clear();
      s = {
        requests: metrics.requests.labels(model, version, status),
        latency: metrics.latency.labels(model, version, status),
      };
      requestSeries.set(key, s);
    }
    return s;
  };
  const versionSeriesOf = (model: string, version: string) => {
    const key = `${model}\u0000${version}`;
    let s = versionSeries.get(key);
    if (!s) {
      if (versionSeries.size > 10_000) versionSeries.clear();
      s = {
        instances: metrics.instances.labels(model, version),
        prediction: metrics.predictionValue.labels(model, version),
      };
      versionSeries.set(key, s);
    }
    return s;
  };
  /**
   * How a served version is run: one model call per request, or calls shared with concurrent
   * requests (micro-batching). Built once per version, with its labelled batch-size histogram.
   */
  const runners = new WeakMap<
    ServedModel,
    (rows: readonly Record<string, unknown>[]) => Prediction[] | Promise<Prediction[]>
  >();
  const runModel = (
    served: ServedModel,
    rows: readonly Record<string, unknown>[],
  ): Prediction[] | Promise<Prediction[]> => {
    let run = runners.get(served);
    if (!run) {
      const batchRows = metrics.batchRows.labels(served.name, String(served.version.version));
      const once = (r: readonly Record<string, unknown>[]) => predict(served.bundle, r).predictions;
      if (batching.enabled) {
        const batcher = new MicroBatcher(once, batching, (n) => batchRows.observe(n));
        run = (r) => batcher.predict(r);
      } else {
        run = (r) => {
          batchRows.observe(r.length);
          return once(r);
        };
      }
      runners.set(served, run);
    }
    return run(rows);
  };

  // Only JSON is accepted: without the text/plain parser other bodies get 415.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err, request, reply) => {
    const { status, body } = toHttpError(err, limits);
    // 503 (nothing loaded yet, shutting down) is expected and already logged by the model host
    if (status === 503) request.log.warn(body.error.message);
    else if (status >= 500) request.log.error({ err }, body.error.message);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const url = request.url.length > 200 ? `${request.url.slice(0, 200)}…` : request.url;
    const { status, body } = errorBody('RouteNotFound', `no route ${request.method} ${url}`);
    return reply.code(status).send(body);
  });

  // Shutdown: from close() on, new requests get 503 NotReady (and readiness fails) while the
  // in-flight ones finish; every response then closes its connection so close() can complete.
  let closing = false;
  app.addHook('onReady', async () => {
    host.start();
    predictionLog?.start();
  });
  let registration: ReplicaRegistration | null = null;
  const directory = deps.replicas ? new ReplicaDirectory(deps.replicas.store, alias) : null;
  if (deps.replicas) {
    const r = deps.replicas;
    app.addHook('onListen', async () => {
      const a = app.server.address();
      const address = typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: '127.0.0.1', port: 0 };
      registration = new ReplicaRegistration({
        store: r.store,
        env: alias,
        id: serverId,
        url: typeof r.url === 'function' ? r.url(address) : r.url,
        intervalMs: r.intervalMs,
        onError: (err) => app.log.warn({ err }, 'replica registration write failed'),
      });
      await registration.start();
    });
  }
  app.addHook('preClose', async () => {
    closing = true;
    // leave the directory first: analyses stop counting on this replica while it drains
    await registration?.stop();
  });
  // (callback hooks: an async one costs every request a promise)
  app.addHook('onRequest', (request, reply, done) => {
    if (closing && request.url !== '/healthz') {
      reply.header('connection', 'close');
      done(new KaizenError('NotReady', 'the server is shutting down'));
      return;
    }
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  // Runs after the server stopped listening and the in-flight requests finished.
  app.addHook('onClose', async () => {
    await predictionLog?.stop();
    await host.stop();
  });

  app.get('/healthz', async () => ({ status: 'ok', server_id: serverId }));

  app.get('/readyz', async (_request, reply) => {
    const r = host.readiness();
    if (r.ready) return { ready: true, alias, models: r.models };
    const waiting = r.models.filter((m) => !m.ready).map((m) => `${m.model} (${m.error})`);
    const message =
      waiting.length > 0 ? `not loaded yet: ${waiting.join(', ')}` : 'the server is shutting down';
    return reply
      .code(503)
      .send({ ready: false, alias, models: r.models, error: { type: 'NotReady', message } });
  });

  app.get('/metrics', async (_request, reply) => {
    metrics.feedbackMemoryBytes.set(recent.bytes);
    metrics.feedbackMemoryEntries.set(recent.entries);
    metrics.predictionLogBytes.set(predictionLog?.bufferedBytes ?? 0);
    metrics.tensors.set(tf.memory().numTensors);
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  const modelParam = (request: FastifyRequest): string => {
    const name = (request.params as { model: string }).model;
    if (!MODEL_NAME.test(name)) {
      const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
      throw new KaizenError(
        'ModelNotFound',
        `no model ${JSON.stringify(shown)}: model names are lower-case letters, digits, ".", "_" and "-"`,
      );
    }
    return name;
  };

  app.get('/v1/models/:model', async (request) => {
    const lease = await host.acquire(modelParam(request));
    try {
      return modelInfo(lease.model, alias);
    } finally {
      lease.release();
    }
  });

  // The literal colon of `<model>:predict`: a regex-constrained param, then `::` (an escaped ':').
  app.post(
    '/v1/models/:model(^[^:/]+)::predict',
    {
      onResponse: (request, reply, done) => {
        const name = (request.params as { model?: string }).model ?? '';
        const served = host.serves(name);
        const answered = request.kaizenAnswered;
        const version = answered?.version ?? (served ? host.peek(name)?.version.version : undefined);
        const labels = {
          model: served ? name : UNKNOWN_MODEL,
          version: version === undefined ? NO_VERSION : String(version),
          status: String(reply.statusCode),
        };
        const series = seriesOf(labels.model, labels.version, labels.status);
        series.requests.inc();
        series.latency.observe(reply.elapsedTime / 1000);
        if (served && version !== undefined) {
          live.record(name, version, {
            status: reply.statusCode,
            latencyMs: reply.elapsedTime,
            fallback: answered?.fallback ?? false,
            instances: answered?.instances ?? 0,
            predictionSum: answered?.predictionSum ?? 0,
            predictionCount: answered?.predictionCount ?? 0,
          });
        }
        done();
      },
    },
    async (request, reply) => {
      const name = modelParam(request);
      const instances = instancesOf(request.body, limits);
      const key = routingKeyOf(request.body, request.headers['x-kaizen-key']);
      // a loaded model is leased without a trip through the event loop
      const lease = host.tryAcquire(name, key) ?? (await host.acquire(name, { key }));
      try {
        const { name: model, version, bundle } = lease.model;
        const answered: Answered = {
          version: version.version,
          instances: 0,
          predictionSum: 0,
          predictionCount: 0,
          fallback: false,
        };
        request.kaizenAnswered = answered;
        const fault = faults.decide(model, version.version);
        if (fault) {
          if (fault.delayMs > 0) await new Promise((r) => setTimeout(r, fault.delayMs));
          if (fault.fail) {
            throw new KaizenError('InjectedFault', `injected failure for ${model} version ${version.version} (admin fault injection)`);
          }
        }
        validateInstances(bundle.transforms, instances);
        const versionLabel = String(version.version);
        const disabled = host.disabledState(model);
        // rows the model must not answer: all of them under the kill switch, else those out of profile
        const fallbackRows: number[] = [];
        let fallbackReason: string | null = null;
        if (disabled) {
          for (let i = 0; i < instances.length; i++) fallbackRows.push(i);
          fallbackReason = `model disabled by ${disabled.by}: ${disabled.reason}`;
        } else if (lease.model.guard) {
          for (let i = 0; i < instances.length; i++) {
            const why = outOfProfile(lease.model.guard, instances[i]!);
            if (why === null) continue;
            fallbackRows.push(i);
            fallbackReason ??= why;
          }
        }
        let predictions: Prediction[];
        if (fallbackRows.length === 0) {
          predictions = await runModel(lease.model, instances);
        } else if (fallbackRows.length === instances.length) {
          predictions = baselinePredict(bundle, instances).predictions;
        } else {
          const naive = new Set(fallbackRows);
          const modelled = await runModel(
            lease.model,
            instances.filter((_, i) => !naive.has(i)),
          );
          const base = baselinePredict(bundle, fallbackRows).predictions;
          let m = 0;
          let b = 0;
          predictions = instances.map((_, i) => (naive.has(i) ? base[b++]! : modelled[m++]!));
        }
        if (fallbackRows.length > 0) {
          answered.fallback = true;
          metrics.fallbacks.inc(
            { model, version: versionLabel, reason: disabled ? 'disabled' : 'out_of_profile' },
            fallbackRows.length,
          );
        }
        const vSeries = versionSeriesOf(model, versionLabel);
        vSeries.instances.inc(instances.length);
        answered.instances = instances.length;
        for (const p of predictions) {
          const x = predictionScalar(p);
          if (!Number.isFinite(x)) continue;
          answered.predictionSum += x;
          answered.predictionCount++;
          vSeries.prediction.observe(x);
        }
        // serialised once: the response, the feedback memory and the log share the string
        const predictionsJson = JSON.stringify(predictions);
        const requestId = recent.remember(model, version.version, predictionsJson);
        predictionLog?.log(
          {
            requestId,
            model,
            version: version.version,
            atMs: Date.now(),
            latencyMs: Math.round(reply.elapsedTime * 1000) / 1000,
            fallback: fallbackRows.length > 0,
            instances,
            predictionsJson,
          },
          lease.model.featureNames,
        );
        const head = `{"model":${JSON.stringify(model)},"model_version":${version.version},"request_id":"${requestId}","predictions":${predictionsJson}`;
        void reply.type(JSON_TYPE);
        if (fallbackRows.length === 0) return `${head},"fallback":false}`;
        return `${head},"fallback":true,"fallback_rows":${JSON.stringify(fallbackRows)},"fallback_reason":${JSON.stringify(fallbackReason)}}`;
      } finally {
        lease.release();
      }
    },
  );

  // Ground truth for an earlier prediction of this server: `label` (one row) or `labels` (one per row).
  const feedbackHandler = async (request: FastifyRequest, reply: FastifyReply) => {
    const name = modelParam(request);
    const body = request.body as { request_id?: unknown; label?: unknown; labels?: unknown } | null;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new KaizenError('InvalidInput', 'body: expected a JSON object {"request_id": "…", "label": …}');
    }
    if (typeof body.request_id !== 'string' || body.request_id.length === 0) {
      throw new KaizenError('InvalidInput', 'request_id: expected the request_id of a predict response');
    }
    const labels =
      body.labels !== undefined ? body.labels : body.label !== undefined ? [body.label] : undefined;
    if (
      !Array.isArray(labels) ||
      labels.some(
        (l) => l === null || (typeof l !== 'string' && typeof l !== 'number' && typeof l !== 'boolean'),
      )
    ) {
      throw new KaizenError(
        'InvalidInput',
        'label: expected the true value (a string, number or boolean), or labels: one per instance',
      );
    }
    const id = body.request_id;
    const issuer = issuerOf(id);
    if (directory && issuer !== null && issuer !== serverId && request.headers[FORWARDED_HEADER] === undefined) {
      // another replica answered that prediction and holds it: hand the label to it
      return forwardFeedback(directory, issuer, name, request, reply, (status) => metrics.feedbackForwarded.inc({ status: String(status) }));
    }
    const unknown = () =>
      new KaizenError(
        'InvalidInput',
        `request_id: no unjoined prediction of model "${name}" with id ${JSON.stringify(id.slice(0, 64))} on this server`,
      );
    // checked before the entry is used up, so a mistaken label can be sent again, corrected
    const entry = recent.take(id, (e) => {
      if (e.model !== name) throw unknown();
      if (labels.length !== e.predictions.length) {
        throw new KaizenError('InvalidInput', `labels: ${labels.length} labels for ${e.predictions.length} predicted instances`);
      }
    });
    if (!entry) throw unknown();
    const results = entry.predictions.map((p, i) => {
      const truth = labels[i] as string | number | boolean;
      if ('value' in p) {
        const absError = Math.abs(Number(truth) - p.value);
        live.recordFeedback(name, entry.version, { absError });
        metrics.feedback.inc({ model: name, version: String(entry.version), result: 'scored' });
        return { correct: null, abs_error: absError };
      }
      const correct = String(truth) === p.label;
      live.recordFeedback(name, entry.version, { correct });
      metrics.feedback.inc({
        model: name,
        version: String(entry.version),
        result: correct ? 'correct' : 'wrong',
      });
      return { correct, abs_error: null };
    });
    return { request_id: body.request_id, model: name, model_version: entry.version, results };
  };
  const feedbackRoute = {
    onRequest: (request: FastifyRequest, _reply: unknown, done: (err?: Error) => void) => {
      try {
        checkFeedback(request.headers.authorization);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  };
  app.post('/v1/models/:model(^[^:/]+)::feedback', feedbackRoute, feedbackHandler);
  app.post('/v1/models/:model/feedback', feedbackRoute, feedbackHandler);

  void app.register(
    async (admin) => {
      admin.addHook('onRequest', async (request) => checkAdmin(request.headers.authorization));
      admin.get('/models', async () => host.status());
      admin.get('/models/:model/metrics', async (request) => {
        const name = modelParam(request);
        const query = request.query as { window?: string; since?: string };
        if (query.since !== undefined) {
          // a cursor (unix seconds, from the previous answer's `next`): whole seconds since then
          const since = Number(query.since);
          if (!Number.isInteger(since) || since < 0) {
            throw new KaizenError('InvalidInput', `since: expected unix seconds (the previous answer's "next"), got ${JSON.stringify(query.since)}`);
          }
          return live.since(name, since);
        }
        const raw = query.window;
        const seconds = parseWindow(raw);
        if (seconds === null) {
          throw new KaizenError(
            'InvalidInput',
            `window: expected a duration such as "60s" or "5m", got ${JSON.stringify(raw)}`,
          );
        }
        if (seconds > live.retentionSeconds) {
          throw new KaizenError(
            'InvalidInput',
            `window: at most ${live.retentionSeconds}s are kept, got ${seconds}s`,
          );
        }
        return live.window(name, seconds);
      });
      /** One write of the production record; applied here at once, the other replicas follow on their next poll. */
      const changeProduction = async (name: string, request: ProductionRequest, meta: ChangeMeta) => {
        if (!deps.registry.changeProduction) throw new KaizenError('InvalidInput', 'this server cannot write the registry');
        let outcome: ProductionOutcome;
        try {
          outcome = await deps.registry.changeProduction(name, request, meta);
        } catch (err) {
          // an invalid split is the caller's mistake, not a broken spec file
          if (err instanceof KaizenError && err.type === 'SpecInvalid') throw new KaizenError('InvalidInput', err.message);
          throw err;
        }
        const refreshed = await host.refresh(name, { force: true });
        return { outcome, refreshed };
      };
      const metaOf = (body: { reason?: unknown; by?: unknown }, reason: string): ChangeMeta => ({
        reason: typeof body.reason === 'string' && body.reason ? body.reason : reason,
        by: typeof body.by === 'string' && body.by ? body.by : 'admin',
      });
      const applied = (name: string) => {
        const status = host.status().models.find((m) => m.model === name) ?? null;
        return status
          ? { version: status.version, routing: status.routing, routed_versions: status.routed_versions, unavailable_versions: status.unavailable_versions }
          : null;
      };
      const killSwitch = (disable: boolean) => async (request: FastifyRequest) => {
        const name = modelParam(request);
        const body = (request.body ?? {}) as { reason?: unknown; by?: unknown };
        const { outcome } = await changeProduction(name, { action: 'kill_switch', killSwitch: disable }, metaOf(body, disable ? 'kill switch' : 'kill switch released'));
        const state = outcome.state.killSwitch;
        return {
          model: name,
          disabled: state !== null,
          since: state?.at ?? null,
          by: state?.by ?? null,
          reason: state?.reason ?? null,
        };
      };
      admin.post('/models/:model/disable', killSwitch(true));
      admin.post('/models/:model/enable', killSwitch(false));
      admin.get('/models/:model/routing', async (request) => {
        const name = modelParam(request);
        const doc = await deps.registry.read(name);
        if (!doc) throw new KaizenError('ModelNotFound', `no model "${name}" in the registry`);
        return { model: name, alias, production: productionOf(doc), applied: applied(name) };
      });
      admin.put('/models/:model/routing', async (request) => {
        const name = modelParam(request);
        const body = (request.body ?? {}) as { weights?: unknown; warm?: unknown; reason?: unknown; by?: unknown };
        if (body.weights !== null && (typeof body.weights !== 'object' || Array.isArray(body.weights))) {
          throw new KaizenError('InvalidInput', 'weights: expected an object {"<version>": percent}, or null for all traffic to the champion');
        }
        if (body.warm !== undefined && (!Array.isArray(body.warm) || !body.warm.every((v) => Number.isInteger(v)))) {
          throw new KaizenError('InvalidInput', 'warm: expected an array of version numbers');
        }
        const doc = await deps.registry.read(name);
        const champion = doc ? productionOf(doc)?.champion : undefined;
        if (champion === undefined) throw new KaizenError('ModelNotFound', `model "${name}" has no production version to split traffic from`);
        const weights = (body.weights as Record<string, number> | null) ?? { [String(champion)]: 100 };
        const { outcome, refreshed } = await changeProduction(
          name,
          { action: 'split', weights, ...(body.warm ? { warm: body.warm as number[] } : {}), expectChampion: champion },
          metaOf(body, 'admin API'),
        );
        return {
          model: name,
          production: outcome.state,
          applied: applied(name),
          error: refreshed.error ? { type: refreshed.error.type, message: refreshed.error.message } : null,
        };
      });
      if (deps.faultInjection) {
        admin.get('/models/:model/faults', async (request) => {
          const name = modelParam(request);
          return { model: name, faults: faults.list().filter((f) => f.model === name) };
        });
        admin.put('/models/:model/faults', async (request) => {
          const name = modelParam(request);
          const rule = faults.set(name, request.body);
          request.log.warn({ rule }, 'fault injection set');
          return { model: name, fault: rule };
        });
        admin.delete('/models/:model/faults', async (request) => {
          const name = modelParam(request);
          return { model: name, cleared: faults.clear(name) };
        });
      }
      admin.post('/models/:model/reload', async (request) => {
        const name = modelParam(request);
        const outcome = await host.refresh(name, { force: true });
        if (outcome.error) {
          const serving =
            outcome.version === null
              ? `no version of "${name}" is serving`
              : `version ${outcome.version} keeps serving`;
          throw new KaizenError(outcome.error.type, `${outcome.error.message}; ${serving}`);
        }
        return {
          model: name,
          alias,
          version: outcome.version,
          previous_version: outcome.previousVersion,
          changed: outcome.changed,
        };
      });
    },
    { prefix: '/admin' },
  );

  return app;
}
