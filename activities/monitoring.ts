import { metricMeter } from '@temporalio/activity';
import { driftOptionsFrom } from '../src/monitoring/drift';
import { checkDrift, storeDriftReport } from '../src/monitoring/drift-check';
import { liveFeedbackOf } from '../src/serving/replicas';
import { hashSpec, parsePipelineSpec } from '../src/spec/pipeline-spec';
import type { DriftSummary, PipelineInput } from '../src/types';
import { asActivity, withHeartbeat, type ActivityDeps } from './deps';

export interface CheckModelDriftInput {
  model: string;
  windowMs: number;
  /** The check's time, fixed by the workflow: the window is [now - windowMs, now). */
  now: string;
  /** Stored as reports/<reportId>/drift.json. */
  reportId: string;
  thresholds?: Record<string, number>;
}


export interface PlanRetrainInput {
  model: string;
  cooldownMs: number;
  now: string;
}

export type PlanRetrainOutput = { input: PipelineInput; skip: null } | { input: null; skip: { action: 'cooldown' | 'no_spec'; detail: string } };

export interface RecordRetrainInput {
  model: string;
  workflowId: string;
  at: string;
  reportUri: string;
}

/** The last drift retrain of a model, for the cooldown. */
export interface RetrainRecord {
  workflowId: string;
  at: string;
  reportUri: string;
}

const retrainKey = (model: string) => `monitoring/${model}/last-retrain.json`;

export function createMonitoringActivities(deps: ActivityDeps) {
  return {
    /** Drift of the production version's recent traffic; the report goes to reports/<reportId>/drift.json. */
    async checkModelDrift(input: CheckModelDriftInput): Promise<DriftSummary> {
      return asActivity(() => withHeartbeat(async () => {
        const report = await checkDrift({
          store: deps.store,
          registry: deps.registry,
          model: input.model,
          windowMs: input.windowMs,
          now: new Date(input.now),
          options: driftOptionsFrom(input.thresholds),
          liveFeedback: (v) => liveFeedbackOf(deps.store, deps.config.servers.production, deps.config.adminToken, input.model, v, input.windowMs),
        });
        const reportUri = await storeDriftReport(deps.store, input.reportId, report);
        const gauge = metricMeter.createGauge('kaizen_drift_psi', 'float', '', 'PSI of a feature in the last drift check');
        for (const f of report.features) if (f.test === 'psi') gauge.set(f.score, { model: input.model, feature: f.name });
        if (report.driftedShare !== null) {
          metricMeter.createGauge('kaizen_drift_share', 'float', '', 'share of drifted features in the last drift check').set(report.driftedShare, { model: input.model });
        }
        metricMeter.createCounter('kaizen_drift_checks', '', 'drift checks by verdict').add(1, { model: input.model, drifted: String(report.drifted) });
        return {
          version: report.version,
          drifted: report.drifted,
          samples: report.samples,
          driftedShare: report.driftedShare,
          driftedFeatures: report.driftedFeatures,
          reasons: report.reasons,
          reportUri,
        };
      }));
    },

    /**
     * The retrain to start: the spec of the model's latest version (as recorded in its lineage),
     * unless the last drift retrain is within the cooldown.
     */
    async planRetrain(input: PlanRetrainInput): Promise<PlanRetrainOutput> {
      return asActivity(async () => {
        const last = await deps.store.getJson<RetrainRecord>(retrainKey(input.model));
        const now = new Date(input.now).getTime();
        if (last && now - new Date(last.value.at).getTime() < input.cooldownMs) {
          return {
            input: null,
            skip: { action: 'cooldown', detail: `the last drift retrain (${last.value.workflowId}) started at ${last.value.at}, within the cooldown` },
          };
        }
        const doc = await deps.registry.read(input.model);
        const latest = doc?.versions.reduce<(typeof doc.versions)[number] | null>((m, v) => (!m || v.version > m.version ? v : m), null) ?? null;
        const raw = latest?.lineage.extra?.spec;
        if (!latest || raw === undefined) {
          return { input: null, skip: { action: 'no_spec', detail: `no version of "${input.model}" records the spec it was trained with` } };
        }
        const spec = parsePipelineSpec(raw, `the spec of ${input.model} version ${latest.version}`);
        return { input: { spec, specHash: hashSpec(spec), specUri: `registry:${input.model}/${latest.version}` }, skip: null };
      });
    },

    /** Remembers the retrain just started, for the cooldown. */
    async recordRetrain(input: RecordRetrainInput): Promise<void> {
      return asActivity(async () => {
        const record: RetrainRecord = { workflowId: input.workflowId, at: input.at, reportUri: input.reportUri };
        await deps.store.putJson(retrainKey(input.model), record);
      });
    },
  };
}
