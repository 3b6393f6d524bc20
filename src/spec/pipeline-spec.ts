import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDurationMs } from '../duration';
import { KaizenError } from '../errors';
import { canonicalJson, sha256Hex } from '../hashing';
import { parsePipelineSpec } from '../policy/spec-schema';
import type { PipelineSpec } from '../types';

export { parsePipelineSpec, pipelineSpecSchema } from '../policy/spec-schema';

/**
 * Reads a spec file. A relative `data.source` becomes absolute (relative to the spec file), so the
 * spec can travel to a worker in another directory.
 */
export async function loadPipelineSpec(file: string): Promise<{ spec: PipelineSpec; specHash: string; specUri: string }> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new KaizenError('SpecInvalid', `cannot read spec file ${file}: ${code === 'ENOENT' ? 'no such file' : String(err)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new KaizenError('SpecInvalid', `spec file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const spec = parsePipelineSpec(raw, file);
  spec.data.source = resolveSource(spec.data.source, path.dirname(abs));
  return { spec, specHash: hashSpec(spec), specUri: abs };
}

/**
 * A spec as a run receives it, from the CLI, a schedule or a person in the Temporal UI: validated and
 * defaulted, its hash computed. A relative `data.source` can only be resolved against a spec file,
 * which a run started outside the CLI does not have, so it is refused with what to do instead.
 */
export function resolveRunSpec(raw: unknown): { spec: PipelineSpec; specHash: string } {
  const spec = parsePipelineSpec(raw, 'spec');
  const source = spec.data.source;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !path.isAbsolute(source)) {
    throw new KaizenError(
      'SpecInvalid',
      `spec field data.source: "${source}" is a relative path, and a run started outside the CLI has no spec file to resolve it against; give an absolute path every worker can read, or an s3:// URI (\`kaizen data upload ${source}\` prints one)`,
    );
  }
  return { spec, specHash: hashSpec(spec) };
}

export function resolveSource(source: string, baseDir: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return source;
  return path.resolve(baseDir, source);
}

export function hashSpec(spec: unknown): string {
  return `sha256:${sha256Hex(canonicalJson(spec))}`;
}

/** "10s" → 10000 */
export function durationMs(d: string): number {
  const ms = parseDurationMs(d);
  if (ms === null) throw new KaizenError('SpecInvalid', `not a duration: ${d}`);
  return ms;
}
