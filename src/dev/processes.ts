import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// Detached processes of the local stack and their pid files. A pid file records the pid together
// with the command line and the kernel's start time of the process, so a recycled pid (after a
// reboot or a crash) is never mistaken for ours: we only reuse or signal a process whose
// /proc/<pid>/cmdline and start time both match the record.

export interface PidRecord {
  name: string;
  pid: number;
  /** argv as spawned; compared with /proc/<pid>/cmdline. */
  argv: string[];
  /** Kernel start time of the process (clock ticks since boot on Linux, `ps lstart` elsewhere). */
  startTime: string;
  /** ISO time of the spawn, for people reading the file. */
  startedAt: string;
  logFile: string;
  /** Size of the log file when this process started: its own output begins here. */
  logOffset: number;
}

export interface ProcessInfo {
  argv: string[];
  startTime: string;
  /** Exited but not yet reaped by its parent. */
  zombie: boolean;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** A pid file's text → its record, or null when it is not a complete record (treated as stale). */
export function parsePidRecord(text: string): PidRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (typeof r.pid !== 'number' || !Number.isInteger(r.pid) || r.pid <= 1) return null;
  if (typeof r.name !== 'string' || !isStringArray(r.argv) || r.argv.length === 0) return null;
  if (typeof r.startTime !== 'string' || r.startTime === '') return null;
  return {
    name: r.name,
    pid: r.pid,
    argv: r.argv,
    startTime: r.startTime,
    startedAt: typeof r.startedAt === 'string' ? r.startedAt : '',
    logFile: typeof r.logFile === 'string' ? r.logFile : '',
    logOffset: typeof r.logOffset === 'number' ? r.logOffset : 0,
  };
}

export function formatPidRecord(rec: PidRecord): string {
  return `${JSON.stringify(rec, null, 2)}\n`;
}

/** `/proc/<pid>/stat` → state and start time; the command name may hold spaces and parentheses. */
export function parseProcStat(text: string): { state: string; pgrp: number; startTime: string } | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state) of proc(5): pgrp is field 5, starttime field 22
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const start = fields[19];
  if (!state || !Number.isInteger(pgrp) || !start || !/^\d+$/.test(start)) return null;
  return { state, pgrp, startTime: start };
}

/** `/proc/<pid>/cmdline` (NUL-separated, NUL-terminated) → argv */
export function parseCmdline(text: string): string[] {
  const parts = text.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/** Whether the running process `info` is the one `rec` describes. */
export function isSameProcess(rec: PidRecord, info: ProcessInfo | null): boolean {
  if (!info || info.zombie) return false;
  if (info.startTime !== rec.startTime) return false;
  return info.argv.length === rec.argv.length && info.argv.every((a, i) => a === rec.argv[i]);
}

const HAS_PROC = (() => {
  try {
    return statSync('/proc/self/stat').isFile();
  } catch {
    return false;
  }
})();

/** What the OS says about a pid now, or null when no such process exists. */
export function readProcessInfo(pid: number): ProcessInfo | null {
  if (HAS_PROC) {
    try {
      const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      const argv = parseCmdline(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      if (!stat) return null;
      return { argv, startTime: stat.startTime, zombie: stat.state === 'Z' };
    } catch {
      return null;
    }
  }
  // macOS and other systems without /proc: ps gives the start time and the space-joined command
  try {
    const out = execFileSync('ps', ['-o', 'stat=,lstart=,command=', '-p', String(pid)], {
      encoding: 'utf8',
    }).trim();
    const m = /^(\S+)\s+(\w{3}\s+\w{3}\s+\d+\s+[\d:]+\s+\d{4})\s+(.*)$/.exec(out);
    if (!m) return null;
    return { argv: m[3]!.split(' '), startTime: m[2]!, zombie: m[1]!.startsWith('Z') };
  } catch {
    return null;
  }
}

function comparableArgv(argv: string[]): string[] {
  // without /proc only the space-joined command line is known
  return HAS_PROC ? argv : argv.join(' ').split(' ');
}

export function pidFile(home: string, name: string): string {
  return path.join(home, 'run', `${name}.pid`);
}

export function logFile(home: string, name: string): string {
  return path.join(home, 'logs', `${name}.log`);
}

export async function readPidRecord(file: string): Promise<PidRecord | null> {
  try {
    return parsePidRecord(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
}

export async function writePidRecord(file: string, rec: PidRecord): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, formatPidRecord(rec));
  await rename(tmp, file);
}

export async function removePidFile(file: string): Promise<void> {
  await rm(file, { force: true });
}

/** Every pid file under `<home>/run`, by component name. */
export async function listPidFiles(home: string): Promise<string[]> {
  try {
    return (await readdir(path.join(home, 'run')))
      .filter((f) => f.endsWith('.pid'))
      .map((f) => path.join(home, 'run', f));
  } catch {
    return [];
  }
}

/** The live process a record describes, verified against the OS; null when it is gone or not ours. */
export function liveProcess(rec: PidRecord | null): PidRecord | null {
  if (!rec) return null;
  const info = readProcessInfo(rec.pid);
  return isSameProcess({ ...rec, argv: comparableArgv(rec.argv) }, info) ? rec : null;
}

const MAX_LOG_BYTES = 50 * 1024 * 1024;

export interface SpawnSpec {
  name: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** The argv the process will have after `argv` execs it (a wrapper such as setpriv): recorded instead. */
  execArgv?: string[];
}

/**
 * Starts a process in its own process group and session, detached from ours, with stdout and
 * stderr appended to its log file; returns its pid record (not yet written).
 */
export async function spawnDetached(spec: SpawnSpec): Promise<PidRecord> {
  await mkdir(path.dirname(spec.logFile), { recursive: true });
  // logs are appended across restarts; keep one previous generation once they grow large
  try {
    if (statSync(spec.logFile).size > MAX_LOG_BYTES) await rename(spec.logFile, `${spec.logFile}.1`);
  } catch {
    // no log yet
  }
  const fd = openSync(spec.logFile, 'a');
  let rec: PidRecord;
  try {
    writeSync(fd, `\n=== ${new Date().toISOString()} starting ${spec.name}: ${spec.argv.join(' ')}\n`);
    const logOffset = statSync(spec.logFile).size;
    const [cmd, ...args] = spec.argv;
    const child = spawn(cmd!, args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    // ENOENT and EACCES are reported asynchronously; give them a tick so they surface here
    const spawnError = await new Promise<Error | null>((resolve) => {
      child.once('error', resolve);
      child.once('spawn', () => resolve(null));
    });
    if (spawnError || child.pid === undefined) {
      throw new Error(`cannot start ${spec.name} (${cmd}): ${spawnError?.message ?? 'no pid'}`);
    }
    child.unref();
    let info = readProcessInfo(child.pid);
    if (spec.execArgv) {
      // the wrapper execs at once: wait (briefly) until the pid runs the final command line
      const want = spec.execArgv;
      const deadline = Date.now() + 2_000;
      while (info && !(info.argv.length === want.length && info.argv.every((a, i) => a === want[i])) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
        info = readProcessInfo(child.pid);
      }
    }
    rec = {
      name: spec.name,
      pid: child.pid,
      argv: spec.execArgv ?? spec.argv,
      startTime: info?.startTime ?? '',
      startedAt: new Date().toISOString(),
      logFile: spec.logFile,
      logOffset,
    };
    if (!info) throw new Error(`${spec.name} exited immediately; see ${spec.logFile}`);
  } finally {
    closeSync(fd);
  }
  return rec;
}

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Live (non-zombie) members of a process group, from /proc; null where /proc does not exist. */
function groupMembers(pgid: number): number[] | null {
  if (!HAS_PROC) return null;
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const st = parseProcStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (st && st.pgrp === pgid && st.state !== 'Z') members.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return members;
}

/** Whether any process of the group led by `rec` is still alive. */
function groupAlive(rec: PidRecord): boolean {
  if (liveProcess(rec)) return true;
  // the leader is gone; a pgid is not reused while any member lives, so members are still ours
  const members = groupMembers(rec.pid);
  return members ? members.length > 0 : signalGroup(rec.pid, 0);
}

/**
 * Stops the process group of a verified record: SIGTERM, up to `graceMs` to exit, then SIGKILL.
 * Returns false when the record's process was not running (nothing was signalled).
 */
export async function stopProcess(rec: PidRecord, graceMs = 10_000): Promise<boolean> {
  if (!liveProcess(rec)) return false;
  signalGroup(rec.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(rec)) return true;
    await sleep(100);
  }
  signalGroup(rec.pid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (Date.now() < killDeadline && groupAlive(rec)) await sleep(50);
  return true;
}

/** Whether nothing listens on host:port (we can bind it ourselves). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false);
      else reject(err);
    });
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** `n` distinct ports the OS considers free right now (all held at once, then released). */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      servers.push(srv);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen({ port: 0, host, exclusive: true }, () => {
            const addr = srv.address();
            resolve(typeof addr === 'object' && addr ? addr.port : 0);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(
      servers.map(
        (srv) => new Promise((resolve) => (srv.listening ? srv.close(resolve) : resolve(undefined))),
      ),
    );
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  return port!;
}

/** Whether something accepts TCP connections on host:port. */
export function tcpOpen(port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function readRange(file: string, start: number, end: number): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(Math.max(0, end - start));
    let read = 0;
    while (read < buf.length) {
      const n = readSync(fd, buf, read, buf.length - read, start + read);
      if (n <= 0) break;
      read += n;
    }
    return buf.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * The beginning of a process's own output in its log (where readiness lines are): from its start
 * offset, at most `maxBytes`, so a long-running process with a big log stays cheap to check.
 */
export function readOwnLog(rec: Pick<PidRecord, 'logFile' | 'logOffset'>, maxBytes = 1 << 20): string {
  try {
    const size = statSync(rec.logFile).size;
    return readRange(rec.logFile, rec.logOffset, Math.min(size, rec.logOffset + maxBytes));
  } catch {
    return '';
  }
}

/** Last lines of a log, for error messages. */
export function logTail(rec: Pick<PidRecord, 'logFile' | 'logOffset'>, lines = 15): string {
  let text: string;
  try {
    const size = statSync(rec.logFile).size;
    text = readRange(rec.logFile, Math.max(rec.logOffset, size - 64 * 1024), size);
  } catch {
    return '';
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .join('\n');
}

/** The first of `n` consecutive free ports, searched from a random start in [from, to). */
export async function freePortRange(n: number, from = 20_000, to = 40_000, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = from + Math.floor(Math.random() * (to - from - n));
    let free = true;
    for (let p = base; p < base + n && free; p++) free = await isPortFree(p, host);
    if (free) return base;
  }
  throw new Error(`no ${n} consecutive free ports in [${from}, ${to})`);
}
