import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { KaizenConfig } from '../config';
import { prepareDataset, readRemoteProfile } from '../data/prepare';
import { ModelRegistry } from '../registry/registry';
import { loadPipelineSpec } from '../spec/pipeline-spec';
import { createObjectStore } from '../storage/object-store';
import { table, type Output } from './output';

export async function dataPrepare(cfg: KaizenConfig, specFile: string, out: Output): Promise<number> {
  const { spec, specHash } = await loadPipelineSpec(specFile);
  const store = createObjectStore(cfg);
  await store.ensureBucket();
  const registry = new ModelRegistry(store);
  const reference = await registry.productionProfile(spec.model);
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'kaizen-prepare-'));
  try {
    const prepared = await prepareDataset({ spec: spec.data, task: spec.task, specDir: path.dirname(specFile), workDir, reference, store, specHash });
    const profile = await readRemoteProfile(store, prepared.uri);
    const doc = { dataVersion: prepared.dataVersion, uri: prepared.uri, rows: prepared.rows.total, splits: prepared.rows, reused: prepared.reused, schema: prepared.schema, validation: prepared.validation, profile };
    out.result(doc, () => {
      const v = prepared.validation;
      const lines = [
        `dataset ${prepared.dataVersion}${prepared.reused ? ' (already stored; nothing uploaded)' : ''}`,
        `  ${prepared.uri}`,
        `  rows ${prepared.rows.total}: train ${prepared.rows.train}, validation ${prepared.rows.validation}, test ${prepared.rows.test}`,
        `  task ${prepared.schema.task}, target ${prepared.schema.target}, ${prepared.schema.features.length} features: ${prepared.schema.features.map((f) => `${f.name} (${f.kind})`).join(', ')}`,
        `  validation ${v.passed ? 'PASSED' : 'FAILED'}`,
      ];
      for (const r of v.reasons) lines.push(`    - ${r}`);
      if (v.findings.length) lines.push(table([['    severity', 'kind', 'column', 'count', 'message'], ...v.findings.map((f) => [`    ${f.severity}`, f.kind, f.column ?? '-', String(f.count), f.message])]));
      return lines.join('\n');
    });
    return prepared.validation.passed ? 0 : 1;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
