// A thin session over one in-memory DuckDB instance: SQL quoting, rows as plain JS values, and
// engine messages made safe to show (first line only, quoted values masked: they may be data).
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, version as duckdbVersion, type DuckDBConnection } from '@duckdb/node-api';

export type Row = Record<string, unknown>;

/** `"name"`, with embedded quotes doubled: any column name (spaces, punctuation, unicode) works. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `'value'`, with embedded quotes doubled. */
export function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * The first line of a DuckDB error with single-quoted parts masked (except in binder and parser
 * errors): conversion and CSV errors quote the offending value, which may be personal data, and
 * these messages end up in reports and logs.
 */
export function engineMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const first = (text.split('\n')[0] ?? '').trim();
  // binder and parser errors quote the SQL (functions, columns), not data: keep them readable
  if (/^(Binder|Parser|Catalog) Error/.test(first)) return first;
  return first.replace(/'(?:[^']|'')*'/g, "'…'");
}

/** bigint → number (counts, integer aggregates), recursively through lists and structs. */
function normalise(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalise(v);
    return out;
  }
  return value;
}

export interface SessionOptions {
  /**
   * DuckDB's worker threads; at least 2 (default: the machine's cores). DuckDB's parquet writer cuts
   * row groups one way on one thread and another on two or more (the same for any number from two
   * on), so a floor of two keeps a dataset's bytes the same on every machine.
   */
  threads?: number;
  /** DuckDB memory_limit, e.g. '1GB'. */
  memoryLimit?: string;
  /** Where DuckDB may spill when memory runs short. */
  tempDirectory?: string;
  /**
   * File access limited to these paths, then the configuration locked, before any other statement
   * runs: the SQL a spec carries (data.where, data.derive) can then read no other file (no
   * read_text('/proc/self/environ')), write nowhere else, load no extension and change no setting.
   * Once off, DuckDB cannot turn external access back on.
   */
  sandbox?: SessionSandbox;
}

export interface SessionSandbox {
  /** Files that may be read (the source files). */
  readFiles: readonly string[];
  /** Directories whose files may be read and written (the dataset's staging directory). */
  directories: readonly string[];
}

/** The threads a session runs with (see SessionOptions.threads). */
export function sessionThreads(requested?: number): number {
  return Math.max(2, requested ?? os.availableParallelism());
}

const listLiteral = (items: readonly string[]): string => `[${items.map((i) => literal(i)).join(', ')}]`;

/** A directory as DuckDB's allowed_directories matches it: absolute, with a trailing separator. */
const asDirectory = (dir: string): string => {
  const abs = path.resolve(dir);
  return abs.endsWith(path.sep) ? abs : `${abs}${path.sep}`;
};

/** Whether a DuckDB error is the sandbox refusing a file, a directory or an extension. */
export function isSandboxRefusal(err: unknown): boolean {
  const text = err instanceof Error ? err.message : String(err);
  return /Permission Error|disabled by configuration|configuration has been locked/.test(text);
}

/** KAIZEN_DATA_TRACE=1 prints every statement's duration to stderr (statements hold no data values). */
const TRACE = Boolean(process.env['KAIZEN_DATA_TRACE']);

async function traced<T>(sql: string, run: () => Promise<T>): Promise<T> {
  if (!TRACE) return run();
  const started = performance.now();
  const cpu = process.cpuUsage();
  try {
    return await run();
  } finally {
    const used = process.cpuUsage(cpu);
    const ms = Math.round(performance.now() - started);
    const cpuMs = Math.round((used.user + used.system) / 1000);
    process.stderr.write(`[duckdb ${ms} ms, ${cpuMs} ms cpu] ${sql.replace(/\s+/g, ' ').slice(0, 160)}\n`);
  }
}

export class DuckSession {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async open(opts: SessionOptions = {}): Promise<DuckSession> {
    const config: Record<string, string> = { threads: String(sessionThreads(opts.threads)) };
    if (opts.memoryLimit) config['memory_limit'] = opts.memoryLimit;
    if (opts.tempDirectory) config['temp_directory'] = opts.tempDirectory;
    const instance = await DuckDBInstance.create(':memory:', config);
    const connection = await instance.connect();
    if (opts.sandbox) {
      const dirs = [...opts.sandbox.directories, ...(opts.tempDirectory ? [opts.tempDirectory] : [])];
      try {
        // the order matters: the lists can only be set while external access is on
        await connection.run(`SET allowed_paths = ${listLiteral(opts.sandbox.readFiles.map((f) => path.resolve(f)))}`);
        await connection.run(`SET allowed_directories = ${listLiteral(dirs.map(asDirectory))}`);
        await connection.run('SET autoload_known_extensions = false');
        await connection.run('SET autoinstall_known_extensions = false');
        await connection.run('SET enable_external_access = false');
        await connection.run('SET lock_configuration = true');
      } catch (err) {
        connection.closeSync();
        instance.closeSync();
        throw err;
      }
    }
    return new DuckSession(instance, connection);
  }

  async run(sql: string): Promise<void> {
    await traced(sql, () => this.connection.run(sql));
  }

  /**
   * Runs statements concurrently, each on its own connection to the same database: for statements
   * DuckDB runs mostly on one thread (an order-preserving COPY), so they overlap. Temp tables of this
   * session's connection are not visible to them.
   */
  async runConcurrently(statements: string[]): Promise<void> {
    const connections = await Promise.all(statements.map(() => this.instance.connect()));
    try {
      await Promise.all(statements.map((sql, i) => traced(sql, () => connections[i]!.run(sql))));
    } finally {
      for (const c of connections) c.closeSync();
    }
  }

  /** Binds a statement without running it: parser and binder errors (unknown column, bad function). */
  async check(sql: string): Promise<void> {
    const prepared = await this.connection.prepare(sql);
    prepared.destroySync();
  }

  async all(sql: string): Promise<Row[]> {
    const reader = await traced(sql, () => this.connection.runAndReadAll(sql));
    return reader.getRowObjectsJS().map((row) => normalise(row) as Row);
  }

  async one(sql: string): Promise<Row> {
    const rows = await this.all(sql);
    return rows[0] ?? {};
  }

  /** Column names and DuckDB type names of a relation or query. */
  async describe(relation: string): Promise<{ name: string; type: string }[]> {
    const rows = await this.all(`DESCRIBE ${relation}`);
    return rows.map((r) => ({ name: String(r['column_name']), type: String(r['column_type']) }));
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

export function engineVersion(): string {
  return duckdbVersion();
}

/** A number from a query result (counts come back as number after normalise; null stays null). */
export function toNum(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const x = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(x) ? x : null;
}

export function toCount(value: unknown): number {
  return toNum(value) ?? 0;
}
