import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as Minio from 'minio';
import type { KaizenConfig } from '../config';
import { KaizenError } from '../errors';

export interface StoredObject {
  key: string;
  etag: string;
  size: number;
}

export interface JsonObject<T> {
  value: T;
  etag: string;
}

/** `s3://bucket/key` → `{ bucket, key }` */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new KaizenError('SpecInvalid', `not an s3:// URI: ${uri}`);
  return { bucket: m[1]!, key: m[2] ?? '' };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket';
}

function isPreconditionFailed(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'PreconditionFailed' || code === 'ConditionalRequestConflict';
}

function isNetworkError(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return Boolean(code && NETWORK_CODES.has(code));
}

/** Turns connection failures into the retryable StorageUnavailable; passes others through. */
function wrap(err: unknown, what: string): never {
  if (isNetworkError(err)) {
    throw new KaizenError('StorageUnavailable', `object store unreachable while ${what}: ${(err as { code?: string }).code}`);
  }
  throw err;
}

/**
 * Retries a call a few times on connection errors: S3 servers close a keep-alive connection after
 * refusing a conditional write, and the next call on that socket sees ECONNRESET. Longer outages
 * surface as StorageUnavailable, which Temporal retries.
 */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isNetworkError(err) || attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 50 * 3 ** attempt));
    }
  }
}

/**
 * The object store (MinIO locally, any S3 in production). Keys are relative to the Kaizen bucket;
 * `readUri` also accepts other buckets for data sources.
 */
export class ObjectStore {
  readonly client: Minio.Client;
  readonly bucket: string;

  constructor(cfg: KaizenConfig['s3']) {
    const url = new URL(cfg.endpoint);
    this.client = new Minio.Client({
      endPoint: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      useSSL: url.protocol === 'https:',
      accessKey: cfg.accessKey,
      secretKey: cfg.secretKey,
      region: cfg.region,
      pathStyle: true,
    });
    this.bucket = cfg.bucket;
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  /** Key inside the Kaizen bucket for an `s3://` URI of that bucket. */
  keyOf(uri: string): string {
    const { bucket, key } = parseS3Uri(uri);
    if (bucket !== this.bucket) throw new KaizenError('SpecInvalid', `${uri} is not in bucket ${this.bucket}`);
    return key;
  }

  async ensureBucket(bucket = this.bucket): Promise<void> {
    try {
      if (!(await retrying(() => this.client.bucketExists(bucket)))) await retrying(() => this.client.makeBucket(bucket));
    } catch (err) {
      if ((err as { code?: string }).code === 'BucketAlreadyOwnedByYou') return;
      wrap(err, `creating bucket ${bucket}`);
    }
  }

  async put(
    key: string,
    body: Buffer | string,
    opts: { contentType?: string; ifMatch?: string; ifNoneMatch?: boolean; bucket?: string } = {},
  ): Promise<{ etag: string } | { conflict: true }> {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    const meta: Record<string, string> = { 'Content-Type': opts.contentType ?? 'application/octet-stream' };
    if (opts.ifMatch) meta['If-Match'] = opts.ifMatch;
    if (opts.ifNoneMatch) meta['If-None-Match'] = '*';
    try {
      const res = await retrying(() => this.client.putObject(opts.bucket ?? this.bucket, key, buf, buf.length, meta));
      return { etag: res.etag };
    } catch (err) {
      if (isPreconditionFailed(err)) return { conflict: true };
      wrap(err, `writing ${key}`);
    }
  }

  async putJson(key: string, value: unknown): Promise<{ etag: string }> {
    const res = await this.put(key, JSON.stringify(value, null, 2), { contentType: 'application/json' });
    if ('conflict' in res) throw new KaizenError('RegistryConflict', `unexpected conflict writing ${key}`);
    return res;
  }

  async putFile(key: string, file: string, contentType = 'application/octet-stream'): Promise<StoredObject> {
    try {
      const { size } = await stat(file);
      const res = await retrying(() => this.client.fPutObject(this.bucket, key, file, { 'Content-Type': contentType }));
      return { key, etag: res.etag, size };
    } catch (err) {
      wrap(err, `uploading ${file} to ${key}`);
    }
  }

  async stat(key: string, bucket = this.bucket): Promise<StoredObject & { lastModified: Date } | null> {
    try {
      const s = await retrying(() => this.client.statObject(bucket, key));
      return { key, etag: s.etag, size: s.size, lastModified: s.lastModified };
    } catch (err) {
      if (isNotFound(err)) return null;
      wrap(err, `reading metadata of ${key}`);
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== null;
  }

  async getBuffer(key: string, bucket = this.bucket): Promise<Buffer | null> {
    try {
      return await retrying(async () => {
        const stream = await this.client.getObject(bucket, key);
        const chunks: Buffer[] = [];
        for await (const chunk of stream as Readable) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      });
    } catch (err) {
      if (isNotFound(err)) return null;
      wrap(err, `reading ${key}`);
    }
  }

  async getJson<T>(key: string): Promise<JsonObject<T> | null> {
    // stat first so the etag belongs to exactly the bytes we parse (the getObject stream has no etag)
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await this.stat(key);
      if (!before) return null;
      const buf = await this.getBuffer(key);
      if (!buf) return null;
      const after = await this.stat(key);
      if (after && after.etag === before.etag) return { value: JSON.parse(buf.toString('utf8')) as T, etag: before.etag };
    }
    throw new KaizenError('RegistryConflict', `${key} kept changing while being read`);
  }

  async getFile(key: string, file: string, bucket = this.bucket): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    try {
      await retrying(() => this.client.fGetObject(bucket, key, file));
    } catch (err) {
      if (isNotFound(err)) throw new KaizenError('DataSourceNotFound', `no object s3://${bucket}/${key}`);
      wrap(err, `downloading ${key}`);
    }
  }

  async list(prefix: string, bucket = this.bucket): Promise<(StoredObject & { lastModified: Date })[]> {
    const out: (StoredObject & { lastModified: Date })[] = [];
    try {
      const stream = this.client.listObjectsV2(bucket, prefix, true);
      for await (const item of stream as AsyncIterable<Minio.BucketItem>) {
        if (item.name) out.push({ key: item.name, etag: item.etag ?? '', size: item.size, lastModified: item.lastModified ?? new Date(0) });
      }
    } catch (err) {
      if (isNotFound(err)) return [];
      wrap(err, `listing ${prefix}`);
    }
    return out;
  }

  async remove(key: string): Promise<void> {
    try {
      await retrying(() => this.client.removeObject(this.bucket, key));
    } catch (err) {
      wrap(err, `removing ${key}`);
    }
  }

  async healthy(): Promise<boolean> {
    try {
      await this.client.bucketExists(this.bucket);
      return true;
    } catch {
      return false;
    }
  }
}

export function createObjectStore(cfg: KaizenConfig): ObjectStore {
  return new ObjectStore(cfg.s3);
}
