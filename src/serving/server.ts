// The model server: predictions over HTTP for the models the registry's alias (the server's env)
// points to. Built apart from listen() so tests drive it with app.inject().
//
//   POST /v1/models/<model>:predict   {"instances": [{feature: value}]} → {"predictions", "model_version"}
//   GET  /v1/models/<model>           version, lineage summary, metrics, input schema
//   GET  /healthz  /readyz  /metrics
//   GET  /admin/models   POST /admin/models/<model>/reload   (Authorization: Bearer <admin token>)
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { KaizenError } from '../errors';
import { currentBackend } from '../ml/backend';
import { predict, type Prediction } from '../ml/bundle';
import { bearerTokenChecker } from './auth';
import { errorBody, toHttpError } from './http-errors';
import { createServingMetrics, NO_VERSION, UNKNOWN_MODEL } from './metrics';
import { ModelHost, type ModelSource, type ServedModel } from './model-host';
import {
  DEFAULT_LIMITS,
  instancesOf,
  validateInstances,
  type InputSchema,
  type ServingLimits,
} from './schema';

export type ServingEnv = 'production' | 'staging';

/** A served prediction, for observers such as a prediction logger (called synchronously; must not throw). */
export interface PredictEvent {
  model: string;
  version: number;
  instances: readonly Record<string, unknown>[];
  predictions: readonly Prediction[];
  at: Date;
}

export interface ServerDeps {
  /** The model registry (a ModelRegistry, or anything with `read` and a sha256-checking `loadArtifact`). */
  registry: ModelSource;
  env: ServingEnv;
  /** KAIZEN_ADMIN_TOKEN; empty disables the admin API. */
  adminToken: string;
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
  onPredict?: (event: PredictEvent) => void;
}

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
  };
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const limits: ServingLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const alias = deps.alias ?? deps.env;
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: limits.bodyLimitBytes,
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
  });
  const checkAdmin = bearerTokenChecker(deps.adminToken);
  /** The version that answered each predict request, for its metrics labels. */
  const answeredBy = new WeakMap<FastifyRequest, number>();

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
  app.addHook('onReady', async () => host.start());
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    if (closing && request.url !== '/healthz') {
      reply.header('connection', 'close');
      throw new KaizenError('NotReady', 'the server is shutting down');
    }
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  // Runs after the server stopped listening and the in-flight requests finished.
  app.addHook('onClose', async () => host.stop());

  app.get('/healthz', async () => ({ status: 'ok' }));

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
      onResponse: async (request, reply) => {
        const name = (request.params as { model?: string }).model ?? '';
        const served = host.serves(name);
        const version = answeredBy.get(request) ?? (served ? host.peek(name)?.version.version : undefined);
        const labels = {
          model: served ? name : UNKNOWN_MODEL,
          version: version === undefined ? NO_VERSION : String(version),
          status: String(reply.statusCode),
        };
        metrics.requests.inc(labels);
        metrics.latency.observe(labels, reply.elapsedTime / 1000);
      },
    },
    async (request) => {
      const name = modelParam(request);
      const instances = instancesOf(request.body, limits);
      const lease = await host.acquire(name);
      try {
        const { name: model, version, bundle } = lease.model;
        answeredBy.set(request, version.version);
        validateInstances(bundle.transforms, instances);
        const { predictions } = predict(bundle, instances);
        metrics.instances.inc({ model, version: String(version.version) }, instances.length);
        if (deps.onPredict) {
          try {
            deps.onPredict({ model, version: version.version, instances, predictions, at: new Date() });
          } catch (err) {
            request.log.warn({ err }, 'onPredict observer failed');
          }
        }
        return { model, model_version: version.version, predictions };
      } finally {
        lease.release();
      }
    },
  );

  void app.register(
    async (admin) => {
      admin.addHook('onRequest', async (request) => checkAdmin(request.headers.authorization));
      admin.get('/models', async () => host.status());
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
