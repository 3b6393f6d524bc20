export * from './definitions';
export { trainingPipeline } from './training-pipeline';
