// Orchestration load: N = 1, 10 and 50 small pipelines at once (the penguins data, no load test, no
// canary, auto-approved), on the dev profile (Temporal dev server on SQLite, one worker per queue)
// and on the production profile (Temporal services on PostgreSQL, two workers per queue), each
// profile a stack of its own on free ports in a temporary home. For every pipeline, the end-to-end
// time and, from its history, the orchestration overhead: wall time minus the time its activities
// ran (started → completed), split into the time activities waited in their queue for a worker
// slot (scheduled → started) and the rest (workflow tasks, Temporal's persistence and dispatch).
// The queue wait is where the growth with N comes from: a training worker trains one model at a time.
//
//   npm run bench:pipelines -- [--json] [--n 1,10,50] [--profiles dev,production]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../src/config';
import { loopbackEndpoints } from '../src/dev/components';
import { freePorts } from '../src/dev/processes';
import { throwawayProductionEnv } from '../src/dev/production';
import { downStack, stackOptionsFromConfig, upStack, type StackOptions } from '../src/dev/stack';
import { loadPipelineSpec } from '../src/spec/pipeline-spec';
import { TASK_QUEUES, type PipelineResult } from '../src/types';
import { median, round } from './common';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    n: { type: 'string', default: '1,10,50' },
    profiles: { type: 'string', default: 'dev,production' },
  },
});

const PENGUINS = path.resolve(import.meta.dirname, '..', 'node_modules', 'vega-datasets', 'data', 'penguins.json');
const log = (line: string) => process.stderr.write(`[bench:pipelines] ${line}\n`);

function penguinsSpec(model: string): Record<string, unknown> {
  return {
    model,
    data: {
      source: PENGUINS,
      derive: {
        species: '"Species"',
        island: '"Island"',
        beak_length: '"Beak Length (mm)"',
        beak_depth: '"Beak Depth (mm)"',
        flipper: '"Flipper Length (mm)"',
        mass: '"Body Mass (g)"',
        sex: '"Sex"',
      },
      target: 'species',
      features: ['island', 'beak_length', 'beak_depth', 'flipper', 'mass', 'sex'],
      exclude: ['Species', 'Island', 'Beak Length (mm)', 'Beak Depth (mm)', 'Flipper Length (mm)', 'Body Mass (g)', 'Sex'],
      split: { validation: 0.15, test: 0.2, seed: 3 },
    },
    task: 'multiclass',
    train: { hiddenUnits: [8], epochs: 5, batchSize: 32, learningRate: 0.02, seed: 3 },
    gate: { metric: 'accuracy', min: 0 },
    loadTest: false,
    canary: false,
    approval: { mode: 'auto' },
  };
}

async function stackFor(profile: 'dev' | 'production'): Promise<StackOptions> {
  const home = await mkdtemp(path.join(os.tmpdir(), `kaizen-bench-${profile}-`));
  const [temporal, ui, minio, minioConsole, production, staging] = (await freePorts(6)) as number[];
  const secrets = profile === 'production' ? await throwawayProductionEnv() : {};
  const cfg = loadConfig({ ...secrets, KAIZEN_HOME: home, ...loopbackEndpoints({ temporal: temporal!, ui: ui!, minio: minio!, production: production!, staging: staging! }) });
  const base = stackOptionsFromConfig(cfg, profile);
  return {
    ...base,
    minioConsolePort: minioConsole!,
    // no metrics ports: nothing here scrapes them
    workers: base.workers.map((w) => ({ ...w, metricsPort: undefined })),
    env: secrets,
    componentTimeoutMs: 180_000,
    readyTimeoutMs: 120_000,
    log,
  };
}

const tsMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : 0;

/** Wall time of a closed workflow and the time its activities ran, from its history. */
async function timesOf(client: Client, id: string): Promise<{ wallMs: number; activityMs: number; queueMs: number; activities: number }> {
  const history = await client.workflow.getHandle(id).fetchHistory();
  const events = history.events ?? [];
  const at = new Map(events.map((e) => [Number(e.eventId), tsMs(e.eventTime)]));
  let activityMs = 0;
  let queueMs = 0;
  let activities = 0;
  for (const e of events) {
    const started = e.activityTaskStartedEventAttributes;
    // scheduled → started: the task waited for a free worker slot (or a worker to poll)
    if (started) queueMs += tsMs(e.eventTime) - (at.get(Number(started.scheduledEventId)) ?? tsMs(e.eventTime));
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (!done) continue;
    activityMs += tsMs(e.eventTime) - (at.get(Number(done.startedEventId)) ?? tsMs(e.eventTime));
    activities++;
  }
  return { wallMs: tsMs(events.at(-1)?.eventTime) - tsMs(events[0]?.eventTime), activityMs, queueMs, activities };
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(0.99 * xs.length) - 1)]!;

async function runBatch(client: Client, profile: string, n: number) {
  const tag = `${profile}-${n}-${Date.now().toString(36)}`;
  const specs = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const file = path.join(os.tmpdir(), `kaizen-bench-${tag}-${i}.json`);
      await writeFile(file, JSON.stringify(penguinsSpec(`bench-${tag}-${i}`)));
      return loadPipelineSpec(file);
    }),
  );
  const started = Date.now();
  const handles = await Promise.all(
    specs.map(({ spec, specHash }, i) =>
      client.workflow.start('trainingPipeline', { taskQueue: TASK_QUEUES.pipeline, workflowId: `bench-${tag}-${i}`, args: [{ spec, specHash }] }),
    ),
  );
  const results = (await Promise.all(handles.map((h) => h.result()))) as PipelineResult[];
  const batchMs = Date.now() - started;
  const failed = results.filter((r) => r.outcome !== 'promoted' && r.outcome !== 'registered');
  if (failed.length > 0) throw new Error(`${failed.length} of ${n} pipelines did not succeed: ${JSON.stringify(failed[0]).slice(0, 400)}`);
  const times = await Promise.all(handles.map((h) => timesOf(client, h.workflowId)));
  const wall = times.map((t) => t.wallMs);
  const overhead = times.map((t) => t.wallMs - t.activityMs);
  return {
    n,
    batchSeconds: round(batchMs / 1000, 2),
    throughputPerMinute: round((n / batchMs) * 60_000, 2),
    endToEndP50Ms: Math.round(median(wall)),
    endToEndP99Ms: Math.round(p99(wall)),
    activityMsP50: Math.round(median(times.map((t) => t.activityMs))),
    overheadP50Ms: Math.round(median(overhead)),
    overheadP99Ms: Math.round(p99(overhead)),
    // of the overhead: time activities waited in their task queue for a worker slot, and the rest
    // (workflow tasks, Temporal's own persistence and dispatch)
    queueWaitP50Ms: Math.round(median(times.map((t) => t.queueMs))),
    overheadOutsideQueueP50Ms: Math.round(median(times.map((t) => t.wallMs - t.activityMs - t.queueMs))),
    overheadOutsideQueueP99Ms: Math.round(p99(times.map((t) => t.wallMs - t.activityMs - t.queueMs))),
    activitiesPerPipeline: times[0]!.activities,
  };
}

async function main(): Promise<void> {
  const ns = args.n.split(',').map(Number);
  const profiles = args.profiles.split(',') as ('dev' | 'production')[];
  const out: Record<string, unknown> = { cores: os.cpus().length, node: process.version, n: ns };
  for (const profile of profiles) {
    const o = await stackFor(profile);
    try {
      await upStack(o);
      const client = new Client({ connection: await Connection.connect({ address: `127.0.0.1:${o.temporalPort}` }), namespace: o.namespace ?? 'default' });
      // one warm-up pipeline: module loading and the first tfjs compile are not orchestration
      await runBatch(client, `${profile}-warmup`, 1);
      const rows = [];
      for (const n of ns) {
        const r = await runBatch(client, profile, n);
        log(`${profile} N=${n}: ${JSON.stringify(r)}`);
        rows.push(r);
      }
      out[profile] = { workers: o.workers.map((w) => w.name), batches: rows };
      await client.connection.close();
    } finally {
      await downStack({ ...o, log: () => undefined });
      await rm(o.home, { recursive: true, force: true });
    }
  }
  if (args.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else console.log(out);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:pipelines: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
