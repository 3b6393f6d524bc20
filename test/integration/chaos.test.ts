// Failing parts, on the real stack: the Temporal server restarted mid-pipeline, MinIO gone for 10 s
// during a checkpoint upload and during a registry write, the production model server killed under
// load, the orchestration worker killed while a pipeline waits for approval. Each case ends with the
// pipeline (or the server) back to a correct state and every stored object checked by sha256.
// (The MinIO outage during data preparation and kill -9 of the training worker are in
// data-prepare.test.ts and training-durability.test.ts.)
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadDataset } from '../../src/data/dataset';
import { stackStatus, upStack } from '../../src/dev/stack';
import { ModelRegistry } from '../../src/registry/registry';
import { statusWithProgress } from '../../src/cli/pipeline';
import { loadPipelineSpec } from '../../src/spec/pipeline-spec';
import { createObjectStore } from '../../src/storage/object-store';
import { TASK_QUEUES, type PipelineResult, type PipelineStatus } from '../../src/types';
import { promote, setSplit } from '../helpers/production';
import { runCli, slowTrainingSpec, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig, testStackOptions } from '../helpers/stack-env';
import { registerBytes, trainTinyModels, versionInput, type TinyModels } from '../unit/serving/fixtures';

const store = createObjectStore(testConfig());
/** One line per case of what happened, for the run's log. */
const observed = (line: string) => console.log(`[chaos] ${line}`);
const registry = new ModelRegistry(store);
let client: Client;
let scratch: string;

beforeAll(async () => {
  client = new Client({ connection: await Connection.connect({ address: testConfig().temporal.address }) });
  scratch = await mkdtemp(path.join(os.tmpdir(), 'kaizen-chaos-'));
});
afterAll(async () => {
  await client?.connection.close();
  await rm(scratch, { recursive: true, force: true });
});

/** kill -9 of one stack component, waiting until the process is gone; returns when it died. */
async function killComponent(name: string): Promise<{ pid: number; at: number }> {
  const c = (await stackStatus(testStackOptions())).components.find((x) => x.name === name);
  expect(c?.pid, `${name} has a pid`).toBeGreaterThan(0);
  const pid = c!.pid!;
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return { pid, at: Date.now() };
    }
    await sleep(25);
  }
  throw new Error(`${name} (pid ${pid}) did not die`);
}

/** Starts what is down again, as `kaizen dev up` does, and checks the component is healthy. */
async function repair(name: string): Promise<void> {
  const status = await upStack(testStackOptions());
  expect(status.components.find((c) => c.name === name)?.healthy, `${name} healthy after repair`).toBe(true);
}

/** Every version of `model`: its artifact matches its recorded sha256, its dataset every manifest sha256. */
async function verifyStored(model: string): Promise<number> {
  const doc = await registry.require(model);
  let checked = 0;
  for (const v of doc.versions) {
    await registry.loadArtifact(v); // throws ArtifactIntegrity on a mismatch
    checked++;
    if (v.lineage.datasetUri.endsWith('/aaaa/')) continue; // hand-registered test versions have no dataset
    const ds = await downloadDataset(store, v.lineage.datasetUri, path.join(scratch, `${model}-${v.version}`));
    checked += Object.keys(ds.manifest.files).length;
  }
  return checked;
}

async function startPipeline(model: string, id: string, spec0: Record<string, unknown> = smallFlightsSpec(model)) {
  const { spec, specHash } = await loadPipelineSpec(writeSpec(spec0));
  return client.workflow.start('trainingPipeline', { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ spec, specHash }] });
}

async function waitFor(id: string, ok: (s: PipelineStatus & { training?: { epoch?: number } | null }) => boolean, what: string): Promise<void> {
  const handle = client.workflow.getHandle(id);
  for (let i = 0; i < 1200; i++) {
    const s = await statusWithProgress(handle).catch(() => null);
    if (s && ok(s)) return;
    if (s?.stage === 'done') throw new Error(`${id} ended before ${what}: ${JSON.stringify(s.result).slice(0, 400)}`);
    await sleep(100);
  }
  throw new Error(`${id} never reached ${what}`);
}

describe('chaos: the Temporal server', () => {
  it('restarted mid-pipeline (kill -9, its database kept): the pipeline completes and everything stored checks out', async () => {
    const id = 'it-chaos-temporal-1';
    const handle = await startPipeline('it-chaos-temporal', id, slowTrainingSpec('it-chaos-temporal'));
    await waitFor(id, (s) => s.stage === 'training' && (s.training?.epoch ?? 0) >= 1, 'epoch 1');
    const killed = await killComponent('temporal');
    await sleep(2_000);
    await repair('temporal');
    const back = Date.now();
    const result = (await handle.result()) as PipelineResult;
    expect(result.outcome).toBe('promoted');
    observed(`temporal: down ${((back - killed.at) / 1000).toFixed(1)} s at epoch ≥1; pipeline ${result.outcome} ${((Date.now() - back) / 1000).toFixed(1)} s after the restart, resumedFromEpoch ${result.training?.resumedFromEpoch}`);
    expect((await registry.require('it-chaos-temporal')).versions).toHaveLength(1);
    expect(await verifyStored('it-chaos-temporal')).toBeGreaterThan(1);
  });
});

describe('chaos: MinIO', () => {
  it('gone for 10 s during the checkpoint uploads: training is retried, resumes and completes; no half-written object', async () => {
    const id = 'it-chaos-ckpt-1';
    const handle = await startPipeline('it-chaos-ckpt', id, slowTrainingSpec('it-chaos-ckpt'));
    await waitFor(id, (s) => s.stage === 'training' && (s.training?.epoch ?? 0) >= 1, 'epoch 1');
    const killed = await killComponent('minio');
    // watch the training activity fail against the missing store while it is down
    const failures = new Set<string>();
    while (Date.now() - killed.at < 10_000) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      for (const p of pending) if (p.lastFailure?.message) failures.add(`${p.activityType?.name}: ${p.lastFailure.message}`);
      await sleep(250);
    }
    await repair('minio');
    const result = (await handle.result()) as PipelineResult;
    expect(result.outcome).toBe('promoted');
    expect([...failures].join('\n')).toMatch(/trainModel: .*object store unreachable/);
    expect(result.training?.resumedFromEpoch).toBeGreaterThanOrEqual(1);
    observed(`minio during checkpoints: ${failures.size} distinct activity failures seen (${[...failures][0]?.slice(0, 120)}); pipeline ${result.outcome}, resumed from epoch ${result.training?.resumedFromEpoch}`);
    expect((await registry.require('it-chaos-ckpt')).versions).toHaveLength(1);
    expect(await verifyStored('it-chaos-ckpt')).toBeGreaterThan(1);
    // the run's checkpoints went once the model was registered
    const desc = await handle.describe();
    expect(await store.list(`checkpoints/${id}/${desc.runId}/`)).toEqual([]);
  });

  it('gone for 10 s during a registry write: the write fails retryably, the retry completes it, and nothing half-written is visible', async () => {
    const tiny = await trainTinyModels();
    try {
      const model = 'it-chaos-registry';
      const bytes = tiny.bytes[0];
      const scratchKey = `checkpoints/${model}-wf/model.kzn`;
      await store.put(scratchKey, bytes);
      // the real store, with MinIO killed at the moment the registry document is about to be written
      // (after the artifact copy): the worst point of a registration
      let cut: number | null = null;
      const cutting = new Proxy(store, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (prop !== 'put') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          return async (key: string, ...rest: unknown[]) => {
            if (key === `registry/${model}.json` && cut === null) cut = (await killComponent('minio')).at;
            return (target.put as (...a: unknown[]) => Promise<unknown>)(key, ...rest);
          };
        },
      });
      const down = await new ModelRegistry(cutting).register(model, versionInput(store, scratchKey, bytes, `${model}-wf`)).catch((e: unknown) => e);
      expect(cut).not.toBeNull();
      expect(down).toMatchObject({ type: 'StorageUnavailable' });
      expect((down as { retryable: boolean }).retryable).toBe(true);
      await sleep(10_000 - (Date.now() - cut!));
      await repair('minio');
      // nothing names a version whose write did not finish
      expect(await registry.read(model)).toBeNull();
      // what Temporal's retry does: the same registration again, then once more (idempotent)
      const v = await registry.register(model, versionInput(store, scratchKey, bytes, `${model}-wf`));
      expect(v.version).toBe(1);
      const again = await registry.register(model, versionInput(store, scratchKey, bytes, `${model}-wf`));
      expect(again.version).toBe(1);
      const doc = await registry.require(model);
      expect(doc.versions).toHaveLength(1);
      expect(await verifyStored(model)).toBe(1);
      observed(`minio killed just before the registry document write: ${String((down as Error).message).slice(0, 100)}; no document was visible; the retry registered version ${v.version}, a third call changed nothing`);
    } finally {
      await tiny.cleanup();
    }
  });
});

describe('chaos: the production model server', () => {
  let tiny: TinyModels;
  const model = 'it-chaos-serve';
  const url = () => testConfig().servers.production;
  const admin = () => ({ authorization: `Bearer ${testConfig().adminToken}`, 'content-type': 'application/json' });

  beforeAll(async () => {
    tiny = await trainTinyModels();
    await registerBytes(store, registry, model, tiny.bytes[0], `${model}-wf-1`);
    await registerBytes(store, registry, model, tiny.bytes[1], `${model}-wf-2`);
    await promote(registry, model, 1);
    await setSplit(registry, model, { 1: 50, 2: 50 });
  });
  afterAll(async () => tiny?.cleanup());

  interface Answer {
    at: number;
    ok: boolean;
    version?: number;
    fallback?: boolean;
  }

  /** Keyed predict requests from 4 concurrent loops until stopped. */
  function load(): { stop(): Promise<Answer[]> } {
    const answers: Answer[] = [];
    let stopped = false;
    const loops = [0, 1, 2, 3].map(async (l) => {
      for (let i = 0; !stopped; i++) {
        const at = Date.now();
        try {
          const res = await fetch(`${url()}/v1/models/${model}:predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-kaizen-key': `k-${l}-${i % 50}` },
            body: JSON.stringify({ instances: [tiny.rows[i % 3]] }),
            signal: AbortSignal.timeout(3_000),
          });
          const body = (await res.json()) as { model_version?: number; fallback?: boolean };
          answers.push({ at, ok: res.status === 200, version: body.model_version, fallback: body.fallback });
        } catch {
          answers.push({ at, ok: false });
          await sleep(50);
        }
      }
    });
    return {
      async stop() {
        stopped = true;
        await Promise.all(loops);
        return answers;
      },
    };
  }

  const routing = async () => {
    const res = await fetch(`${url()}/admin/models/${model}/routing`, { headers: admin() });
    expect(res.status).toBe(200);
    return ((await res.json()) as { production: { champion: number; weights: Record<string, number>; killSwitch: unknown } }).production;
  };

  it('kill -9 under load, then restarted: the same champion, split and kill switch come back, and requests fail only while it is down', async () => {
    const off = await fetch(`${url()}/admin/models/${model}/disable`, { method: 'POST', headers: admin(), body: JSON.stringify({ reason: 'chaos drill', by: 'oncall' }) });
    expect(off.status).toBe(200);
    const before = await routing();
    expect(before).toMatchObject({ champion: 1, weights: { '1': 50, '2': 50 }, killSwitch: { by: 'oncall' } });

    const traffic = load();
    await sleep(1_500);
    const killed = await killComponent('server-production');
    await repair('server-production');
    const up = Date.now();
    await sleep(3_000);
    const answers = await traffic.stop();

    const failed = answers.filter((a) => !a.ok);
    const beforeKill = answers.filter((a) => a.at < killed.at - 100);
    const afterUp = answers.filter((a) => a.at > up);
    expect(beforeKill.length).toBeGreaterThan(20);
    expect(beforeKill.every((a) => a.ok)).toBe(true);
    expect(afterUp.length).toBeGreaterThan(20);
    expect(afterUp.every((a) => a.ok)).toBe(true);
    // the failures all lie in the window the server was down
    for (const f of failed) expect(f.at).toBeGreaterThanOrEqual(killed.at - 100);
    for (const f of failed) expect(f.at).toBeLessThanOrEqual(up);
    observed(`production server: down ${((up - killed.at) / 1000).toFixed(1)} s under load; ${failed.length} of ${answers.length} requests failed, all inside that window; ${afterUp.length} after the restart all answered`);
    // the kill switch is still on: every answer after the restart is the baseline
    expect(afterUp.every((a) => a.fallback === true)).toBe(true);
    expect(await routing()).toEqual(before);

    const on = await fetch(`${url()}/admin/models/${model}/enable`, { method: 'POST', headers: admin(), body: '{}' });
    expect(on.status).toBe(200);
    const traffic2 = load();
    await sleep(2_000);
    const after = await traffic2.stop();
    expect(after.every((a) => a.ok && a.fallback === false)).toBe(true);
    expect(new Set(after.map((a) => a.version))).toEqual(new Set([1, 2]));
  });

  it('a corrupted artifact in the bucket is refused with ArtifactIntegrity and the serving versions stay as they were', async () => {
    // bytes of its own (artifacts are content-addressed: v1's bytes would share v1's object)
    const own = Buffer.concat([tiny.bytes[0], Buffer.from('version 3')]);
    const v3 = await registerBytes(store, registry, model, own, `${model}-wf-3`);
    const key = store.keyOf(v3.artifactUri);
    const corrupt = Buffer.from(own);
    corrupt[corrupt.length - 100] = corrupt[corrupt.length - 100]! ^ 0xff;
    await store.put(key, corrupt);
    await promote(registry, model, 3);
    const reload = await fetch(`${url()}/admin/models/${model}/reload`, { method: 'POST', headers: admin(), body: '{}' });
    const body = (await reload.json()) as { error?: { type: string; message: string } };
    expect(body.error?.type).toBe('ArtifactIntegrity');
    expect(body.error?.message).toMatch(/keeps serving/);
    const traffic = load();
    await sleep(1_000);
    const answers = await traffic.stop();
    expect(answers.every((a) => a.ok)).toBe(true);
    expect(answers.some((a) => a.version === 3)).toBe(false);
    observed(`corrupted artifact: reload answered ${body.error?.type}; ${answers.length} requests during it answered by versions ${[...new Set(answers.map((a) => a.version))].sort().join(',')}`);
    await promote(registry, model, 1);
    // the serving versions' own artifacts are untouched
    const doc = await registry.require(model);
    for (const v of doc.versions.filter((x) => x.version !== 3)) await registry.loadArtifact(v);
  });
});

describe('chaos: the orchestration worker', () => {
  it('kill -9 while a pipeline waits for approval: after the restart the approval is still taken', async () => {
    const id = 'it-chaos-approval-1';
    const handle = await startPipeline('it-chaos-approval', id, smallFlightsSpec('it-chaos-approval', { approval: { mode: 'manual', timeout: '10m' } }));
    await waitFor(id, (s) => s.stage === 'awaiting_approval', 'awaiting_approval');
    await killComponent('worker-pipeline');
    await repair('worker-pipeline');
    const res = await runCli(['approve', id, '--by', 'alice', '--comment', 'after the crash', '--json'], stackEnv());
    expect(res.code, res.stderr).toBe(0);
    const result = (await handle.result()) as PipelineResult;
    expect(result.outcome).toBe('promoted');
    expect(result.approval).toMatchObject({ decision: 'approve', by: 'alice', comment: 'after the crash' });
    expect((await registry.require('it-chaos-approval')).production?.champion).toBe(1);
    observed(`orchestration worker killed while awaiting approval; the approval given after the restart promoted version ${result.version}`);
    expect(await verifyStored('it-chaos-approval')).toBeGreaterThan(1);
  });
});
