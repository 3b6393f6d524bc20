import { createCanaryActivities } from './canary';
import { createDataActivities } from './data';
import type { ActivityDeps } from './deps';
import { createEvaluationActivities } from './evaluation';
import { createExperimentActivities } from './experiment';
import { createMonitoringActivities } from './monitoring';
import { createProductionActivities } from './production';
import { createRegistryActivities } from './registry';
import { createServingActivities } from './serving';
import { createTrainingActivities } from './training';

export type { ActivityDeps } from './deps';

/** All activities, built from their dependencies so tests can hand in their own. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDataActivities(deps),
    ...createTrainingActivities(deps),
    ...createEvaluationActivities(deps),
    ...createRegistryActivities(deps),
    ...createServingActivities(deps),
    ...createCanaryActivities(deps),
    ...createExperimentActivities(deps),
    ...createMonitoringActivities(deps),
    ...createProductionActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
