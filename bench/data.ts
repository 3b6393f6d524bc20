// Data preparation on the whole flights-3m.parquet (3 million rows): Kaizen's prepareLocal (read,
// derive late / hour / weekday, infer the schema, validate, profile, split, decide transforms,
// write the parquet splits; and upload with prepareDataset when KAIZEN_S3_ENDPOINT is set, removing
// the upload after each run so every run uploads) against the floor: DuckDB
// alone reading the same file and computing count / avg / min / max of every column and of the
// derived columns. Each measurement runs in its own child process (wall time from spawn to exit,
// peak RSS from process.resourceUsage() in the child); the figures are medians of --runs runs.
// Targets: <= 15 s wall, <= 1.5 GB peak RSS, <= 5x the floor.
//
//   npm run bench:data -- [--json] [--runs 3] [--file path/to.parquet]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { DataSpec } from '../src/types';
import { cpuMs, median, peakRssMb, round, spawnChild as spawnChildProcess, type ChildResult as BaseChildResult } from './common';

const TARGET_WALL_MS = 15_000;
const TARGET_RSS_MB = 1536;
const TARGET_RATIO = 5;

const DEFAULT_FILE = path.join(
  import.meta.dirname,
  '..',
  'node_modules',
  'vega-datasets',
  'data',
  'flights-3m.parquet',
);

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    file: { type: 'string', default: DEFAULT_FILE },
    child: { type: 'string' },
  },
});

const DERIVE = { late: 'delay > 15', hour: 'hour(date)', weekday: 'dayofweek(date)' };

function benchSpec(file: string, validation: DataSpec['validation']): DataSpec {
  return {
    source: file,
    derive: DERIVE,
    target: 'late',
    exclude: ['delay', 'date'],
    split: { validation: 0.1, test: 0.2, seed: 42 },
    pii: 'reject',
    schema: {},
    validation,
  };
}

type ChildResult = BaseChildResult<'prepare' | 'floor'>;

async function runPrepare(file: string): Promise<ChildResult> {
  // imported here, not at the top: the floor's process must load DuckDB only
  const { DEFAULT_VALIDATION_THRESHOLDS, prepareDataset, prepareLocal } = await import('../src/data/prepare');
  const upload = Boolean(process.env['KAIZEN_S3_ENDPOINT']);
  const store = upload
    ? (await import('../src/storage/object-store')).createObjectStore(
        (await import('../src/config')).loadConfig(),
      )
    : null;
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'kaizen-bench-data-'));
  try {
    const started = performance.now();
    const spec = benchSpec(file, { ...DEFAULT_VALIDATION_THRESHOLDS });
    let detail: Record<string, unknown>;
    let rows: number;
    if (store) {
      await store.ensureBucket();
      const r = await prepareDataset({ spec, specDir: process.cwd(), workDir, store, specHash: 'bench' });
      const workMs = performance.now() - started;
      rows = r.rows.total;
      detail = {
        dataVersion: r.dataVersion,
        uri: r.uri,
        reused: r.reused,
        splits: r.rows,
        passed: r.validation.passed,
      };
      // the next run must upload again: remove what this one uploaded (nothing if it was already there)
      if (!r.reused) for (const o of await store.list(store.keyOf(r.uri))) await store.remove(o.key);
      return { kind: 'prepare', workMs, cpuMs: cpuMs(), peakRssMb: peakRssMb(), rows, detail };
    } else {
      const r = await prepareLocal({ spec, specDir: process.cwd(), workDir });
      rows = r.rows.total;
      detail = {
        dataVersion: r.dataVersion,
        splits: r.rows,
        features: r.schema.features.map((f) => `${f.name}:${f.kind}`),
        passed: r.validation.passed,
        findings: r.validation.findings.map((f) => `${f.severity} ${f.kind} ${f.column ?? ''}`),
        uploaded: false,
        timings: r.timings,
      };
    }
    return {
      kind: 'prepare',
      workMs: performance.now() - started,
      cpuMs: cpuMs(),
      peakRssMb: peakRssMb(),
      rows,
      detail,
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function runFloor(file: string): Promise<ChildResult> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const started = performance.now();
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const cols = ['delay', 'distance'];
  const derived = { late: 'CAST(delay > 15 AS INTEGER)', hour: 'hour(date)', weekday: 'dayofweek(date)' };
  const aggs = [
    'count(*) AS n',
    'min(date) AS date_min',
    'max(date) AS date_max',
    ...cols.flatMap((c) => [`avg(${c}) AS ${c}_avg`, `min(${c}) AS ${c}_min`, `max(${c}) AS ${c}_max`]),
    ...['origin', 'destination'].flatMap((c) => [`min(${c}) AS ${c}_min`, `max(${c}) AS ${c}_max`]),
    ...Object.entries(derived).flatMap(([k, e]) => [
      `avg(${e}) AS ${k}_avg`,
      `min(${e}) AS ${k}_min`,
      `max(${e}) AS ${k}_max`,
    ]),
  ];
  const reader = await connection.runAndReadAll(
    `SELECT ${aggs.join(', ')} FROM read_parquet('${file.replaceAll("'", "''")}')`,
  );
  const row = reader.getRowObjectsJson()[0] ?? {};
  connection.closeSync();
  instance.closeSync();
  return {
    kind: 'floor',
    workMs: performance.now() - started,
    cpuMs: cpuMs(),
    peakRssMb: peakRssMb(),
    rows: Number(row['n']),
    detail: row,
  };
}

const spawnChild = (kind: 'prepare' | 'floor', file: string) => spawnChildProcess(import.meta.filename, kind, ['--file', file]);

async function main(): Promise<void> {
  const file = path.resolve(args.file!);
  if (args.child) {
    const result = args.child === 'prepare' ? await runPrepare(file) : await runFloor(file);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const runs = Number(args.runs);
  const log = (msg: string): void => {
    if (!args.json) process.stderr.write(`[bench:data] ${msg}\n`);
  };
  const samples: Record<'prepare' | 'floor', (ChildResult & { wallMs: number })[]> = {
    prepare: [],
    floor: [],
  };
  for (let run = 1; run <= runs; run++) {
    // alternate the order so drift (page cache, thermal) does not favour one side
    const order = run % 2 ? (['floor', 'prepare'] as const) : (['prepare', 'floor'] as const);
    for (const kind of order) {
      const r = await spawnChild(kind, file);
      samples[kind].push(r);
      log(
        `run ${run} ${kind}: ${round(r.wallMs)} ms wall, ${round(r.workMs)} ms work, ${r.cpuMs} ms CPU, ${r.peakRssMb} MB peak RSS`,
      );
    }
  }
  const summary = (xs: (ChildResult & { wallMs: number })[]) => ({
    wallMs: round(median(xs.map((r) => r.wallMs))),
    workMs: round(median(xs.map((r) => r.workMs))),
    cpuMs: round(median(xs.map((r) => r.cpuMs))),
    peakRssMb: round(median(xs.map((r) => r.peakRssMb))),
    maxPeakRssMb: Math.max(...xs.map((r) => r.peakRssMb)),
    runs: xs.map((r) => ({
      wallMs: round(r.wallMs),
      workMs: round(r.workMs),
      cpuMs: r.cpuMs,
      peakRssMb: r.peakRssMb,
    })),
  });
  const prepare = summary(samples.prepare);
  const floor = summary(samples.floor);
  const ratio = {
    wall: round(prepare.wallMs / floor.wallMs, 2),
    work: round(prepare.workMs / floor.workMs, 2),
    cpu: round(prepare.cpuMs / floor.cpuMs, 2),
  };
  const report = {
    bench: 'data',
    what: 'prepareLocal on the whole file (derive late = delay > 15, hour, weekday; schema, validation, profile, stratified split, transforms, parquet splits) vs DuckDB alone reading it and computing count/avg/min/max of every column and derived column; each in its own process, medians',
    file,
    rows: samples.prepare[0]?.rows ?? null,
    upload: Boolean(process.env['KAIZEN_S3_ENDPOINT']),
    runs,
    prepare: { ...prepare, detail: samples.prepare.at(-1)?.detail },
    floor: { ...floor, name: 'DuckDB read_parquet + aggregates' },
    ratio,
    targets: { wallMs: TARGET_WALL_MS, peakRssMb: TARGET_RSS_MB, ratio: TARGET_RATIO },
    passed:
      prepare.wallMs <= TARGET_WALL_MS && prepare.maxPeakRssMb <= TARGET_RSS_MB && ratio.wall <= TARGET_RATIO,
    host: { cpus: os.cpus().length, memoryMb: round(os.totalmem() / 2 ** 20), node: process.version },
  };
  process.stdout.write(`${JSON.stringify(report, null, args.json ? undefined : 2)}\n`);
  if (!report.passed) process.exitCode = 1;
}

await main();
