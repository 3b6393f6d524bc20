// One drift check: the model version's training profile from the registry, the prediction log of
// the window streamed through a DriftAccumulator, the report stored under reports/<id>/drift.json.
// Used by `kaizen drift check` and by the driftMonitor workflow's activity.
import { aliasTarget } from '../registry/production';
import { KaizenError } from '../errors';
import { resolveIn, type ModelRegistry } from '../registry/registry';
import type { ObjectStore } from '../storage/object-store';
import { DriftAccumulator, type DriftOptions, type DriftReport } from './drift';
import { scanPredictionLog, type PredictionLogStats, type PredictionLogStore } from './prediction-log-reader';

export interface CheckDriftInput {
  store: PredictionLogStore;
  registry: Pick<ModelRegistry, 'require' | 'readProfile'>;
  model: string;
  /** The version whose training profile is the reference; default the production alias. */
  version?: number;
  /** The window is [now - windowMs, now). */
  windowMs: number;
  now: Date | number;
  options?: Partial<DriftOptions>;
  /** Live feedback for the version (from the production server's live metrics), when known. */
  feedback?: { labelled: number; correct: number } | null;
  /** Asked for the live feedback of the checked version when `feedback` is not given (every replica's). */
  liveFeedback?: (version: number) => Promise<{ labelled: number; correct: number } | null>;
  /** Objects the log reader downloads ahead. */
  prefetch?: number;
  /** Called after each log object is read (e.g. an activity's heartbeat). */
  onProgress?: (stats: PredictionLogStats) => void;
}

/**
 * Drift of the window's traffic against the training data of the version. Feature drift reads
 * every logged row (inputs do not depend on the version that served them); prediction drift reads
 * only the version's own predictions. A model without that version, or a version without a
 * profile, is ModelNotFound naming it.
 */
export async function checkDrift(input: CheckDriftInput): Promise<DriftReport> {
  const { model } = input;
  if (!(input.windowMs > 0))
    throw new KaizenError(
      'SpecInvalid',
      `drift window must be a positive duration, got ${input.windowMs} ms`,
    );
  const doc = await input.registry.require(model);
  const ref = input.version ?? aliasTarget(doc, 'production');
  if (ref === undefined) {
    throw new KaizenError(
      'ModelNotFound',
      `model "${model}" has no production version to check for drift; name one with --version`,
    );
  }
  const version = resolveIn(doc, ref);
  const profile = await input.registry.readProfile(version);
  if (!profile) {
    throw new KaizenError(
      'ModelNotFound',
      `version ${version.version} of model "${model}" has no training data profile (profile.json beside ${version.lineage.datasetUri})`,
    );
  }
  const to = new Date(input.now);
  const from = new Date(to.getTime() - input.windowMs);
  const acc = new DriftAccumulator(profile, input.options);
  const stats = await scanPredictionLog(
    input.store,
    { model, from, to, prefetch: input.prefetch, predictionsOf: version.version },
    acc,
    undefined,
    input.onProgress,
  );
  const report = acc.report({
    model,
    version: version.version,
    window: { from: from.toISOString(), to: to.toISOString() },
    feedback: input.feedback ?? (input.liveFeedback ? await input.liveFeedback(version.version).catch(() => null) : null),
    testAccuracy: version.metrics.test['accuracy'] ?? null,
  });
  report.log = stats;
  return report;
}

/** `reports/<id>/drift.json` */
export function driftReportKey(id: string): string {
  return `reports/${id}/drift.json`;
}

/** The report id of a check run from the CLI: `drift-check-<model>-<yyyymmddThhmmssZ>`. */
export function driftCheckId(model: string, now: Date | number): string {
  const compact = new Date(now)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
  return `drift-check-${model}-${compact}`;
}

/** Stores the report under reports/<id>/drift.json (id: a workflow id, or driftCheckId); returns its URI. */
export async function storeDriftReport(
  store: Pick<ObjectStore, 'putJson' | 'uri'>,
  id: string,
  report: DriftReport,
): Promise<string> {
  const key = driftReportKey(id);
  await store.putJson(key, report);
  return store.uri(key);
}
