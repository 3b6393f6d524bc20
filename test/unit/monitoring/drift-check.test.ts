import { describe, expect, it } from 'vitest';
import { KaizenError } from '../../../src/errors';
import { checkDrift, driftCheckId, storeDriftReport } from '../../../src/monitoring/drift-check';
import { resolveIn } from '../../../src/registry/registry';
import type { DatasetProfile, ModelVersion, RegistryDocument } from '../../../src/types';
import { categoricalProfile, FakeStore, profileOf, record } from './builders';

function version(n: number, accuracy = 0.8): ModelVersion {
  return {
    version: n,
    createdAt: '2026-01-01T00:00:00.000Z',
    artifactUri: `s3://kaizen/models/m/${n}/model.kzn`,
    artifactSha256: 'x',
    task: 'binary',
    metrics: { test: { accuracy }, baseline: {} },
    training: {
      backend: 'cpu',
      epochs: 1,
      bestEpoch: 1,
      resumedFromEpoch: null,
      samplesPerSecond: 1,
      history: [],
    },
    lineage: {
      dataVersion: 'sha256:d',
      datasetUri: `s3://kaizen/datasets/d${n}/`,
      specHash: 'h',
      code: { gitCommit: null, packageVersion: '0' },
      libraries: {},
      hyperParameters: {},
      workflowId: `w${n}`,
      runId: 'r',
    },
  };
}

function fakeRegistry(doc: RegistryDocument | null, profiles: Record<number, DatasetProfile | null>) {
  return {
    async require(model: string): Promise<RegistryDocument> {
      if (!doc) throw new KaizenError('ModelNotFound', `no model "${model}" in the registry`);
      return doc;
    },
    async readProfile(v: ModelVersion): Promise<DatasetProfile | null> {
      return profiles[v.version] ?? null;
    },
  };
}

const profile = profileOf(
  [
    categoricalProfile('carrier', [
      ['a', 50],
      ['b', 50],
    ]),
  ],
  { classes: { no: 0.8, yes: 0.2 } },
);
const doc: RegistryDocument = {
  model: 'm',
  versions: [version(1), version(2)],
  aliases: { production: 2 },
  history: [],
};
const NOW = new Date('2026-03-03T12:00:00.000Z');

describe('checkDrift', () => {
  it('compares the window with the production version: rows of every version, predictions of its own', async () => {
    const store = new FakeStore();
    const batch = (at: string, v: number, carrier: string, p: number) =>
      record(
        at,
        Array.from({ length: 10 }, () => ({ carrier })),
        {
          version: v,
          predictions: Array.from({ length: 10 }, () => ({ label: p >= 0.5 ? 'yes' : 'no', probability: p })),
        },
      );
    const records = [];
    for (let i = 0; i < 30; i++) records.push(batch('2026-03-03T11:30:00.000Z', 2, i % 2 ? 'a' : 'b', 0.2));
    // version 1 (a canary, say) predicts differently: not part of version 2's prediction drift
    for (let i = 0; i < 30; i++) records.push(batch('2026-03-03T11:31:00.000Z', 1, i % 2 ? 'a' : 'b', 0.9));
    // before the window
    records.push(batch('2026-03-03T10:59:59.000Z', 2, 'zzz', 0.9));
    store.putNdjson('predictions/m/2026-03-03/11-30-00-a-1.ndjson', records);
    store.putNdjson('predictions/m/2026-03-03/11-00-00-a-1.ndjson', [
      batch('2026-03-03T10:59:59.000Z', 2, 'zzz', 0.9),
    ]);

    const report = await checkDrift({
      store,
      registry: fakeRegistry(doc, { 2: profile }),
      model: 'm',
      windowMs: 3_600_000,
      now: NOW,
      options: { minSamples: 100 },
      feedback: { labelled: 200, correct: 100 },
    });
    expect(report.version).toBe(2);
    expect(report.window).toEqual({ from: '2026-03-03T11:00:00.000Z', to: '2026-03-03T12:00:00.000Z' });
    expect(report.samples).toBe(600);
    expect(report.drifted).toBe(false);
    expect(report.prediction.samples).toBe(300);
    expect(report.prediction.drifted).toBe(false);
    expect(report.accuracy).toMatchObject({ live: 0.5, test: 0.8, drifted: true });
    expect(report.log).toEqual({ objects: 2, records: 60, rows: 600, unreadable: 0 });
  });

  it('an explicit version uses that version', async () => {
    const report = await checkDrift({
      store: new FakeStore(),
      registry: fakeRegistry(doc, { 1: profile }),
      model: 'm',
      version: 1,
      windowMs: 60_000,
      now: NOW,
    });
    expect(report.version).toBe(1);
    expect(report.drifted).toBe('insufficient data');
  });

  it('names the model when there is nothing to compare with', async () => {
    const run = (d: RegistryDocument | null, profiles: Record<number, DatasetProfile | null>, v?: number) =>
      checkDrift({
        store: new FakeStore(),
        registry: fakeRegistry(d, profiles),
        model: 'm',
        version: v,
        windowMs: 60_000,
        now: NOW,
      });
    await expect(run(null, {})).rejects.toMatchObject({
      type: 'ModelNotFound',
      message: 'no model "m" in the registry',
    });
    await expect(run({ ...doc, aliases: {} }, {})).rejects.toMatchObject({
      type: 'ModelNotFound',
      message: expect.stringMatching(/model "m" has no production version/),
    });
    await expect(run(doc, { 2: profile }, 7)).rejects.toMatchObject({
      type: 'ModelNotFound',
      message: 'model "m" has no version 7',
    });
    await expect(run(doc, {})).rejects.toMatchObject({
      type: 'ModelNotFound',
      message: expect.stringMatching(/version 2 of model "m" has no training data profile/),
    });
  });

  it('stores the report under reports/<id>/drift.json', async () => {
    const store = new FakeStore();
    const report = await checkDrift({
      store,
      registry: fakeRegistry(doc, { 2: profile }),
      model: 'm',
      windowMs: 60_000,
      now: NOW,
    });
    const id = driftCheckId('m', NOW);
    expect(id).toBe('drift-check-m-20260303T120000Z');
    expect(await storeDriftReport(store, id, report)).toBe(
      's3://kaizen/reports/drift-check-m-20260303T120000Z/drift.json',
    );
    expect(JSON.parse(store.objects.get('reports/drift-check-m-20260303T120000Z/drift.json')!)).toEqual(
      report,
    );
    expect(resolveIn(doc, 'production').version).toBe(2);
  });
});
