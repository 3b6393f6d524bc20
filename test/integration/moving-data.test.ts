// Moving data against the real MinIO: a prefix source with data.newest reads the newest monthly
// slice, so a new slice makes a new dataset version and a run with nothing new reuses the last one.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckSession, literal } from '../../src/data/sql';
import type { SourceIdentity } from '../../src/data/source';
import { createObjectStore } from '../../src/storage/object-store';
import { FLIGHTS_3M, runCli, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig } from '../helpers/stack-env';

describe('moving data: a prefix source in the real object store', () => {
  const store = createObjectStore(testConfig());
  const prefix = `incoming/moving-${Date.now().toString(36)}/flights/`;
  let dir: string;

  /** The first week of a month of real flights, as parquet. */
  const slice = (month: number): string => path.join(dir, `2001-0${month}.parquet`);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kaizen-moving-'));
    const db = await DuckSession.open();
    try {
      for (const m of [1, 2, 3]) {
        await db.run(
          `COPY (SELECT * FROM read_parquet(${literal(FLIGHTS_3M)}) WHERE date >= TIMESTAMP '2001-0${m}-01' AND date < TIMESTAMP '2001-0${m}-08') TO ${literal(slice(m))} (FORMAT parquet)`,
        );
      }
    } finally {
      db.close();
    }
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const upload = async (month: number): Promise<void> => {
    await store.put(`${prefix}2001-0${month}.parquet`, readFileSync(slice(month)));
  };

  function spec(model: string, data: Record<string, unknown>): string {
    const base = smallFlightsSpec(model);
    const { where: _where, ...rest } = base.data as Record<string, unknown>;
    return writeSpec({ ...base, data: { ...rest, ...data } });
  }

  const prepare = async (file: string): Promise<{ dataVersion: string; reused: boolean; rows: number }> => {
    const res = await runCli(['data', 'prepare', file, '--json'], stackEnv());
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout) as { dataVersion: string; reused: boolean; rows: number };
  };

  const manifestOf = async (dataVersion: string): Promise<{ source: SourceIdentity }> =>
    (await store.getJson<{ source: SourceIdentity }>(
      `datasets/${dataVersion.slice('sha256:'.length)}/manifest.json`,
    ))!.value;

  it('newest: 1 reads the newest slice; a new slice is a new version; nothing new reuses the dataset', async () => {
    await upload(1);
    await upload(2);
    const file = spec('it-moving', { source: `s3://${store.bucket}/${prefix}`, newest: 1 });

    const a = await prepare(file);
    expect(a.reused).toBe(false);
    expect(a.dataVersion).toMatch(/^sha256:[0-9a-f]{64}$/);
    const ma = await manifestOf(a.dataVersion);
    expect(ma.source).toMatchObject({
      uri: `s3://${store.bucket}/${prefix}`,
      format: 'parquet',
      selection: { listed: 2, matched: 2, newest: 1 },
    });
    expect(ma.source.objects).toEqual([
      expect.objectContaining({
        name: '2001-02.parquet',
        uri: `s3://${store.bucket}/${prefix}2001-02.parquet`,
        size: readFileSync(slice(2)).length,
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        etag: expect.any(String),
      }),
    ]);

    await upload(3);
    const b = await prepare(file);
    expect(b.reused).toBe(false);
    expect(b.dataVersion).not.toBe(a.dataVersion);
    const mb = await manifestOf(b.dataVersion);
    expect(mb.source.objects?.map((o) => o.name)).toEqual(['2001-03.parquet']);
    expect(mb.source.selection).toMatchObject({ listed: 3, matched: 3 });
    const trainKey = `datasets/${b.dataVersion.slice('sha256:'.length)}/train.parquet`;
    const before = await store.stat(trainKey);

    const again = await prepare(file);
    expect(again).toMatchObject({ dataVersion: b.dataVersion, reused: true });
    expect((await store.stat(trainKey))?.lastModified).toEqual(before?.lastModified);

    // the whole prefix: every slice, one table
    const all = await prepare(spec('it-moving-all', { source: `s3://${store.bucket}/${prefix}*.parquet` }));
    expect((await manifestOf(all.dataVersion)).source.objects?.map((o) => o.name)).toEqual([
      '2001-01.parquet',
      '2001-02.parquet',
      '2001-03.parquet',
    ]);
  });

  it('a glob that matches nothing names the pattern and how many objects were looked at', async () => {
    const pattern = `s3://${store.bucket}/${prefix}2002-*.parquet`;
    const res = await runCli(['data', 'prepare', spec('it-moving-none', { source: pattern })], stackEnv());
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim()).toMatch(/^kaizen: /);
    expect(res.stderr).toContain(`data.source ${pattern} matches no files: 3 objects looked at under`);
  });
});
