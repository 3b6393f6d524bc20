// The core journey on the production profile: a pipeline whose canary runs under traffic through
// HAProxy, promoted, then rolled back — while one training worker (the one training), one
// orchestration worker, the Temporal history service and one production replica are killed with
// SIGKILL mid-run, and a MinIO drive is wiped. Each figure is printed as a [production] line.
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusWithProgress } from '../../src/cli/pipeline';
import { stackStatus, upStack } from '../../src/dev/stack';
import { ModelRegistry } from '../../src/registry/registry';
import { gatherLiveWindow, liveReplicas } from '../../src/serving/replicas';
import { loadPipelineSpec } from '../../src/spec/pipeline-spec';
import { createObjectStore } from '../../src/storage/object-store';
import { TASK_QUEUES, type PipelineResult, type PipelineStatus } from '../../src/types';
import { runCli, slowTrainingSpec, smallFlightsSpec, writeSpec } from '../helpers/cli';
import { stackEnv, testConfig, testStack, testStackOptions } from '../helpers/stack-env';

const cfg = testConfig();
const store = createObjectStore(cfg);
const registry = new ModelRegistry(store);
const observed = (line: string) => console.log(`[production] ${line}`);
let client: Client;

beforeAll(async () => {
  client = new Client({ connection: await Connection.connect({ address: cfg.temporal.address }) });
});
afterAll(async () => {
  await client?.connection.close();
});

async function pidOf(name: string): Promise<number> {
  const c = (await stackStatus(testStackOptions())).components.find((x) => x.name === name);
  expect(c?.pid, `${name} has a pid`).toBeGreaterThan(0);
  return c!.pid!;
}

/** SIGKILL of one component (by its recorded pid), waiting until it is gone. */
async function kill(name: string): Promise<number> {
  const pid = await pidOf(name);
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return Date.now();
    }
    await sleep(25);
  }
  throw new Error(`${name} (pid ${pid}) did not die`);
}

/** `kaizen dev up` again: whatever died starts, the rest is left alone. */
async function repair(): Promise<void> {
  const status = await upStack(testStackOptions());
  expect(status.components.filter((c) => !c.healthy).map((c) => c.name)).toEqual([]);
}

async function waitFor(id: string, ok: (s: PipelineStatus & { training?: { epoch?: number } | null }) => boolean, what: string): Promise<PipelineStatus> {
  const handle = client.workflow.getHandle(id);
  for (let i = 0; i < 3000; i++) {
    const s = await statusWithProgress(handle).catch(() => null);
    if (s && ok(s)) return s;
    if (s?.stage === 'done') throw new Error(`${id} ended before ${what}: ${JSON.stringify(s.result).slice(0, 400)}`);
    await sleep(200);
  }
  throw new Error(`${id} never reached ${what}`);
}

/** The stack component whose worker runs the pipeline's pending activity (from its worker identity, pid@host). */
async function workerRunning(id: string, activity: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const d = await client.workflow.getHandle(id).describe();
    const pending = d.raw.pendingActivities?.find((a) => a.activityType?.name === activity && a.lastWorkerIdentity);
    const pid = Number(pending?.lastWorkerIdentity?.split('@')[0]);
    if (pid > 0) {
      const c = (await stackStatus(testStackOptions())).components.find((x) => x.pid === pid);
      if (c) return c.name;
    }
    await sleep(200);
  }
  throw new Error(`no worker identity for ${activity} of ${id}`);
}

const metricSum = (text: string, name: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);

describe('the production profile', () => {
  it('runs the core journey through failures: canary under traffic via the load balancer, promoted, rolled back', async () => {
    const model = `prod-journey-${Date.now().toString(36)}`;
    const env = stackEnv();
    const options = testStackOptions();
    const replicas = options.servers.filter((s) => s.env === 'production');
    expect(replicas).toHaveLength(2);
    expect(await liveReplicas(store, 'production')).toHaveLength(2);

    // v1: the champion
    const first = await runCli(['pipeline', 'run', writeSpec(smallFlightsSpec(model)), '--wait', '--approve', 'auto', '--json'], env, 600_000);
    expect(first.code, first.stderr).toBe(0);
    expect((JSON.parse(first.stdout) as PipelineResult).outcome).toBe('promoted');

    // v2: slow enough training to kill its worker mid-epoch, then a canary under replayed traffic
    const id = `${model}-v2`;
    const spec0 = {
      ...slowTrainingSpec(model),
      gate: { metric: 'auc', min: 0.5, maxRegression: 0.2 },
      canary: { steps: [25, 50, 100], stepDuration: '10s', minRequestsPerStep: 15, maxErrorRate: 0.05, maxP99Ms: 2000, maxMetricDrop: 0.3 },
    };
    const { spec, specHash } = await loadPipelineSpec(writeSpec(spec0));
    const t0 = Date.now();
    await client.workflow.start('trainingPipeline', { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ spec, specHash }] });
    const replay = runCli(['replay', model, '--rate', '30', '--until-workflow', id, '--duration', '15m', '--json'], env, 900_000);

    await waitFor(id, (s) => s.stage === 'training' && (s.training?.epoch ?? 0) >= 1, 'training epoch 1');
    const trainer = await workerRunning(id, 'trainModel');
    await Promise.all([kill(trainer), kill('worker-pipeline-1'), kill('temporal-history')]);
    observed(`killed ${trainer} (running trainModel), worker-pipeline-1 and temporal-history at epoch ≥1`);
    await sleep(3_000);
    await repair();

    await waitFor(id, (s) => s.stage === 'canary', 'the canary');
    // the analysis sees both replicas before one dies
    const both = await gatherLiveWindow(store, 'production', cfg.servers.production, model, 'window=60s', cfg.adminToken);
    expect(both.read).toHaveLength(2);
    await sleep(4_000);
    const killedReplicaAt = await kill('server-production-1');
    observed('killed server-production-1 during the canary');
    await sleep(5_000);
    await repair();

    const result = (await client.workflow.getHandle(id).result()) as PipelineResult;
    observed(`pipeline ${result.outcome} in ${((Date.now() - t0) / 1000).toFixed(1)} s; training resumed from epoch ${result.training?.resumedFromEpoch}; canary ${JSON.stringify(result.canary?.steps)}`);
    expect(result.outcome, JSON.stringify(result.error ?? result.canary)).toBe('promoted');
    expect(result.canary?.steps.map((s) => s.percent)).toEqual([25, 50, 100]);
    expect(result.training?.resumedFromEpoch ?? 0).toBeGreaterThanOrEqual(1);

    const rep = await replay;
    expect(rep.code, rep.stderr).toBe(0);
    const r = JSON.parse(rep.stdout) as { sent: number; answered: number; failed: number; feedback: number };
    observed(`replay through HAProxy: ${r.answered} of ${r.sent} answered, ${r.failed} failed, ${r.feedback} labels joined`);
    expect(r.answered / r.sent).toBeGreaterThan(0.97);
    expect(r.feedback).toBeGreaterThan(0.9 * r.answered);
    // feedback reached the replica that answered: some of it came in through the other one
    let forwarded = 0;
    for (const s of replicas) forwarded += metricSum(await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text(), 'kaizen_feedback_forwarded_total{status="200"');
    observed(`feedback forwarded between replicas (the counters of the replicas now running; server-production-1 restarted at ${new Date(killedReplicaAt).toISOString()}): ${forwarded}`);
    expect(forwarded).toBeGreaterThan(0);

    // rolled back: every replica serves v1 again
    const rb = await runCli(['rollback', model, '--json'], env);
    expect(rb.code, rb.stderr).toBe(0);
    for (const s of replicas) {
      let version = 0;
      for (let i = 0; i < 50 && version !== 1; i++) {
        const res = await fetch(`http://127.0.0.1:${s.port}/v1/models/${model}:predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ instances: [{ distance: 500, hour: 9, weekday: 2, origin: 'SFO' }] }),
        });
        version = ((await res.json()) as { model_version: number }).model_version;
        if (version !== 1) await sleep(200);
      }
      expect(version, `${s.name} serves version 1 after the rollback`).toBe(1);
    }

    // one of MinIO's four drives lost: every stored version still reads back, checked by sha256
    const drive = path.join(testStack().home, 'minio', 'drive4');
    for (const entry of await readdir(drive)) await rm(path.join(drive, entry), { recursive: true, force: true });
    const doc = await registry.require(model);
    for (const v of doc.versions) await registry.loadArtifact(v);
    await store.putJson(`scratch/${model}.json`, { after: 'drive loss' });
    expect((await store.getJson<{ after: string }>(`scratch/${model}.json`))?.value.after).toBe('drive loss');
    observed(`drive4 wiped: ${doc.versions.length} versions read back intact, and a new write works`);
  });
});
