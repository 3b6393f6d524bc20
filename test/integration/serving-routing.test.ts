import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { promote, setSplit } from '../helpers/production';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_READY_LINE } from '../../src/cli/serve';
import { freePorts } from '../../src/dev/processes';
import { ModelRegistry } from '../../src/registry/registry';
import { createObjectStore, type ObjectStore } from '../../src/storage/object-store';
import { REPO_ROOT } from '../helpers/cli';
import { stackEnv, testConfig } from '../helpers/stack-env';
import { registerBytes, trainTinyModels, type TinyModels } from '../unit/serving/fixtures';

// Traffic routing kept in the registry against the real stack: a `kaizen serve --env production`
// process splits by the registry's weights, and after a kill -9 and a restart routes every key to
// the same version as before.

const MODEL = `it-routing-${Date.now().toString(36)}`;
const TOKEN = 'it-routing-admin-token';

let store: ObjectStore;
let registry: ModelRegistry;
let tiny: TinyModels;
const children: ChildProcessWithoutNullStreams[] = [];

async function register(bytes: Buffer, workflowId: string): Promise<number> {
  return (await registerBytes(store, registry, MODEL, bytes, workflowId)).version;
}

async function startServe(port: number): Promise<ChildProcessWithoutNullStreams> {
  const env = {
    ...stackEnv(),
    KAIZEN_ADMIN_TOKEN: TOKEN,
    KAIZEN_SERVE_REFRESH_MS: '300',
    KAIZEN_LOG_LEVEL: 'warn',
  };
  const child = spawn(
    process.execPath,
    [path.join(REPO_ROOT, 'bin/kaizen.js'), 'serve', '--env', 'production', '--port', String(port)],
    { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!out.includes(SERVER_READY_LINE)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`kaizen serve did not start (exit ${child.exitCode}):\n${out}`);
    }
    await sleep(50);
  }
  return child;
}

async function versionFor(url: string, key: string): Promise<number> {
  const res = await fetch(`${url}/v1/models/${MODEL}:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key, instances: [tiny.rows[0]] }),
  });
  const body = (await res.json()) as { model_version: number };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.model_version;
}

async function killHard(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    return; // it exited meanwhile
  }
  await exited;
}

beforeAll(async () => {
  store = createObjectStore(testConfig());
  registry = new ModelRegistry(store);
  tiny = await trainTinyModels();
  await register(tiny.bytes[0], `${MODEL}-wf-1`);
  await register(tiny.bytes[1], `${MODEL}-wf-2`);
  await promote(registry, MODEL, 1);
});

afterAll(async () => {
  for (const c of children) await killHard(c);
  await tiny?.cleanup();
});

describe('traffic routing kept in the registry', () => {
  it('survives a kill -9 and restart of the production server: every key lands on the same version', async () => {
    await setSplit(registry, MODEL, { 1: 50, 2: 50 });
    const [port] = (await freePorts(1)) as [number];
    const url = `http://127.0.0.1:${port}`;
    const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);

    const first = await startServe(port);
    const before = new Map<string, number>();
    for (const k of keys) before.set(k, await versionFor(url, k));
    expect(new Set(before.values())).toEqual(new Set([1, 2]));
    for (const k of keys.slice(0, 10)) expect(await versionFor(url, k)).toBe(before.get(k));

    await killHard(first);
    const second = await startServe(port);
    for (const k of keys) expect(await versionFor(url, k), k).toBe(before.get(k));

    // a change in the registry reaches the running server on its poll
    await setSplit(registry, MODEL, { 2: 100 });
    await expect.poll(() => versionFor(url, 'user-0'), { timeout: 10_000, interval: 200 }).toBe(2);
    for (const k of keys) expect(await versionFor(url, k)).toBe(2);

    const status = await fetch(`${url}/admin/models/${MODEL}/routing`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(await status.json()).toMatchObject({
      production: { champion: 1, weights: { '2': 100 } },
      applied: { version: 1, routed_versions: [2] },
    });
    await killHard(second);
  });

  it('kill switch: disable answers every request with the baseline at once and survives a restart; enable restores', async () => {
    const [port] = (await freePorts(1)) as [number];
    const url = `http://127.0.0.1:${port}`;
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const ask = async () => {
      const res = await fetch(`${url}/v1/models/${MODEL}:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [tiny.rows[0]] }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { fallback: boolean; fallback_reason?: string; predictions: unknown[] };
    };
    const first = await startServe(port);
    expect((await ask()).fallback).toBe(false);
    const off = await fetch(`${url}/admin/models/${MODEL}/disable`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ reason: 'integration test', by: 'oncall' }),
    });
    expect(off.status).toBe(200);
    expect(await ask()).toMatchObject({
      fallback: true,
      fallback_reason: 'model disabled by oncall: integration test',
    });

    await killHard(first);
    const second = await startServe(port);
    expect((await ask()).fallback).toBe(true);
    const on = await fetch(`${url}/admin/models/${MODEL}/enable`, {
      method: 'POST',
      headers: auth,
      body: '{}',
    });
    expect(await on.json()).toMatchObject({ disabled: false });
    expect((await ask()).fallback).toBe(false);
    expect((await registry.require(MODEL)).production?.killSwitch).toBeNull();
    await killHard(second);
  });
});
