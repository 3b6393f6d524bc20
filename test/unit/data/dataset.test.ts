// Publishing to the object store (content-addressed, manifest last, nothing uploaded twice),
// reading datasets back, fetching s3:// sources. An in-memory store stands in for MinIO.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DATASET_FILES,
  downloadDataset,
  loadDatasetDir,
  readProfile,
  readRemoteProfile,
} from '../../../src/data/dataset';
import { prepareDataset, prepareLocal } from '../../../src/data/prepare';
import { KaizenError } from '../../../src/errors';
import type { ObjectStore } from '../../../src/storage/object-store';
import { cleanScratch, dataSpec, fixture, makeClassification, scratch } from './helpers';

afterAll(cleanScratch);

/** The subset of ObjectStore the data stage uses, in memory; `failPut` makes one upload fail like a MinIO restart. */
class MemoryStore {
  readonly bucket = 'kaizen';
  readonly objects = new Map<string, Buffer>();
  readonly log: string[] = [];
  failPut: string | null = null;

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }
  keyOf(uri: string): string {
    return uri.replace(`s3://${this.bucket}/`, '');
  }
  private id(key: string, bucket = this.bucket): string {
    return `${bucket}/${key}`;
  }
  async stat(key: string, bucket = this.bucket) {
    const b = this.objects.get(this.id(key, bucket));
    return b ? { key, etag: `etag-${b.length}`, size: b.length, lastModified: new Date(0) } : null;
  }
  async exists(key: string): Promise<boolean> {
    return this.objects.has(this.id(key));
  }
  async putFile(key: string, file: string) {
    if (this.failPut && key.endsWith(this.failPut)) {
      this.failPut = null;
      throw new KaizenError(
        'StorageUnavailable',
        `object store unreachable while uploading ${key}: ECONNREFUSED`,
      );
    }
    const body = await readFile(file);
    this.objects.set(this.id(key), body);
    this.log.push(`put ${key}`);
    return { key, etag: 'x', size: body.length };
  }
  async put(key: string, body: Buffer | string) {
    this.objects.set(this.id(key), Buffer.from(body));
    this.log.push(`put ${key}`);
    return { etag: 'x' };
  }
  async getJson<T>(key: string) {
    const b = this.objects.get(this.id(key));
    return b ? { value: JSON.parse(b.toString('utf8')) as T, etag: 'x' } : null;
  }
  async getFile(key: string, file: string, bucket = this.bucket): Promise<void> {
    const b = this.objects.get(this.id(key, bucket));
    if (!b) throw new KaizenError('DataSourceNotFound', `no object s3://${bucket}/${key}`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, b);
    this.log.push(`get ${key}`);
  }
}

const asStore = (s: MemoryStore): ObjectStore => s as unknown as ObjectStore;

describe('prepareDataset', () => {
  it('publishes datasets/<sha256>/ with the manifest last, and reuses it without uploading again', async () => {
    const store = new MemoryStore();
    const dir = await scratch();
    const { file } = await makeClassification(dir, { rows: 300 });
    const input = {
      spec: dataSpec({ source: file, target: 'label' }),
      specDir: '/',
      store: asStore(store),
      specHash: 'spec-1',
    };
    const first = await prepareDataset({ ...input, workDir: path.join(dir, 'w1') });
    const hex = first.dataVersion.replace('sha256:', '');
    expect(first.uri).toBe(`s3://kaizen/datasets/${hex}/`);
    expect(first.reused).toBe(false);
    expect(first.rows.total).toBe(300);
    expect(first.validation.rows).toBe(300);
    expect(first.schema.target).toBe('label');
    expect(store.log).toEqual([...DATASET_FILES, 'manifest.json'].map((n) => `put datasets/${hex}/${n}`));
    const manifest = (await store.getJson<{
      specHash: string;
      dataVersion: string;
      rows: unknown;
      source: { uri: string; size: number; sha256: string };
    }>(`datasets/${hex}/manifest.json`))!.value;
    expect(manifest).toMatchObject({
      specHash: 'spec-1',
      dataVersion: first.dataVersion,
      rows: first.rows,
      source: { uri: file },
    });
    expect(manifest.source.sha256).toMatch(/^[0-9a-f]{64}$/);

    store.log.length = 0;
    const second = await prepareDataset({ ...input, workDir: path.join(dir, 'w2') });
    expect(second).toEqual({ ...first, reused: true });
    expect(store.log).toEqual([]);

    // another pipeline spec with the same data section: the same dataset
    const third = await prepareDataset({ ...input, specHash: 'spec-2', workDir: path.join(dir, 'w3') });
    expect(third.dataVersion).toBe(first.dataVersion);
  });

  it('a retried upload after the store went away completes the dataset; nothing is visible before the manifest', async () => {
    const store = new MemoryStore();
    const dir = await scratch();
    const { file } = await makeClassification(dir, { rows: 200 });
    const input = {
      spec: dataSpec({ source: file, target: 'label' }),
      specDir: '/',
      store: asStore(store),
      specHash: 'h',
    };
    store.failPut = 'profile.json';
    const err = await prepareDataset({ ...input, workDir: path.join(dir, 'a') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'StorageUnavailable' });
    expect((err as KaizenError).retryable).toBe(true);
    expect([...store.objects.keys()].some((k) => k.endsWith('manifest.json'))).toBe(false);
    const retried = await prepareDataset({ ...input, workDir: path.join(dir, 'b') });
    expect(retried.reused).toBe(false);
    expect(store.log.at(-1)).toBe(`put datasets/${retried.dataVersion.slice(7)}/manifest.json`);
  });

  it('reads an s3:// source through the store and records its ETag', async () => {
    const store = new MemoryStore();
    const dir = await scratch();
    store.objects.set('raw/incoming/people.tsv', await readFile(fixture('people.tsv')));
    const r = await prepareDataset({
      spec: dataSpec({ source: 's3://raw/incoming/people.tsv', target: 'klasse' }),
      specDir: '/',
      workDir: dir,
      store: asStore(store),
      specHash: 'h',
    });
    expect(r.schema.task).toBe('multiclass');
    const manifest = (await store.getJson<{ source: Record<string, unknown> }>(
      `datasets/${r.dataVersion.slice(7)}/manifest.json`,
    ))!.value;
    expect(manifest.source).toMatchObject({
      uri: 's3://raw/incoming/people.tsv',
      format: 'tsv',
      etag: expect.stringMatching(/^etag-/),
    });

    const missing = await prepareDataset({
      spec: dataSpec({ source: 's3://raw/nope.csv', target: 'y' }),
      specDir: '/',
      workDir: dir,
      store: asStore(store),
      specHash: 'h',
    }).catch((e: unknown) => e);
    expect(missing).toMatchObject({
      type: 'DataSourceNotFound',
      message: expect.stringContaining('s3://raw/nope.csv'),
    });
  });
});

/** A small dataset prepared and published to a fresh in-memory store. */
async function publishedDataset() {
  const store = new MemoryStore();
  const dir = await scratch();
  const { file } = await makeClassification(dir, { rows: 200 });
  const prepared = await prepareDataset({
    spec: dataSpec({ source: file, target: 'label' }),
    specDir: '/',
    workDir: path.join(dir, 'w'),
    store: asStore(store),
    specHash: 'h',
  });
  return { store, dir, prepared };
}

describe('reading datasets back', () => {
  it('loadDatasetDir and readProfile read what prepareLocal wrote', async () => {
    const dir = await scratch();
    const { file } = await makeClassification(dir, { rows: 200 });
    const r = await prepareLocal({
      spec: dataSpec({ source: file, target: 'label' }),
      specDir: '/',
      workDir: dir,
    });
    const loaded = await loadDatasetDir(r.dir);
    expect(loaded.schema).toEqual(r.schema);
    expect(loaded.transforms).toEqual(r.transforms);
    expect(loaded.validation).toEqual(r.validation);
    expect(loaded.manifest.dataVersion).toBe(r.dataVersion);
    expect(loaded.files.train).toBe(path.join(r.dir, 'train.parquet'));
    expect(await readProfile(r.dir)).toEqual(r.profile);
  });

  it('downloadDataset fetches and checks every file; a corrupted object is an ArtifactIntegrity error', async () => {
    const { store, dir, prepared } = await publishedDataset();
    const local = path.join(dir, 'download');
    const loaded = await downloadDataset(asStore(store), prepared.uri, local);
    expect(loaded.schema).toEqual(prepared.schema);
    expect(loaded.manifest.rows).toEqual(prepared.rows);
    expect(await readRemoteProfile(asStore(store), prepared.uri)).toEqual(loaded.profile);

    // a second download keeps the files it already has
    store.log.length = 0;
    await downloadDataset(asStore(store), prepared.uri, local);
    expect(store.log).toEqual([]);

    const key = `${store.keyOf(prepared.uri)}test.parquet`;
    store.objects.set(`kaizen/${key}`, Buffer.from('tampered'));
    const err = await downloadDataset(asStore(store), prepared.uri, path.join(dir, 'elsewhere')).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      type: 'ArtifactIntegrity',
      message: expect.stringContaining('test.parquet'),
    });

    const none = await downloadDataset(
      asStore(store),
      's3://kaizen/datasets/0000/',
      path.join(dir, 'none'),
    ).catch((e: unknown) => e);
    expect(none).toMatchObject({ type: 'DataSourceNotFound' });
  });

  it('a manifest in the bucket that names a file outside the dataset is refused before anything is written there', async () => {
    const { store, dir, prepared } = await publishedDataset();
    const prefix = store.keyOf(prepared.uri);
    const manifestKey = `kaizen/${prefix}manifest.json`;
    const manifest = JSON.parse(store.objects.get(manifestKey)!.toString('utf8')) as {
      files: Record<string, { sha256: string; size: number }>;
    };
    const target = path.join(dir, 'outside.txt');
    for (const evil of ['../outside.txt', '../../outside.txt', target]) {
      const forged = { ...manifest, files: { ...manifest.files, [evil]: { sha256: 'f'.repeat(64), size: 7 } } };
      store.objects.set(manifestKey, Buffer.from(JSON.stringify(forged)));
      store.objects.set(`kaizen/${prefix}${evil}`, Buffer.from('planted'));
      const err = await downloadDataset(asStore(store), prepared.uri, path.join(dir, 'download', 'x')).catch(
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ type: 'ArtifactIntegrity', message: expect.stringContaining('not a dataset file') });
      expect((err as KaizenError).retryable).toBe(false);
      expect(await readFile(target).catch(() => null)).toBeNull();
    }
  });

  it('a complete local dataset directory wins over a second preparation of the same data', async () => {
    const dir = await scratch();
    const { file } = await makeClassification(dir, { rows: 100 });
    const spec = dataSpec({ source: file, target: 'label' });
    const a = await prepareLocal({ spec, specDir: '/', workDir: dir });
    const before = await readFile(a.files['manifest.json']!);
    // a copy of the source elsewhere is the same content, but the spec names another file
    const other = path.join(dir, 'copy.csv');
    await copyFile(file, other);
    const b = await prepareLocal({ spec, specDir: '/', workDir: dir });
    expect(b.dir).toBe(a.dir);
    expect(await readFile(b.files['manifest.json']!)).toEqual(before);
    const c = await prepareLocal({ spec: { ...spec, source: other }, specDir: '/', workDir: dir });
    expect(c.dataVersion).not.toBe(a.dataVersion);
  });
});
