// Moving data: a prefix, directory or glob as data.source, narrowed by data.newest or data.window;
// every selected file is read as one table, and the dataset version follows the exact files read.
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareDataset, prepareLocal, type PrepareLocalInput } from '../../../src/data/prepare';
import {
  globToRegExp,
  MAX_SOURCE_OBJECTS,
  selectObjects,
  splitPattern,
  type ListedObject,
  type SourceIdentity,
} from '../../../src/data/source';
import type { KaizenError } from '../../../src/errors';
import type { ObjectStore } from '../../../src/storage/object-store';
import type { DataSpec } from '../../../src/types';
import {
  cleanScratch,
  csvToParquet,
  dataSpec,
  makeClassification,
  readParquet,
  scratch,
  writeCsv,
} from './helpers';

afterAll(cleanScratch);

const DAY = 86_400_000;
const NOW = new Date('2001-07-01T02:00:00Z');

/** A monthly slice `<dir>/<name>` of the classification table, last modified `daysAgo` before NOW. */
async function slice(dir: string, name: string, seed: number, daysAgo: number, rows = 200): Promise<string> {
  await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
  const { file } = await makeClassification(path.dirname(path.join(dir, name)), {
    rows,
    seed,
    name: path.basename(name),
  });
  await age(file, daysAgo);
  return file;
}

async function age(file: string, daysAgo: number): Promise<void> {
  const t = new Date(NOW.getTime() - daysAgo * DAY);
  await utimes(file, t, t);
}

/** Three monthly CSV slices: January is the oldest, March the newest. */
async function months(): Promise<string> {
  const dir = await scratch();
  const data = path.join(dir, 'flights');
  await slice(data, '2001-01.csv', 1, 60);
  await slice(data, '2001-02.csv', 2, 30);
  await slice(data, '2001-03.csv', 3, 1);
  return data;
}

async function prepare(
  source: string,
  extra: Partial<DataSpec> = {},
  input: Partial<PrepareLocalInput> = {},
): Promise<Awaited<ReturnType<typeof prepareLocal>>> {
  return prepareLocal({
    spec: dataSpec({ source, target: 'label', ...extra }),
    specDir: '/',
    workDir: await scratch('kaizen-moving-work-'),
    now: NOW,
    ...input,
  });
}

const namesOf = (source: SourceIdentity): string[] => (source.objects ?? []).map((o) => o.name);

async function failure(p: Promise<unknown>): Promise<KaizenError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!err) throw new Error('expected a failure');
  return err as KaizenError;
}

describe('patterns', () => {
  it('splitPattern: the literal directory or prefix, and the glob below it', () => {
    expect(splitPattern('s3://b/flights/')).toEqual({ root: 's3://b/flights/', glob: '**' });
    expect(splitPattern('s3://b/flights/2001-*.parquet')).toEqual({
      root: 's3://b/flights/',
      glob: '2001-*.parquet',
    });
    expect(splitPattern('/d/x/**/*.csv')).toEqual({ root: '/d/x/', glob: '**/*.csv' });
    expect(splitPattern('/d/x')).toEqual({ root: '/d/x/', glob: '**' });
    expect(splitPattern('*.csv')).toEqual({ root: '', glob: '*.csv' });
  });

  it('globToRegExp: * and ? stay in one segment, ** spans any number of them', () => {
    const star = globToRegExp('2001-*.csv');
    expect(star.test('2001-01.csv')).toBe(true);
    expect(star.test('sub/2001-01.csv')).toBe(false);
    expect(star.test('2001-01.csv.bak')).toBe(false);
    const one = globToRegExp('2001-0?.csv');
    expect(one.test('2001-03.csv')).toBe(true);
    expect(one.test('2001-10.csv')).toBe(false);
    const deep = globToRegExp('**/*.parquet');
    expect(deep.test('a.parquet')).toBe(true);
    expect(deep.test('y=2001/m=01/a.parquet')).toBe(true);
    expect(deep.test('a.csv')).toBe(false);
    expect(globToRegExp('a+b (1).csv').test('a+b (1).csv')).toBe(true);
  });
});

describe('selectObjects', () => {
  const at = (name: string, daysAgo: number, size = 10): ListedObject => ({
    name,
    uri: `s3://b/p/${name}`,
    size,
    lastModified: new Date(NOW.getTime() - daysAgo * DAY),
  });
  const opts = { pattern: 's3://b/p/', root: 's3://b/p/', glob: '**', now: NOW };

  it('reads every match in name order; hidden names and folder markers are skipped', () => {
    const r = selectObjects(
      [at('b.csv', 1), at('a.csv', 2), at('_SUCCESS', 0), at('.a.csv.crc', 0), at('sub/', 0)],
      opts,
    );
    expect(r.format).toBe('csv');
    expect(r.objects.map((o) => o.name)).toEqual(['a.csv', 'b.csv']);
    expect(r.selection).toEqual({ pattern: 's3://b/p/', listed: 5, matched: 2 });
  });

  it('newest: N by last modification, ties broken by the later name', () => {
    const listed = [at('2001-01.csv', 3), at('2001-02.csv', 1), at('2001-03.csv', 1), at('2001-04.csv', 2)];
    expect(selectObjects(listed, { ...opts, newest: 1 }).objects.map((o) => o.name)).toEqual(['2001-03.csv']);
    expect(selectObjects(listed, { ...opts, newest: 3 }).objects.map((o) => o.name)).toEqual([
      '2001-02.csv',
      '2001-03.csv',
      '2001-04.csv',
    ]);
    expect(selectObjects(listed, { ...opts, newest: 10 }).objects).toHaveLength(4);
  });

  it('window: modified within the duration before now; later objects are left out too', () => {
    const listed = [at('old.csv', 10), at('recent.csv', 0.5), at('edge.csv', 1), at('future.csv', -1)];
    const r = selectObjects(listed, { ...opts, window: '24h' });
    expect(r.objects.map((o) => o.name)).toEqual(['edge.csv', 'recent.csv']);
    expect(r.selection).toMatchObject({ window: '24h', now: NOW.toISOString() });
    const both = selectObjects(listed, { ...opts, window: '30d', newest: 1 });
    expect(both.objects.map((o) => o.name)).toEqual(['recent.csv']);
  });

  it('nothing in the window: DataSourceNotFound naming the window and the newest object', () => {
    let err: unknown;
    try {
      selectObjects([at('old.csv', 10)], { ...opts, window: '7d' });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ type: 'DataSourceNotFound' });
    expect((err as Error).message).toMatch(/none of the 1 matching file was modified within data\.window 7d/);
    expect((err as Error).message).toMatch(/2001-06-21T02:00:00\.000Z/);
  });

  it('no match: a non-retryable DataSourceNotFound naming the pattern and how many objects were looked at', () => {
    let err: KaizenError | undefined;
    try {
      selectObjects([at('a.json', 1), at('b.json', 1)], {
        ...opts,
        pattern: 's3://b/p/*.csv',
        glob: '*.csv',
      });
    } catch (e) {
      err = e as KaizenError;
    }
    expect(err?.type).toBe('DataSourceNotFound');
    expect(err?.retryable).toBe(false);
    expect(err?.message).toBe(
      'data.source s3://b/p/*.csv matches no files: 2 objects looked at under s3://b/p/',
    );
  });

  it('mixed formats are an error listing both', () => {
    expect(() => selectObjects([at('a.csv', 1), at('b.parquet', 1), at('c.csv', 1)], opts)).toThrow(
      /matches files of different formats: 2 csv \(a\.csv, c\.csv\); 1 parquet \(b\.parquet\); narrow the pattern/,
    );
    // data.format says how to read them all
    expect(selectObjects([at('a.txt', 1), at('b.txt', 1)], { ...opts, format: 'csv' }).format).toBe('csv');
  });

  it(`more than ${MAX_SOURCE_OBJECTS} files selected is an error; newest brings it under the cap`, () => {
    const many = Array.from({ length: MAX_SOURCE_OBJECTS + 1 }, (_, i) =>
      at(`part-${String(i).padStart(5, '0')}.csv`, i),
    );
    expect(() => selectObjects(many, opts)).toThrow(
      new RegExp(
        `selects ${MAX_SOURCE_OBJECTS + 1} files, more than the ${MAX_SOURCE_OBJECTS}.*data\\.newest or data\\.window`,
      ),
    );
    expect(selectObjects(many, { ...opts, newest: 5 }).objects).toHaveLength(5);
  });
});

describe('prepareLocal with a directory, prefix or glob', () => {
  it('a prefix reads every file as one table and records them in the manifest', async () => {
    const data = await months();
    const r = await prepare(`${data}/`);
    expect(r.rows.total).toBe(600);
    const source = r.manifest.source;
    expect(source).toMatchObject({ uri: `${data}/`, format: 'csv' });
    expect(namesOf(source)).toEqual(['2001-01.csv', '2001-02.csv', '2001-03.csv']);
    expect(source.objects![0]).toMatchObject({
      uri: path.join(data, '2001-01.csv'),
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      lastModified: new Date(NOW.getTime() - 60 * DAY).toISOString(),
    });
    expect(source.size).toBe(source.objects!.reduce((n, o) => n + o.size, 0));
    expect(source.selection).toEqual({ pattern: `${data}/`, listed: 3, matched: 3 });

    // a directory named without the slash is the same source
    const plain = await prepare(data);
    expect(plain.rows.total).toBe(600);
    expect(namesOf(plain.manifest.source)).toEqual(namesOf(source));
  });

  it('globs: * and ? in one directory, ** below it', async () => {
    const data = await months();
    await slice(data, 'archive/2000-12.csv', 4, 90);
    await writeFile(path.join(data, 'README.md'), 'not data\n');
    expect(namesOf((await prepare(`${data}/2001-0?.csv`)).manifest.source)).toEqual([
      '2001-01.csv',
      '2001-02.csv',
      '2001-03.csv',
    ]);
    const star = await prepare(`${data}/2001-*.csv`);
    expect(star.rows.total).toBe(600);
    expect(star.manifest.source.selection).toEqual({ pattern: `${data}/2001-*.csv`, listed: 4, matched: 3 });
    const deep = await prepare(`${data}/**/*.csv`);
    expect(namesOf(deep.manifest.source)).toEqual([
      '2001-01.csv',
      '2001-02.csv',
      '2001-03.csv',
      'archive/2000-12.csv',
    ]);
    expect(deep.rows.total).toBe(800);
  });

  it('newest: 1 reads the most recently modified file, whatever its name', async () => {
    const data = await months();
    await age(path.join(data, '2001-01.csv'), 0.5);
    const r = await prepare(`${data}/`, { newest: 1 });
    expect(namesOf(r.manifest.source)).toEqual(['2001-01.csv']);
    expect(r.rows.total).toBe(200);
    expect(r.manifest.source.selection).toMatchObject({ listed: 3, matched: 3, newest: 1 });
  });

  it('window: the files modified within it before the run time passed in', async () => {
    const data = await months();
    const r = await prepare(`${data}/*.csv`, { window: '45d' });
    expect(namesOf(r.manifest.source)).toEqual(['2001-02.csv', '2001-03.csv']);
    expect(r.manifest.source.selection).toMatchObject({ window: '45d', now: NOW.toISOString() });
    // a later run time moves the window past February
    const later = await prepare(
      `${data}/*.csv`,
      { window: '45d' },
      { now: new Date(NOW.getTime() + 20 * DAY) },
    );
    expect(namesOf(later.manifest.source)).toEqual(['2001-03.csv']);
  });

  it('zero matches, a missing directory and mixed formats are clear non-retryable errors', async () => {
    const data = await months();
    const none = await failure(prepare(`${data}/*.parquet`));
    expect(none).toMatchObject({ type: 'DataSourceNotFound' });
    expect(none.message).toBe(
      `data.source ${data}/*.parquet matches no files: 3 objects looked at under ${data}/`,
    );
    expect(none.retryable).toBe(false);

    const gone = await failure(prepare(`${data}/nope/*.csv`));
    expect(gone.type).toBe('DataSourceNotFound');
    expect(gone.message).toMatch(/directory .*nope does not exist/);

    await csvToParquet(path.join(data, '2001-03.csv'), path.join(data, '2001-04.parquet'));
    const mixed = await failure(prepare(`${data}/`));
    expect(mixed.type).toBe('DataFormatUnreadable');
    expect(mixed.message).toMatch(
      /matches files of different formats: 3 csv .*; 1 parquet \(2001-04\.parquet\)/,
    );
  });

  it('a file whose columns differ is named in the error', async () => {
    const data = await months();
    await writeCsv(path.join(data, '2001-04.csv'), ['x1', 'x2', 'color', 'label'], [[1, 2, 'red', true]]);
    const err = await failure(prepare(`${data}/`));
    expect(err.type).toBe('DataFormatUnreadable');
    expect(err.message).toContain(
      `schema mismatch in data.source ${data}/: ${path.join(data, '2001-04.csv')}`,
    );
    expect(err.message).toMatch(/lacks "colour" and has "color" besides the columns of .*2001-01\.csv/);
  });

  it('parquet slices are read as one table; a column of another type names the file', async () => {
    const csv = await months();
    const dir = await scratch();
    for (const m of ['2001-01', '2001-02', '2001-03'])
      await csvToParquet(path.join(csv, `${m}.csv`), path.join(dir, `${m}.parquet`));
    const r = await prepare(`${dir}/`);
    expect(r.rows.total).toBe(600);
    expect(r.manifest.source.format).toBe('parquet');

    await writeCsv(path.join(dir, 'odd.csv'), ['x1', 'x2', 'colour', 'label'], [['a', 2, 'red', true]]);
    await csvToParquet(path.join(dir, 'odd.csv'), path.join(dir, '2001-04.parquet'));
    const err = await failure(prepare(`${dir}/*.parquet`));
    expect(err.message).toMatch(
      /column "x1" is VARCHAR in .*2001-04\.parquet but DOUBLE in .*2001-01\.parquet/,
    );
  });

  it('newest and window need a prefix or glob', async () => {
    const data = await months();
    const err = await failure(prepare(path.join(data, '2001-01.csv'), { newest: 1 }));
    expect(err).toMatchObject({ type: 'SpecInvalid', details: { field: 'data.newest' } });
  });
});

describe('the dataset version follows the files read', () => {
  it('same files: same version; a touched file: same version; a new file: a new version', async () => {
    const data = await months();
    const first = await prepare(`${data}/`);
    const again = await prepare(`${data}/`);
    expect(again.dataVersion).toBe(first.dataVersion);
    expect(again.manifest.source.sha256).toBe(first.manifest.source.sha256);

    await age(path.join(data, '2001-02.csv'), 2);
    const touched = await prepare(`${data}/`);
    expect(touched.dataVersion).toBe(first.dataVersion);

    await slice(data, '2001-04.csv', 5, 0);
    const grown = await prepare(`${data}/`);
    expect(grown.dataVersion).not.toBe(first.dataVersion);
    expect(grown.manifest.source.sha256).not.toBe(first.manifest.source.sha256);
    expect(namesOf(grown.manifest.source)).toContain('2001-04.csv');

    // newest: 1 moves to the new file, and stays there while nothing new arrives
    const newest = await prepare(`${data}/`, { newest: 1 });
    expect(namesOf(newest.manifest.source)).toEqual(['2001-04.csv']);
    expect((await prepare(`${data}/`, { newest: 1 })).dataVersion).toBe(newest.dataVersion);
  });

  it('a changed file changes the version', async () => {
    const data = await months();
    const first = await prepare(`${data}/`);
    await slice(data, '2001-02.csv', 99, 30);
    expect((await prepare(`${data}/`)).dataVersion).not.toBe(first.dataVersion);
  });

  it('a row keeps its split when files are added: its key is its file name and its place in that file', async () => {
    const data = await months();
    const before = await prepare(`${data}/`);
    // one file sorts before the others, one after: positions in the whole table all move
    await slice(data, '2000-12.csv', 7, 90);
    await slice(data, '2001-04.csv', 6, 0);
    const after = await prepare(`${data}/`);
    const rows = async (dir: string, split: string): Promise<string[]> =>
      (await readParquet(path.join(dir, `${split}.parquet`))).map((r) => JSON.stringify(r));
    const newTest = new Set(await rows(after.dir, 'test'));
    const share = (xs: string[]): number => xs.filter((r) => newTest.has(r)).length / xs.length;
    // small classes get exact cut points, which move a little with more rows: most, not all (keys by
    // position in the whole table would keep about a fifth, the test share)
    expect(share(await rows(before.dir, 'test'))).toBeGreaterThan(0.8);
    expect(share(await rows(before.dir, 'train'))).toBeLessThan(0.05);
  });
});

/** The listing and download calls of ObjectStore, over a map; every object has its own time. */
class ListingStore {
  readonly bucket = 'kaizen';
  readonly objects = new Map<string, { body: Buffer; lastModified: Date }>();
  readonly log: string[] = [];

  add(key: string, body: Buffer, lastModified: Date, bucket = 'raw'): void {
    this.objects.set(`${bucket}/${key}`, { body, lastModified });
  }
  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }
  async list(prefix: string, bucket = this.bucket) {
    return [...this.objects]
      .filter(([id]) => id.startsWith(`${bucket}/${prefix}`))
      .map(([id, o]) => ({
        key: id.slice(bucket.length + 1),
        size: o.body.length,
        etag: `etag-${o.body.length}`,
        lastModified: o.lastModified,
      }));
  }
  async getFile(key: string, file: string, bucket = this.bucket): Promise<void> {
    const o = this.objects.get(`${bucket}/${key}`)!;
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, o.body);
    this.log.push(`get ${bucket}/${key}`);
  }
  async stat(key: string, bucket = this.bucket) {
    const o = this.objects.get(`${bucket}/${key}`);
    return o ? { key, etag: 'x', size: o.body.length, lastModified: o.lastModified } : null;
  }
  async exists(key: string): Promise<boolean> {
    return this.objects.has(`${this.bucket}/${key}`);
  }
  async putFile(key: string, file: string) {
    this.add(key, await readFile(file), NOW, this.bucket);
    this.log.push(`put ${key}`);
    return { key, etag: 'x', size: 0 };
  }
  async put(key: string, body: Buffer | string) {
    this.add(key, Buffer.from(body), NOW, this.bucket);
    this.log.push(`put ${key}`);
    return { etag: 'x' };
  }
}

describe('prepareDataset with an s3:// prefix', () => {
  it('downloads only the selected objects, records their ETags, and reuses the dataset when nothing is new', async () => {
    const store = new ListingStore();
    const csv = await months();
    for (const [m, daysAgo] of [
      ['2001-01', 60],
      ['2001-02', 30],
    ] as const)
      store.add(
        `flights/${m}.csv`,
        await readFile(path.join(csv, `${m}.csv`)),
        new Date(NOW.getTime() - daysAgo * DAY),
      );
    const run = async () =>
      prepareDataset({
        spec: dataSpec({ source: 's3://raw/flights/', target: 'label', newest: 1 }),
        specDir: '/',
        workDir: await scratch('kaizen-moving-s3-'),
        store: store as unknown as ObjectStore,
        specHash: 'h',
        now: NOW,
      });
    const a = await run();
    expect(a.reused).toBe(false);
    expect(store.log.filter((l) => l.startsWith('get'))).toEqual(['get raw/flights/2001-02.csv']);
    const manifest = JSON.parse(
      store.objects.get(`kaizen/datasets/${a.dataVersion.slice(7)}/manifest.json`)!.body.toString('utf8'),
    ) as { source: SourceIdentity };
    expect(manifest.source.objects).toEqual([
      expect.objectContaining({
        name: '2001-02.csv',
        uri: 's3://raw/flights/2001-02.csv',
        etag: expect.stringMatching(/^etag-/),
      }),
    ]);

    store.log.length = 0;
    const same = await run();
    expect(same).toMatchObject({ dataVersion: a.dataVersion, reused: true });
    expect(store.log.filter((l) => l.startsWith('put'))).toEqual([]);

    store.add(
      'flights/2001-03.csv',
      await readFile(path.join(csv, '2001-03.csv')),
      new Date(NOW.getTime() - DAY),
    );
    const b = await run();
    expect(b.dataVersion).not.toBe(a.dataVersion);
    expect(b.reused).toBe(false);
  });
});
