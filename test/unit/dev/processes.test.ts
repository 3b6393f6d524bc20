import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatPidRecord,
  freePorts,
  isPortFree,
  isSameProcess,
  liveProcess,
  logTail,
  parseCmdline,
  parsePidRecord,
  parseProcStat,
  readOwnLog,
  readProcessInfo,
  spawnDetached,
  stopProcess,
  type PidRecord,
} from '../../../src/dev/processes';

const FAKE = fileURLToPath(new URL('./fixtures/fake-component.ts', import.meta.url));

function record(overrides: Partial<PidRecord> = {}): PidRecord {
  return {
    name: 'minio',
    pid: 4242,
    argv: ['/bin/minio', 'server', '/home/x/minio'],
    startTime: '123456',
    startedAt: '2026-01-01T00:00:00.000Z',
    logFile: '/home/x/logs/minio.log',
    logOffset: 10,
    ...overrides,
  };
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readProcessInfo(pid)?.zombie ?? true;
  } catch {
    return true;
  }
}

describe('pid records', () => {
  it('round-trips through the pid file format', () => {
    const rec = record();
    expect(parsePidRecord(formatPidRecord(rec))).toEqual(rec);
  });

  it.each([
    ['not JSON', '4242'],
    ['empty', ''],
    ['no pid', JSON.stringify({ ...record(), pid: undefined })],
    ['pid 1', JSON.stringify(record({ pid: 1 }))],
    ['fractional pid', JSON.stringify(record({ pid: 12.5 }))],
    ['no start time', JSON.stringify(record({ startTime: '' }))],
    ['empty argv', JSON.stringify(record({ argv: [] }))],
    ['argv not strings', JSON.stringify({ ...record(), argv: [1, 2] })],
  ])('treats a pid file with %s as stale', (_what, text) => {
    expect(parsePidRecord(text)).toBeNull();
  });
});

describe('/proc parsing', () => {
  it('reads state, group and start time even when the command name has spaces and parentheses', () => {
    const fields = [
      'S',
      '1',
      '777',
      '777',
      '0',
      '-1',
      '4194560',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '20',
      '0',
      '1',
      '0',
      '98765',
      '1000',
    ];
    expect(parseProcStat(`4242 (weird ) name) ${fields.join(' ')}`)).toEqual({
      state: 'S',
      pgrp: 777,
      startTime: '98765',
    });
    expect(parseProcStat('garbage')).toBeNull();
  });

  it('splits the NUL-separated command line', () => {
    expect(parseCmdline('/bin/minio\0server\0/data dir\0')).toEqual(['/bin/minio', 'server', '/data dir']);
  });
});

describe('stale-pid detection', () => {
  const rec = record();
  const same = { argv: [...rec.argv], startTime: rec.startTime, zombie: false };

  it('accepts the process the record describes', () => {
    expect(isSameProcess(rec, same)).toBe(true);
  });

  it('rejects a recycled pid: another start time', () => {
    expect(isSameProcess(rec, { ...same, startTime: '999999' })).toBe(false);
  });

  it('rejects a recycled pid: another command line', () => {
    expect(isSameProcess(rec, { ...same, argv: ['/usr/bin/vim', 'notes.txt'] })).toBe(false);
    expect(isSameProcess(rec, { ...same, argv: rec.argv.slice(0, 2) })).toBe(false);
  });

  it('rejects a missing process and an unreaped (zombie) one', () => {
    expect(isSameProcess(rec, null)).toBe(false);
    expect(isSameProcess(rec, { ...same, zombie: true })).toBe(false);
  });

  it('recognises this very process, and not with a wrong start time', () => {
    const info = readProcessInfo(process.pid);
    expect(info).not.toBeNull();
    const me = record({ pid: process.pid, argv: info!.argv, startTime: info!.startTime });
    expect(liveProcess(me)).toEqual(me);
    expect(liveProcess({ ...me, startTime: `${me.startTime}1` })).toBeNull();
    expect(liveProcess(null)).toBeNull();
  });
});

describe('detached processes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kaizen-proc-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function start(mode: string): Promise<PidRecord> {
    const rec = await spawnDetached({
      name: mode,
      argv: [process.execPath, '--import', 'tsx', FAKE, mode],
      env: process.env,
      logFile: path.join(dir, `${mode}.log`),
    });
    for (let i = 0; i < 50 && !readOwnLog(rec).trim(); i++) await sleep(50);
    return rec;
  }

  it('logs to its own file after a header, and is recognised as ours', async () => {
    const rec = await start('stubborn');
    try {
      expect(liveProcess(rec)?.pid).toBe(rec.pid);
      expect(readOwnLog(rec)).toContain('ready');
      expect(await readFile(rec.logFile, 'utf8')).toMatch(/=== .* starting stubborn: /);
    } finally {
      await stopProcess(rec, 200);
    }
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const rec = await start('stubborn');
    const t0 = Date.now();
    expect(await stopProcess(rec, 300)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(gone(rec.pid)).toBe(true);
    expect(readOwnLog(rec)).toContain('ignoring SIGTERM');
  });

  it('stops the whole process group, including children that outlive the leader', async () => {
    const rec = await start('group');
    const child = Number(/child (\d+)/.exec(readOwnLog(rec))?.[1]);
    expect(child).toBeGreaterThan(1);
    expect(gone(child)).toBe(false);
    await stopProcess(rec, 300);
    expect(gone(rec.pid)).toBe(true);
    expect(gone(child)).toBe(true);
  });

  it('does not signal a process whose record does not match', async () => {
    const rec = await start('stubborn');
    try {
      expect(await stopProcess({ ...rec, startTime: '1' }, 100)).toBe(false);
      expect(gone(rec.pid)).toBe(false);
    } finally {
      await stopProcess(rec, 100);
    }
  });

  it('reports a command that cannot start', async () => {
    await expect(
      spawnDetached({
        name: 'nope',
        argv: [path.join(dir, 'no-such-binary')],
        env: process.env,
        logFile: path.join(dir, 'nope.log'),
      }),
    ).rejects.toThrow(/cannot start nope/);
  });
});

describe('logs', () => {
  it('reads a process its own part of the shared log: the head for readiness, the tail for errors', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kaizen-log-test-'));
    try {
      const file = path.join(dir, 'w.log');
      const before = 'kaizen worker ready (a previous run)\n';
      const own = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n');
      await writeFile(file, before + own + '\n');
      const rec = { logFile: file, logOffset: Buffer.byteLength(before) };
      expect(readOwnLog(rec)).not.toContain('previous run');
      expect(readOwnLog(rec, 13)).toBe('line 0\nline 1');
      expect(logTail(rec, 2)).toBe('line 28\nline 29');
      expect(readOwnLog({ logFile: path.join(dir, 'missing.log'), logOffset: 0 })).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ports', () => {
  it('finds distinct free ports and sees a taken one', async () => {
    const ports = await freePorts(4);
    expect(new Set(ports).size).toBe(4);
    expect(await isPortFree(ports[0]!)).toBe(true);
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(ports[0], '127.0.0.1', resolve));
    try {
      expect(await isPortFree(ports[0]!)).toBe(false);
    } finally {
      await new Promise((resolve) => srv.close(resolve));
    }
  });
});
