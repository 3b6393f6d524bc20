import { rollbackTarget, productionOf, type ProductionRequest } from '../src/registry/production';
import { reloadEveryReplica } from '../src/serving/replicas';
import type { ProductionState, RollbackInput, RollbackResult } from '../src/types';
import { asActivity, type ActivityDeps } from './deps';

export interface ChangeProductionInput {
  model: string;
  request: ProductionRequest;
  by: string;
  reason: string;
  workflowId: string;
}

export interface ChangeProductionResult {
  state: ProductionState;
  changed: boolean;
  /** Whether the production server confirmed it applied the record (replicas also follow it on their next poll). */
  applied: boolean;
}

/**
 * Asks the production server to apply the record now rather than at its next poll (every replica
 * follows on its own poll anyway); true when it confirmed.
 */
export async function applyProductionNow(deps: ActivityDeps, model: string): Promise<boolean> {
  const r = await reloadEveryReplica(deps.store, 'production', deps.config.servers.production, model, deps.config.adminToken);
  return r.confirmed.length === r.total;
}

export function createProductionActivities(deps: ActivityDeps) {
  const applyNow = (model: string) => applyProductionNow(deps, model);

  return {
    /** The model's production record (null before the first promotion). */
    async readProduction(input: { model: string }): Promise<ProductionState | null> {
      return asActivity(async () => {
        const doc = await deps.registry.require(input.model);
        return productionOf(doc);
      });
    },

    /**
     * One release action (canary step, promotion, restore, experiment split or end) as one conditional
     * write of the production record with its history entry; idempotent, so a retry changes nothing more.
     */
    async changeProduction(input: ChangeProductionInput): Promise<ChangeProductionResult> {
      return asActivity(async () => {
        const outcome = await deps.registry.changeProduction(input.model, input.request, {
          by: input.by,
          reason: input.reason,
          workflowId: input.workflowId,
        });
        return { state: outcome.state, changed: outcome.changed, applied: await applyNow(input.model) };
      });
    },

    /**
     * Moves production back (to the champion before the current one, or `to`): champion and split in
     * one write, so the very next request is served by the target. A retry finds its own change.
     */
    async rollbackProduction(input: RollbackInput): Promise<RollbackResult> {
      return asActivity(async () => {
        const opId = input.workflowId ? `${input.workflowId}:rollback` : undefined;
        const doc = await deps.registry.require(input.model);
        const done = opId ? doc.productionHistory?.find((h) => h.opId === opId) : undefined;
        const { from, to } = done ? { from: done.from ?? done.champion, to: done.champion } : rollbackTarget(doc, input.to);
        const outcome = await deps.registry.changeProduction(
          input.model,
          { action: 'rollback', champion: to, weights: { [String(to)]: 100 }, warm: [from], expectChampion: done ? to : from, ...(opId ? { opId } : {}) },
          { by: input.by, reason: input.reason ?? `rollback from version ${from}`, ...(input.workflowId ? { workflowId: input.workflowId } : {}) },
        );
        return { model: input.model, from, to, at: outcome.state.updatedAt, serving: await applyNow(input.model) };
      });
    },
  };
}
