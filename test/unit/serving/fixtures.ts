// Builders for model-server unit tests: an in-memory object store (so a real ModelRegistry, with
// its sha256 checks, runs without MinIO) and a tiny model trained in-process on real flights rows.
import { mkdtemp, rm } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll } from 'vitest';
import os from 'node:os';
import path from 'node:path';
import { sha256Hex } from '../../../src/hashing';
import { selectBackend } from '../../../src/ml/backend';
import { disposeBundle, serializeBundle } from '../../../src/ml/bundle';
import { trainModel } from '../../../src/ml/train';
import { ModelRegistry, type NewVersion } from '../../../src/registry/registry';
import { buildServer, type ServerDeps } from '../../../src/serving/server';
import type { ObjectStore } from '../../../src/storage/object-store';
import type { ModelVersion, TrainingSummary } from '../../../src/types';
import { makeFlightsDataset } from '../ml/make-dataset';
import { spec } from '../ml/reproducibility';

/** The parts of ObjectStore the registry uses, over a Map. */
export class MemoryStore {
  readonly bucket = 'kaizen';
  readonly objects = new Map<string, { body: Buffer; etag: string }>();
  /** Make every call fail, as an unreachable object store would. */
  down = false;
  /** Delay every read, as a slow object store would. */
  delayMs = 0;
  /** getJson / getBuffer calls, in all and per key. */
  reads = 0;
  readsOf = new Map<string, number>();
  private n = 0;

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  keyOf(uri: string): string {
    return uri.replace(`s3://${this.bucket}/`, '');
  }

  private async check(): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  }

  async put(
    key: string,
    body: Buffer | string,
    opts: { ifMatch?: string; ifNoneMatch?: boolean } = {},
  ): Promise<{ etag: string } | { conflict: true }> {
    await this.check();
    const current = this.objects.get(key);
    if (opts.ifNoneMatch && current) return { conflict: true };
    if (opts.ifMatch && current?.etag !== opts.ifMatch) return { conflict: true };
    const etag = `e${++this.n}`;
    this.objects.set(key, { body: Buffer.from(body), etag });
    return { etag };
  }

  async stat(key: string): Promise<{ key: string; etag: string; size: number } | null> {
    await this.check();
    const o = this.objects.get(key);
    return o ? { key, etag: o.etag, size: o.body.length } : null;
  }

  async getBuffer(key: string): Promise<Buffer | null> {
    await this.check();
    this.reads++;
    this.readsOf.set(key, (this.readsOf.get(key) ?? 0) + 1);
    return this.objects.get(key)?.body ?? null;
  }

  async getJson<T>(key: string): Promise<{ value: T; etag: string } | null> {
    await this.check();
    this.reads++;
    const o = this.objects.get(key);
    return o ? { value: JSON.parse(o.body.toString('utf8')) as T, etag: o.etag } : null;
  }

  async putJson(key: string, value: unknown): Promise<{ etag: string }> {
    const r = await this.put(key, JSON.stringify(value));
    return r as { etag: string };
  }

  async list(prefix: string): Promise<{ key: string; etag: string; size: number; lastModified: Date }[]> {
    await this.check();
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, o]) => ({ key, etag: o.etag, size: o.body.length, lastModified: new Date() }));
  }

  async remove(key: string): Promise<void> {
    await this.check();
    this.objects.delete(key);
  }

  asObjectStore(): ObjectStore {
    return this as unknown as ObjectStore;
  }
}

export interface TinyModels {
  /** Two different trained bundles (different seeds), serialized. */
  bytes: [Buffer, Buffer];
  /** Rows of the test split as JSON instances. */
  rows: Record<string, unknown>[];
  cleanup(): Promise<void>;
}

/** Trains two tiny binary models on 1,500 real flights (distance, hour, origin, weekday). */
export async function trainTinyModels(): Promise<TinyModels> {
  await selectBackend('cpu');
  const root = await mkdtemp(path.join(os.tmpdir(), 'kaizen-serving-'));
  const data = await makeFlightsDataset(path.join(root, 'data'), { rows: 1500 });
  const bytes: Buffer[] = [];
  for (const seed of [7, 8]) {
    const { model } = await trainModel({
      datasetDir: data.dir,
      trainSpec: spec('cpu', { epochs: 1, seed, hiddenUnits: [8] }),
    });
    bytes.push(serializeBundle(model));
    disposeBundle(model);
  }
  const rows = [
    { distance: 1000, hour: 18, origin: 'ORD', weekday: 5 },
    { distance: 300, hour: 7, origin: 'ATL', weekday: 1 },
    { distance: 2500, hour: 22, origin: 'SFO', weekday: 6 },
    { distance: 450, hour: 12, origin: 'ZZZ-never-seen', weekday: 3 },
  ];
  return { bytes: [bytes[0]!, bytes[1]!], rows, cleanup: () => rm(root, { recursive: true, force: true }) };
}

const training: TrainingSummary = {
  backend: 'cpu',
  epochs: 1,
  bestEpoch: 1,
  resumedFromEpoch: null,
  samplesPerSecond: 1000,
  history: [],
};

/**
 * Registers `bytes` as the next version of `model` (as the pipeline's register activity does), in a
 * memory store or a real one.
 */
export async function registerBytes(
  store: { put(key: string, body: Buffer): Promise<unknown>; uri(key: string): string },
  registry: ModelRegistry,
  model: string,
  bytes: Buffer,
  workflowId: string,
): Promise<ModelVersion> {
  const scratch = `checkpoints/${workflowId}/model.kzn`;
  await store.put(scratch, bytes);
  return registry.register(model, versionInput(store, scratch, bytes, workflowId));
}

/** What the register activity hands the registry for `bytes` uploaded at `scratch`. */
export function versionInput(store: { uri(key: string): string }, scratch: string, bytes: Buffer, workflowId: string): NewVersion {
  return {
    sourceArtifactUri: store.uri(scratch),
    artifactFile: 'model.kzn',
    artifactSha256: sha256Hex(bytes),
    task: 'binary',
    metrics: { test: { auc: 0.61, accuracy: 0.8 }, baseline: { auc: 0.5, accuracy: 0.79 } },
    training,
    lineage: {
      dataVersion: `sha256:${'a'.repeat(64)}`,
      datasetUri: 's3://kaizen/datasets/aaaa/',
      specHash: 'b'.repeat(64),
      code: { gitCommit: null, packageVersion: '0.1.0' },
      libraries: { '@tensorflow/tfjs': '4.22.0' },
      hyperParameters: {},
      workflowId,
      runId: 'run-1',
    },
  };
}

/** A registry over a fresh memory store. */
export function memoryRegistry(): { store: MemoryStore; registry: ModelRegistry } {
  const store = new MemoryStore();
  return { store, registry: new ModelRegistry(store.asObjectStore()) };
}

/** Flips one byte of a stored version's artifact (the registry keeps the old sha256). */
export function tamper(store: MemoryStore, v: ModelVersion): void {
  const key = store.keyOf(v.artifactUri);
  const o = store.objects.get(key)!;
  const body = Buffer.from(o.body);
  body[body.length - 100] = body[body.length - 100]! ^ 0xff;
  store.objects.set(key, { body, etag: `${o.etag}-tampered` });
}

/** The admin token of the servers the unit tests build. */
export const TEST_ADMIN_TOKEN = 'unit-admin-token';

export interface ServerTestContext {
  tiny: TinyModels;
  apps: FastifyInstance[];
  /** Builds a production server over `registry` (no polling, no process metrics), ready, closed after the test. */
  start(registry: ServerDeps['registry'], overrides?: Partial<ServerDeps>): Promise<FastifyInstance>;
}

/**
 * The shared set-up of the server test files: the tiny models trained once per file, and every
 * app a test builds (pushed onto `apps`, or made by `start`) closed after it.
 */
export function serverTestContext(): ServerTestContext {
  const ctx = {
    apps: [] as FastifyInstance[],
    async start(registry: ServerDeps['registry'], overrides: Partial<ServerDeps> = {}) {
      const app = buildServer({
        registry,
        env: 'production',
        adminToken: TEST_ADMIN_TOKEN,
        refreshIntervalMs: 0,
        defaultMetrics: false,
        ...overrides,
      });
      ctx.apps.push(app);
      await app.ready();
      return app;
    },
  } as ServerTestContext;
  beforeAll(async () => {
    ctx.tiny = await trainTinyModels();
  });
  afterAll(async () => {
    await ctx.tiny?.cleanup();
  });
  afterEach(async () => {
    await Promise.all(ctx.apps.splice(0).map((a) => a.close()));
  });
  return ctx;
}
