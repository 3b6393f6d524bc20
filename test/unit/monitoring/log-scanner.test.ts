import { describe, expect, it } from 'vitest';
import { DriftAccumulator, type DriftReport } from '../../../src/monitoring/drift';
import { LogScanner, type ScanWindow } from '../../../src/monitoring/log-scanner';
import { parseRecords, scanPredictionLog } from '../../../src/monitoring/prediction-log-reader';
import type { DatasetProfile } from '../../../src/types';
import { rng } from '../data/helpers';
import { categoricalProfile, FakeStore, numericProfile, profileOf, record } from './builders';

const META = {
  model: 'm',
  version: 2,
  window: { from: '2026-03-03T00:00:00.000Z', to: '2026-03-04T00:00:00.000Z' },
};
const WINDOW: ScanWindow = {
  from: new Date(META.window.from),
  to: new Date(META.window.to),
  predictionsOf: 2,
};

/** The same lines through JSON.parse and addRecord: what the scanner must match exactly. */
function viaJson(
  profile: DatasetProfile,
  body: string,
  w: ScanWindow,
): { report: DriftReport; unreadable: number } {
  const acc = new DriftAccumulator(profile, { minSamples: 1 });
  const stats = { unreadable: 0 };
  for (const r of parseRecords(body, stats)) {
    const t = Date.parse(r.at);
    if (!(t >= w.from.getTime() && t < w.to.getTime())) continue;
    if (w.version !== undefined && r.version !== w.version) continue;
    acc.addRecord(r, w.predictionsOf === undefined || r.version === w.predictionsOf);
  }
  return { report: acc.report(META), unreadable: stats.unreadable };
}

function viaScanner(
  profile: DatasetProfile,
  body: string,
  w: ScanWindow,
): { report: DriftReport; unreadable: number; records: number } {
  const acc = new DriftAccumulator(profile, { minSamples: 1 });
  const scanner = new LogScanner(acc, w);
  scanner.scan(Buffer.from(body));
  return { report: acc.report(META), unreadable: scanner.stats.unreadable, records: scanner.stats.records };
}

const EDGES = [0.1, 2.675, 1e-7, 123456.789, -3.5, 7];
const profile = profileOf(
  [
    numericProfile('distance', {
      bins: { edges: [-3.5, 0.1, 7], shares: [0.1, 0.3, 0.4, 0.2] },
      cdf: { values: [...EDGES].sort((a, b) => a - b), shares: [0.1, 0.15, 0.3, 0.6, 0.8, 0.9] },
    }),
    numericProfile('flag', {
      kind: 'boolean',
      bins: { edges: [0], shares: [0.5, 0.5] },
      cdf: { values: [0, 1], shares: [0.5, 1] },
    }),
    categoricalProfile(
      'origin',
      [
        ['café', 40],
        ['JFK', 30],
        ['{"a":1}', 5],
        ['true', 5],
        ['12', 10],
      ],
      { count: 100, missing: 10 },
    ),
  ],
  { classes: { no: 0.7, yes: 0.3 } },
);

describe('the log scanner', () => {
  it('counts exactly what JSON.parse and addRecord count, whatever the JSON looks like', () => {
    const lines = [
      JSON.stringify(
        record('2026-03-03T01:00:00.000Z', [{ distance: 0.1, flag: true, origin: 'café' }], { version: 2 }),
      ),
      // spaces, unknown members with nested values, escapes in keys, values and other strings
      `{ "request_id" : "a\\"b", "extra": {"x": [1, {"y": null}], "z": "}"} , "version" : 2, "at" : "2026-03-03T02:00:00.000Z",
        "instances" : [ { "dist\\u0061nce" : 2.675, "origin" : "caf\\u00e9", "flag": false, "unknown": [1,2] }, { "distance": -3.5e0, "origin": null, "flag": null } ],
        "predictions" : [ {"label": "yes", "probability": 0.75}, {"probability": 0.25, "label": "no"} ], "fallback": false }`.replaceAll(
        '\n',
        ' ',
      ),
      // numbers: exponents, many digits, ties on the edges, numeric text, nested and odd categories
      JSON.stringify(
        record(
          '2026-03-03T03:00:00.000Z',
          [
            { distance: 1e-7, origin: { a: 1 } },
            { distance: 123456.789, origin: true },
            { distance: 0.30000000000000004, origin: 12 },
            { distance: '7', origin: 'JFK' },
            { distance: 1234567890123456789, origin: 'LGA' },
            { distance: -0, origin: '' },
          ],
          {
            version: 2,
            predictions: [
              { label: 'maybe', probability: 0.9 },
              { label: 'no', probabilities: { no: 0.6, yes: 0.4 } },
            ],
          },
        ),
      ),
      // another version: rows count, predictions do not; a fallback: the same
      JSON.stringify(
        record('2026-03-03T04:00:00.000Z', [{ distance: 5, origin: 'JFK' }], {
          version: 1,
          predictions: [{ label: 'yes', probability: 0.99 }],
        }),
      ),
      JSON.stringify(
        record('2026-03-03T04:00:01.000Z', [{ distance: 5, origin: 'JFK' }], {
          version: 2,
          fallback: true,
          predictions: [{ label: 'yes', probability: 0.99 }],
        }),
      ),
      // outside the window, and inside it with an offset
      JSON.stringify(record('2026-03-04T00:00:00.000Z', [{ distance: 5, origin: 'JFK' }], { version: 2 })),
      JSON.stringify(record('2026-03-03T00:30:00+01:00', [{ distance: 5, origin: 'JFK' }], { version: 2 })),
      JSON.stringify(record('2026-03-03T01:30:00+01:00', [{ distance: 6, origin: 'JFK' }], { version: 2 })),
      // CRLF, blank lines
      `${JSON.stringify(record('2026-03-03T05:00:00.000Z', [{ distance: 8, origin: 'JFK' }], { version: 2 }))}\r`,
      '',
      '   ',
      // torn and odd lines: nothing of them counts
      JSON.stringify(
        record('2026-03-03T06:00:00.000Z', [{ distance: 9, origin: 'JFK' }], { version: 2 }),
      ).slice(0, 60),
      '{"at": "2026-03-03T06:00:00.000Z", "version": 2}',
      '[1, 2]',
      '{"at": "2026-03-03T06:00:00.000Z", "instances": [{"distance": 1}]} trailing',
    ];
    const body = lines.join('\n');
    const json = viaJson(profile, body, WINDOW);
    const scanned = viaScanner(profile, body, WINDOW);
    expect(scanned.report).toEqual(json.report);
    expect(scanned.unreadable).toBe(json.unreadable);
    expect(scanned.unreadable).toBe(4);
    expect(scanned.records).toBe(7);
    expect(scanned.report.samples).toBe(13);
    // not version 1's, not the fallback's
    expect(scanned.report.prediction.samples).toBe(7);
    expect(scanned.report.prediction.labels!['maybe']).toBeCloseTo(1 / 7, 5);
  });

  it('reads decimals exactly: values on the training edges fall on the same side as with JSON.parse', () => {
    const r = rng(7);
    const values = Array.from({ length: 3000 }, (_, i) => {
      const digits = 1 + (i % 15);
      const x = (r() - 0.5) * 10 ** ((i % 9) - 3);
      return Number(x.toPrecision(digits));
    });
    const cuts = [...new Set(values)].sort((a, b) => a - b).filter((_, i) => i % 3 === 0);
    const fine = numericProfile('x', {
      cdf: { values: cuts, shares: cuts.map((_, i) => (i + 1) / cuts.length) },
    });
    const p = profileOf([fine]);
    const body = values
      .map((x, i) => JSON.stringify(record(`2026-03-03T0${i % 10}:00:00.000Z`, [{ x }], { version: 2 })))
      .join('\n');
    const scanned = viaScanner(p, body, WINDOW).report;
    expect(scanned).toEqual(viaJson(p, body, WINDOW).report);
    expect(scanned.features.find((f) => f.test === 'ks')!.score).toBeGreaterThan(0);
  });

  it('scanPredictionLog reads the store and fills the stats', async () => {
    const store = new FakeStore();
    store.putNdjson('predictions/m/2026-03-03/01-00-00-a-1.ndjson', [
      record(
        '2026-03-03T01:00:10.000Z',
        [
          { distance: 1, origin: 'JFK' },
          { distance: 2, origin: 'JFK' },
        ],
        { version: 2 },
      ),
      record('2026-03-02T01:00:10.000Z', [{ distance: 1, origin: 'JFK' }], { version: 2 }),
    ]);
    const acc = new DriftAccumulator(profile, { minSamples: 1 });
    const stats = await scanPredictionLog(
      store,
      { model: 'm', from: WINDOW.from, to: WINDOW.to, predictionsOf: 2 },
      acc,
    );
    expect(stats).toEqual({ objects: 1, records: 1, rows: 2, unreadable: 0 });
    expect(acc.samples).toBe(2);
  });
});
