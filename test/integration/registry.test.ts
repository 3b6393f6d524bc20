import { randomUUID } from 'node:crypto';
import { promote } from '../helpers/production';
import { describe, expect, it } from 'vitest';
import { ModelRegistry, type NewVersion } from '../../src/registry/registry';
import { sha256Hex } from '../../src/hashing';
import { createObjectStore } from '../../src/storage/object-store';
import { testConfig } from '../helpers/stack-env';

function newVersion(store: ReturnType<typeof createObjectStore>, workflowId: string, sourceKey: string, bytes: Buffer): NewVersion {
  return {
    sourceArtifactUri: store.uri(sourceKey),
    artifactFile: 'model.kzn',
    artifactSha256: sha256Hex(bytes),
    task: 'binary',
    metrics: { test: { auc: 0.7 }, baseline: { auc: 0.5 } },
    training: { backend: 'cpu', epochs: 1, bestEpoch: 1, resumedFromEpoch: null, samplesPerSecond: 1, history: [] },
    lineage: {
      dataVersion: 'sha256:0',
      datasetUri: store.uri('datasets/0/'),
      specHash: 'sha256:0',
      code: { gitCommit: null, packageVersion: '0.0.0' },
      libraries: {},
      hyperParameters: {},
      workflowId,
      runId: 'r',
    },
  };
}

describe('model registry on real MinIO', () => {
  const store = createObjectStore(testConfig());
  const registry = new ModelRegistry(store);

  async function scratchArtifact(): Promise<{ key: string; bytes: Buffer }> {
    const bytes = Buffer.from(`artifact ${randomUUID()}`);
    const key = `checkpoints/${randomUUID()}/model.kzn`;
    await store.put(key, bytes);
    return { key, bytes };
  }

  it('gives concurrent registrations distinct versions and loses none', async () => {
    const model = `reg-race-${randomUUID().slice(0, 8)}`;
    const artifacts = await Promise.all(Array.from({ length: 8 }, () => scratchArtifact()));
    const versions = await Promise.all(
      artifacts.map((a, i) => new ModelRegistry(createObjectStore(testConfig())).register(model, newVersion(store, `wf-${i}`, a.key, a.bytes))),
    );
    expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const doc = await registry.require(model);
    expect(doc.versions).toHaveLength(8);
    for (const v of versions) {
      const stored = await registry.loadArtifact(doc.versions.find((x) => x.version === v.version)!);
      expect(sha256Hex(stored)).toBe(v.artifactSha256);
    }
  });

  it('is idempotent per workflow: a retried registration returns the same version', async () => {
    const model = `reg-idem-${randomUUID().slice(0, 8)}`;
    const a = await scratchArtifact();
    const first = await registry.register(model, newVersion(store, 'wf-same', a.key, a.bytes));
    const again = await registry.register(model, newVersion(store, 'wf-same', a.key, a.bytes));
    expect(again.version).toBe(first.version);
    expect((await registry.require(model)).versions).toHaveLength(1);
  });

  it('refuses a tampered artifact', async () => {
    const model = `reg-tamper-${randomUUID().slice(0, 8)}`;
    const a = await scratchArtifact();
    const v = await registry.register(model, newVersion(store, 'wf-t', a.key, a.bytes));
    await store.put(store.keyOf(v.artifactUri), Buffer.concat([a.bytes, Buffer.from('!')]));
    await expect(registry.loadArtifact(v)).rejects.toMatchObject({ type: 'ArtifactIntegrity' });
  });

  it('moves aliases with history, keeps production in one record, and refuses unknown versions', async () => {
    const model = `reg-alias-${randomUUID().slice(0, 8)}`;
    const a = await scratchArtifact();
    const b = await scratchArtifact();
    await registry.register(model, newVersion(store, 'wf-a', a.key, a.bytes));
    await registry.register(model, newVersion(store, 'wf-b', b.key, b.bytes));
    await registry.moveAlias(model, 'staging', 1, { reason: 'first', by: 'test' });
    await registry.moveAlias(model, 'staging', 2, { reason: 'stage', by: 'test', workflowId: 'wf-b' });
    expect(await registry.moveAlias(model, 'staging', 2, { reason: 'again', by: 'test' })).toBeNull();
    await expect(registry.moveAlias(model, 'production', 2, { reason: 'x', by: 't' })).rejects.toMatchObject({ type: 'SpecInvalid' });
    await promote(registry, model, 1);
    await promote(registry, model, 2);
    const doc = await registry.require(model);
    expect(doc.aliases).toEqual({ staging: 2 });
    expect(doc.history.map((h) => [h.from, h.to, h.reason])).toEqual([
      [null, 1, 'first'],
      [1, 2, 'stage'],
    ]);
    expect(doc.production).toMatchObject({ champion: 2, weights: { '2': 100 }, warm: [1], previousChampion: 1, revision: 2 });
    expect(doc.productionHistory?.map((h) => [h.action, h.from, h.champion])).toEqual([
      ['promote', null, 1],
      ['promote', 1, 2],
    ]);
    await expect(promote(registry, model, 9)).rejects.toMatchObject({ type: 'ModelNotFound' });
    expect((await registry.resolve(model, 'production')).version).toBe(2);
  });
});
