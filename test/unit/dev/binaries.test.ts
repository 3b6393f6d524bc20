import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAPROXY_BIN, MINIO_STAMP, POSTGRES_BIN_DIR, TEMPORAL_SERVER_STAMP, TEMPORAL_SQL_TOOL_STAMP, TEMPORAL_STAMP, TEMPORAL_UI_STAMP, binDir, resolveBinaries } from '../../../src/dev/binaries';
import { isKaizenError } from '../../../src/errors';

interface ProvisionModule {
  TEMPORAL_PIN: { stamp: string };
  TEMPORAL_SERVER_PIN: { stamp: string };
  TEMPORAL_SQL_TOOL_PIN: { stamp: string };
  TEMPORAL_UI_PIN: { stamp: string };
  PACKAGE_COMMANDS: { postgresql: string; haproxy: string };
  MINIO_PIN: { stamp: string; commit: string; version: string };
  defaultBinDir(env: NodeJS.ProcessEnv): string;
}

const provisionUrl = new URL('../../../scripts/provision.mjs', import.meta.url).href;

describe('resolveBinaries', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kaizen-bin-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function fakeBinary(file: string): Promise<string> {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, '#!/bin/sh\n');
    await chmod(file, 0o755);
    return file;
  }

  it('prefers KAIZEN_TEMPORAL_BIN / KAIZEN_MINIO_BIN', async () => {
    const t = await fakeBinary(path.join(dir, 'elsewhere', 't'));
    const m = await fakeBinary(path.join(dir, 'elsewhere', 'm'));
    expect(
      resolveBinaries({
        KAIZEN_BIN_DIR: path.join(dir, 'empty'),
        KAIZEN_TEMPORAL_BIN: t,
        KAIZEN_MINIO_BIN: m,
      }),
    ).toEqual({ temporal: t, minio: m });
  });

  it('uses the cache when both binaries carry the pinned stamp', async () => {
    const cache = path.join(dir, 'cache');
    await fakeBinary(path.join(cache, 'temporal'));
    await fakeBinary(path.join(cache, 'minio'));
    await writeFile(path.join(cache, 'temporal.version'), `${TEMPORAL_STAMP}\n`);
    await writeFile(path.join(cache, 'minio.version'), `${MINIO_STAMP}\n`);
    expect(resolveBinaries({ KAIZEN_BIN_DIR: cache })).toEqual({
      temporal: path.join(cache, 'temporal'),
      minio: path.join(cache, 'minio'),
    });
  });

  it('says how to fix a missing binary', () => {
    const empty = path.join(dir, 'nothing');
    try {
      resolveBinaries({ KAIZEN_BIN_DIR: empty });
      expect.unreachable();
    } catch (err) {
      expect(isKaizenError(err) && err.type).toBe('ProvisionFailed');
      expect((err as Error).message).toBe(
        `Temporal CLI not found at ${path.join(empty, 'temporal')}; run \`npm run provision\``,
      );
    }
    expect(() =>
      resolveBinaries({ KAIZEN_BIN_DIR: empty, KAIZEN_TEMPORAL_BIN: path.join(dir, 'elsewhere', 't') }),
    ).toThrow(/MinIO server not found at .*nothing\/minio; run `npm run provision`/);
    expect(() => resolveBinaries({ KAIZEN_TEMPORAL_BIN: path.join(dir, 'missing') })).toThrow(
      /Temporal CLI not found at .*missing \(from KAIZEN_TEMPORAL_BIN\)/,
    );
  });

  it('refuses a cached binary of another version', async () => {
    const stale = path.join(dir, 'stale');
    await fakeBinary(path.join(stale, 'temporal'));
    await fakeBinary(path.join(stale, 'minio'));
    await writeFile(path.join(stale, 'temporal.version'), 'temporal v1.4.0\n');
    await writeFile(path.join(stale, 'minio.version'), `${MINIO_STAMP}\n`);
    expect(() => resolveBinaries({ KAIZEN_BIN_DIR: stale })).toThrow(
      /is "temporal v1.4.0", not the pinned "temporal v1.5.1"; run `npm run provision`/,
    );
  });

  it('agrees with scripts/provision.mjs on the pins and the cache directory', async () => {
    const provision = (await import(/* @vite-ignore */ provisionUrl)) as ProvisionModule;
    expect(provision.TEMPORAL_PIN.stamp).toBe(TEMPORAL_STAMP);
    expect(provision.MINIO_PIN.stamp).toBe(MINIO_STAMP);
    expect(provision.TEMPORAL_SERVER_PIN.stamp).toBe(TEMPORAL_SERVER_STAMP);
    expect(provision.TEMPORAL_SQL_TOOL_PIN.stamp).toBe(TEMPORAL_SQL_TOOL_STAMP);
    expect(provision.TEMPORAL_UI_PIN.stamp).toBe(TEMPORAL_UI_STAMP);
    expect(provision.PACKAGE_COMMANDS.postgresql).toBe(`${POSTGRES_BIN_DIR}/postgres`);
    expect(provision.PACKAGE_COMMANDS.haproxy).toBe(HAPROXY_BIN);
    expect(MINIO_STAMP).toContain(provision.MINIO_PIN.commit);
    for (const env of [{}, { KAIZEN_BIN_DIR: '/opt/kz' }, { XDG_CACHE_HOME: '/var/cache/me' }]) {
      expect(binDir(env)).toBe(provision.defaultBinDir(env));
    }
    expect(binDir({})).toBe(path.join(os.homedir(), '.cache', 'kaizen', 'bin'));
  });
});
