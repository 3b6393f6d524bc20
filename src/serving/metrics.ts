// Prometheus metrics of one model server, in a registry of its own (never prom-client's global
// one, so several servers in one process — tests, canaries — do not mix their counts).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics';

/** Label value for a request whose model is not served, so random names cannot grow the series. */
export const UNKNOWN_MODEL = '_unknown';
/** Label value for a request that was answered before any version was chosen. */
export const NO_VERSION = 'none';

export interface ServingMetrics {
  registry: Registry;
  // the predict path's metrics (see hot-metrics.ts)
  requests: HotCounter<'model' | 'version' | 'status'>;
  latency: HotHistogram<'model' | 'version' | 'status'>;
  instances: HotCounter<'model' | 'version'>;
  loads: Counter<'model' | 'version' | 'result'>;
  loadSeconds: Histogram<'model' | 'result'>;
  refreshErrors: Counter<'model'>;
  loadedVersion: Gauge<'model'>;
  fallbacks: Counter<'model' | 'version' | 'reason'>;
  predictionValue: HotHistogram<'model' | 'version'>;
  batchRows: HotHistogram<'model' | 'version'>;
  predictionLogDrops: Counter<'model' | 'reason'>;
  predictionLogBytes: Gauge;
  feedbackMemoryBytes: Gauge;
  feedbackMemoryEntries: Gauge;
  feedbackEvictions: HotCounter<'reason'>;
  feedbackForwarded: Counter<'status'>;
  tensors: Gauge;
  feedback: Counter<'model' | 'version' | 'result'>;
  routeUnavailable: Gauge<'model' | 'version'>;
}

export function createServingMetrics(options: { env: string; defaultMetrics?: boolean }): ServingMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ env: options.env });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new HotCounter(
      'kaizen_predict_requests_total',
      'Predict requests by model, served version and HTTP status.',
      ['model', 'version', 'status'],
      registry,
    ),
    latency: new HotHistogram(
      'kaizen_predict_duration_seconds',
      'Predict request latency, from the request arriving to the response being sent.',
      ['model', 'version', 'status'],
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registry,
    ),
    instances: new HotCounter(
      'kaizen_predict_instances_total',
      'Instances predicted (a request may carry several).',
      ['model', 'version'],
      registry,
    ),
    loads: new Counter({
      name: 'kaizen_model_loads_total',
      help: 'Model load attempts (download, sha256 check, warm-up) by result: success or failure.',
      labelNames: ['model', 'version', 'result'],
      registers: [registry],
    }),
    loadSeconds: new Histogram({
      name: 'kaizen_model_load_duration_seconds',
      help: 'Time to download, verify, build and warm up a model version.',
      labelNames: ['model', 'result'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    refreshErrors: new Counter({
      name: 'kaizen_model_refresh_errors_total',
      help: 'Failed polls of the registry (the loaded version keeps serving).',
      labelNames: ['model'],
      registers: [registry],
    }),
    loadedVersion: new Gauge({
      name: 'kaizen_model_loaded_version',
      help: 'Version of each model this server answers with (absent when none is loaded).',
      labelNames: ['model'],
      registers: [registry],
    }),
    fallbacks: new Counter({
      name: 'kaizen_predict_fallbacks_total',
      help: 'Predict requests answered by the naive baseline, by reason (out_of_profile, disabled).',
      labelNames: ['model', 'version', 'reason'],
      registers: [registry],
    }),
    predictionValue: new HotHistogram(
      'kaizen_prediction_value',
      'Distribution of the predictions: P(positive class), the regression value, or the top-class probability.',
      ['model', 'version'],
      [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1],
      registry,
    ),
    batchRows: new HotHistogram(
      'kaizen_predict_batch_rows',
      'Rows per tensor call (micro-batching joins concurrent requests of one version).',
      ['model', 'version'],
      [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000],
      registry,
    ),
    predictionLogDrops: new Counter({
      name: 'kaizen_prediction_log_dropped_total',
      help: 'Prediction records not logged, by reason: records (the record bound), bytes (the oldest waiting records, past the byte budget), write_failed; requests never wait for the log.',
      labelNames: ['model', 'reason'],
      registers: [registry],
    }),
    predictionLogBytes: new Gauge({
      name: 'kaizen_prediction_log_buffered_bytes',
      help: 'Bytes of prediction records held in memory, waiting or being written (bounded by KAIZEN_PREDICTION_LOG_BUFFER_BYTES).',
      registers: [registry],
    }),
    feedbackMemoryBytes: new Gauge({
      name: 'kaizen_feedback_memory_bytes',
      help: 'Bytes of predictions remembered for feedback joins (bounded by KAIZEN_FEEDBACK_MEMORY_BYTES).',
      registers: [registry],
    }),
    feedbackMemoryEntries: new Gauge({
      name: 'kaizen_feedback_memory_entries',
      help: 'Predictions remembered for feedback joins (bounded by KAIZEN_FEEDBACK_MEMORY_ENTRIES).',
      registers: [registry],
    }),
    tensors: new Gauge({
      name: 'kaizen_tfjs_tensors',
      help: "Tensors tfjs holds in this process (the loaded models' weights): flat while serving; growth is a leak.",
      registers: [registry],
    }),
    // at the entry bound every predict request evicts one
    feedbackEvictions: new HotCounter(
      'kaizen_feedback_memory_evicted_total',
      'Predictions forgotten before their feedback came, oldest first, by the bound that pushed them out: entries or bytes.',
      ['reason'],
      registry,
    ),
    feedbackForwarded: new Counter({
      name: 'kaizen_feedback_forwarded_total',
      help: 'Feedback for a prediction another replica made, passed to that replica, by the HTTP status it answered.',
      labelNames: ['status'],
      registers: [registry],
    }),
    feedback: new Counter({
      name: 'kaizen_feedback_total',
      help: 'Ground-truth labels joined to predictions, by result: correct, wrong or scored (regression).',
      labelNames: ['model', 'version', 'result'],
      registers: [registry],
    }),
    routeUnavailable: new Gauge({
      name: 'kaizen_route_unavailable',
      help: 'Versions the production split names that this server could not load (1): their share is answered by the champion.',
      labelNames: ['model', 'version'],
      registers: [registry],
    }),
  };
}
