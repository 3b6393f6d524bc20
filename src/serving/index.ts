export {
  buildServer,
  modelInfo,
  type ModelInfo,
  type ServerDeps,
  type ServingEnv,
} from './server';
export {
  ModelHost,
  type HostStatus,
  type ModelLease,
  type ModelSource,
  type ServedModel,
} from './model-host';
export { createServingMetrics, type ServingMetrics } from './metrics';
export { DEFAULT_LIMITS, describeInputSchema, type InputSchema, type ServingLimits } from './schema';
export { toHttpError, type ErrorBody } from './http-errors';
export {
  postPredict,
  predictionOutputs,
  predictUrl,
  reloadModel,
  waitUntilServing,
  type PredictResponse,
  type PredictResult,
} from './client';
export {
  judgeLoadTest,
  runLoadTest,
  type LoadTestInput,
  type LoadTestMetrics,
  type LoadTestReport,
  type LoadTestThresholds,
} from './load-test';
export { checkServedMatchesOffline, type ServedCheckInput, type ServedCheckReport } from './served-check';
