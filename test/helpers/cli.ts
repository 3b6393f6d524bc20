import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const FLIGHTS_3M = path.join(REPO_ROOT, 'node_modules/vega-datasets/data/flights-3m.parquet');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (bin/kaizen.js) in a child process against the given environment. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 240_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/kaizen.js'), ...args], {
      env: { ...process.env, ...env },
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kaizen ${args.join(' ')} timed out after ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Writes a spec to a temp file and returns its path. */
export function writeSpec(spec: unknown, name = 'spec.json'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kaizen-spec-'));
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(spec, null, 2));
  return file;
}

/** A small pipeline on real data: 4,000 January flights, a few quick epochs. */
export function smallFlightsSpec(model: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model,
    data: {
      source: FLIGHTS_3M,
      where: "date < TIMESTAMP '2001-01-15'",
      derive: { late: 'delay > 15', hour: 'hour(date)', weekday: 'dayofweek(date)' },
      target: 'late',
      features: ['distance', 'hour', 'weekday', 'origin'],
      exclude: ['delay', 'date'],
      sample: 4000,
      split: { validation: 0.1, test: 0.2, seed: 7 },
    },
    train: { hiddenUnits: [16], epochs: 3, batchSize: 128, learningRate: 0.005, seed: 7 },
    loadTest: false,
    canary: false,
    approval: { mode: 'auto' },
    ...overrides,
  };
}

/** Training long enough (several seconds an epoch on 2 cores) that a crash or an outage lands inside it. */
export function slowTrainingSpec(model: string): Record<string, unknown> {
  const base = smallFlightsSpec(model, {
    train: { hiddenUnits: [32], epochs: 6, batchSize: 256, learningRate: 0.003, seed: 11, patience: 10, heartbeatEveryBatches: 20 },
  });
  return { ...base, data: { ...(base.data as object), where: "date < TIMESTAMP '2001-02-01'", sample: 60_000 } };
}
