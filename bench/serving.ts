// What the serving benchmarks share: the model they serve, and server child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { selectBackend } from '../src/ml/backend';
import { disposeBundle, serializeBundle } from '../src/ml/bundle';
import { trainModel } from '../src/ml/train';
import { makeFlightsDataset } from '../test/unit/ml/make-dataset';

/** Rows the benchmarks send, one of each shape of flight. */
export const SAMPLE_ROWS = [
  { distance: 1000, hour: 18, origin: 'ORD', weekday: 5, destination: 'LAX' },
  { distance: 300, hour: 7, origin: 'ATL', weekday: 1, destination: 'MCO' },
  { distance: 2500, hour: 22, origin: 'SFO', weekday: 6, destination: 'JFK' },
  { distance: 450, hour: 12, origin: 'DEN', weekday: 3, destination: 'PHX' },
];

/** The pipeline's default architecture trained one epoch on `rows` flights (serving cost does not depend on training). */
export async function trainBenchBundle(
  dir: string,
  rows: number,
): Promise<{ bundlePath: string; features: string[]; sample: typeof SAMPLE_ROWS }> {
  await selectBackend('cpu');
  const data = await makeFlightsDataset(path.join(dir, 'data'), { rows });
  const { model } = await trainModel({
    datasetDir: data.dir,
    trainSpec: {
      hiddenUnits: [64, 32],
      epochs: 1,
      batchSize: 512,
      learningRate: 0.001,
      seed: 42,
      patience: 0,
      heartbeatEveryBatches: 20,
      backend: 'cpu',
    },
  });
  const bundlePath = path.join(dir, 'model.kzn');
  await writeFile(bundlePath, serializeBundle(model));
  const features = model.transforms.features.map((f) => f.name);
  disposeBundle(model);
  return { bundlePath, features, sample: SAMPLE_ROWS };
}

/** Starts `script --child <kind> …extra` and resolves once it prints `READY <url> [backend]`. */
export function startChild(
  script: string,
  kind: string,
  extra: string[],
): Promise<{ child: ChildProcess; url: string; backend: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, '--child', kind, ...extra], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)(?: (\S+))?/.exec(out);
      if (m) resolve({ child, url: m[1]!, backend: m[2] ?? null });
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${kind} child exited with ${code} before it was ready`)));
  });
}

/** SIGTERM to the child (by its own handle), waiting for it to exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** User + system CPU seconds of a process so far (Linux), or null. */
export async function cpuSeconds(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (which may hold spaces): utime and stime are the 12th and 13th
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Resident memory of a process (Linux /proc), MiB, or null. */
export async function rssMb(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? null : Math.round((Number(kb) / 1024) * 10) / 10;
  } catch {
    return null;
  }
}
