// Model-server replicas find each other through the object store. Each server writes
// `servers/<env>/<id>.json` (its URL and a heartbeat) every few seconds and removes it when it
// stops; whoever needs every replica (the canary's and the experiment's analyses, drift checks,
// reload nudges, feedback forwarding) lists that prefix and keeps the records whose heartbeat is
// recent. A replica that died without removing its record drops out after STALE_AFTER_HEARTBEATS.
import os from 'node:os';
import { KaizenError, errorMessage, isKaizenError } from '../errors';
import { serverRegistrationKey, serverRegistrationPrefix } from '../storage/keys';
import { LIVE_METRICS_RETENTION_SECONDS } from '../types';
import { mergeModelWindows, type ModelWindow } from './live-metrics';
import { readLiveMetrics, reloadModel } from './client';

export interface ReplicaRecord {
  id: string;
  env: string;
  /** Where other processes reach this replica directly (not through the load balancer). */
  url: string;
  pid: number;
  hostname: string;
  startedAt: string;
  heartbeatAt: string;
  /** The heartbeat period, so readers know when a record is stale. */
  intervalMs: number;
}

/** What a registration needs of the object store. */
export interface ReplicaStore {
  putJson(key: string, value: unknown): Promise<unknown>;
  getJson<T>(key: string): Promise<{ value: T } | null>;
  list(prefix: string): Promise<{ key: string }[]>;
  remove(key: string): Promise<void>;
}

export const DEFAULT_HEARTBEAT_MS = 5_000;
/** A record whose heartbeat is older than this many periods is a replica that died. */
export const STALE_AFTER_HEARTBEATS = 3;

export function isLive(rec: ReplicaRecord, now = Date.now()): boolean {
  const beat = Date.parse(rec.heartbeatAt);
  return Number.isFinite(beat) && now - beat <= STALE_AFTER_HEARTBEATS * Math.max(1_000, rec.intervalMs);
}

/**
 * The URL a server announces: `advertise` when given, else its listening address, with the
 * machine's host name in place of a wildcard address (0.0.0.0 or ::), which no peer can dial.
 */
export function advertisedUrl(listenHost: string, port: number, advertise?: string): string {
  if (advertise) return advertise.replace(/\/+$/, '');
  const wildcard = listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '';
  const host = wildcard ? os.hostname() : listenHost.includes(':') ? `[${listenHost}]` : listenHost;
  return `http://${host}:${port}`;
}

export interface RegistrationOptions {
  store: ReplicaStore;
  env: string;
  id: string;
  url: string;
  intervalMs?: number;
  onError?: (err: unknown) => void;
}

/** Writes this server's record now and every `intervalMs`; `stop()` removes it. */
export class ReplicaRegistration {
  private timer: NodeJS.Timeout | null = null;
  private readonly startedAt = new Date().toISOString();
  private writing: Promise<void> = Promise.resolve();
  readonly intervalMs: number;

  constructor(private readonly o: RegistrationOptions) {
    this.intervalMs = o.intervalMs ?? DEFAULT_HEARTBEAT_MS;
  }

  record(now = new Date()): ReplicaRecord {
    return {
      id: this.o.id,
      env: this.o.env,
      url: this.o.url,
      pid: process.pid,
      hostname: os.hostname(),
      startedAt: this.startedAt,
      heartbeatAt: now.toISOString(),
      intervalMs: this.intervalMs,
    };
  }

  private beat(): Promise<void> {
    // one write at a time: a slow store never piles up heartbeats
    this.writing = this.writing.then(() =>
      this.o.store.putJson(serverRegistrationKey(this.o.env, this.o.id), this.record()).then(
        () => undefined,
        (err: unknown) => this.o.onError?.(err),
      ),
    );
    return this.writing;
  }

  /** Resolves once the first record is written (or its write failed and was reported). */
  start(): Promise<void> {
    if (!this.timer) {
      this.timer = setInterval(() => void this.beat(), this.intervalMs);
      this.timer.unref();
    }
    return this.beat();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.writing;
    await this.o.store.remove(serverRegistrationKey(this.o.env, this.o.id)).catch((err: unknown) => this.o.onError?.(err));
  }
}

/** The live replicas of an environment, by id. */
export async function liveReplicas(store: ReplicaStore, env: string, now = Date.now()): Promise<ReplicaRecord[]> {
  const objects = await store.list(serverRegistrationPrefix(env));
  const records = await Promise.all(
    objects.filter((o) => o.key.endsWith('.json')).map((o) => store.getJson<ReplicaRecord>(o.key).catch(() => null)),
  );
  return records
    .map((r) => r?.value)
    .filter((r): r is ReplicaRecord => Boolean(r && typeof r.url === 'string' && typeof r.id === 'string' && isLive(r, now)))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** Where to reach every replica: the live registrations, or the configured URL when none is registered. */
export async function replicaUrls(store: ReplicaStore, env: string, configuredUrl: string): Promise<{ id: string; url: string }[]> {
  const live = await liveReplicas(store, env);
  return live.length > 0 ? live.map((r) => ({ id: r.id, url: r.url })) : [{ id: 'configured', url: configuredUrl }];
}

export interface GatheredWindow<T extends ModelWindow> {
  window: T;
  /** Replicas whose figures are in the window. */
  read: string[];
  /** Replicas registered as live that did not answer (died since their last heartbeat). */
  missing: { id: string; url: string; error: string }[];
}

/**
 * One model's live window over every replica: each is read (GET /admin/models/<model>/metrics) and
 * the counters and histograms summed. A 4xx from any replica is a mistake that retrying cannot
 * mend and throws; a replica that does not answer is left out and named in `missing` (its
 * in-memory figures went with it); when none answers, the retryable NotReady.
 */
export async function gatherLiveWindow<T extends ModelWindow>(
  store: ReplicaStore,
  env: string,
  configuredUrl: string,
  model: string,
  query: string,
  adminToken: string,
): Promise<GatheredWindow<T>> {
  const targets = await replicaUrls(store, env, configuredUrl);
  const results = await Promise.allSettled(targets.map((t) => readLiveMetrics<T>(t.url, model, query, adminToken)));
  const read: string[] = [];
  const windows: T[] = [];
  const missing: GatheredWindow<T>['missing'] = [];
  results.forEach((r, i) => {
    const t = targets[i]!;
    if (r.status === 'fulfilled') {
      read.push(t.id);
      windows.push(r.value);
      return;
    }
    if (isKaizenError(r.reason) && !r.reason.retryable) throw r.reason;
    missing.push({ ...t, error: errorMessage(r.reason) });
  });
  if (windows.length === 0) {
    throw new KaizenError(
      'NotReady',
      `no ${env} model server answered for the live figures of "${model}": ${missing.map((m) => `${m.url}: ${m.error}`).join('; ')}`,
    );
  }
  const merged = mergeModelWindows(model, windows) as T;
  // a `since` cursor: the earliest of the replicas' next seconds, so no replica's second is skipped
  const nexts = windows.map((w) => (w as { next?: unknown }).next).filter((n): n is number => typeof n === 'number');
  if (nexts.length > 0) (merged as { next?: number }).next = Math.min(...nexts);
  return { window: merged, read, missing };
}

/** Asks every replica of `env` to apply the registry now; the ids of those that confirmed. */
export async function reloadEveryReplica(
  store: ReplicaStore,
  env: string,
  configuredUrl: string,
  model: string,
  adminToken: string,
): Promise<{ confirmed: string[]; total: number }> {
  const targets = await replicaUrls(store, env, configuredUrl).catch(() => [{ id: 'configured', url: configuredUrl }]);
  const results = await Promise.all(
    targets.map((t) => reloadModel(t.url, model, adminToken).then((r) => (r.ok ? t.id : null), () => null)),
  );
  return { confirmed: results.filter((x): x is string => x !== null), total: targets.length };
}

/** A cached view of the live replicas, refreshed at most every `maxAgeMs` (feedback forwarding). */
export class ReplicaDirectory {
  private cached: { at: number; replicas: ReplicaRecord[] } | null = null;
  private pending: Promise<ReplicaRecord[]> | null = null;

  constructor(
    private readonly store: ReplicaStore,
    readonly env: string,
    private readonly maxAgeMs = 2_000,
  ) {}

  async find(id: string): Promise<ReplicaRecord | null> {
    let hit = (await this.list()).find((r) => r.id === id);
    // a replica that started since the last look: look once more
    if (!hit && this.cached && Date.now() - this.cached.at > 200) {
      this.cached = null;
      hit = (await this.list()).find((r) => r.id === id);
    }
    return hit ?? null;
  }

  private list(): Promise<ReplicaRecord[]> {
    if (this.cached && Date.now() - this.cached.at < this.maxAgeMs) return Promise.resolve(this.cached.replicas);
    this.pending ??= liveReplicas(this.store, this.env)
      .then((replicas) => {
        this.cached = { at: Date.now(), replicas };
        return replicas;
      })
      .finally(() => {
        this.pending = null;
      });
    return this.pending;
  }
}

/** Marks a feedback request one replica passed to another; a forwarded request is never passed on. */
export const FORWARDED_HEADER = 'x-kaizen-forwarded-by';

interface ForwardableRequest {
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

interface ForwardableReply {
  code(status: number): ForwardableReply;
  header(name: string, value: string): ForwardableReply;
  send(payload: unknown): unknown;
}

/**
 * Passes a feedback request to the replica whose id starts the request id: that replica answered
 * the prediction and holds it in memory. Its answer (status and body) goes back as it is. When the
 * issuer is not live any more, its predictions went with it: InvalidInput, as for any unknown id.
 */
export async function forwardFeedback(
  directory: ReplicaDirectory,
  issuer: string,
  model: string,
  request: ForwardableRequest,
  reply: ForwardableReply,
  onForwarded?: (status: number) => void,
): Promise<unknown> {
  const owner = await directory.find(issuer);
  if (!owner) {
    throw new KaizenError(
      'InvalidInput',
      `request_id: it was issued by model server ${issuer}, which is not running any more (its unjoined predictions went with it)`,
    );
  }
  const target = `${owner.url}/v1/models/${encodeURIComponent(model)}:feedback`;
  let res: Response;
  try {
    res = await fetch(target, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(typeof request.headers.authorization === 'string' ? { authorization: request.headers.authorization } : {}),
        [FORWARDED_HEADER]: directory.env,
      },
      body: JSON.stringify(request.body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new KaizenError('NotReady', `request_id: model server ${issuer} at ${owner.url}, which holds that prediction, did not answer: ${errorMessage(err)}`);
  }
  const text = await res.text();
  onForwarded?.(res.status);
  return reply.code(res.status).header('content-type', res.headers.get('content-type') ?? 'application/json').send(text);
}

/**
 * Labelled and right predictions of one version over every production replica's live window (at
 * most the servers' retention), for drift checks; null when no server answers or none was labelled.
 */
export async function liveFeedbackOf(
  store: ReplicaStore,
  configuredUrl: string,
  adminToken: string,
  model: string,
  version: number,
  windowMs: number,
): Promise<{ labelled: number; correct: number } | null> {
  const seconds = Math.max(1, Math.min(LIVE_METRICS_RETENTION_SECONDS, Math.floor(windowMs / 1000)));
  const g = await gatherLiveWindow(store, 'production', configuredUrl, model, `window=${seconds}s`, adminToken).catch(() => null);
  const counts = g?.window.versions[String(version)]?.raw?.counts;
  if (!counts || counts.judged === 0) return null;
  return { labelled: counts.judged, correct: counts.correct };
}
