// Checks against a reference profile (the production model's training data): out-of-range
// numerics, unseen categories, a shift of the label distribution.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareLocal } from '../../../src/data/prepare';
import type { DataSpec, Finding, ValidationThresholds } from '../../../src/types';
import { cleanScratch, dataSpec, rng, scratch, VEGA, writeCsv } from './helpers';

afterAll(cleanScratch);

const kinds = (findings: Finding[], kind: Finding['kind']): Finding[] =>
  findings.filter((f) => f.kind === kind);

function flights(month: number, validation: Partial<ValidationThresholds> = {}): DataSpec {
  return dataSpec({
    source: path.join(VEGA, 'flights-5k.json'),
    where: `month(CAST(date AS TIMESTAMP)) = ${month}`,
    derive: { late: 'delay > 15', hour: 'hour(CAST(date AS TIMESTAMP))' },
    target: 'late',
    exclude: ['delay', 'date'],
    validation,
  });
}

describe('against a reference profile', () => {
  it('real data, January as the reference for February: unseen airports, the late share moving', async () => {
    const january = await prepareLocal({ spec: flights(1), specDir: '/', workDir: await scratch() });
    const february = await prepareLocal({
      spec: flights(2, { maxLabelShift: 0.05 }),
      specDir: '/',
      workDir: await scratch(),
      reference: january.profile,
    });
    const f = february.validation.findings;
    const shift = kinds(f, 'label_shift');
    expect(shift).toHaveLength(1);
    expect(shift[0]).toMatchObject({ column: null, severity: 'error' });
    expect(shift[0]!.message).toMatch(/label "true" moved from 0\.19\d* to 0\.25\d*/);
    expect(february.validation.metrics['labelShift']).toBeCloseTo(0.0577, 3);
    const unseen = kinds(f, 'unseen_category');
    expect(unseen.map((u) => u.column).sort()).toEqual(['destination', 'origin']);
    expect(unseen.every((u) => u.count > 0 && /categories the reference never saw/.test(u.message))).toBe(
      true,
    );
    // the same data against itself: nothing to report
    const again = await prepareLocal({
      spec: flights(1),
      specDir: '/',
      workDir: await scratch(),
      reference: january.profile,
    });
    expect(kinds(again.validation.findings, 'label_shift')).toEqual([]);
    expect(kinds(again.validation.findings, 'unseen_category')).toEqual([]);
    expect(kinds(again.validation.findings, 'out_of_range')).toEqual([]);
  });

  it('a training set with 30% of its labels flipped is blocked by the label-shift check against the production reference, with the default thresholds', async () => {
    const january = await prepareLocal({ spec: flights(1), specDir: '/', workDir: await scratch() });
    // the same January flights, 30% of them (a fixed, hashed choice) with the label inverted
    const flipped = dataSpec({
      source: path.join(VEGA, 'flights-5k.json'),
      where: 'month(CAST(date AS TIMESTAMP)) = 1',
      derive: {
        late: "CASE WHEN hash(date, origin, destination, delay) % 10 < 3 THEN NOT (delay > 15) ELSE delay > 15 END",
        hour: 'hour(CAST(date AS TIMESTAMP))',
      },
      target: 'late',
      exclude: ['delay', 'date'],
    });
    const poisoned = await prepareLocal({ spec: flipped, specDir: '/', workDir: await scratch(), reference: january.profile });
    const shift = kinds(poisoned.validation.findings, 'label_shift');
    expect(shift).toEqual([expect.objectContaining({ severity: 'error' })]);
    expect(shift[0]!.message).toMatch(/label "true" moved from 0\.1\d* to 0\.3\d*/);
    expect(poisoned.validation.metrics['labelShift']).toBeGreaterThan(0.15);
    expect(poisoned.validation.passed).toBe(false);
    // without the flip, the same spec against the same reference passes the check
    const clean = await prepareLocal({ spec: flights(1), specDir: '/', workDir: await scratch(), reference: january.profile });
    expect(kinds(clean.validation.findings, 'label_shift')).toEqual([]);
  });

  it('out-of-range numerics and unseen categories: warnings below the threshold, errors above', async () => {
    const dir = await scratch();
    const r = rng(9);
    const make = (
      n: number,
      opts: { x: (i: number) => number; colour: (i: number) => string; p: number },
    ): unknown[][] =>
      Array.from({ length: n }, (_, i) => [opts.x(i).toFixed(3), opts.colour(i), r() < opts.p]);
    const reference = await writeCsv(
      path.join(dir, 'ref.csv'),
      ['x', 'colour', 'y'],
      make(1000, { x: () => r() * 10, colour: (i) => ['red', 'blue'][i % 2]!, p: 0.3 }),
    );
    // 1 of 1000 values out of range (0.1% < 1%), but 5% of colours new (> 1%), and a label shift of ~0.4
    const current = await writeCsv(
      path.join(dir, 'cur.csv'),
      ['x', 'colour', 'y'],
      make(1000, {
        x: (i) => (i === 0 ? 50 : r() * 9.9),
        colour: (i) => (i % 20 === 0 ? 'purple' : ['red', 'blue'][i % 2]!),
        p: 0.7,
      }),
    );
    const ref = await prepareLocal({
      spec: dataSpec({ source: reference, target: 'y' }),
      specDir: '/',
      workDir: dir,
    });
    const cur = await prepareLocal({
      spec: dataSpec({ source: current, target: 'y' }),
      specDir: '/',
      workDir: dir,
      reference: ref.profile,
    });
    const f = cur.validation.findings;
    expect(kinds(f, 'out_of_range')).toEqual([
      expect.objectContaining({ column: 'x', count: 1, severity: 'warning' }),
    ]);
    expect(kinds(f, 'unseen_category')).toEqual([
      expect.objectContaining({ column: 'colour', count: 50, severity: 'error' }),
    ]);
    expect(kinds(f, 'unseen_category')[0]!.message).toMatch(/1 categories.*"purple"/);
    expect(kinds(f, 'label_shift')).toEqual([expect.objectContaining({ severity: 'error' })]);
    expect(cur.validation.passed).toBe(false);

    // a stricter out-of-range threshold turns the same finding into an error
    const strict = await prepareLocal({
      spec: dataSpec({ source: current, target: 'y', validation: { maxOutOfRangeFraction: 0 } }),
      specDir: '/',
      workDir: dir,
      reference: ref.profile,
    });
    expect(kinds(strict.validation.findings, 'out_of_range')[0]).toMatchObject({ severity: 'error' });
  });

  it('regression: the label shift compares the shares of the reference histogram bins', async () => {
    const dir = await scratch();
    const r = rng(4);
    const rows = (offset: number): unknown[][] =>
      Array.from({ length: 800 }, () => [r() * 10, r() * 100 + offset]);
    const ref = await prepareLocal({
      spec: dataSpec({ source: await writeCsv(path.join(dir, 'a.csv'), ['x', 'y'], rows(0)), target: 'y' }),
      specDir: '/',
      workDir: dir,
    });
    expect(ref.schema.task).toBe('regression');
    expect(ref.profile.label.numeric?.histogram.counts).toHaveLength(20);
    const same = await prepareLocal({
      spec: dataSpec({ source: await writeCsv(path.join(dir, 'b.csv'), ['x', 'y'], rows(0)), target: 'y' }),
      specDir: '/',
      workDir: dir,
      reference: ref.profile,
    });
    expect(kinds(same.validation.findings, 'label_shift')).toEqual([]);
    const moved = await prepareLocal({
      spec: dataSpec({ source: await writeCsv(path.join(dir, 'c.csv'), ['x', 'y'], rows(60)), target: 'y' }),
      specDir: '/',
      workDir: dir,
      reference: ref.profile,
    });
    expect(kinds(moved.validation.findings, 'label_shift')).toEqual([
      expect.objectContaining({ severity: 'error' }),
    ]);
    expect(kinds(moved.validation.findings, 'label_shift')[0]!.message).toMatch(/target values in \[/);
  });
});
