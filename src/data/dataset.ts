// Versioned, content-addressed dataset directories: datasets/<sha256>/ holds the three parquet
// splits, schema.json, transforms.json, profile.json, validation.json and, written last, manifest.json.
// A reader trusts a dataset only when its manifest exists; the manifest lists every file's sha256.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KaizenError } from '../errors';
import { pathInside } from '../storage/paths';
import type { ObjectStore } from '../storage/object-store';
import type {
  DataSpec,
  DatasetProfile,
  DatasetSchema,
  TaskKind,
  Transforms,
  ValidationReport,
} from '../types';
import { canonicalJson, sha256File, sha256Hex } from '../hashing';
import type { SourceIdentity } from './source';

export const DATASET_FORMAT = 'kaizen-dataset/1';
export const SPLIT_FILES = {
  train: 'train.parquet',
  validation: 'validation.parquet',
  test: 'test.parquet',
} as const;
/** Every file of a dataset but the manifest, in upload order. */
export const DATASET_FILES = [
  SPLIT_FILES.train,
  SPLIT_FILES.validation,
  SPLIT_FILES.test,
  'schema.json',
  'transforms.json',
  'profile.json',
  'validation.json',
] as const;
export const MANIFEST_FILE = 'manifest.json';
export const DATASETS_PREFIX = 'datasets/';

export interface FileEntry {
  sha256: string;
  size: number;
}

export interface DatasetRows {
  total: number;
  train: number;
  validation: number;
  test: number;
}

export interface DatasetManifest {
  format: typeof DATASET_FORMAT;
  /** `sha256:<hex>`: the directory name is `<hex>`. */
  dataVersion: string;
  source: SourceIdentity;
  /** Hash of the pipeline spec that first prepared this dataset (lineage), when known. */
  specHash: string | null;
  /** Hash of the data section of the spec (and the task): part of the version. */
  dataSpecHash: string;
  task: TaskKind;
  target: string;
  rows: DatasetRows;
  files: Record<string, FileEntry>;
  engine: { duckdb: string };
  validation: { passed: boolean; errors: number; warnings: number };
}

export interface LoadedDataset {
  dir: string;
  manifest: DatasetManifest;
  schema: DatasetSchema;
  transforms: Transforms;
  profile: DatasetProfile;
  validation: ValidationReport;
  /** Absolute paths of the three splits. */
  files: { train: string; validation: string; test: string };
}

/** Hash of what in the spec shapes the dataset: the data section and the task. */
export function dataSpecHash(spec: DataSpec, task: TaskKind | undefined): string {
  return sha256Hex(canonicalJson({ format: DATASET_FORMAT, data: spec, task: task ?? null }));
}

/** The version: sha256 over the data spec hash, the source's content and every output file's content. */
export function contentHash(
  specHash: string,
  source: SourceIdentity,
  files: Record<string, FileEntry>,
): string {
  const entries = DATASET_FILES.map((name) => [name, files[name]?.sha256 ?? null]);
  return sha256Hex(
    canonicalJson({
      format: DATASET_FORMAT,
      spec: specHash,
      source: { sha256: source.sha256, size: source.size },
      files: entries,
    }),
  );
}

/** Stored JSON: two-space indented, newline-terminated; key order is the writer's (deterministic). */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, jsonText(value));
}

async function readJson<T>(file: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT')
      throw new KaizenError('DataSourceNotFound', `no dataset file ${file}`);
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new KaizenError('ArtifactIntegrity', `${file} is not valid JSON`);
  }
}

export async function fileEntry(file: string): Promise<FileEntry> {
  const [sha, info] = await Promise.all([sha256File(file), stat(file)]);
  return { sha256: sha, size: info.size };
}

/** Reads a prepared dataset directory (as written by prepareLocal or downloadDataset). */
export async function loadDatasetDir(dir: string): Promise<LoadedDataset> {
  const [manifest, schema, transforms, profile, validation] = await Promise.all([
    readJson<DatasetManifest>(path.join(dir, MANIFEST_FILE)),
    readJson<DatasetSchema>(path.join(dir, 'schema.json')),
    readJson<Transforms>(path.join(dir, 'transforms.json')),
    readJson<DatasetProfile>(path.join(dir, 'profile.json')),
    readJson<ValidationReport>(path.join(dir, 'validation.json')),
  ]);
  return {
    dir,
    manifest,
    schema,
    transforms,
    profile,
    validation,
    files: {
      train: path.join(dir, SPLIT_FILES.train),
      validation: path.join(dir, SPLIT_FILES.validation),
      test: path.join(dir, SPLIT_FILES.test),
    },
  };
}

export async function readProfile(dir: string): Promise<DatasetProfile> {
  return readJson<DatasetProfile>(path.join(dir, 'profile.json'));
}

/** `datasets/<hex>/` for a dataset URI of the Kaizen bucket (with or without the trailing slash). */
function prefixOf(store: ObjectStore, uri: string): string {
  const key = store.keyOf(uri);
  return key.endsWith('/') ? key : `${key}/`;
}

/** The profile of a stored dataset (e.g. the production model's training data), or null. */
export async function readRemoteProfile(store: ObjectStore, uri: string): Promise<DatasetProfile | null> {
  return (await store.getJson<DatasetProfile>(`${prefixOf(store, uri)}profile.json`))?.value ?? null;
}

export async function readRemoteManifest(store: ObjectStore, uri: string): Promise<DatasetManifest | null> {
  return (await store.getJson<DatasetManifest>(`${prefixOf(store, uri)}${MANIFEST_FILE}`))?.value ?? null;
}

/**
 * Fetches a prepared dataset to `dir` (files already there with the right sha256 are kept) and
 * checks every file against the manifest. Safe to call again after a crash half-way.
 */
export async function downloadDataset(store: ObjectStore, uri: string, dir: string): Promise<LoadedDataset> {
  const prefix = prefixOf(store, uri);
  // the local manifest is written only after every file was verified, and datasets never change
  // (content-addressed): a second call in this worker needs neither the store nor a re-hash
  const local = await readJson<DatasetManifest>(path.join(dir, MANIFEST_FILE)).catch(() => null);
  if (local && prefix.endsWith(`${local.dataVersion.replace(/^sha256:/, '')}/`)) return loadDatasetDir(dir);
  const manifest = await readRemoteManifest(store, uri);
  if (!manifest)
    throw new KaizenError('DataSourceNotFound', `no prepared dataset at ${uri} (no ${MANIFEST_FILE})`);
  await mkdir(dir, { recursive: true });
  const known = new Set<string>(DATASET_FILES);
  for (const [name, entry] of Object.entries(manifest.files)) {
    // the manifest comes from the bucket: only the dataset's own file names, each inside `dir`
    if (!known.has(name)) {
      throw new KaizenError(
        'ArtifactIntegrity',
        `${uri}${MANIFEST_FILE} lists ${JSON.stringify(name.slice(0, 120))}, which is not a dataset file (${DATASET_FILES.join(', ')})`,
      );
    }
    const file = pathInside(dir, [name], 'dataset file');
    const local = await fileEntry(file).catch(() => null);
    if (local?.sha256 === entry.sha256) continue;
    await store.getFile(`${prefix}${name}`, file);
    const got = await fileEntry(file);
    if (got.sha256 !== entry.sha256) {
      throw new KaizenError(
        'ArtifactIntegrity',
        `${uri}${name}: sha256 ${got.sha256} does not match the manifest's ${entry.sha256}`,
      );
    }
  }
  await writeJson(path.join(dir, MANIFEST_FILE), manifest);
  return loadDatasetDir(dir);
}

const CONTENT_TYPES: Record<string, string> = {
  '.parquet': 'application/vnd.apache.parquet',
  '.json': 'application/json',
};

/**
 * Publishes a local dataset directory under datasets/<hex>/: nothing is uploaded when its manifest
 * is already there; otherwise every file is uploaded and its size checked, and the manifest goes last,
 * so a retried or crashed upload is never visible half-written.
 */
export async function publishDataset(
  store: ObjectStore,
  dir: string,
  manifest: DatasetManifest,
): Promise<{ uri: string; reused: boolean }> {
  const hex = manifest.dataVersion.replace(/^sha256:/, '');
  const prefix = `${DATASETS_PREFIX}${hex}/`;
  const uri = store.uri(prefix);
  if (await store.exists(`${prefix}${MANIFEST_FILE}`)) return { uri, reused: true };
  for (const name of DATASET_FILES) {
    const entry = manifest.files[name];
    if (!entry) throw new KaizenError('ArtifactIntegrity', `${dir}: the manifest does not list ${name}`);
    const key = `${prefix}${name}`;
    await store.putFile(key, path.join(dir, name), CONTENT_TYPES[path.extname(name)]);
    const stored = await store.stat(key);
    if (!stored || stored.size !== entry.size) {
      // the store lost or truncated the write: retryable
      throw new KaizenError(
        'StorageUnavailable',
        `uploaded ${key} has ${stored?.size ?? 'no'} bytes, expected ${entry.size}`,
      );
    }
  }
  const body = await readFile(path.join(dir, MANIFEST_FILE));
  const res = await store.put(`${prefix}${MANIFEST_FILE}`, body, { contentType: 'application/json' });
  if ('conflict' in res)
    throw new KaizenError('StorageUnavailable', `could not write ${prefix}${MANIFEST_FILE}`);
  return { uri, reused: false };
}
