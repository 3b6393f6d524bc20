// Where the data comes from: the format (by extension or data.format), the local file (a path
// relative to the spec, or an s3:// object fetched first), its identity, and the DuckDB reader.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { KaizenError } from '../errors';
import type { DataFormat, DataSpec } from '../types';
import { literal } from './sql';
import { sha256File } from '../hashing';

/** Fetches an `s3://` source to a local file and returns its path. */
export type FetchSource = (uri: string) => Promise<string>;

export interface SourceIdentity {
  /** As written in the spec (`s3://…` or a path). */
  uri: string;
  format: DataFormat;
  size: number;
  sha256: string;
  /** Local file: modification time (recorded, not hashed: a touched file is the same data). */
  mtime?: string;
  /** Object store: ETag and last modification, when known. */
  etag?: string;
}

const EXTENSIONS: Record<string, DataFormat> = {
  csv: 'csv',
  tsv: 'tsv',
  tab: 'tsv',
  parquet: 'parquet',
  pq: 'parquet',
  json: 'json',
  ndjson: 'ndjson',
  jsonl: 'ndjson',
};

const COMPRESSION = /\.(gz|zst)$/i;

export function detectFormat(source: string, format?: DataFormat): DataFormat {
  if (format) return format;
  const name = source.replace(/[?#].*$/, '').replace(COMPRESSION, '');
  const ext = path.extname(name).slice(1).toLowerCase();
  const detected = EXTENSIONS[ext];
  if (!detected) {
    throw new KaizenError(
      'DataFormatUnreadable',
      `cannot tell the format of ${source} from its extension; set data.format to one of csv, tsv, parquet, json, ndjson`,
    );
  }
  return detected;
}

export function isS3Uri(source: string): boolean {
  return source.startsWith('s3://');
}

/** `s3://bucket/key` → its parts (as the object store's parseS3Uri; kept here so reading local files never loads the S3 client). */
export function s3Parts(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m)
    throw new KaizenError('SpecInvalid', `data.source ${uri} is not an s3://bucket/key URI`, {
      field: 'data.source',
    });
  return { bucket: m[1]!, key: m[2]! };
}

/** The local file to read: fetched for s3://, resolved against the spec's directory otherwise. */
export async function resolveSource(
  spec: DataSpec,
  specDir: string,
  fetchSource?: FetchSource,
): Promise<string> {
  let file: string;
  if (isS3Uri(spec.source)) {
    if (!fetchSource) {
      throw new KaizenError(
        'DataSourceNotFound',
        `data source ${spec.source} is in an object store, and no object store was given`,
      );
    }
    file = await fetchSource(spec.source);
  } else {
    file = path.resolve(specDir, spec.source);
  }
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new KaizenError('DataSourceNotFound', `data source not found: ${file}`);
    throw new KaizenError(
      'DataFormatUnreadable',
      `cannot read data source ${file}: ${code ?? (err as Error).message}`,
    );
  }
  if (!info.isFile()) throw new KaizenError('DataFormatUnreadable', `data source ${file} is not a file`);
  if (info.size === 0) throw new KaizenError('DataEmpty', `data source ${file} is empty (0 bytes)`);
  return file;
}

export async function identifySource(
  uri: string,
  file: string,
  format: DataFormat,
  remote?: { etag?: string; lastModified?: Date },
): Promise<SourceIdentity> {
  const info = await stat(file);
  const id: SourceIdentity = { uri, format, size: info.size, sha256: await sha256File(file) };
  if (remote?.etag) id.etag = remote.etag;
  if (remote?.lastModified) id.mtime = remote.lastModified.toISOString();
  else if (!remote) id.mtime = info.mtime.toISOString();
  return id;
}

/** CSV cells that mean "missing" besides the empty string. */
const CSV_NULLS = ['', 'NA', 'N/A', 'NULL', 'null'];

/**
 * The DuckDB table function reading `file`. CSV types are sniffed over the whole file
 * (sample_size = -1) so a stray string late in a numeric column cannot fail the read; when the sniffer
 * still fails, `allVarchar` reads every column as text and the kind inference casts them.
 */
export function readerSql(file: string, format: DataFormat, opts: { allVarchar?: boolean } = {}): string {
  const f = literal(file);
  switch (format) {
    case 'csv':
    case 'tsv': {
      const options = [
        'header = true',
        'sample_size = -1',
        `nullstr = [${CSV_NULLS.map(literal).join(', ')}]`,
      ];
      if (format === 'tsv') options.push(`delim = '\t'`);
      if (opts.allVarchar) options.push('all_varchar = true');
      return `read_csv(${f}, ${options.join(', ')})`;
    }
    case 'parquet':
      return `read_parquet(${f})`;
    case 'json':
      return `read_json(${f}, format = 'auto', sample_size = -1)`;
    case 'ndjson':
      return `read_json(${f}, format = 'newline_delimited', sample_size = -1)`;
  }
}
