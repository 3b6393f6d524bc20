// The ML module's public API: backend choice, dataset encoding, the model factory, training,
// evaluation and the model bundle. Usable without Temporal.
export {
  BACKEND_ORDER,
  currentBackend,
  ensureBackend,
  selectBackend,
  type BackendInfo,
  type BackendName,
} from './backend';
export {
  BUNDLE_FILE,
  baselinePredict,
  computeBaseline,
  deserializeBundle,
  disposeBundle,
  loadBundle,
  predict,
  saveBundle,
  serializeBundle,
  type Baseline,
  type BundleMetadata,
  type ModelBundle,
  type Prediction,
} from './bundle';
export {
  encodeColumns,
  encodeRows,
  encodeTarget,
  readDatasetMeta,
  readSplit,
  type DatasetMeta,
  type EncodedFeatures,
  type EncodedSplit,
  type EncodedTarget,
  type SplitName,
} from './dataset';
export { evaluateModel, scoreOutputs } from './evaluate';
export * from './metrics';
export {
  ONE_HOT_MAX_DEPTH,
  buildModel,
  describeArchitecture,
  modelInputs,
  predictEncoded,
  type ModelArchitecture,
} from './model';
export {
  deserializeCheckpoint,
  serializeCheckpoint,
  trainEncoded,
  trainModel,
  validateTrainSpec,
  type Checkpoint,
  type LoopState,
  type ProgressReport,
  type TrainEncodedInput,
  type TrainInput,
  type TrainResult,
} from './train';
