// `kaizen drift check <model> [--json] [--window 24h] [--version N]`: drift of the prediction log
// over the window against the version's training profile; the report is stored under
// reports/drift-check-<model>-<timestamp>/drift.json and printed.
import type { KaizenConfig } from '../config';
import { parseDurationMs } from '../duration';
import { INSUFFICIENT_DATA, type DriftReport } from '../monitoring/drift';
import { liveFeedbackOf } from '../serving/replicas';
import { checkDrift, driftCheckId, storeDriftReport } from '../monitoring/drift-check';
import { ModelRegistry } from '../registry/registry';
import { createObjectStore } from '../storage/object-store';
import { CliExit, fmtNum, table, type Output } from './output';

export interface DriftCheckOptions {
  /** Default 24h. */
  window?: string;
  version?: string;
}

export const DEFAULT_DRIFT_WINDOW = '24h';

export async function driftCheckCommand(
  cfg: KaizenConfig,
  model: string,
  opts: DriftCheckOptions,
  out: Output,
  now: () => Date = () => new Date(),
): Promise<number> {
  const windowText = opts.window ?? DEFAULT_DRIFT_WINDOW;
  const windowMs = parseDurationMs(windowText);
  if (windowMs === null || windowMs <= 0) {
    throw new CliExit(`--window must be a duration such as 1h, 24h or 7d, got "${windowText}"`);
  }
  let version: number | undefined;
  if (opts.version !== undefined) {
    version = Number(opts.version);
    if (!Number.isInteger(version) || version < 1)
      throw new CliExit(`--version must be a version number, got "${opts.version}"`);
  }
  const store = createObjectStore(cfg);
  const at = now();
  const report = await checkDrift({
    store,
    registry: new ModelRegistry(store),
    model,
    version,
    windowMs,
    now: at,
    liveFeedback: (v) => liveFeedbackOf(store, cfg.servers.production, cfg.adminToken, model, v, windowMs),
  });
  const uri = await storeDriftReport(store, driftCheckId(model, at), report);
  out.result({ ...report, reportUri: uri }, () => `${formatDriftReport(report)}\n\nreport: ${uri}`);
  return 0;
}

function verdictText(v: DriftReport['drifted']): string {
  return v === INSUFFICIENT_DATA ? INSUFFICIENT_DATA : v ? 'DRIFTED' : 'no drift';
}

/** The human form: verdict, then one line per feature with its tests side by side. */
export function formatDriftReport(r: DriftReport): string {
  const lines = [
    `${r.model} version ${r.version ?? '-'}: ${verdictText(r.drifted)}  (${r.samples} rows, ${r.window.from} → ${r.window.to})`,
    ...r.reasons.map((x) => `  ${x}`),
  ];
  const names = [...new Set(r.features.map((f) => f.name))];
  if (names.length) {
    const rows = [['  feature', 'kind', 'psi', 'ks / js', 'drifted']];
    for (const name of names) {
      const tests = r.features.filter((f) => f.name === name);
      const p = tests.find((f) => f.test === 'psi');
      const other = tests.find((f) => f.test !== 'psi');
      rows.push([
        `  ${name}`,
        tests[0]?.kind ?? '',
        fmtNum(p?.score),
        other ? `${other.test} ${fmtNum(other.score)}` : '–',
        p?.drifted ? 'yes' : 'no',
      ]);
    }
    lines.push('', table(rows));
  }
  for (const s of r.skipped) lines.push(`  skipped ${s.name}: ${s.reason}`);
  const p = r.prediction;
  if (p.test) {
    lines.push(
      '',
      `  predictions (${p.samples}): ${p.test} ${fmtNum(p.score)} (threshold ${p.threshold}) → ${verdictText(p.drifted)}`,
    );
  }
  if (r.accuracy) {
    const a = r.accuracy;
    lines.push(
      `  live accuracy ${fmtNum(a.live)} vs test ${fmtNum(a.test)} over ${a.labelled} labels → ${verdictText(a.drifted)}`,
    );
  }
  return lines.join('\n');
}
