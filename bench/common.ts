// What every benchmark shares: each measurement runs in a child process of its own (so a process
// timer measures it), which prints one JSON line; medians over the repetitions.
import { spawn } from 'node:child_process';

export interface ChildResult<K extends string = string> {
  kind: K;
  /** In-process time of the work itself (after imports). */
  workMs: number;
  /** CPU time (user + system) of the whole child process: steadier than wall time on a busy machine. */
  cpuMs: number;
  peakRssMb: number;
  rows: number;
  detail: Record<string, unknown>;
}

export const peakRssMb = (): number => Math.round(process.resourceUsage().maxRSS / 1024);
export const cpuMs = (): number => {
  const u = process.cpuUsage();
  return Math.round((u.user + u.system) / 1000);
};

/** Runs `script --child <kind> ...args` under tsx and returns its last stdout line, parsed, with the wall time. */
export function spawnChild<K extends string>(script: string, kind: K, args: string[]): Promise<ChildResult<K> & { wallMs: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, '--child', kind, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      if (code !== 0) return reject(new Error(`${kind} child exited with ${code}`));
      try {
        resolve({ ...(JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult<K>), wallMs });
      } catch (err) {
        reject(new Error(`${kind} child printed no result: ${(err as Error).message}\n${out}`));
      }
    });
  });
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const round = (x: number, digits = 0): number => Math.round(x * 10 ** digits) / 10 ** digits;
