import type { KaizenConfig } from '../config';
import { allAliases, productionOf } from '../registry/production';
import { ModelRegistry, resolveIn } from '../registry/registry';
import { createObjectStore } from '../storage/object-store';
import type { ModelVersion, RegistryDocument } from '../types';
import { fmtNum, table, type Output } from './output';

function aliasesOf(doc: RegistryDocument, version: number): string[] {
  return Object.entries(allAliases(doc))
    .filter(([, v]) => v === version)
    .map(([a]) => a)
    .sort();
}

async function registryFor(cfg: KaizenConfig, model: string): Promise<RegistryDocument> {
  return new ModelRegistry(createObjectStore(cfg)).require(model);
}

export async function modelsList(cfg: KaizenConfig, model: string, out: Output): Promise<number> {
  const doc = await registryFor(cfg, model);
  const versions = doc.versions.map((v) => ({
    version: v.version,
    createdAt: v.createdAt,
    aliases: aliasesOf(doc, v.version),
    task: v.task,
    metrics: v.metrics.test,
    baseline: v.metrics.baseline,
    dataVersion: v.lineage.dataVersion,
    workflowId: v.lineage.workflowId,
  }));
  out.result({ model, aliases: allAliases(doc), production: productionOf(doc), versions }, () => {
    if (!versions.length) return `${model}: no versions`;
    const metricKeys = Object.keys(versions.at(-1)!.metrics).slice(0, 3);
    const rows = [['version', 'created', 'aliases', ...metricKeys, 'data']];
    for (const v of versions) {
      rows.push([String(v.version), v.createdAt.replace(/\.\d+Z$/, 'Z'), v.aliases.join(',') || '-', ...metricKeys.map((k) => fmtNum(v.metrics[k])), `${v.dataVersion.slice(0, 19)}…`]);
    }
    return table(rows);
  });
  return 0;
}

export async function modelsShow(cfg: KaizenConfig, model: string, ref: string, out: Output): Promise<number> {
  const doc = await registryFor(cfg, model);
  const v: ModelVersion = resolveIn(doc, ref);
  const history = doc.history.filter((h) => h.to === v.version || h.from === v.version);
  const productionHistory = (doc.productionHistory ?? []).filter((h) => h.champion === v.version || h.from === v.version || String(v.version) in h.weights);
  const shown = { model, ...v, aliases: aliasesOf(doc, v.version), aliasHistory: history, productionHistory };
  out.result(shown, () => {
    const l = v.lineage;
    const lines = [
      `${model} version ${v.version}${shown.aliases.length ? ` [${shown.aliases.join(', ')}]` : ''}  (${v.task}, created ${v.createdAt})`,
      `  artifact     ${v.artifactUri}  sha256 ${v.artifactSha256.slice(0, 16)}…`,
      `  data         ${l.dataVersion}  ${l.datasetUri}`,
      `  spec         ${l.specHash}`,
      `  code         git ${l.code.gitCommit ?? 'unknown'}, kaizen ${l.code.packageVersion}`,
      `  libraries    ${Object.entries(l.libraries).map(([k, x]) => `${k}@${x}`).join(', ')}`,
      `  training     ${v.training.backend}, ${v.training.epochs} epochs (best ${v.training.bestEpoch}), ${Math.round(v.training.samplesPerSecond)} samples/s`,
      `  params       ${JSON.stringify(l.hyperParameters)}`,
      `  workflow     ${l.workflowId} / ${l.runId}`,
    ];
    if (l.approval) lines.push(`  approval     ${l.approval.decision} by ${l.approval.by} at ${l.approval.at}${l.approval.comment ? `: ${l.approval.comment}` : ''}`);
    lines.push('', table([['  metric', 'model', 'baseline'], ...Object.keys(v.metrics.test).map((k) => [`  ${k}`, fmtNum(v.metrics.test[k]), fmtNum(v.metrics.baseline[k])])]));
    if (history.length) {
      lines.push('', '  alias history');
      for (const h of history) lines.push(`    ${h.at} ${h.alias}: ${h.from ?? '-'} → ${h.to ?? '-'} by ${h.by} (${h.reason})`);
    }
    if (productionHistory.length) {
      lines.push('', '  production history');
      for (const h of productionHistory.slice(-20)) {
        const split = Object.entries(h.weights).map(([x, w]) => `${x}:${w}%`).join(' ');
        lines.push(`    ${h.at} #${h.revision} ${h.action}: champion ${h.from ?? '-'} → ${h.champion}, traffic ${split}${h.killSwitch ? ', kill switch on' : ''} by ${h.by} (${h.reason})`);
      }
    }
    return lines.join('\n');
  });
  return 0;
}
