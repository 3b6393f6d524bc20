import { accessSync, constants, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KaizenError } from '../errors';

// The pins and the cache layout of scripts/provision.mjs, which builds these binaries (a unit test
// keeps the two in sync: the script is plain Node so it can run before anything else works).
export const TEMPORAL_STAMP = 'temporal v1.5.1';
export const MINIO_STAMP = 'minio RELEASE.2025-10-15T17-29-55Z 9e49d5e7a648f00e26f2246f4dc28e6b07f8c84a';

export const TEMPORAL_SERVER_STAMP = 'temporal-server v1.29.1';
export const TEMPORAL_SQL_TOOL_STAMP = 'temporal-sql-tool v1.29.1';
export const TEMPORAL_UI_STAMP = 'temporal-ui-server v2.42.1';

/** Where Debian's packages put the production profile's PostgreSQL and HAProxy. */
export const POSTGRES_BIN_DIR = '/usr/lib/postgresql/15/bin';
export const HAPROXY_BIN = '/usr/sbin/haproxy';

export interface Binaries {
  temporal: string;
  minio: string;
  /** The production profile's: the Temporal server, its SQL schema tool, the UI server, PostgreSQL's bin directory, HAProxy. */
  production?: { server: string; sqlTool: string; ui: string; postgres: string; haproxy: string };
}

/** KAIZEN_BIN_DIR, else $XDG_CACHE_HOME/kaizen/bin, else ~/.cache/kaizen/bin. */
export function binDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KAIZEN_BIN_DIR) return path.resolve(env.KAIZEN_BIN_DIR);
  const cache = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(cache, 'kaizen', 'bin');
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function readStamp(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function resolveOne(
  env: NodeJS.ProcessEnv,
  what: string,
  name: string,
  override: string,
  stamp: string,
): string {
  const given = env[override];
  if (given) {
    const file = path.resolve(given);
    if (!isExecutable(file))
      throw new KaizenError('ProvisionFailed', `${what} not found at ${file} (from ${override})`);
    return file;
  }
  const dir = binDir(env);
  const file = path.join(dir, name);
  if (!isExecutable(file)) {
    throw new KaizenError('ProvisionFailed', `${what} not found at ${file}; run \`npm run provision${name.startsWith('temporal-') ? ' -- --production' : ''}\``);
  }
  const found = readStamp(path.join(dir, `${name}.version`));
  if (found !== stamp) {
    throw new KaizenError(
      'ProvisionFailed',
      `${what} at ${file} is ${found ? `"${found}"` : 'of unknown version'}, not the pinned "${stamp}"; run \`npm run provision\``,
    );
  }
  return file;
}

/** The server binaries of the local stack: env overrides, else the provisioned cache. */
export function resolveBinaries(env: NodeJS.ProcessEnv = process.env, profile: 'dev' | 'production' = 'dev'): Binaries {
  const base = {
    temporal: resolveOne(env, 'Temporal CLI', 'temporal', 'KAIZEN_TEMPORAL_BIN', TEMPORAL_STAMP),
    minio: resolveOne(env, 'MinIO server', 'minio', 'KAIZEN_MINIO_BIN', MINIO_STAMP),
  };
  if (profile === 'dev') return base;
  const pkg = (file: string, name: string) => {
    if (!isExecutable(file)) {
      throw new KaizenError('ProvisionFailed', `${file} not found: the production profile needs Debian's ${name} package; run \`npm run provision -- --production\``);
    }
    return file;
  };
  return {
    ...base,
    production: {
      server: resolveOne(env, 'Temporal server', 'temporal-server', 'KAIZEN_TEMPORAL_SERVER_BIN', TEMPORAL_SERVER_STAMP),
      sqlTool: resolveOne(env, 'Temporal SQL tool', 'temporal-sql-tool', 'KAIZEN_TEMPORAL_SQL_TOOL_BIN', TEMPORAL_SQL_TOOL_STAMP),
      ui: resolveOne(env, 'Temporal UI server', 'temporal-ui-server', 'KAIZEN_TEMPORAL_UI_BIN', TEMPORAL_UI_STAMP),
      postgres: path.dirname(pkg(path.join(POSTGRES_BIN_DIR, 'postgres'), 'postgresql')),
      haproxy: pkg(HAPROXY_BIN, 'haproxy'),
    },
  };
}
