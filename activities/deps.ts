import { ApplicationFailure } from '@temporalio/activity';
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
