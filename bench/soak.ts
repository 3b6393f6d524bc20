// Soak: minutes of mixed predict and feedback load on a production-configured model server (the
// fallback check and the prediction log on, the default byte budgets), with the load generator in
// a process of its own. The server's resident memory is sampled from /proc and its tfjs tensor
// count and feedback-memory bytes from /metrics. Target: after the warm-up, resident memory grows
// by less than 10% and the tensor count stays flat.
//
// The load mixes request sizes (most of 1 row, some of 50, a few of 1,000: the ones that used to
// fill gigabytes) and labels about half of the predictions, some of them twice (refused), so
// every path that keeps state per request runs.
//
//   npm run bench:soak -- [--json] [--minutes 10] [--warmup 1] [--concurrency 16]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { median, round } from './common';
import { rssMb, startChild, stopChild, trainBenchBundle } from './serving';

const MAX_GROWTH = 0.1;
const TOKEN = 'soak-admin-token-with-at-least-32-characters';
const MODEL = 'bench-serve';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    minutes: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '16' },
    child: { type: 'string' },
    url: { type: 'string' },
    seconds: { type: 'string' },
    features: { type: 'string' },
  },
});

interface LoadCounts {
  predicts: number;
  rows: number;
  feedback: number;
  refusedTwice: number;
  errors: number;
}

// ---------------------------------------------------------------------------------------------
// The load generator (its own process): prints a JSON line of counts every 5 s and at the end.
// ---------------------------------------------------------------------------------------------

async function loadMain(): Promise<void> {
  const url = args.url!;
  const until = Date.now() + Number(args.seconds) * 1000;
  const features = args.features!.split(',');
  const rowsOf = (n: number, i: number) =>
    Array.from({ length: n }, (_, k) => {
      const base = [
        { distance: 1000, hour: 18, origin: 'ORD', weekday: 5, destination: 'LAX' },
        { distance: 300, hour: 7, origin: 'ATL', weekday: 1, destination: 'MCO' },
        { distance: 2500 + ((i + k) % 500), hour: (i + k) % 24, origin: 'SFO', weekday: 6, destination: 'JFK' },
      ][(i + k) % 3]!;
      return Object.fromEntries(features.map((f) => [f, (base as Record<string, unknown>)[f] ?? null]));
    });
  const counts: LoadCounts = { predicts: 0, rows: 0, feedback: 0, refusedTwice: 0, errors: 0 };
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
  const report = setInterval(() => process.stdout.write(`${JSON.stringify(counts)}\n`), 5_000);
  const worker = async (w: number) => {
    for (let i = w; Date.now() < until; i += 97) {
      const n = i % 200 === 0 ? 1000 : i % 10 === 0 ? 50 : 1;
      try {
        const res = await fetch(`${url}/v1/models/${MODEL}:predict`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ key: `u-${i % 5000}`, instances: rowsOf(n, i) }),
        });
        const body = (await res.json()) as { request_id?: string; predictions?: { label: string }[] };
        if (res.status !== 200 || !body.request_id) {
          counts.errors++;
          continue;
        }
        counts.predicts++;
        counts.rows += n;
        if (i % 2 === 0) {
          const labels = body.predictions!.map((p, k) => ((i + k) % 3 === 0 ? p.label : p.label === 'true' ? 'false' : 'true'));
          const fb = await fetch(`${url}/v1/models/${MODEL}:feedback`, { method: 'POST', headers, body: JSON.stringify({ request_id: body.request_id, labels }) });
          if (fb.status === 200) counts.feedback++;
          else counts.errors++;
          await fb.arrayBuffer();
          if (i % 20 === 0) {
            const again = await fetch(`${url}/v1/models/${MODEL}:feedback`, { method: 'POST', headers, body: JSON.stringify({ request_id: body.request_id, labels }) });
            if (again.status === 400) counts.refusedTwice++;
            else counts.errors++;
            await again.arrayBuffer();
          }
        }
      } catch {
        counts.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: Number(args.concurrency) }, (_, w) => worker(w)));
  clearInterval(report);
  process.stdout.write(`DONE ${JSON.stringify(counts)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------------------------

interface Scraped {
  tensors: number | null;
  feedbackBytes: number | null;
  evicted: number;
  heapUsedBytes: number | null;
  externalBytes: number | null;
}

async function scrape(url: string): Promise<Scraped> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const one = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  let evicted = 0;
  for (const m of text.matchAll(/^kaizen_feedback_memory_evicted_total\{[^}]*\} (\S+)$/gm)) evicted += Number(m[1]);
  return {
    tensors: one('kaizen_tfjs_tensors'),
    feedbackBytes: one('kaizen_feedback_memory_bytes'),
    evicted,
    heapUsedBytes: one('nodejs_heap_size_used_bytes'),
    externalBytes: one('nodejs_external_memory_bytes'),
  };
}

interface Sample {
  atS: number;
  rssMb: number | null;
  tensors: number | null;
  feedbackMemoryMb: number | null;
  /** V8 heap in use and memory outside it (buffers, wasm), from the server's own metrics. */
  heapUsedMb: number | null;
  externalMb: number | null;
}

async function main(): Promise<void> {
  if (args.child === 'load') return loadMain();
  const seconds = Math.round(Number(args.minutes) * 60);
  const warmupS = Math.round(Number(args.warmup) * 60);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kaizen-bench-soak-'));
  try {
    const { bundlePath, features } = await trainBenchBundle(tmp, 5000);
    const server = await startChild(path.join(import.meta.dirname, 'serve.ts'), 'serve', ['--bundle', bundlePath, '--admin-token', TOKEN]);
    try {
      const started = Date.now();
      // the load generator in a process of its own; its last line is its counts
      const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', 'load', '--url', server.url, '--seconds', String(seconds), '--features', features.join(','), '--concurrency', args.concurrency], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const finished = new Promise<LoadCounts>((resolve, reject) => {
        child.on('exit', () => {
          const m = /DONE (\{.*\})/.exec(out);
          if (m) resolve(JSON.parse(m[1]!) as LoadCounts);
          else reject(new Error(`the load generator ended without its counts:\n${out.slice(-2000)}`));
        });
      });
      const samples: Sample[] = [];
      let running = true;
      void finished.finally(() => (running = false)).catch(() => undefined);
      while (running) {
        const m = await scrape(server.url).catch((): Scraped => ({ tensors: null, feedbackBytes: null, evicted: 0, heapUsedBytes: null, externalBytes: null }));
        const mb = (b: number | null) => (b === null ? null : round(b / 1024 / 1024, 1));
        samples.push({
          atS: Math.round((Date.now() - started) / 1000),
          rssMb: await rssMb(server.child.pid),
          tensors: m.tensors,
          feedbackMemoryMb: mb(m.feedbackBytes),
          heapUsedMb: mb(m.heapUsedBytes),
          externalMb: mb(m.externalBytes),
        });
        await Promise.race([new Promise((r) => setTimeout(r, 10_000)), finished.catch(() => undefined)]);
      }
      const counts = await finished;
      const end = await scrape(server.url);
      const after = samples.filter((s) => s.atS >= warmupS && s.rssMb !== null);
      // the figure at the end of warm-up: the median of the first minute after it, so one GC does not decide
      const firstWindow = after.filter((s) => s.atS < warmupS + 60).map((s) => s.rssMb!);
      const lastWindow = after.filter((s) => s.atS >= seconds - 60).map((s) => s.rssMb!);
      const rssAfterWarmup = median(firstWindow.length ? firstWindow : [after[0]!.rssMb!]);
      const rssEnd = median(lastWindow.length ? lastWindow : [after.at(-1)!.rssMb!]);
      const growth = round((rssEnd - rssAfterWarmup) / rssAfterWarmup, 3);
      const tensorsAfter = after.map((s) => s.tensors).filter((t): t is number => t !== null);
      const tensorsFlat = tensorsAfter.length > 0 && tensorsAfter.every((t) => t === tensorsAfter[0]);
      const passed = growth < MAX_GROWTH && tensorsFlat && counts.errors === 0;
      const result = {
        bench: 'soak',
        seconds,
        warmupSeconds: warmupS,
        concurrency: Number(args.concurrency),
        load: { ...counts, predictsPerSecond: round(counts.predicts / seconds, 1) },
        rss: { afterWarmupMb: rssAfterWarmup, endMb: rssEnd, maxMb: Math.max(...after.map((s) => s.rssMb!)), growth },
        tensors: { afterWarmup: tensorsAfter[0] ?? null, end: tensorsAfter.at(-1) ?? null, flat: tensorsFlat },
        feedbackMemory: { endMb: round((end.feedbackBytes ?? 0) / 1024 / 1024, 1), evicted: end.evicted },
        target: { maxRssGrowth: MAX_GROWTH, tensorsFlat: true },
        samples,
        passed,
        host: { cpus: os.cpus().length, node: process.version },
      };
      if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else {
        console.log(`${counts.predicts} predicts (${counts.rows} rows), ${counts.feedback} labels, ${counts.refusedTwice} second labels refused, ${counts.errors} errors in ${seconds} s`);
        console.log(`RSS ${rssAfterWarmup} MB after warm-up → ${rssEnd} MB at the end (${(growth * 100).toFixed(1)}%); tensors ${result.tensors.afterWarmup} → ${result.tensors.end}`);
        console.log(passed ? 'PASS' : `FAIL (target: RSS growth < ${MAX_GROWTH * 100}%, tensors flat, no errors)`);
      }
      process.exitCode = passed ? 0 : 1;
    } finally {
      await stopChild(server.child);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
