// Training throughput: Kaizen's trainModel (own loop, validation + checkpoint serialisation +
// onProgress every epoch, heartbeats, as the pipeline runs it) against a plain tfjs model.fit of
// the same architecture on the same data and backend. Floor: trainModel's overhead <= 10%.
// Every measurement runs in its own child process; the figures are medians of --runs runs. The
// verdict uses samples per CPU-second (this process's user+system time), which a busy host does
// not distort the way it distorts wall-clock time; wall-clock samples/second are reported too.
//
//   npm run bench:train -- [--json] [--rows 200000] [--epochs 2] [--runs 3] [--backends wasm,cpu]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BackendName } from '../src/ml/backend';
import type { TrainSpec } from '../src/types';
import { makeFlightsDataset } from '../test/unit/ml/make-dataset';

const MAX_OVERHEAD = 0.1;

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rows: { type: 'string', default: '200000' },
    epochs: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    backends: { type: 'string', default: 'wasm,cpu' },
    child: { type: 'string' },
    backend: { type: 'string' },
    dir: { type: 'string' },
  },
});

function trainSpec(backend: BackendName, epochs: number): TrainSpec {
  // The pipeline defaults of the spec schema; patience 0 so both sides run every epoch.
  return {
    hiddenUnits: [64, 32],
    epochs,
    batchSize: 512,
    learningRate: 0.001,
    seed: 42,
    patience: 0,
    heartbeatEveryBatches: 20,
    backend,
  };
}

interface ChildResult {
  kind: 'kaizen' | 'fit';
  backend: string;
  samples: number;
  wallSeconds: number;
  cpuSeconds: number;
  samplesPerSecond: number;
  samplesPerCpuSecond: number;
  checkpointBytes?: number;
}

/**
 * One measurement. Both sides load and encode the data the same way (readSplit) before the clock
 * starts; the clocks (wall and this process's CPU time) cover training only.
 */
async function runChild(
  kind: 'kaizen' | 'fit',
  backend: BackendName,
  dir: string,
  epochs: number,
): Promise<ChildResult> {
  const tf = await import('@tensorflow/tfjs');
  const { selectBackend } = await import('../src/ml/backend');
  const { readDatasetMeta, readSplit } = await import('../src/ml/dataset');
  const { buildModel, modelInputs } = await import('../src/ml/model');
  const { trainEncoded } = await import('../src/ml/train');
  const spec = trainSpec(backend, epochs);
  const info = await selectBackend(backend);
  const meta = await readDatasetMeta(dir);
  const [train, validation] = await Promise.all([
    readSplit(dir, 'train', meta),
    readSplit(dir, 'validation', meta),
  ]);
  const samples = train.features.rows * epochs;
  let checkpointBytes: number | undefined;
  let clock: { wall: number; cpu: NodeJS.CpuUsage };
  const start = (): void => {
    clock = { wall: performance.now(), cpu: process.cpuUsage() };
  };
  const stop = (): { wallSeconds: number; cpuSeconds: number } => {
    const cpu = process.cpuUsage(clock.cpu);
    return {
      wallSeconds: (performance.now() - clock.wall) / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  };
  let timing: { wallSeconds: number; cpuSeconds: number };
  if (kind === 'kaizen') {
    // As the pipeline runs it: a checkpoint serialised and handed to onProgress every epoch,
    // heartbeats every 20 batches.
    start();
    const { model } = await trainEncoded({
      train,
      validation,
      trainSpec: spec,
      onProgress: async (p) => {
        if (p.checkpoint) checkpointBytes = p.checkpoint.length;
      },
    });
    timing = stop();
    model.model.dispose();
  } else {
    const model = buildModel(train.transforms, spec);
    model.compile({ optimizer: tf.train.adam(spec.learningRate), loss: 'binaryCrossentropy' });
    const x = modelInputs(train.features);
    const y = tf.tensor2d(train.target.values, [train.features.rows, 1]);
    const vx = modelInputs(validation.features);
    const vy = tf.tensor2d(validation.target.values, [validation.features.rows, 1]);
    start();
    await model.fit(x, y, {
      epochs,
      batchSize: spec.batchSize,
      shuffle: true,
      validationData: [vx, vy],
      verbose: 0,
    });
    timing = stop();
    tf.dispose([...x, y, ...vx, vy]);
    model.dispose();
  }
  return {
    kind,
    backend: info.name,
    samples,
    ...timing,
    samplesPerSecond: Math.round((samples / timing.wallSeconds) * 10) / 10,
    samplesPerCpuSecond: Math.round((samples / timing.cpuSeconds) * 10) / 10,
    ...(checkpointBytes === undefined ? {} : { checkpointBytes }),
  };
}

function spawnChild(kind: string, backend: string, dir: string, epochs: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        import.meta.filename,
        '--child',
        kind,
        '--backend',
        backend,
        '--dir',
        dir,
        '--epochs',
        String(epochs),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${kind}/${backend} child exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult);
      } catch (err) {
        reject(new Error(`${kind}/${backend} child printed no result: ${(err as Error).message}\n${out}`));
      }
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  if (args.child) {
    const result = await runChild(
      args.child as 'kaizen' | 'fit',
      args.backend as BackendName,
      args.dir!,
      Number(args.epochs),
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const rows = Number(args.rows);
  const epochs = Number(args.epochs);
  const runs = Number(args.runs);
  const backends = args.backends!.split(',') as BackendName[];
  const log = (msg: string): void => {
    process.stderr.write(`[bench:train] ${msg}\n`);
  };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kaizen-bench-train-'));
  try {
    log(`sampling ${rows} flights from flights-3m.parquet into ${dir}`);
    const dataset = await makeFlightsDataset(dir, { rows });
    const samples: Record<string, { kaizen: ChildResult[]; fit: ChildResult[] }> = {};
    for (const b of backends) samples[b] = { kaizen: [], fit: [] };
    for (let run = 1; run <= runs; run++) {
      for (const backend of backends) {
        // alternate which side goes first so drift (thermal, other load) does not favour one
        const order = run % 2 ? (['fit', 'kaizen'] as const) : (['kaizen', 'fit'] as const);
        for (const kind of order) {
          const r = await spawnChild(kind, backend, dir, epochs);
          if (r.backend !== backend) throw new Error(`${kind} ran on ${r.backend}, not ${backend}`);
          samples[backend]![kind].push(r);
          log(
            `run ${run} ${backend} ${kind}: ${r.samplesPerSecond} samples/s, ${r.samplesPerCpuSecond} samples/cpu-s`,
          );
        }
      }
    }
    const results = backends.map((backend) => {
      const k = samples[backend]!.kaizen;
      const f = samples[backend]!.fit;
      const wall = {
        kaizen: median(k.map((r) => r.samplesPerSecond)),
        fit: median(f.map((r) => r.samplesPerSecond)),
      };
      const cpu = {
        kaizen: median(k.map((r) => r.samplesPerCpuSecond)),
        fit: median(f.map((r) => r.samplesPerCpuSecond)),
      };
      // Each run's kaizen and fit ran back to back: their ratio cancels slow drift in host load.
      const pairedWall = median(k.map((r, i) => r.samplesPerSecond / f[i]!.samplesPerSecond));
      const pairedCpu = median(k.map((r, i) => r.samplesPerCpuSecond / f[i]!.samplesPerCpuSecond));
      return {
        backend,
        samplesPerSecond: {
          kaizen: round(wall.kaizen, 1),
          fit: round(wall.fit, 1),
          ratio: round(wall.kaizen / wall.fit),
          pairedRatio: round(pairedWall),
        },
        samplesPerCpuSecond: {
          kaizen: round(cpu.kaizen, 1),
          fit: round(cpu.fit, 1),
          ratio: round(cpu.kaizen / cpu.fit),
          pairedRatio: round(pairedCpu),
        },
        overhead: round(1 - cpu.kaizen / cpu.fit),
        passed: 1 - cpu.kaizen / cpu.fit <= MAX_OVERHEAD,
        runs: {
          kaizen: k.map((r) => ({
            samplesPerSecond: r.samplesPerSecond,
            samplesPerCpuSecond: r.samplesPerCpuSecond,
            wallSeconds: round(r.wallSeconds, 2),
          })),
          fit: f.map((r) => ({
            samplesPerSecond: r.samplesPerSecond,
            samplesPerCpuSecond: r.samplesPerCpuSecond,
            wallSeconds: round(r.wallSeconds, 2),
          })),
          checkpointBytes: k[0]?.checkpointBytes ?? null,
        },
      };
    });
    const report = {
      bench: 'train',
      what: 'training samples/second: Kaizen trainEncoded (the trainModel loop: per-epoch validation, checkpoint serialisation and onProgress, heartbeats every 20 batches) vs plain tfjs model.fit (same model factory, data, backend, validationData); data loading excluded on both sides; medians',
      dataset: {
        source: 'vega-datasets flights-3m.parquet',
        rows,
        train: dataset.rows.train,
        validation: dataset.rows.validation,
        features: dataset.schema.features.map((f) => f.name),
      },
      trainSpec: { ...trainSpec('cpu', epochs), backend: undefined },
      runs,
      floor: {
        name: 'tfjs model.fit',
        maxOverhead: MAX_OVERHEAD,
        minRatio: 1 - MAX_OVERHEAD,
        // Wall-clock figures swing by ±20% between runs on a shared 2-core host; the process's own
        // CPU time does not, and both sides are single-threaded, so it is the fair measure.
        judgedOn:
          'median samples per CPU-second of the training phase (wall-clock medians reported alongside)',
      },
      results,
      passed: results.every((r) => r.passed),
      host: {
        cpus: os.cpus().length,
        node: process.version,
        loadAverage: os.loadavg().map((l) => round(l, 2)),
      },
    };
    process.stdout.write(`${JSON.stringify(report, null, args.json ? undefined : 2)}\n`);
    if (!report.passed) process.exitCode = 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
