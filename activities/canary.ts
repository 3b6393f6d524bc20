import { heartbeat, log } from '@temporalio/activity';
import { analyseCanaryStep, type CanaryStepReport, type VersionWindow } from '../src/policy/canary';
import { gatherLiveWindow } from '../src/serving/replicas';
import type { ModelWindow } from '../src/serving/live-metrics';
import type { CanarySpec } from '../src/types';
import { asActivity, type ActivityDeps } from './deps';

export interface AnalyseCanaryInput {
  model: string;
  champion: number | null;
  candidate: number;
  percent: number;
  windowSeconds: number;
  canary: CanarySpec;
}

/**
 * The live metrics of a model over every production replica (GET /admin/models/<model>/metrics?<query>
 * of each registered one, summed), or of the configured URL when none is registered.
 */
export async function productionMetrics<T extends ModelWindow>(deps: ActivityDeps, model: string, query: string): Promise<T> {
  const g = await gatherLiveWindow<T>(deps.store, 'production', deps.config.servers.production, model, query, deps.config.adminToken);
  if (g.missing.length > 0) {
    log.warn(`live figures of "${model}" from ${g.read.length} replica(s); not answering: ${g.missing.map((m) => `${m.id} (${m.url})`).join(', ')}`);
  }
  return g.window;
}

const EMPTY: VersionWindow = { requests: 0, errors: 0, errorRate: 0, p99Ms: 0, accuracy: null, labelled: 0 };

export function createCanaryActivities(deps: ActivityDeps) {
  return {
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

  };
}
