// Where the data comes from: the format (by extension or data.format), the local files (a path
// relative to the spec, an s3:// object fetched first, or the objects a prefix or glob selects), their
// identity, and the DuckDB reader.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseDurationMs } from '../duration';
import { KaizenError } from '../errors';
import { pathInside } from '../storage/paths';
import { canonicalJson, sha256File, sha256Hex } from '../hashing';
import type { DataFormat, DataSpec } from '../types';
import { engineMessage, literal, type DuckSession } from './sql';

/** Fetches an `s3://` source to a local file and returns its path. */
export type FetchSource = (uri: string) => Promise<string>;

/** One object of a prefix or glob source, as recorded in the dataset's manifest. */
export interface SourceObject {
  /** Path relative to the prefix (or the glob's directory): it identifies the object and its rows. */
  name: string;
  uri: string;
  size: number;
  sha256: string;
  /** Last modification: the object store's, or the local file's mtime. */
  lastModified: string;
  etag?: string;
}

/** How a prefix or glob source was narrowed down to the objects read. */
export interface SourceSelection {
  /** data.source as written (after resolving a relative path). */
  pattern: string;
  /** Objects looked at under the pattern's directory or prefix. */
  listed: number;
  /** Of those, the ones the pattern matches. */
  matched: number;
  newest?: number;
  window?: string;
  /** The run's time the window counts back from. */
  now?: string;
}

export interface SourceIdentity {
  /** As written in the spec (`s3://…`, a path, a prefix or a glob). */
  uri: string;
  format: DataFormat;
  /** Bytes read (the total of `objects` for a prefix or glob). */
  size: number;
  /** The file's sha256; for a prefix or glob, the sha256 of the list of objects' names, sizes and sha256s. */
  sha256: string;
  /** Local file: modification time (recorded, not hashed: a touched file is the same data). */
  mtime?: string;
  /** Object store: ETag and last modification, when known. */
  etag?: string;
  /** Prefix or glob: the objects read, in read order (by name). */
  objects?: SourceObject[];
  selection?: SourceSelection;
}

/** A local file to read (downloaded first for the object store). */
export interface SourceFile {
  file: string;
  /** Relative name of a prefix or glob's object; the file name of a single source. */
  name: string;
  uri: string;
  /** Object-store metadata, when the file came from there. */
  remote?: { etag?: string; lastModified?: Date };
}

export interface ResolvedSource {
  format: DataFormat;
  /** One file for a single source; the selected objects, by name, for a prefix or glob. */
  files: SourceFile[];
  /** Null for a single file or object. */
  selection: SourceSelection | null;
}

/** The listing and download calls a prefix or glob in the object store needs (ObjectStore has them). */
export interface SourceStore {
  list(
    prefix: string,
    bucket: string,
  ): Promise<{ key: string; size: number; etag?: string; lastModified: Date }[]>;
  getFile(key: string, file: string, bucket: string): Promise<void>;
}

/** More objects than this in one read is almost certainly a pattern that is too wide. */
export const MAX_SOURCE_OBJECTS = 1000;

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

/** A prefix (`…/`) or a glob (`*`, `?`, `**`); a local directory is a prefix too, found when resolved. */
export function isSourcePattern(source: string): boolean {
  return source.endsWith('/') || /[*?]/.test(source);
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

/**
 * A pattern as its literal directory or prefix (`root`, ending in `/`) and the glob matched against
 * names relative to it (`**` for a prefix).
 */
export function splitPattern(pattern: string): { root: string; glob: string } {
  const first = pattern.search(/[*?]/);
  if (first < 0) return { root: pattern.endsWith('/') ? pattern : `${pattern}/`, glob: '**' };
  const cut = pattern.lastIndexOf('/', first) + 1;
  return { root: pattern.slice(0, cut), glob: pattern.slice(cut) };
}

/** `*` and `?` stay within a path segment; `**` spans segments (and `**` with a slash matches none too). */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:[^/]*/)*';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Names Hadoop-style writers leave beside the data (`_SUCCESS`, `.part.crc`, `_temporary/`). */
function isHidden(name: string): boolean {
  return name.split('/').some((s) => s.startsWith('.') || s.startsWith('_'));
}

/** An object under a prefix or a file under a directory, before selection. */
export interface ListedObject {
  /** Relative to the pattern's root. */
  name: string;
  uri: string;
  size: number;
  lastModified: Date;
  etag?: string;
}

export interface SelectOptions {
  pattern: string;
  root: string;
  glob: string;
  format?: DataFormat;
  newest?: number;
  window?: string;
  now: Date;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function listNames(objects: { name: string }[], max = 3): string {
  const shown = objects.slice(0, max).map((o) => o.name);
  return objects.length > max ? `${shown.join(', ')}, …` : shown.join(', ');
}

/**
 * Which listed objects a prefix or glob reads: those the pattern matches (hidden names skipped), of
 * one format, modified within `window` before `now`, the `newest` of them; in name order.
 */
export function selectObjects(
  listed: ListedObject[],
  opts: SelectOptions,
): { format: DataFormat; objects: ListedObject[]; selection: SourceSelection } {
  const re = globToRegExp(opts.glob);
  const matched = listed.filter(
    (o) => o.name !== '' && !o.name.endsWith('/') && !isHidden(o.name) && re.test(o.name),
  );
  if (matched.length === 0) {
    throw new KaizenError(
      'DataSourceNotFound',
      `data.source ${opts.pattern} matches no files: ${plural(listed.length, 'object')} looked at under ${opts.root}`,
      { field: 'data.source', listed: listed.length },
    );
  }
  const byFormat = new Map<DataFormat, ListedObject[]>();
  for (const o of matched) {
    let f: DataFormat;
    try {
      f = detectFormat(o.uri, opts.format);
    } catch {
      throw new KaizenError(
        'DataFormatUnreadable',
        `data.source ${opts.pattern} matches ${o.uri}, whose format cannot be told from its extension; narrow the pattern or set data.format to one of csv, tsv, parquet, json, ndjson`,
        { field: 'data.source', file: o.uri },
      );
    }
    byFormat.set(f, [...(byFormat.get(f) ?? []), o]);
  }
  if (byFormat.size > 1) {
    const parts = [...byFormat].map(([f, os]) => `${os.length} ${f} (${listNames(os)})`);
    throw new KaizenError(
      'DataFormatUnreadable',
      `data.source ${opts.pattern} matches files of different formats: ${parts.join('; ')}; narrow the pattern to one format (e.g. end it in *.${[...byFormat.keys()][0]!})`,
      { field: 'data.source' },
    );
  }
  const format = [...byFormat.keys()][0]!;
  const selection: SourceSelection = {
    pattern: opts.pattern,
    listed: listed.length,
    matched: matched.length,
  };
  let chosen = matched;
  if (opts.window !== undefined) {
    const ms = parseDurationMs(opts.window);
    if (ms === null) {
      const message = `data.window ${opts.window} is not a duration like "24h" or "7d"`;
      throw new KaizenError('SpecInvalid', message, { field: 'data.window' });
    }
    const to = opts.now.getTime();
    const from = to - ms;
    // objects written after `now` are left out, so a retried run reads what the first attempt read
    chosen = chosen.filter((o) => o.lastModified.getTime() >= from && o.lastModified.getTime() <= to);
    if (chosen.length === 0) {
      const newest = Math.max(...matched.map((o) => o.lastModified.getTime()));
      throw new KaizenError(
        'DataSourceNotFound',
        `data.source ${opts.pattern}: none of the ${plural(matched.length, 'matching file')} was modified within data.window ${opts.window} before ${opts.now.toISOString()} (the newest was modified ${new Date(newest).toISOString()})`,
        { field: 'data.window', listed: listed.length, matched: matched.length },
      );
    }
    selection.window = opts.window;
    selection.now = opts.now.toISOString();
  }
  if (opts.newest !== undefined) {
    if (!Number.isInteger(opts.newest) || opts.newest < 1)
      throw new KaizenError('SpecInvalid', `data.newest must be a positive integer, got ${opts.newest}`, {
        field: 'data.newest',
      });
    chosen = [...chosen]
      .sort((a, b) => b.lastModified.getTime() - a.lastModified.getTime() || cmp(b.name, a.name))
      .slice(0, opts.newest);
    selection.newest = opts.newest;
  }
  if (chosen.length > MAX_SOURCE_OBJECTS) {
    throw new KaizenError(
      'SpecInvalid',
      `data.source ${opts.pattern} selects ${chosen.length} files, more than the ${MAX_SOURCE_OBJECTS} one dataset may read; narrow the pattern or set data.newest or data.window`,
      { field: 'data.source', selected: chosen.length },
    );
  }
  return { format, objects: [...chosen].sort((a, b) => cmp(a.name, b.name)), selection };
}

/** Code-unit order: the same on every machine and locale. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Files under `dir`, recursively (hidden directories skipped; no deeper than `maxDepth` segments).
 * Links to files are followed, links to directories are not (a loop would never end).
 */
async function listLocal(dir: string, maxDepth: number): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      const abs = path.join(dir, name);
      if (e.isDirectory()) {
        if (depth + 1 < maxDepth && !isHidden(e.name)) await walk(name, depth + 1);
        continue;
      }
      const s = e.isFile() || e.isSymbolicLink() ? await stat(abs).catch(() => null) : null;
      if (s?.isFile()) out.push({ name, uri: abs, size: s.size, lastModified: s.mtime });
    }
  };
  await walk('', 0);
  return out;
}

function globDepth(glob: string): number {
  return glob.includes('**') ? Infinity : glob.split('/').length;
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface SourceAccess {
  /** A relative data.source is relative to this directory. */
  specDir: string;
  /** Fetches a single s3:// object. */
  fetchSource?: FetchSource;
  /** Lists and downloads the objects of an s3:// prefix or glob. */
  store?: SourceStore;
  /** Where the objects of an s3:// prefix or glob are downloaded to. */
  downloadDir?: string;
  /** The run's time, for data.window. */
  now?: Date;
}

function patternOnly(spec: DataSpec): void {
  const field = spec.newest !== undefined ? 'data.newest' : spec.window !== undefined ? 'data.window' : null;
  if (field)
    throw new KaizenError(
      'SpecInvalid',
      `${field} needs a prefix (ending in "/"), a directory or a glob as data.source; ${spec.source} is one file`,
      { field },
    );
}

/**
 * The local files to read: a single source (fetched for s3://, resolved against the spec's directory
 * otherwise), or the objects a prefix, directory or glob selects (downloaded for s3://).
 */
export async function resolveSources(spec: DataSpec, access: SourceAccess): Promise<ResolvedSource> {
  const source = spec.source;
  if (isS3Uri(source)) {
    if (isSourcePattern(source)) return resolveRemotePattern(spec, access);
    patternOnly(spec);
    const format = detectFormat(source, spec.format);
    const file = await resolveSource(spec, access.specDir, access.fetchSource);
    return { format, files: [{ file, name: path.posix.basename(source), uri: source }], selection: null };
  }
  const abs = path.resolve(access.specDir, source);
  if (isSourcePattern(source) || (await stat(abs).catch(() => null))?.isDirectory()) {
    return resolveLocalPattern(spec, access, isSourcePattern(source) ? source : `${source}/`);
  }
  patternOnly(spec);
  const format = detectFormat(source, spec.format);
  const file = await resolveSource(spec, access.specDir);
  return { format, files: [{ file, name: path.basename(file), uri: source }], selection: null };
}

async function resolveLocalPattern(
  spec: DataSpec,
  access: SourceAccess,
  pattern: string,
): Promise<ResolvedSource> {
  const parts = splitPattern(pattern);
  const root = path.resolve(access.specDir, parts.root || '.');
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory()) {
    throw new KaizenError(
      'DataSourceNotFound',
      `data.source ${pattern}: directory ${root} ${info ? 'is not a directory' : 'does not exist'}`,
      { field: 'data.source' },
    );
  }
  const listed = await listLocal(root, globDepth(parts.glob));
  const picked = pickNonEmpty(listed, spec, access, `${root}/`, parts.glob);
  return {
    format: picked.format,
    files: picked.objects.map((o) => ({ file: o.uri, name: o.name, uri: o.uri })),
    selection: picked.selection,
  };
}

/** The objects of a listing that data.source (and data.newest / data.window) select; an empty one is an error. */
function pickNonEmpty(listed: ListedObject[], spec: DataSpec, access: SourceAccess, root: string, glob: string) {
  const picked = selectObjects(listed, {
    pattern: spec.source,
    root,
    glob,
    format: spec.format,
    newest: spec.newest,
    window: spec.window,
    now: access.now ?? new Date(),
  });
  for (const o of picked.objects) notEmpty(o);
  return picked;
}

async function resolveRemotePattern(spec: DataSpec, access: SourceAccess): Promise<ResolvedSource> {
  const pattern = spec.source;
  const { store, downloadDir } = access;
  if (!store || !downloadDir) {
    throw new KaizenError(
      'DataSourceNotFound',
      `data source ${pattern} is in an object store, and no object store was given`,
    );
  }
  const parts = splitPattern(pattern);
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(parts.root);
  if (!m)
    throw new KaizenError('SpecInvalid', `data.source ${pattern} is not an s3://bucket/prefix/ URI`, {
      field: 'data.source',
    });
  const bucket = m[1]!;
  const prefix = m[2]!;
  const listed: ListedObject[] = (await store.list(prefix, bucket)).map((o) => ({
    name: o.key.slice(prefix.length),
    uri: `s3://${bucket}/${o.key}`,
    size: o.size,
    lastModified: o.lastModified,
    ...(o.etag ? { etag: o.etag } : {}),
  }));
  const picked = pickNonEmpty(listed, spec, access, parts.root, parts.glob);
  // object keys are chosen by whoever writes the bucket: each file must stay inside downloadDir
  const files = await mapLimit(picked.objects, 4, async (o) => {
    const file = pathInside(downloadDir, o.name.split('/').filter(Boolean), 'data.source object');
    await store.getFile(`${prefix}${o.name}`, file, bucket);
    const remote: SourceFile['remote'] = { lastModified: o.lastModified };
    if (o.etag) remote.etag = o.etag;
    return { file, name: o.name, uri: o.uri, remote };
  });
  return { format: picked.format, files, selection: picked.selection };
}

function notEmpty(o: ListedObject): void {
  if (o.size === 0) throw new KaizenError('DataEmpty', `data source ${o.uri} is empty (0 bytes)`);
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

/**
 * The identity of what is read. For a prefix or glob it lists every object (name, size, sha256,
 * last modification, etag), and its sha256 covers the names, sizes and contents: a new or changed
 * object makes a new dataset version; a touched one does not.
 */
export async function identifySources(
  uri: string,
  resolved: ResolvedSource,
  remote?: { etag?: string; lastModified?: Date },
): Promise<SourceIdentity> {
  const { format, files, selection } = resolved;
  if (!selection) return identifySource(uri, files[0]!.file, format, remote);
  const objects = await mapLimit(files, 4, async (f): Promise<SourceObject> => {
    const [info, sha256] = await Promise.all([stat(f.file), sha256File(f.file)]);
    const o: SourceObject = {
      name: f.name,
      uri: f.uri,
      size: info.size,
      sha256,
      lastModified: (f.remote?.lastModified ?? info.mtime).toISOString(),
    };
    if (f.remote?.etag) o.etag = f.remote.etag;
    return o;
  });
  const listHash = sha256Hex(
    canonicalJson({
      format: 'kaizen-source-list/1',
      objects: objects.map((o) => [o.name, o.size, o.sha256]),
    }),
  );
  return {
    uri,
    format,
    size: objects.reduce((n, o) => n + o.size, 0),
    sha256: listHash,
    objects,
    selection,
  };
}

/** CSV cells that mean "missing" besides the empty string. */
const CSV_NULLS = ['', 'NA', 'N/A', 'NULL', 'null'];

/**
 * The DuckDB table function reading `file` (or several files, as one table). CSV types are sniffed over
 * every row of every file (sample_size = -1) so a stray string late in a numeric column cannot fail
 * the read; when the sniffer still fails, `allVarchar` reads every column as text and the kind
 * inference casts them.
 */
export function readerSql(
  file: string | string[],
  format: DataFormat,
  opts: { allVarchar?: boolean; sampleSize?: number } = {},
): string {
  const f = Array.isArray(file) ? `[${file.map(literal).join(', ')}]` : literal(file);
  switch (format) {
    case 'csv':
    case 'tsv': {
      const options = [
        'header = true',
        `sample_size = ${opts.sampleSize ?? -1}`,
        `nullstr = [${CSV_NULLS.map(literal).join(', ')}]`,
      ];
      if (Array.isArray(file)) options.push('files_to_sniff = -1');
      if (format === 'tsv') options.push(`delim = '\t'`);
      if (opts.allVarchar) options.push('all_varchar = true');
      return `read_csv(${f}, ${options.join(', ')})`;
    }
    case 'parquet':
      return `read_parquet(${f})`;
    case 'json':
      return `read_json(${f}, format = 'auto', sample_size = ${opts.sampleSize ?? -1})`;
    case 'ndjson':
      return `read_json(${f}, format = 'newline_delimited', sample_size = ${opts.sampleSize ?? -1})`;
  }
}

const NUMERIC_TYPE =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$/;

/**
 * Several files are read as one table: each must have the first one's columns (and, for parquet,
 * types, numeric widths aside). The error names the file that differs.
 */
export async function checkSameColumns(db: DuckSession, resolved: ResolvedSource): Promise<void> {
  const { files, format } = resolved;
  if (files.length < 2) return;
  const columnsOf = async (f: SourceFile): Promise<{ name: string; type: string }[]> => {
    try {
      return await db.describe(`SELECT * FROM ${readerSql(f.file, format, { sampleSize: 2048 })}`);
    } catch (err) {
      throw new KaizenError(
        'DataFormatUnreadable',
        `cannot read ${f.uri} as ${format}: ${engineMessage(err)}`,
      );
    }
  };
  const first = files[0]!;
  const want = await columnsOf(first);
  const typeOf = new Map(want.map((c) => [c.name, c.type]));
  const pattern = resolved.selection?.pattern ?? first.uri;
  for (const f of files.slice(1)) {
    const got = await columnsOf(f);
    const names = new Set(got.map((c) => c.name));
    const missing = want.filter((c) => !names.has(c.name)).map((c) => `"${c.name}"`);
    const extra = got.filter((c) => !typeOf.has(c.name)).map((c) => `"${c.name}"`);
    const positional =
      format !== 'parquet' && got.map((c) => c.name).join('\0') !== want.map((c) => c.name).join('\0');
    if (missing.length || extra.length || positional) {
      const diff = [
        missing.length ? `lacks ${missing.join(', ')}` : '',
        extra.length ? `has ${extra.join(', ')} besides` : '',
        !missing.length && !extra.length ? 'has them in another order' : '',
      ].filter(Boolean);
      throw new KaizenError(
        'DataFormatUnreadable',
        `schema mismatch in data.source ${pattern}: ${f.uri} ${diff.join(' and ')} the columns of ${first.uri} (${want.map((c) => `"${c.name}"`).join(', ')}); every file read must have the same columns`,
        { field: 'data.source', file: f.uri },
      );
    }
    if (format !== 'parquet') continue;
    for (const c of got) {
      const t = typeOf.get(c.name)!;
      if (c.type !== t && !(NUMERIC_TYPE.test(c.type) && NUMERIC_TYPE.test(t))) {
        throw new KaizenError(
          'DataFormatUnreadable',
          `schema mismatch in data.source ${pattern}: column "${c.name}" is ${c.type} in ${f.uri} but ${t} in ${first.uri}; every file read must have the same column types`,
          { field: 'data.source', file: f.uri, column: c.name },
        );
      }
    }
  }
}
