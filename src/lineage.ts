import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function packageVersion(name: string): string | null {
  try {
    const file = name === '.' ? path.join(ROOT, 'package.json') : path.join(ROOT, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

let cachedCommit: string | null | undefined;

/** The git commit of the running code (KAIZEN_GIT_COMMIT wins, for images built without .git). */
export function gitCommit(): string | null {
  if (cachedCommit !== undefined) return cachedCommit;
  cachedCommit = process.env.KAIZEN_GIT_COMMIT ?? null;
  if (!cachedCommit) {
    try {
      cachedCommit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
      const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
      if (dirty) cachedCommit += '-dirty';
    } catch {
      cachedCommit = null;
    }
  }
  return cachedCommit;
}

export function codeVersion(): { gitCommit: string | null; packageVersion: string } {
  return { gitCommit: gitCommit(), packageVersion: packageVersion('.') ?? '0.0.0' };
}

/** Versions of every library that shapes a model or its pipeline. */
export function libraryVersions(extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  for (const name of [
    '@tensorflow/tfjs',
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-layers',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-node',
    '@duckdb/node-api',
    '@temporalio/workflow',
    '@temporalio/worker',
    '@temporalio/client',
    '@temporalio/activity',
  ]) {
    const v = packageVersion(name);
    if (v) out[name] = v;
  }
  return { ...out, ...extra };
}
