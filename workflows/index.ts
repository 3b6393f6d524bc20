export * from './definitions';
export { trainingPipeline } from './training-pipeline';
export { rollbackModel } from './rollback-model';
export { canaryRollout } from './canary-rollout';
export { championChallenger } from './champion-challenger';
export { driftMonitor } from './drift-monitor';
export { hyperparameterSearch } from './hyperparameter-search';
export { searchTrial } from './search-trial';
