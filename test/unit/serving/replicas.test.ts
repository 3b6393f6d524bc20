// Replicas behind a load balancer: each registers in the object store, analyses sum every replica's
// live window exactly, and feedback sent to any replica reaches the one that answered.
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { issuerOf } from '../../../src/serving/feedback-memory';
import { LiveMetrics, mergeModelWindows } from '../../../src/serving/live-metrics';
import { gatherLiveWindow, isLive, liveReplicas, ReplicaRegistration, type ReplicaRecord } from '../../../src/serving/replicas';
import { serverRegistrationKey } from '../../../src/storage/keys';
import { promote } from '../../helpers/production';
import { memoryRegistry, registerBytes, serverTestContext, TEST_ADMIN_TOKEN, type MemoryStore } from './fixtures';

const ctx = serverTestContext();

describe('mergeModelWindows', () => {
  it('gives the figures one server would have given for all the requests, percentiles included', () => {
    const now = () => 1_700_000_000_000;
    const one = new LiveMetrics({ now });
    const parts = [new LiveMetrics({ now }), new LiveMetrics({ now }), new LiveMetrics({ now })];
    let seed = 7;
    const rand = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    for (let i = 0; i < 3000; i++) {
      const version = rand() < 0.2 ? 2 : 1;
      const r = { status: rand() < 0.03 ? 500 : 200, latencyMs: 0.2 + rand() ** 3 * 40, instances: 1, predictionSum: rand(), predictionCount: 1 };
      one.record('m', version, r);
      parts[i % 3]!.record('m', version, r);
      if (rand() < 0.3) {
        const f = { correct: rand() < 0.7 };
        one.recordFeedback('m', version, f);
        parts[(i + 1) % 3]!.recordFeedback('m', version, f);
      }
    }
    const merged = mergeModelWindows('m', parts.map((p) => p.window('m', 60)));
    const single = one.window('m', 60);
    for (const v of ['1', '2']) {
      const a = merged.versions[v]!;
      const b = single.versions[v]!;
      expect(a.requests).toBe(b.requests);
      expect(a.errors).toBe(b.errors);
      expect(a.p50Ms).toBe(b.p50Ms);
      expect(a.p99Ms).toBe(b.p99Ms);
      expect(a.feedback).toBe(b.feedback);
      expect(a.accuracy).toBeCloseTo(b.accuracy!, 12);
      expect(a.predictionMean).toBeCloseTo(b.predictionMean!, 12);
    }
    // any one part alone is not the whole
    expect(parts[0]!.window('m', 60).versions['1']!.requests).toBeLessThan(single.versions['1']!.requests);
  });

  it('refuses a window without raw counters rather than averaging percentiles', () => {
    const w = new LiveMetrics().window('m', 60);
    const l = new LiveMetrics();
    l.record('m', 1, { status: 200, latencyMs: 1 });
    const bare = l.window('m', 60);
    delete bare.versions['1']!.raw;
    expect(() => mergeModelWindows('m', [w, bare])).toThrow(/no raw counters/);
  });
});

describe('registration', () => {
  it('writes a record with a heartbeat, is found live, goes stale when beats stop, and is removed on stop', async () => {
    const { store } = memoryRegistry();
    const reg = new ReplicaRegistration({ store, env: 'production', id: 'aaaaaaaa-bbbb-cccc-dddd', url: 'http://10.0.0.5:8080', intervalMs: 1000 });
    await reg.start();
    const live = await liveReplicas(store, 'production');
    expect(live.map((r) => [r.id, r.url])).toEqual([['aaaaaaaa-bbbb-cccc-dddd', 'http://10.0.0.5:8080']]);
    expect(await liveReplicas(store, 'staging')).toEqual([]);
    const rec = live[0]!;
    expect(isLive(rec, Date.parse(rec.heartbeatAt) + 2_900)).toBe(true);
    expect(isLive(rec, Date.parse(rec.heartbeatAt) + 3_100)).toBe(false);
    await reg.stop();
    expect(store.objects.has(serverRegistrationKey('production', 'aaaaaaaa-bbbb-cccc-dddd'))).toBe(false);
  });

  it('leaves a replica that died (old heartbeat) out', async () => {
    const { store } = memoryRegistry();
    const dead: ReplicaRecord = {
      id: 'dead0000-0000-0000-0000', env: 'production', url: 'http://127.0.0.1:1', pid: 1, hostname: 'h',
      startedAt: new Date(0).toISOString(), heartbeatAt: new Date(Date.now() - 60_000).toISOString(), intervalMs: 5000,
    };
    await store.putJson(serverRegistrationKey('production', dead.id), dead);
    expect(await liveReplicas(store, 'production')).toEqual([]);
  });
});

/** Two production replicas over one registry, listening on loopback and registered. */
async function twoReplicas(): Promise<{ store: MemoryStore; a: FastifyInstance; b: FastifyInstance; urls: string[] }> {
  const { store, registry } = memoryRegistry();
  await registerBytes(store, registry, 'm', ctx.tiny.bytes[0], 'wf-1');
  await promote(registry, 'm', 1);
  const replicas = { store: store.asObjectStore(), url: (x: { port: number }) => `http://127.0.0.1:${x.port}` };
  const a = await ctx.start(registry, { replicas });
  const b = await ctx.start(registry, { replicas });
  const urls = [await a.listen({ port: 0, host: '127.0.0.1' }), await b.listen({ port: 0, host: '127.0.0.1' })];
  return { store, a, b, urls };
}

const feedbackTo = (url: string, body: unknown) =>
  fetch(`${url}/v1/models/m:feedback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    body: JSON.stringify(body),
  });

describe('two replicas', () => {
  it('feedback sent to the replica that did not answer is forwarded to the one that did, and joined once', async () => {
    const { store, a, urls } = await twoReplicas();
    expect((await liveReplicas(store, 'production')).length).toBe(2);
    const res = await fetch(`${urls[0]}/v1/models/m:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [ctx.tiny.rows[0]] }) });
    const p = (await res.json()) as { request_id: string };
    const aId = ((await (await fetch(`${urls[0]}/healthz`)).json()) as { server_id: string }).server_id;
    expect(issuerOf(p.request_id)).toBe(aId);

    const viaB = await feedbackTo(urls[1]!, { request_id: p.request_id, label: 'true' });
    expect(viaB.status, await viaB.clone().text()).toBe(200);
    expect(((await viaB.json()) as { model_version: number }).model_version).toBe(1);
    const m = await (await fetch(`${urls[1]}/metrics`)).text();
    expect(m).toMatch(/kaizen_feedback_forwarded_total\{status="200",env="production"\} 1/);
    // joined on A, where the prediction was: A's window has the label, and a second label is refused
    const w = (await a.inject({ method: 'GET', url: '/admin/models/m/metrics?window=60s', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).json();
    expect(w.versions['1'].feedback).toBe(1);
    expect((await feedbackTo(urls[1]!, { request_id: p.request_id, label: 'true' })).status).toBe(400);

    // the gathered window holds both replicas' requests
    await fetch(`${urls[1]}/v1/models/m:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [ctx.tiny.rows[1]] }) });
    const g = await gatherLiveWindow(store, 'production', 'http://127.0.0.1:1', 'm', 'window=60s', TEST_ADMIN_TOKEN);
    expect(g.read).toHaveLength(2);
    expect(g.window.versions['1']!.requests).toBe(2);
    expect(g.window.versions['1']!.feedback).toBe(1);
  });

  it('a replica that stopped leaves the directory; its request ids are refused, naming it', async () => {
    const { store, a, urls } = await twoReplicas();
    const res = await fetch(`${urls[0]}/v1/models/m:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [ctx.tiny.rows[0]] }) });
    const p = (await res.json()) as { request_id: string };
    await a.close();
    expect((await liveReplicas(store, 'production')).length).toBe(1);
    const r = await feedbackTo(urls[1]!, { request_id: p.request_id, label: 'true' });
    expect(r.status).toBe(400);
    expect(await r.text()).toContain(`issued by model server ${issuerOf(p.request_id)}, which is not running any more`);
  });

  it('gathering skips a registered replica that does not answer, and a wrong token fails at once', async () => {
    const { store, urls } = await twoReplicas();
    const ghost: ReplicaRecord = {
      id: 'feedface-0000-0000-0000', env: 'production', url: 'http://127.0.0.1:9', pid: 1, hostname: 'h',
      startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString(), intervalMs: 5000,
    };
    await store.putJson(serverRegistrationKey('production', ghost.id), ghost);
    await fetch(`${urls[0]}/v1/models/m:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [ctx.tiny.rows[0]] }) });
    const g = await gatherLiveWindow(store, 'production', 'http://127.0.0.1:1', 'm', 'window=60s', TEST_ADMIN_TOKEN);
    expect(g.read).toHaveLength(2);
    expect(g.missing.map((m) => m.id)).toEqual([ghost.id]);
    expect(g.window.versions['1']!.requests).toBe(1);
    await expect(gatherLiveWindow(store, 'production', 'http://127.0.0.1:1', 'm', 'window=60s', 'wrong-token')).rejects.toMatchObject({ type: 'Unauthorized' });
  });
});
