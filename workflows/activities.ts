import { proxyActivities, type ActivityInterfaceFor } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ACTIVITY_OPTIONS, type ActivityName } from '../src/policy/activity-options';

/** Every activity, each scheduled with its own options (src/policy/activity-options.ts). */
export const act = Object.fromEntries(
  (Object.keys(ACTIVITY_OPTIONS) as ActivityName[]).map((name) => [name, proxyActivities<Activities>(ACTIVITY_OPTIONS[name])[name]]),
) as ActivityInterfaceFor<Activities>;
