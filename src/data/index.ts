// The data stage: prepare, validate, profile, split and version datasets (DuckDB; no Temporal here).
export {
  DEFAULT_SPLIT,
  DEFAULT_VALIDATION_THRESHOLDS,
  prepareDataset,
  prepareLocal,
  withDataDefaults,
  type PrepareDatasetInput,
  type PreparedLocal,
  type PrepareLocalInput,
  type StepTimings,
} from './prepare';
export {
  DATASET_FILES,
  DATASET_FORMAT,
  DATASETS_PREFIX,
  downloadDataset,
  loadDatasetDir,
  MANIFEST_FILE,
  publishDataset,
  readProfile,
  readRemoteManifest,
  readRemoteProfile,
  SPLIT_FILES,
  type DatasetManifest,
  type DatasetRows,
  type FileEntry,
  type LoadedDataset,
} from './dataset';
export { detectFormat, type SourceIdentity } from './source';
export { luhnValid, maskValue, piiByName } from './pii';
