import { heartbeat } from '@temporalio/activity';
import { KaizenError } from '../src/errors';
import { decideExperiment } from '../src/policy/experiment';
import { productionOf } from '../src/registry/production';
import type { ModelWindow } from '../src/serving/live-metrics';
import type { ExperimentCounts, ExperimentResult, ExperimentSpec } from '../src/types';
import { productionMetrics } from './canary';
import { asActivity, type ActivityDeps } from './deps';
import { applyProductionNow } from './production';

export interface StartExperimentInput {
  model: string;
  experiment: ExperimentSpec;
}

export interface StartExperimentOutput {
  champion: number;
  /** The production server's clock (unix seconds): the first metrics cursor. */
  cursor: number;
}

export interface ReadExperimentInput {
  model: string;
  versions: number[];
  cursor: number;
}

export interface ReadExperimentOutput {
  counts: Record<string, ExperimentCounts>;
  cursor: number;
}

export interface ConcludeExperimentInput {
  model: string;
  champion: number;
  experiment: ExperimentSpec;
  counts: Record<string, ExperimentCounts>;
  startedAt: string;
  endedAt: string;
  by: string;
  workflowId: string;
}

const ZERO: ExperimentCounts = { requests: 0, errors: 0, labelled: 0, correct: 0 };

export function createExperimentActivities(deps: ActivityDeps) {
  return {
    /** Checks the experiment against the registry: a production champion, challengers that exist, a classifier. */
    async startExperiment(input: StartExperimentInput): Promise<StartExperimentOutput> {
      return asActivity(async () => {
        const doc = await deps.registry.read(input.model);
        if (!doc) throw new KaizenError('ModelNotFound', `no model "${input.model}" in the registry`);
        const production = productionOf(doc);
        const champion = production?.champion;
        if (champion === undefined) {
          throw new KaizenError('ModelNotFound', `model "${input.model}" has no production version to act as champion`);
        }
        for (const v of input.experiment.challengers) {
          const version = doc.versions.find((x) => x.version === v);
          if (!version) throw new KaizenError('ModelNotFound', `experiment.challengers: model "${input.model}" has no version ${v}`);
          if (v === champion) {
            throw new KaizenError('SpecInvalid', `experiment.challengers: version ${v} is the production champion itself`);
          }
          if (version.task === 'regression') {
            throw new KaizenError('SpecInvalid', `experiments compare live accuracy; model "${input.model}" is a regression model`);
          }
        }
        if (production?.killSwitch) {
          throw new KaizenError('SpecInvalid', `model "${input.model}" is disabled (kill switch): enable it before an experiment`);
        }
        const probe = await productionMetrics<ModelWindow & { next: number }>(deps, input.model, `since=${Math.floor(Date.now() / 1000)}`);
        return { champion, cursor: probe.next };
      });
    },

    /** The arms' figures since the cursor (whole seconds, so consecutive reads never overlap). */
    async readExperimentWindow(input: ReadExperimentInput): Promise<ReadExperimentOutput> {
      return asActivity(async () => {
        heartbeat();
        const w = await productionMetrics<ModelWindow & { next: number }>(deps, input.model, `since=${input.cursor}`);
        const counts: Record<string, ExperimentCounts> = {};
        for (const v of input.versions) {
          const f = w.versions[String(v)];
          counts[String(v)] = f
            ? { requests: f.requests, errors: f.errors, labelled: f.feedback, correct: f.correct }
            : { ...ZERO };
        }
        return { counts, cursor: w.next };
      });
    },

    /**
     * Decides, then applies it idempotently: the winner becomes `production` with all traffic (the
     * champion kept warm), or the champion gets all traffic back; every arm's lineage and
     * reports/<workflowId>/experiment.json record the decision with its statistics.
     */
    async concludeExperiment(input: ConcludeExperimentInput): Promise<ExperimentResult> {
      return asActivity(async () => {
        const { model, champion, experiment, counts } = input;
        const decision = decideExperiment(
          experiment,
          { version: champion, counts: counts[String(champion)] ?? ZERO },
          experiment.challengers.map((v) => ({ version: v, counts: counts[String(v)] ?? ZERO })),
        );
        // one write: the winner (or the champion) gets all traffic; a winner keeps the old champion warm
        const kept = decision.winner ?? champion;
        await deps.registry.changeProduction(
          model,
          {
            action: 'experiment_end',
            champion: kept,
            weights: { [String(kept)]: 100 },
            ...(decision.winner !== null ? { warm: [champion] } : {}),
            expectChampion: champion,
            opId: `${input.workflowId}:conclude`,
          },
          {
            by: input.by,
            workflowId: input.workflowId,
            reason: decision.winner !== null ? `experiment promoted version ${decision.winner}; champion ${champion} kept warm` : decision.reasons[0]!,
          },
        );
        const key = `reports/${input.workflowId}/experiment.json`;
        const result: ExperimentResult = {
          model,
          champion,
          decision: decision.decision,
          winner: decision.winner,
          arms: decision.arms,
          alpha: experiment.alpha,
          alphaAdjusted: decision.alphaAdjusted,
          reasons: decision.reasons,
          startedAt: input.startedAt,
          endedAt: input.endedAt,
          reportUri: deps.store.uri(key),
        };
        await deps.store.putJson(key, { ...result, experiment });
        await deps.registry.annotateVersions(
          model,
          decision.arms.map((arm) => ({
            version: arm.version,
            patch: {
              extra: {
                [`experiment:${input.workflowId}`]: {
                  role: arm.role,
                  outcome: arm.version === decision.winner ? 'promoted' : arm.role === 'champion' ? (decision.winner === null ? 'kept' : 'replaced') : 'demoted',
                  accuracy: arm.accuracy,
                  labelled: arm.labelled,
                  z: arm.z,
                  pValue: arm.pValue,
                  report: result.reportUri,
                },
              },
            },
          })),
        );
        // applied at once on the production server; it would follow the registry on its next poll anyway
        await applyProductionNow(deps, model);
        return result;
      });
    },
  };
}
