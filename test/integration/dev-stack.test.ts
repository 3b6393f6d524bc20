import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, readProcessInfo } from '../../src/dev/processes';
import {
  downStack,
  stackStatus,
  upStack,
  type ComponentStatus,
  type StackOptions,
  type StackStatus,
} from '../../src/dev/stack';
import { ObjectStore } from '../../src/storage/object-store';

// A second stack of its own (another temporary home, other free ports, no real workers), so it
// can be killed and restarted without disturbing the shared stack of the other integration tests.

const FAKE = fileURLToPath(new URL('../unit/dev/fixtures/fake-component.ts', import.meta.url));
const STAGE = defineSearchAttributeKey('KaizenStage', SearchAttributeType.KEYWORD);

function byName(s: StackStatus): Record<string, ComponentStatus> {
  return Object.fromEntries(s.components.map((c) => [c.name, c]));
}

function alive(pid: number): boolean {
  const info = readProcessInfo(pid);
  return info !== null && !info.zombie;
}

/** Live processes whose command line mentions `needle` (our temp home is unique). */
function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle) && alive(Number(entry)))
        found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

async function withClient<T>(o: StackOptions, fn: (c: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: `127.0.0.1:${o.temporalPort}` });
  try {
    return await fn(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

describe('local stack manager (dev up / down / status)', () => {
  let home: string;
  let o: StackOptions;
  let withFakes: StackOptions;
  const lines: string[] = [];

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'kaizen-devstack-test-'));
    const [temporalPort, temporalUiPort, minioPort, minioConsolePort, serverPort] = (await freePorts(5)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    o = {
      home,
      temporalPort,
      temporalUiPort,
      minioPort,
      minioConsolePort,
      s3: { accessKey: 'devstack', secretKey: 'devstack-secret', bucket: 'devstack' },
      workers: [],
      servers: [],
      log: (l) => lines.push(l),
    };
    withFakes = {
      ...o,
      workers: [
        {
          name: 'fake-worker',
          queues: ['q'],
          command: [process.execPath, '--import', 'tsx', FAKE, 'worker'],
        },
      ],
      servers: [
        {
          name: 'fake-server',
          env: 'staging',
          port: serverPort,
          command: [process.execPath, '--import', 'tsx', FAKE, 'server', '--port', String(serverPort)],
        },
      ],
    };
  });

  afterAll(async () => {
    if (o) await downStack(o);
    if (home) await rm(home, { recursive: true, force: true });
  });

  let first: Record<string, ComponentStatus>;

  it('up starts Temporal (+UI) and MinIO, healthy, and creates the bucket', async () => {
    const t0 = Date.now();
    const status = await upStack(o);
    const ms = Date.now() - t0;
    console.log(`second stack up in ${(ms / 1000).toFixed(1)}s`);
    expect(status.components.map((c) => c.name)).toEqual([
      'temporal',
      'temporal-ui',
      'minio',
      'minio-console',
    ]);
    expect(status.components.every((c) => c.healthy && typeof c.pid === 'number')).toBe(true);
    first = byName(status);
    expect(first.temporal!.url).toBe(`127.0.0.1:${o.temporalPort}`);
    expect(first['temporal-ui']!.url).toBe(`http://127.0.0.1:${o.temporalUiPort}`);
    expect(first.minio!.url).toBe(`http://127.0.0.1:${o.minioPort}`);
    // JSON as `kaizen dev status --json` prints it
    expect(JSON.parse(JSON.stringify(await stackStatus(o)))).toEqual(status);
    const store = new ObjectStore({ endpoint: first.minio!.url!, ...o.s3, region: 'us-east-1' });
    expect(await store.client.bucketExists('devstack')).toBe(true);
    expect(lines.join('\n')).toContain(`Temporal UI    http://127.0.0.1:${o.temporalUiPort}`);
  });

  it('up again reuses the running processes', async () => {
    const t0 = Date.now();
    const again = byName(await upStack(o));
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(again.temporal!.pid).toBe(first.temporal!.pid);
    expect(again.minio!.pid).toBe(first.minio!.pid);
  });

  it('starts workers after Temporal and MinIO, judges them by their log line and restarts a dead one', async () => {
    const status = byName(await upStack(withFakes));
    const worker = status['fake-worker']!;
    expect(worker).toMatchObject({ healthy: true, url: null });
    expect(status['fake-server']).toMatchObject({
      healthy: true,
      url: withFakes.servers[0] && `http://127.0.0.1:${withFakes.servers[0].port}`,
    });
    const log = await readFile(path.join(home, 'logs', 'fake-worker.log'), 'utf8');
    expect(log).toContain(`TEMPORAL_ADDRESS=127.0.0.1:${o.temporalPort} KAIZEN_BUCKET=devstack`);

    process.kill(worker.pid!, 'SIGKILL');
    await expect.poll(() => alive(worker.pid!)).toBe(false);
    expect(byName(await stackStatus(withFakes))['fake-worker']).toMatchObject({ pid: null, healthy: false });
    const restarted = byName(await upStack(withFakes));
    expect(restarted['fake-worker']!.healthy).toBe(true);
    expect(restarted['fake-worker']!.pid).not.toBe(worker.pid);
    expect(restarted['fake-server']!.pid).toBe(status['fake-server']!.pid);
    expect(restarted.temporal!.pid).toBe(first.temporal!.pid);
  });

  it('restarts MinIO after kill -9, keeping its data and the other processes', async () => {
    const before = byName(await stackStatus(o));
    process.kill(before.minio!.pid!, 'SIGKILL');
    await expect.poll(() => alive(before.minio!.pid!)).toBe(false);
    expect(byName(await stackStatus(o)).minio).toMatchObject({ pid: null, healthy: false });

    const after = byName(await upStack(o));
    expect(after.minio!.healthy).toBe(true);
    expect(after.minio!.pid).not.toBe(before.minio!.pid);
    expect(after.temporal!.pid).toBe(before.temporal!.pid);
    const store = new ObjectStore({ endpoint: after.minio!.url!, ...o.s3, region: 'us-east-1' });
    expect(await store.client.bucketExists('devstack')).toBe(true);
  });

  it('refuses to start on a port held by a stranger, naming port and component, starting nothing', async () => {
    const otherHome = await mkdtemp(path.join(os.tmpdir(), 'kaizen-devstack-conflict-'));
    const [a, b, c, d] = (await freePorts(4)) as [number, number, number, number];
    try {
      // the first stack's MinIO console port is taken by "someone else" from this stack's view
      const clash: StackOptions = {
        ...o,
        home: otherHome,
        temporalPort: a,
        temporalUiPort: b,
        minioPort: c,
        minioConsolePort: o.minioConsolePort,
      };
      await expect(upStack(clash)).rejects.toThrow(
        new RegExp(
          `port ${o.minioConsolePort} \\(MinIO console\\) is in use by a process that is not part of this stack`,
        ),
      );
      expect(await readdir(path.join(otherHome, 'run'))).toEqual([]);
      const srv = net.createServer();
      await new Promise<void>((resolve) => srv.listen(a, '127.0.0.1', resolve));
      try {
        await expect(upStack({ ...clash, minioConsolePort: d })).rejects.toThrow(
          new RegExp(`port ${a} \\(Temporal gRPC\\) is in use.*TEMPORAL_ADDRESS`),
        );
      } finally {
        await new Promise((resolve) => srv.close(resolve));
      }
      expect(processesMentioning(otherHome)).toEqual([]);
    } finally {
      await rm(otherHome, { recursive: true, force: true });
    }
  });

  it('down stops exactly what up started; up again finds the workflow history and search attributes', async () => {
    // a workflow needs no worker to exist in history: it just waits for one
    await withClient(o, (client) =>
      client.workflow.start('persistenceProbe', {
        taskQueue: 'no-worker-here',
        workflowId: 'dev-stack-persistence',
        typedSearchAttributes: [{ key: STAGE, value: 'training' }],
      }),
    );
    const running = (await stackStatus(withFakes)).components
      .map((c) => c.pid)
      .filter((p): p is number => p !== null);
    expect(new Set(running).size).toBe(4);

    const t0 = Date.now();
    const down = await downStack(o);
    console.log(`second stack down in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    expect(down.components.every((c) => c.pid === null && !c.healthy)).toBe(true);
    for (const pid of running) expect(alive(pid), `pid ${pid} still alive`).toBe(false);
    expect(processesMentioning(home)).toEqual([]);
    expect(await readdir(path.join(home, 'run'))).toEqual([]);
    expect((await stat(path.join(home, 'temporal.db'))).size).toBeGreaterThan(0);

    const t1 = Date.now();
    const up = await upStack(o);
    console.log(`second stack restarted on existing data in ${((Date.now() - t1) / 1000).toFixed(1)}s`);
    expect(up.components.filter((c) => !c.healthy)).toEqual([]);
    await withClient(o, async (client) => {
      const d = await client.workflow.getHandle('dev-stack-persistence').describe();
      expect(d.status.name).toBe('RUNNING');
      expect(d.typedSearchAttributes.get(STAGE)).toBe('training');
      const sa = await client.connection.operatorService.listSearchAttributes({ namespace: 'default' });
      expect(sa.customAttributes).toMatchObject({
        KaizenStage: expect.anything(),
        KaizenModel: expect.anything(),
      });
      await client.workflow.getHandle('dev-stack-persistence').terminate('test done');
    });
  });
});
