// Serving throughput: single-row predict requests at 64 connections, in one run, against
//   - a bare Fastify route that returns a constant JSON (the floor of Node's HTTP stack here);
//   - the bare-bones predict server: buildServer with micro-batching, then without, and nothing
//     else (no logger, prediction log, fallback or registry polling);
//   - `kaizen serve --env production` as deployed: pino at info, the registry polled from a real
//     MinIO, the input guard (fallback) on and the prediction log written to that MinIO; then the
//     same with KAIZEN_PREDICTION_LOG=off, which shows what the log costs.
// Each server runs in a child process of its own, and so does the load generator (autocannon),
// whose CPU is reported. They are measured in turn, `--rounds` times, and the medians compared,
// so a burst of load on the machine does not land on one of them only. A last run puts one more
// load process on the bare route: if it gets more, the client was the limit and the ratio would
// flatter. Every configuration must give exactly the same predictions for the same bodies.
// Besides req/s and latency it reports the server's CPU time per request (all its threads, from
// /proc), which a busy neighbour on the machine disturbs far less than throughput.
// Floors: batched predict >= 0.7x the bare route, p99 <= 20 ms; kaizen serve within 10% of the
// bare-bones server; 100-row requests are reported in rows/s.
//
//   npm run bench:serve -- [--json] [--connections 64] [--clients 1] [--duration 10] [--rounds 3] [--rows 5000] [--max-wait 1]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { currentBackend } from '../src/ml/backend';
import type { ModelSource } from '../src/serving/model-host';
import { buildServer } from '../src/serving/server';
import type { ModelVersion, RegistryDocument } from '../src/types';
import { median } from './common';
import { benchVersionFields, cpuSeconds, startChild, startKaizenServe, stopChild, trainBenchBundle } from './serving';

const MIN_RATIO = 0.7;
const MAX_P99_MS = 20;
/** `kaizen serve` as deployed may cost at most this share of the bare-bones server's throughput. */
const MAX_FULL_COST = 0.1;
/** One more client may add at most this much to the bare floor before we call the floor the client's. */
const CLIENT_TOLERANCE = 0.05;
const MODEL = 'bench-serve';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '10' },
    rows: { type: 'string', default: '5000' },
    child: { type: 'string' },
    bundle: { type: 'string' },
    batching: { type: 'string', default: 'on' },
    'max-wait': { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '1' },
    'prediction-log': { type: 'string', default: 'on' },
    fallback: { type: 'string', default: 'on' },
    'admin-token': { type: 'string' },
    url: { type: 'string' },
    'bodies-file': { type: 'string' },
  },
});

// ---------------------------------------------------------------------------------------------
// Children: one server each; prints `READY <url>` and serves until killed.
// ---------------------------------------------------------------------------------------------

async function childMain(kind: string): Promise<void> {
  if (kind === 'bare') {
    const app = Fastify({ logger: false });
    const body = { model: MODEL, model_version: 1, predictions: [{ label: 'false', probability: 0.2 }] };
    app.post('/v1/models/:model', async () => body);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
    process.stdout.write(`READY ${url}\n`);
    return;
  }
  const bytes = await readFile(args.bundle!);
  const version: ModelVersion = {
    ...benchVersionFields(bytes),
    version: 1,
    createdAt: new Date().toISOString(),
    artifactUri: `file://${args.bundle}`,
  };
  const doc: RegistryDocument = {
    model: MODEL,
    versions: [version],
    aliases: {},
    history: [],
    production: { champion: 1, weights: { '1': 100 }, warm: [], killSwitch: null, previousChampion: null, revision: 1, updatedAt: new Date(0).toISOString(), by: 'bench', reason: 'bench' },
  };
  const source: ModelSource = {
    read: async (model) => (model === MODEL ? doc : null),
    loadArtifact: async () => bytes,
  };
  const app = buildServer({
    registry: source,
    env: 'production',
    // the soak sends feedback with it; the throughput runs send none
    adminToken: args['admin-token'] ?? '',
    models: [MODEL],
    refreshIntervalMs: 0,
    microBatching: {
      enabled: kind === 'serve' && args.batching !== 'off',
      maxWaitMs: Number(args['max-wait']),
    },
    fallback: { enabled: args.fallback !== 'off' },
    ...(args['prediction-log'] !== 'off'
      ? { predictionLog: { sink: { put: async () => undefined }, windowMs: 1000, instanceId: 'bench' } }
      : {}),
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
  for (let i = 0; i < 200; i++) {
    const ready = await app.inject('/readyz');
    if (ready.statusCode === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const info = (await app.inject(`/v1/models/${MODEL}`)).json() as { inference?: { path?: string } };
  // the tfjs backend (for a model that is not compiled) and how the model is run
  process.stdout.write(`READY ${url} ${currentBackend()?.name ?? 'unknown'}/${info.inference?.path ?? 'unknown'}\n`);
}

// ---------------------------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------------------------

interface Figures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  non2xx: number;
  /** The server process's CPU time (all threads) per request, µs: steadier than req/s on a noisy machine. Null off Linux. */
  cpuMicrosPerRequest: number | null;
}

/** The load generator's own process: warm-up, then `MEASURING`, the run, and `DONE <json>`. */
async function loadChild(): Promise<void> {
  const bodies = JSON.parse(await readFile(args['bodies-file']!, 'utf8')) as string[];
  const requests = bodies.map((body) => ({ method: 'POST' as const, body, headers: { 'content-type': 'application/json' } }));
  let connection = 0;
  const run = (duration: number) =>
    new Promise<autocannon.Result>((resolve, reject) => {
      autocannon(
        {
          url: `${args.url}/v1/models/${MODEL}:predict`,
          method: 'POST',
          connections: Number(args.connections),
          duration,
          requests,
          setupClient: (client) => {
            const offset = (connection++ * 7) % requests.length;
            client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
          },
        },
        (err, res) => (err ? reject(err as Error) : resolve(res)),
      );
    });
  await run(2); // warm-up: JIT, connections, tfjs kernels
  process.stdout.write('MEASURING\n');
  const cpu0 = process.cpuUsage();
  const r = await run(Number(args.duration));
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `DONE ${JSON.stringify({ rps: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, requests: r.requests.total, errors: r.errors + r.timeouts, non2xx: r.non2xx, clientCpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`,
  );
}

interface ClientFigures extends Omit<Figures, 'cpuMicrosPerRequest'> {
  clientCpuSeconds: number;
}

/** Runs `clients` load processes at once against `url` (connections split between them). */
async function load(url: string, bodiesFile: string, seconds: number, pid?: number, clients = 1): Promise<Figures & { clientCpuSeconds: number; clientCpuShare: number }> {
  const connections = Math.max(1, Math.floor(Number(args.connections) / clients));
  let measuring = 0;
  let cpuBefore: number | null = null;
  const runs = Array.from({ length: clients }, () =>
    new Promise<ClientFigures>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', 'load', '--url', url, '--bodies-file', bodiesFile, '--connections', String(connections), '--duration', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('MEASURING') && !out.includes('DONE') && ++measuring === 1) void cpuSeconds(pid).then((c) => (cpuBefore = c));
      });
      child.on('error', reject);
      child.on('close', (code) => {
        const m = /DONE (.*)/.exec(out);
        if (code !== 0 || !m) return reject(new Error(`load child exited with ${code}`));
        resolve(JSON.parse(m[1]!) as ClientFigures);
      });
    }),
  );
  const results = await Promise.all(runs);
  const cpuAfter = await cpuSeconds(pid);
  const total = results.reduce((a, r) => a + r.requests, 0);
  const clientCpuSeconds = results.reduce((a, r) => a + r.clientCpuSeconds, 0);
  return {
    cpuMicrosPerRequest: cpuBefore === null || cpuAfter === null || total === 0 ? null : Math.round((((cpuAfter - cpuBefore) * 1e6) / total) * 10) / 10,
    rps: Math.round(results.reduce((a, r) => a + r.rps, 0)),
    p50Ms: Math.max(...results.map((r) => r.p50Ms)),
    p99Ms: Math.max(...results.map((r) => r.p99Ms)),
    requests: total,
    errors: results.reduce((a, r) => a + r.errors, 0),
    non2xx: results.reduce((a, r) => a + r.non2xx, 0),
    clientCpuSeconds: Math.round(clientCpuSeconds * 100) / 100,
    // the load processes' CPU over the run's wall time: near 1.0 per client means the client is saturated
    clientCpuShare: Math.round((clientCpuSeconds / seconds / clients) * 100) / 100,
  };
}

async function measure(kind: string, extra: string[], bodiesFile: string, seconds: number, clients = 1) {
  const { child, url, backend } = await startChild(import.meta.filename, kind, extra);
  try {
    return { figures: await load(url, bodiesFile, seconds, child.pid, clients), backend };
  } finally {
    await stopChild(child);
  }
}

/** The predictions a server gives for each body, as its response carries them. */
async function predictionsOf(url: string, bodies: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const body of bodies) {
    const res = await fetch(`${url}/v1/models/${MODEL}:predict`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    if (!res.ok) throw new Error(`predict answered ${res.status}: ${await res.text()}`);
    out.push(JSON.stringify(((await res.json()) as { predictions: unknown }).predictions));
  }
  return out;
}

/** The bare-bones predict server: batching as asked, nothing else (no logger, log, fallback, polling). */
const bareBones = (bundlePath: string, batching: 'on' | 'off') => [
  '--bundle', bundlePath, '--batching', batching, '--max-wait', args['max-wait'], '--prediction-log', 'off', '--fallback', 'off',
];

async function main(): Promise<void> {
  if (args.child === 'load') return loadChild();
  if (args.child) return childMain(args.child);
  const seconds = Number(args.duration);
  const clients = Math.max(1, Number(args.clients));
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kaizen-bench-serve-'));
  try {
    const { bundlePath, features, sample } = await trainBenchBundle(tmp, Number(args.rows));
    const rowOf = (row: unknown) => Object.fromEntries(features.map((f) => [f, (row as Record<string, unknown>)[f] ?? null]));
    const bodies = sample.map((row) => JSON.stringify({ instances: [rowOf(row)] }));
    const bodiesFile = path.join(tmp, 'bodies.json');
    await writeFile(bodiesFile, JSON.stringify(bodies));
    // 100-row requests: what a batch client gets, in rows per second
    const batchBodies = sample.map((_, i) => JSON.stringify({ instances: Array.from({ length: 100 }, (_, k) => rowOf(sample[(i + k) % sample.length])) }));
    const batchFile = path.join(tmp, 'bodies-100.json');
    await writeFile(batchFile, JSON.stringify(batchBodies));

    const full = await startKaizenServe(path.join(tmp, 'full'), MODEL, bundlePath);
    const fullFigures: Figures[] = [];
    const noLogFigures: Figures[] = [];
    const storeCpuShares: number[] = [];
    let predictionObjects = 0;
    let equal: boolean;
    const rounds = Math.max(1, Number(args.rounds));
    const samples: Record<'bare' | 'on' | 'off', Figures[]> = { bare: [], on: [], off: [] };
    let backend: string | null = null;
    try {
      // the same answers, to the digit, from every configuration: a speed-up must not change a prediction
      const reference = await (async () => {
        const { child, url } = await startChild(import.meta.filename, 'serve', bareBones(bundlePath, 'off'));
        try {
          return [...(await predictionsOf(url, bodies)), ...(await predictionsOf(url, batchBodies))];
        } finally {
          await stopChild(child);
        }
      })();
      const { child, url } = await startChild(import.meta.filename, 'serve', bareBones(bundlePath, 'on'));
      const batched = await predictionsOf(url, [...bodies, ...batchBodies]).finally(() => stopChild(child));
      const served = await predictionsOf(full.url, [...bodies, ...batchBodies]);
      equal = reference.every((p, i) => p === batched[i] && p === served[i]);

      for (let i = 0; i < rounds; i++) {
        samples.bare.push((await measure('bare', [], bodiesFile, seconds, clients)).figures);
        const on = await measure('serve', bareBones(bundlePath, 'on'), bodiesFile, seconds, clients);
        backend = on.backend;
        samples.on.push(on.figures);
        samples.off.push((await measure('serve', bareBones(bundlePath, 'off'), bodiesFile, seconds, clients)).figures);
        const store0 = await cpuSeconds(full.storePid);
        fullFigures.push(await load(full.url, bodiesFile, seconds, full.pid, clients));
        const store1 = await cpuSeconds(full.storePid);
        // on one machine the store's CPU comes out of the server's and the client's
        if (store0 !== null && store1 !== null) storeCpuShares.push(Math.round(((store1 - store0) / (seconds + 2)) * 100) / 100);
        // the same, without the prediction log: what the log costs
        const noLog = await startKaizenServe(path.join(tmp, `nolog-${i}`), MODEL, bundlePath, { KAIZEN_PREDICTION_LOG: 'off' });
        try {
          noLogFigures.push(await load(noLog.url, bodiesFile, seconds, noLog.pid, clients));
        } finally {
          await noLog.stop();
        }
      }
      predictionObjects = await full.predictionObjects();
    } finally {
      await full.stop();
    }
    // one more load process on the bare route: the floor is not the client's limit if it gets no more
    const moreClients = (await measure('bare', [], bodiesFile, seconds, clients + 1)).figures;
    const hundred = (await measure('serve', bareBones(bundlePath, 'on'), batchFile, seconds, clients)).figures;
    const summary = (xs: Figures[]): Figures & { runs: Figures[] } => ({
      rps: Math.round(median(xs.map((f) => f.rps))),
      p50Ms: median(xs.map((f) => f.p50Ms)),
      p99Ms: median(xs.map((f) => f.p99Ms)),
      requests: xs.reduce((a, f) => a + f.requests, 0),
      errors: xs.reduce((a, f) => a + f.errors, 0),
      non2xx: xs.reduce((a, f) => a + f.non2xx, 0),
      cpuMicrosPerRequest: xs.some((f) => f.cpuMicrosPerRequest === null)
        ? null
        : median(xs.map((f) => f.cpuMicrosPerRequest!)),
      runs: xs,
    });
    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    const bare = summary(samples.bare);
    const on = summary(samples.on);
    const off = summary(samples.off);
    const served = summary(fullFigures);
    const servedNoLog = summary(noLogFigures);
    const ok = (f: Figures) => f.errors === 0 && f.non2xx === 0;
    const checks = {
      batchedAtLeast07xBare: ratio(on.rps, bare.rps) >= MIN_RATIO,
      batchedP99AtMost20Ms: on.p99Ms <= MAX_P99_MS,
      kaizenServeWithin10PercentOfBareBones: ratio(served.rps, on.rps) >= 1 - MAX_FULL_COST,
      kaizenServeP99AtMost20Ms: served.p99Ms <= MAX_P99_MS,
      noErrors: ok(on) && ok(off) && ok(served) && ok(servedNoLog) && ok(bare),
      predictionsEqual: equal,
      // against the best single-client run: the bare floor itself varies by more than the tolerance from run to run
      floorNotCappedByClient: ratio(moreClients.rps, Math.max(...bare.runs.map((f) => f.rps))) <= 1 + CLIENT_TOLERANCE,
    };
    const result = {
      bench: 'serve',
      connections: Number(args.connections),
      clients,
      durationSeconds: seconds,
      rounds,
      servingBackend: backend,
      cpus: os.cpus().length,
      bare,
      bareMoreClients: { ...moreClients, clients: clients + 1, ratioToBare: ratio(moreClients.rps, bare.rps), ratioToBestBareRun: ratio(moreClients.rps, Math.max(...bare.runs.map((f) => f.rps))) },
      microBatching: { ...on, ratioToBare: ratio(on.rps, bare.rps) },
      noMicroBatching: { ...off, ratioToBare: ratio(off.rps, bare.rps) },
      kaizenServe: { ...served, ratioToBare: ratio(served.rps, bare.rps), ratioToBareBones: ratio(served.rps, on.rps), predictionLogObjects: predictionObjects, storeCpuShare: storeCpuShares.length ? median(storeCpuShares) : null },
      kaizenServeWithoutPredictionLog: { ...servedNoLog, ratioToBare: ratio(servedNoLog.rps, bare.rps), ratioToBareBones: ratio(servedNoLog.rps, on.rps) },
      hundredRowRequests: { ...hundred, rowsPerSecond: hundred.rps * 100 },
      floor: { minRatioToBare: MIN_RATIO, maxP99Ms: MAX_P99_MS, maxKaizenServeCost: MAX_FULL_COST, clientTolerance: CLIENT_TOLERANCE },
      checks,
      passed: Object.values(checks).every(Boolean),
    };
    if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      const line = (name: string, f: Figures, r?: number) =>
        `${name.padEnd(20)} ${String(f.rps).padStart(7)} req/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  ${f.cpuMicrosPerRequest ?? '?'} µs CPU/req${r === undefined ? '' : `  ${r}x bare`}`;
      console.log(line('bare fastify', bare));
      console.log(line(`bare, ${clients + 1} clients`, moreClients, result.bareMoreClients.ratioToBare));
      console.log(line('predict (batched)', on, result.microBatching.ratioToBare));
      console.log(line('predict (single)', off, result.noMicroBatching.ratioToBare));
      console.log(`${line('kaizen serve', served, result.kaizenServe.ratioToBare)}  ${result.kaizenServe.ratioToBareBones}x bare-bones`);
      console.log(`${line('  without the log', servedNoLog, result.kaizenServeWithoutPredictionLog.ratioToBare)}  ${result.kaizenServeWithoutPredictionLog.ratioToBareBones}x bare-bones`);
      console.log(`100-row requests     ${result.hundredRowRequests.rowsPerSecond} rows/s  p99 ${hundred.p99Ms} ms`);
      for (const [name, passed] of Object.entries(checks)) console.log(`${passed ? 'ok  ' : 'FAIL'} ${name}`);
    }
    process.exitCode = result.passed ? 0 : 1;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
