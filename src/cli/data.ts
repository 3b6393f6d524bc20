import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { KaizenConfig } from '../config';
import { prepareDataset, readRemoteProfile } from '../data/prepare';
import { ModelRegistry } from '../registry/registry';
import { loadPipelineSpec } from '../spec/pipeline-spec';
import { createObjectStore } from '../storage/object-store';
import { KaizenError } from '../errors';
import { CliExit, table, type Output } from './output';

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

/** Where `kaizen data upload` puts files: one prefix, so uploads never mix with Kaizen's own objects. */
export const UPLOADS_PREFIX = 'uploads/';

/**
 * Uploads a local data file to the object store and prints its s3:// URI: the `data.source` to paste
 * into a spec started from the Temporal UI (a local path means nothing to a worker on another host).
 */
export async function dataUpload(cfg: KaizenConfig, file: string, opts: { as?: string }, out: Output): Promise<number> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new KaizenError('DataSourceNotFound', `data file ${file} does not exist`);
  const name = opts.as ?? path.basename(file);
  if (!/^[A-Za-z0-9][A-Za-z0-9._\/-]{0,254}$/.test(name) || name.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new CliExit(`--as must be a relative object name of letters, digits, ".", "_", "-" and "/", got "${name}"`);
  }
  const store = createObjectStore(cfg);
  await store.ensureBucket();
  const key = `${UPLOADS_PREFIX}${name}`;
  const stored = await store.putFile(key, file);
  const uri = store.uri(key);
  out.result({ uri, key, bytes: statSync(file).size, etag: stored.etag }, () => `${uri}\n  paste it as "data": { "source": "${uri}", … }`);
  return 0;
}
