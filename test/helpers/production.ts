// Release actions for tests that set production up by hand: one write of the production record each.
import type { ModelRegistry } from '../../src/registry/registry';
import type { ProductionState } from '../../src/types';

const meta = { by: 'test', reason: 'test' };

/** Makes `version` the champion with all traffic (the old champion kept warm). */
export async function promote(registry: ModelRegistry, model: string, version: number): Promise<ProductionState> {
  return (await registry.changeProduction(model, { action: 'promote', champion: version }, meta)).state;
}

/** Splits production traffic by version (percentages), optionally keeping versions warm. */
export async function setSplit(registry: ModelRegistry, model: string, weights: Record<string | number, number>, warm?: number[]): Promise<ProductionState> {
  return (await registry.changeProduction(model, { action: 'split', weights, ...(warm ? { warm } : {}) }, meta)).state;
}
