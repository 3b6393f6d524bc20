// Local paths built from names that came from outside: a manifest's file names, object keys, model
// names, workflow ids, data versions. Whoever can write the bucket or start a workflow chooses them,
// so each path is checked to stay inside the directory it was meant for.
import path from 'node:path';
import { KaizenError } from '../errors';

/**
 * `dir` joined with `segments`, refused (UnsafePath) when the result is not strictly inside `dir`:
 * "..", an absolute segment, an empty name or a NUL byte. `what` names the input in the message.
 */
export function pathInside(dir: string, segments: readonly string[], what: string): string {
  const root = path.resolve(dir);
  const shown = JSON.stringify(segments.join('/').slice(0, 120));
  if (segments.length === 0 || segments.some((s) => s.length === 0 || s.includes('\0') || path.isAbsolute(s))) {
    throw new KaizenError('UnsafePath', `${what} ${shown} is not a relative name inside ${root}`);
  }
  const full = path.resolve(root, ...segments);
  const rel = path.relative(root, full);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new KaizenError('UnsafePath', `${what} ${shown} leads outside ${root}`);
  }
  return full;
}

/** The hex digest of a `sha256:<hex>` data version, refused unless it is exactly that shape. */
export function versionHex(dataVersion: string, what = 'data version'): string {
  const m = /^(?:sha256:)?([0-9a-f]{64})$/.exec(dataVersion);
  if (!m) throw new KaizenError('UnsafePath', `${what} ${JSON.stringify(dataVersion.slice(0, 80))} is not sha256:<64 hex digits>`);
  return m[1]!;
}
