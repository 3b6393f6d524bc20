import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { HEARTBEAT_EVERY_MS } from '../src/policy/activity-options';
import type { KaizenConfig } from '../src/config';
import { isKaizenError } from '../src/errors';
import type { ModelRegistry } from '../src/registry/registry';
import type { ObjectStore } from '../src/storage/object-store';

export interface ActivityDeps {
  config: KaizenConfig;
  store: ObjectStore;
  registry: ModelRegistry;
  /** Local scratch space for datasets and bundles (a cache: safe to delete). */
  workDir: string;
}

/**
 * Runs an activity body and turns Kaizen's typed errors into ApplicationFailures of the same
 * type: non-retryable for bad input and business failures, retryable for transient faults.
 */
export async function asActivity<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isKaizenError(err)) {
      throw ApplicationFailure.create({
        message: err.message,
        type: err.type,
        nonRetryable: !err.retryable,
        details: err.details ? [err.details] : [],
      });
    }
    throw err;
  }
}

/**
 * Runs a long activity body while heartbeating every HEARTBEAT_EVERY_MS (with the latest `step`),
 * so the heartbeat timeout notices a dead worker however long the work itself takes.
 */
export async function withHeartbeat<T>(fn: (step: (details: unknown) => void) => Promise<T>): Promise<T> {
  let details: unknown = undefined;
  const beat = () => heartbeat(details);
  beat();
  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  try {
    return await fn((d) => {
      details = d;
      beat();
    });
  } finally {
    clearInterval(timer);
  }
}
