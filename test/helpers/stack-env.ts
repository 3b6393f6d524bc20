import { inject } from 'vitest';
import { loadConfig, type KaizenConfig } from '../../src/config';
import type { StackOptions } from '../../src/dev/stack';
import type { TestStack } from './global-setup';

/** The shared test stack started by test/helpers/global-setup.ts. */
export function testStack(): TestStack {
  return inject('kaizenStack');
}

/** Environment for spawning the CLI (or anything using loadConfig) against the test stack. */
export function stackEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ...testStack().env };
}

/** The configuration of the test stack, as loadConfig() would read it from stackEnv(). */
export function testConfig(): KaizenConfig {
  return loadConfig(stackEnv());
}

/** Options of the shared test stack, for upStack/stackStatus calls that repair or inspect it. */
export function testStackOptions(): StackOptions {
  return { ...testStack().options };
}
