// Every finding kind of the validation report, its severities, and personal data kept out of it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareLocal } from '../../../src/data/prepare';
import type { Finding } from '../../../src/types';
import {
  cleanScratch,
  dataSpec,
  fixture,
  makeClassification,
  readParquet,
  rng,
  scratch,
  writeCsv,
} from './helpers';

afterAll(cleanScratch);

const find = (findings: Finding[], kind: Finding['kind'], column?: string | null): Finding | undefined =>
  findings.find((f) => f.kind === kind && (column === undefined || f.column === column));

/** 400 rows and 40 duplicates of every 10th: "mostly" ~18% missing, "holey" ~36% missing, "flat" constant, "note" free text, "when" a timestamp, "forced" ~15% not numbers. */
async function qualityData(dir: string): Promise<string> {
  const r = rng(7);
  const rows: unknown[][] = [];
  for (let i = 0; i < 400; i++) {
    const x = r() * 100;
    rows.push([
      x.toFixed(2),
      i % 20 < 3 ? null : (r() * 5).toFixed(2),
      i % 10 < 3 ? null : ['a', 'b'][i % 2],
      'same',
      `free text number ${i} ${Math.floor(r() * 1e6)}`,
      `2024-01-${String(1 + (i % 28)).padStart(2, '0')} 10:00:00`,
      i % 7 === 0 ? 'n/a' : (r() * 3).toFixed(1),
      x + r() * 40 > 70 ? 1 : 0,
    ]);
    if (i % 10 === 0) rows.push([...rows[rows.length - 1]!]);
  }
  return writeCsv(
    path.join(dir, 'quality.csv'),
    ['x', 'mostly', 'holey', 'flat', 'note', 'when', 'forced', 'y'],
    rows,
  );
}

describe('the validation report', () => {
  it('finds missing values, type violations, constants, duplicates, free text and timestamps', async () => {
    const dir = await scratch();
    const source = await qualityData(dir);
    const r = await prepareLocal({
      spec: dataSpec({ source, target: 'y', schema: { forced: 'numeric' } }),
      specDir: '/',
      workDir: dir,
    });
    const f = r.validation.findings;
    expect(r.validation.rows).toBe(440);
    expect(find(f, 'missing', 'holey')).toMatchObject({ severity: 'error', count: 160 });
    expect(find(f, 'missing', 'mostly')).toMatchObject({ severity: 'warning', count: 80 });
    expect(find(f, 'missing', 'x')).toBeUndefined();
    expect(find(f, 'type_violation', 'forced')).toMatchObject({ severity: 'warning', count: 64 });
    expect(find(f, 'constant', 'flat')).toMatchObject({ severity: 'warning' });
    expect(find(f, 'duplicate_rows', null)).toMatchObject({ severity: 'warning', count: 40 });
    expect(find(f, 'excluded', 'note')?.message).toMatch(/free text.*data\.schema\["note"\] = "categorical"/);
    expect(find(f, 'excluded', 'when')?.message).toMatch(/timestamp/);
    expect(r.schema.features.map((c) => c.name)).toEqual(['x', 'mostly', 'holey', 'forced']);
    // the gate: errors fail it and are the reasons; warnings do not
    expect(r.validation.passed).toBe(false);
    expect(r.validation.reasons).toEqual([find(f, 'missing', 'holey')!.message]);
    expect(r.validation.metrics).toMatchObject({ rows: 440, errors: 1, duplicateRows: 40 });
    expect(r.validation.thresholds['maxMissingFraction']).toBe(0.2);
    for (const x of f)
      expect(Object.keys(x).sort()).toEqual(['column', 'count', 'kind', 'message', 'severity']);
  });

  it('thresholds are configurable under data.validation', async () => {
    const dir = await scratch();
    const source = await qualityData(dir);
    const r = await prepareLocal({
      spec: dataSpec({
        source,
        target: 'y',
        validation: { maxMissingFraction: 0.5, maxDuplicateFraction: 0.2 },
      }),
      specDir: '/',
      workDir: dir,
    });
    expect(find(r.validation.findings, 'missing', 'holey')).toMatchObject({ severity: 'warning' });
    expect(find(r.validation.findings, 'duplicate_rows')).toBeUndefined();
    expect(r.validation.passed).toBe(true);
  });

  it('a type violation beyond the missing threshold is an error', async () => {
    const dir = await scratch();
    const rows = Array.from({ length: 40 }, (_, i) => [i % 3 === 0 ? 'oops' : String(i), i % 2]);
    const source = await writeCsv(path.join(dir, 'v.csv'), ['n', 'y'], rows);
    const r = await prepareLocal({
      spec: dataSpec({ source, target: 'y', schema: { n: 'numeric' } }),
      specDir: '/',
      workDir: dir,
    });
    expect(find(r.validation.findings, 'type_violation', 'n')).toMatchObject({
      severity: 'error',
      count: 14,
    });
    expect(r.validation.findings.map((x) => x.message).join('\n')).not.toContain('oops');
  });

  it('finds a feature that leaks the target (binary, multiclass, regression)', async () => {
    const dir = await scratch();
    const { file } = await makeClassification(dir, { rows: 2000, leak: true });
    const r = await prepareLocal({
      spec: dataSpec({ source: file, target: 'label' }),
      specDir: '/',
      workDir: dir,
    });
    const leak = find(r.validation.findings, 'target_leak', 'leaky');
    expect(leak).toMatchObject({ severity: 'error' });
    expect(leak?.message).toMatch(/AUC 1/);
    expect(find(r.validation.findings, 'target_leak', 'x1')).toBeUndefined();
    expect(r.validation.passed).toBe(false);

    const rm = rng(3);
    const mc: unknown[][] = Array.from({ length: 600 }, (_, i) => {
      const cls = ['low', 'mid', 'high'][i % 3]!;
      return [rm(), cls === 'low' ? 'L' : cls === 'mid' ? 'M' : 'H', rm() * 10 + (i % 3) * 10, cls];
    });
    const mcFile = await writeCsv(path.join(dir, 'mc.csv'), ['noise', 'code', 'level', 'cls'], mc);
    const m = await prepareLocal({
      spec: dataSpec({ source: mcFile, target: 'cls' }),
      specDir: '/',
      workDir: dir,
    });
    expect(m.schema.task).toBe('multiclass');
    expect(find(m.validation.findings, 'target_leak', 'code')?.message).toMatch(/accuracy 1 /);
    expect(find(m.validation.findings, 'target_leak', 'level')).toMatchObject({ severity: 'error' });
    expect(find(m.validation.findings, 'target_leak', 'noise')).toBeUndefined();

    const reg: unknown[][] = Array.from({ length: 500 }, () => {
      const a = rm() * 100;
      return [a, a * 2 + 1, rm() * 3];
    });
    const regFile = await writeCsv(path.join(dir, 'reg.csv'), ['a', 'y', 'b'], reg);
    const g = await prepareLocal({
      spec: dataSpec({ source: regFile, target: 'y' }),
      specDir: '/',
      workDir: dir,
    });
    expect(g.schema.task).toBe('regression');
    expect(find(g.validation.findings, 'target_leak', 'a')?.message).toMatch(/R² 1 /);
    expect(find(g.validation.findings, 'target_leak', 'b')).toBeUndefined();
  });
});

describe('personal data', () => {
  const piiColumns = ['contact', 'reach', 'payment', 'host', 'ssn'];

  async function rawValues(): Promise<string[]> {
    const text = await readFile(fixture('pii.csv'), 'utf8');
    const [, ...lines] = text.trim().split('\n');
    return lines.flatMap((l) => l.split(',').slice(1, 6));
  }

  it('pii "reject": an error finding per column (e-mail, phone, card, IP, a column named ssn), naming it', async () => {
    const workDir = await scratch();
    const r = await prepareLocal({
      spec: dataSpec({ source: fixture('pii.csv'), target: 'label', exclude: ['id'] }),
      specDir: '/',
      workDir,
    });
    const pii = r.validation.findings.filter((f) => f.kind === 'pii');
    expect(pii.map((f) => f.column)).toEqual(piiColumns);
    expect(pii.every((f) => f.severity === 'error')).toBe(true);
    expect(find(pii, 'pii', 'contact')?.message).toMatch(
      /40 of 40 values look like e-mail addresses, e\.g\. \w\*\*\*@\*\*\*\.com/,
    );
    expect(find(pii, 'pii', 'reach')?.message).toMatch(/phone numbers/);
    expect(find(pii, 'pii', 'payment')?.message).toMatch(/payment card numbers/);
    expect(find(pii, 'pii', 'host')?.message).toMatch(/IP addresses/);
    expect(find(pii, 'pii', 'ssn')?.message).toMatch(/name says.*"ssn"/);
    expect(r.validation.passed).toBe(false);
    for (const c of piiColumns) expect(r.validation.reasons.some((m) => m.includes(`"${c}"`))).toBe(true);
    // nothing personal is written anywhere
    expect(r.schema.features.map((f) => f.name)).toEqual(['score', 'region']);
    const everything = [
      JSON.stringify(r.validation),
      JSON.stringify(r.profile),
      JSON.stringify(r.schema),
      JSON.stringify(r.transforms),
      await readFile(r.files['manifest.json']!, 'utf8'),
      JSON.stringify(await readParquet(r.files['train.parquet']!)),
    ].join('\n');
    for (const v of await rawValues()) expect(everything).not.toContain(v);
  });

  it('pii "drop": the columns go, each recorded in a warning; the gate passes', async () => {
    const workDir = await scratch();
    const r = await prepareLocal({
      spec: dataSpec({ source: fixture('pii.csv'), target: 'label', exclude: ['id'], pii: 'drop' }),
      specDir: '/',
      workDir,
    });
    const dropped = r.validation.findings.filter((f) => f.kind === 'pii_dropped');
    expect(dropped.map((f) => f.column)).toEqual(piiColumns);
    expect(dropped.every((f) => f.severity === 'warning' && /was dropped/.test(f.message))).toBe(true);
    expect(r.validation.passed).toBe(true);
    expect(r.schema.excluded).toEqual(
      expect.arrayContaining(piiColumns.map((name) => ({ name, reason: 'personal data, dropped' }))),
    );
    const columns = Object.keys((await readParquet(r.files['test.parquet']!))[0]!);
    expect(columns).toEqual(['score', 'region', 'label']);
    const report = JSON.stringify(r.validation);
    for (const v of await rawValues()) expect(report).not.toContain(v);
  });

  it('columns listed in data.features are checked too; excluded ones are not', async () => {
    const r = await prepareLocal({
      spec: dataSpec({ source: fixture('pii.csv'), target: 'label', features: ['score', 'contact'] }),
      specDir: '/',
      workDir: await scratch(),
    });
    expect(r.validation.findings.filter((f) => f.kind === 'pii').map((f) => f.column)).toEqual(['contact']);
  });
});
