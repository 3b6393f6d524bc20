import { heartbeat } from '@temporalio/activity';
import { analyseCanaryStep, type CanaryStepReport, type VersionWindow } from '../src/canary';
import { KaizenError } from '../src/errors';
import { reloadModel } from '../src/serving/client';
import type { ModelWindow } from '../src/serving/live-metrics';
import type { CanarySpec } from '../src/types';
import { asActivity, type ActivityDeps } from './deps';

export interface SetTrafficInput {
  model: string;
  weights: Record<string, number>;
  /** Versions kept loaded without traffic (the champion, for an instant rollback). */
  warm?: number[];
  reason: string;
  by: string;
  workflowId: string;
}

export interface AnalyseCanaryInput {
  model: string;
  champion: number | null;
  candidate: number;
  percent: number;
  windowSeconds: number;
  canary: CanarySpec;
}

export interface PromoteCanaryInput {
  model: string;
  champion: number | null;
  candidate: number;
  by: string;
  workflowId: string;
}

/** GET /admin/models/<model>/metrics?<query> on the production server (what the analyses read). */
export async function productionMetrics<T>(deps: ActivityDeps, model: string, query: string): Promise<T> {
  const prodUrl = deps.config.servers.production;
  const url = `${prodUrl.replace(/\/$/, '')}/admin/models/${encodeURIComponent(model)}/metrics?${query}`;
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${deps.config.adminToken}` }, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new KaizenError('NotReady', `the production server answered ${res.status} for ${url}`);
    return (await res.json()) as T;
  } catch (err) {
    if (err instanceof KaizenError) throw err;
    throw new KaizenError('NotReady', `the production server at ${prodUrl} is not reachable: ${(err as Error).message}`);
  }
}

const EMPTY: VersionWindow = { requests: 0, errors: 0, errorRate: 0, p99Ms: 0, accuracy: null, labelled: 0 };

export function createCanaryActivities(deps: ActivityDeps) {
  const prodUrl = deps.config.servers.production;
  const nudge = (model: string) => reloadModel(prodUrl, model, deps.config.adminToken).catch(() => undefined);

  return {
    /** Sets the production split (idempotent: the same split twice writes once) and applies it now. */
    async setTrafficSplit(input: SetTrafficInput): Promise<void> {
      return asActivity(async () => {
        await deps.registry.setRouting(input.model, input.weights, {
          reason: input.reason,
          by: input.by,
          workflowId: input.workflowId,
          ...(input.warm ? { warm: input.warm } : {}),
        });
        await nudge(input.model);
      });
    },

    /** Reads the production server's per-version window and compares the canary with the champion. */
    async analyseCanaryStep(input: AnalyseCanaryInput): Promise<CanaryStepReport> {
      return asActivity(async () => {
        heartbeat();
        const body = await productionMetrics<ModelWindow>(deps, input.model, `window=${input.windowSeconds}s`);
        const windowOf = (v: number | null): VersionWindow | null => {
          if (v === null) return null;
          const w = body.versions[String(v)];
          if (!w) return { ...EMPTY };
          return { requests: w.requests, errors: w.errors, errorRate: w.errorRate, p99Ms: w.p99Ms ?? 0, accuracy: w.accuracy, labelled: w.feedback };
        };
        return analyseCanaryStep(input.canary, input.percent, windowOf(input.candidate)!, windowOf(input.champion));
      });
    },

    /**
     * Promotes atomically: `production` moves to the candidate, routing gives it all traffic and
     * keeps the old champion warm for an instant rollback. Both writes are idempotent.
     */
    async promoteCanary(input: PromoteCanaryInput): Promise<void> {
      return asActivity(async () => {
        await deps.registry.moveAlias(input.model, 'production', input.candidate, {
          reason: 'canary rollout passed every step',
          by: input.by,
          workflowId: input.workflowId,
        });
        await deps.registry.setRouting(input.model, { [String(input.candidate)]: 100 }, {
          reason: 'canary promoted; previous version kept warm',
          by: input.by,
          workflowId: input.workflowId,
          ...(input.champion !== null ? { warm: [input.champion] } : {}),
        });
        await nudge(input.model);
      });
    },
  };
}
