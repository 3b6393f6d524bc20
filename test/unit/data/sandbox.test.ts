// The SQL a spec carries (data.where, data.derive) runs in a DuckDB session that can read only the
// source files and write only the dataset's staging directory: no file, no extension, no setting.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareLocal } from '../../../src/data/prepare';
import { DuckSession } from '../../../src/data/sql';
import { KaizenError } from '../../../src/errors';
import { cleanScratch, dataSpec, makeClassification, scratch, type SpecOverrides } from './helpers';

afterAll(cleanScratch);

async function refusal(overrides: Omit<SpecOverrides, 'source' | 'target'>): Promise<KaizenError> {
  const dir = await scratch();
  const { file } = await makeClassification(dir, { rows: 200 });
  const err = await prepareLocal({
    spec: dataSpec({ source: file, target: 'label', ...overrides }),
    specDir: '/',
    workDir: path.join(dir, 'work'),
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(KaizenError);
  return err as KaizenError;
}

describe('the data stage SQL sandbox', () => {
  it('a derive that reads the worker environment is refused, and says why', async () => {
    const err = await refusal({ derive: { leak: "(SELECT content FROM read_text('/proc/self/environ'))" } });
    expect(err.type).toBe('SqlError');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/^data\.derive\.leak .* reaches outside the data/);
    expect(err.message).toMatch(/reading or writing files, loading extensions and changing settings are refused/);
    expect(err.message).not.toMatch(/KAIZEN_S3_SECRET_KEY|PATH=/);
  });

  it.each([
    ['reading another file', { where: "label IN (SELECT column0 FROM read_csv('/etc/passwd'))" }, 'data.where'],
    ['listing files', { derive: { files: "(SELECT count(*) FROM glob('/etc/*'))" } }, 'data.derive.files'],
    ['attaching a database', { where: "true) ; ATTACH '/tmp/x.db' AS x; SELECT (1" }, 'data.where'],
    ['changing a setting', { where: "true) ; SET enable_external_access = true; SELECT (1" }, 'data.where'],
  ])('%s is refused as SqlError on %s', async (_what, overrides, field) => {
    const err = await refusal(overrides);
    expect(err.type).toBe('SqlError');
    expect(err.details?.['field'] ?? field).toBe(field);
    expect(err.message.startsWith(field)).toBe(true);
  });

  it('plain expressions still work inside the sandbox', async () => {
    const dir = await scratch();
    const { file } = await makeClassification(dir, { rows: 300 });
    const r = await prepareLocal({
      spec: dataSpec({ source: file, target: 'label', derive: { both: 'x1 + x2' }, where: 'x1 IS NOT NULL' }),
      specDir: '/',
      workDir: path.join(dir, 'work'),
    });
    expect(r.rows.total).toBeGreaterThan(0);
    expect((await readdir(r.dir)).sort()).toContain('train.parquet');
  });

  it('a sandboxed session can read its files and write its directory, nothing else, and cannot be unlocked', async () => {
    const dir = await scratch();
    const { file } = await makeClassification(dir, { rows: 50 });
    const out = path.join(dir, 'out');
    await import('node:fs/promises').then((fs) => fs.mkdir(out));
    const db = await DuckSession.open({ sandbox: { readFiles: [file], directories: [out] } });
    try {
      await db.run(`CREATE TABLE t AS SELECT * FROM read_csv('${file}')`);
      await db.run(`COPY t TO '${path.join(out, 'ok.parquet')}' (FORMAT parquet)`);
      await expect(db.run(`COPY t TO '${path.join(dir, 'evil.parquet')}' (FORMAT parquet)`)).rejects.toThrow(/Permission Error/);
      await expect(db.all(`SELECT content FROM read_text('/proc/self/environ')`)).rejects.toThrow(/Permission Error/);
      await expect(db.run('SET enable_external_access = true')).rejects.toThrow();
      await expect(db.run('SET lock_configuration = false')).rejects.toThrow(/locked/);
      await expect(db.run('SET threads = 1')).rejects.toThrow(/locked/);
      await expect(db.run('INSTALL httpfs')).rejects.toThrow();
    } finally {
      db.close();
    }
    expect(await readdir(out)).toEqual(['ok.parquet']);
  });
});
