// The models a server answers with, one per model name: the version the registry's alias (the
// server's env) points to. Loads lazily on the first request or eagerly for pinned models; a
// poller (and the admin reload) follows the alias and hot-swaps: the new version is downloaded,
// checked against its recorded sha256, built and warmed up while the old one keeps serving; then
// one assignment swaps them, and the old one is disposed when its last in-flight request ends.
// A version that fails to load never replaces the one serving.
import type { FastifyBaseLogger } from 'fastify';
import { KaizenError, errorMessage, isKaizenError, type ErrorType } from '../errors';
import { currentBackend } from '../ml/backend';
import { deserializeBundle, disposeBundle, predict, type ModelBundle, type Prediction } from '../ml/bundle';
import { productionOf, productionVersions, type ChangeMeta, type ProductionOutcome, type ProductionRequest } from '../registry/production';
import type { DatasetProfile, ModelKillSwitch, ModelVersion, RegistryDocument } from '../types';
import { buildInputGuard, DEFAULT_FALLBACK, type FallbackOptions, type InputGuard } from './fallback';
import { pickVersion, routeTable, type RouteEntry } from './routing';
import type { ServingMetrics } from './metrics';
import { describeInputSchema, warmUpInstance, type InputSchema } from './schema';

/** What the host needs of the registry (ModelRegistry satisfies it). */
export interface ModelSource {
  read(model: string): Promise<RegistryDocument | null>;
  /** The artifact's bytes, refused (ArtifactIntegrity) unless they match the recorded sha256. */
  loadArtifact(version: ModelVersion): Promise<Buffer>;
  /** The training data profile of a version, for the fallback's input guard (ModelRegistry.readProfile). */
  readProfile?(version: ModelVersion): Promise<DatasetProfile | null>;
  /** Changes the production record (ModelRegistry.changeProduction); needed by the admin routing and kill-switch endpoints. */
  changeProduction?(model: string, request: ProductionRequest, meta: ChangeMeta): Promise<ProductionOutcome>;
}

/** What a server applies for a model: the version it stands on and how traffic is split. */
interface ServingTarget {
  champion: number;
  /** Empty: everything to the champion. */
  weights: Record<string, number>;
  /** Versions to load besides the champion (weighted or warm). */
  extra: Set<number>;
  killSwitch: ModelKillSwitch | null;
  updatedAt: string | null;
  revision: number | null;
}

export type HostLogger = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;

/** A loaded, warmed-up model version. Immutable; shared by every request that leased it. */
export interface ServedModel {
  readonly name: string;
  readonly version: ModelVersion;
  readonly bundle: ModelBundle;
  readonly inputSchema: InputSchema;
  readonly loadedAt: Date;
  /** Rows outside the training profile are answered by the baseline (null: the guard is off). */
  readonly guard: InputGuard | null;
  /** The model's input columns, in order (what the prediction log keeps of a request). */
  readonly featureNames: readonly string[];
}

/** A model held for one request: it is not disposed before `release()`. */
export interface ModelLease {
  readonly model: ServedModel;
  release(): void;
}

export interface LoadError {
  type: ErrorType;
  message: string;
  /** The version that failed, when the failure was a load. */
  version: number | null;
  at: string;
}

export interface RefreshOutcome {
  model: string;
  alias: string;
  previousVersion: number | null;
  /** The version serving after the refresh (null: none). */
  version: number | null;
  changed: boolean;
  /** Why the alias's version is not the one serving (the old one kept serving), if so. */
  error: KaizenError | null;
}

export interface ModelStatus {
  model: string;
  alias: string;
  pinned: boolean;
  version: number | null;
  artifact_sha256: string | null;
  loaded_at: string | null;
  in_flight: number;
  last_checked_at: string | null;
  load_failures: number;
  last_error: LoadError | null;
  /** The production record's split this server applies (null: everything to the version above). */
  routing: { weights: Record<string, number>; warm: number[]; updated_at: string | null; revision: number | null } | null;
  /** Versions loaded besides the champion (routed or kept warm). */
  routed_versions: number[];
  /** Versions the split names that could not be loaded: their share goes to the champion. */
  unavailable_versions: number[];
  /** Set while the kill switch is on: every request is answered by the naive baseline. */
  disabled: ModelKillSwitch | null;
}

/** GET /admin/models */
export interface HostStatus {
  alias: string;
  backend: string | null;
  /** Swapped-out versions still finishing requests. */
  retiring: number;
  models: ModelStatus[];
}

export interface Readiness {
  ready: boolean;
  models: { model: string; version: number | null; ready: boolean; error: string | null }[];
}

export interface ModelHostOptions {
  source: ModelSource;
  /** Registry alias this server follows: its env, `production` or `staging`. */
  alias: string;
  metrics: ServingMetrics;
  log: HostLogger;
  /** Loaded at start; readiness waits for them. */
  pinned?: readonly string[];
  /** Registry poll period; 0 disables the poller (admin reload still works). Default 2000. */
  refreshIntervalMs?: number;
  /** How long a failed lazy load is answered from memory before the registry is asked again. Default 1000. */
  missCacheMs?: number;
  /** The input guard built for each loaded version. Default DEFAULT_FALLBACK with `enabled: false`. */
  fallback?: FallbackOptions;
}

class LoadedModel implements ServedModel {
  readonly featureNames: readonly string[];
  refs = 0;
  retired = false;
  disposed = false;

  constructor(
    readonly name: string,
    readonly version: ModelVersion,
    readonly bundle: ModelBundle,
    readonly inputSchema: InputSchema,
    readonly loadedAt: Date,
    readonly guard: InputGuard | null,
  ) {
    this.featureNames = bundle.transforms.features.map((f) => f.name);
  }
}

interface ModelState {
  name: string;
  pinned: boolean;
  current: LoadedModel | null;
  lastError: LoadError | null;
  /** A version whose load failed; the poller does not retry it until its registry entry changes. */
  failed: { version: number; sha256: string } | null;
  loadFailures: number;
  lastCheckedAt: Date | null;
  refreshing: Promise<RefreshOutcome> | null;
  /** Versions other than the alias's, loaded for the traffic split (or kept warm). */
  routed: Map<number, LoadedModel>;
  /** The split applied; empty: everything to `current`. */
  table: RouteEntry[];
  /** The target the table came from. */
  target: ServingTarget | null;
  /** Routed versions whose load failed (by sha256); not retried until their registry entry changes. */
  routeFailed: Map<number, string>;
  disabled: ModelKillSwitch | null;
}

const MAX_MISSES = 1000;

export class ModelHost {
  readonly alias: string;

  /**
   * What this server serves of a model: production servers follow the production record alone
   * (champion, split, warm versions, kill switch); a staging server serves its alias, unsplit.
   */
  private targetOf(doc: RegistryDocument | null): ServingTarget | null {
    if (!doc) return null;
    if (this.alias === 'production') {
      const p = productionOf(doc);
      if (!p) return null;
      const extra = productionVersions(p);
      extra.delete(p.champion);
      return { champion: p.champion, weights: p.weights, extra, killSwitch: p.killSwitch, updatedAt: p.updatedAt, revision: p.revision };
    }
    const v = doc.aliases[this.alias];
    return v === undefined ? null : { champion: v, weights: {}, extra: new Set(), killSwitch: null, updatedAt: null, revision: null };
  }
  private readonly source: ModelSource;
  private readonly metrics: ServingMetrics;
  private readonly log: HostLogger;
  private readonly refreshIntervalMs: number;
  private readonly missCacheMs: number;
  private readonly fallback: FallbackOptions;
  private readonly states = new Map<string, ModelState>();
  private readonly misses = new Map<string, { at: number; error: KaizenError }>();
  /** Swapped-out versions still held by in-flight requests. */
  private readonly retiring = new Set<LoadedModel>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<unknown> | null = null;
  private closed = false;

  constructor(options: ModelHostOptions) {
    this.source = options.source;
    this.alias = options.alias;
    this.metrics = options.metrics;
    this.log = options.log;
    this.refreshIntervalMs = options.refreshIntervalMs ?? 2000;
    this.missCacheMs = options.missCacheMs ?? 1000;
    this.fallback = options.fallback ?? { ...DEFAULT_FALLBACK, enabled: false };
    for (const name of options.pinned ?? []) this.states.set(name, newState(name, true));
  }

  /** Starts the eager loads (not awaited: readiness reports them) and the poller. */
  start(): void {
    for (const st of this.states.values()) if (st.pinned) void this.refresh(st.name);
    if (this.refreshIntervalMs > 0 && !this.timer) {
      this.timer = setInterval(() => this.poll(), this.refreshIntervalMs);
      this.timer.unref();
    }
  }

  /** Stops polling, waits for loads in progress, disposes every model. Call after requests drained. */
  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.states.values()].map((s) => s.refreshing));
    for (const st of this.states.values()) {
      if (st.current) this.dispose(st.current);
      st.current = null;
      for (const m of st.routed.values()) this.dispose(m);
      st.routed.clear();
      st.table = [];
    }
    for (const m of this.retiring) this.dispose(m);
    this.retiring.clear();
  }

  /** The model serving `name`, loading it first if needed. 404 ModelNotFound or 503 NotReady otherwise. */
  async acquire(name: string, options: { key?: string } = {}): Promise<ModelLease> {
    const ready = this.tryAcquire(name, options.key);
    if (ready) return ready;
    if (this.closed) throw new KaizenError('NotReady', 'the server is shutting down');
    const miss = this.misses.get(name);
    if (miss && Date.now() - miss.at < this.missCacheMs) throw miss.error;
    const outcome = await this.refresh(name);
    const now = this.states.get(name);
    if (now?.current) return this.lease(this.pick(now, options.key));
    const cause = outcome.error ?? new KaizenError('NotReady', `model "${name}" is not loaded`);
    const error =
      cause.type === 'ModelNotFound' || cause.type === 'NotReady'
        ? cause
        : new KaizenError('NotReady', `model "${name}" is not loaded: ${cause.message}`);
    if (this.misses.size >= MAX_MISSES) this.misses.clear();
    this.misses.set(name, { at: Date.now(), error });
    throw error;
  }

  /** A lease on a loaded model at once, or null when it must be loaded first (see acquire). */
  tryAcquire(name: string, key?: string): ModelLease | null {
    const ready = this.states.get(name);
    return ready?.current ? this.lease(this.pick(ready, key)) : null;
  }

  /** The loaded model, without loading (info and status). */
  peek(name: string): ServedModel | null {
    return this.states.get(name)?.current ?? null;
  }

  /** The kill switch of a served model (null: enabled). */
  disabledState(name: string): ModelKillSwitch | null {
    return this.states.get(name)?.disabled ?? null;
  }

  /** Whether `name` is served (pinned or loaded): its name may label metrics. */
  serves(name: string): boolean {
    return this.states.has(name);
  }

  /**
   * Reads the registry and brings `name` to the version its alias points to. Concurrent calls
   * share one refresh; `force` runs a new one after it and retries a version that failed before.
   */
  refresh(name: string, options: { force?: boolean } = {}): Promise<RefreshOutcome> {
    let st = this.states.get(name);
    if (!st) {
      st = newState(name, false);
      this.states.set(name, st);
    }
    const state = st;
    if (state.refreshing && !options.force) return state.refreshing;
    if (options.force) this.misses.delete(name);
    const previous = state.refreshing ?? Promise.resolve();
    const run = previous
      .catch(() => undefined)
      .then(() => this.doRefresh(state, Boolean(options.force)))
      .finally(() => {
        if (state.refreshing === run) state.refreshing = null;
        // a model that is neither pinned nor loaded is not served: forget it
        if (!state.pinned && !state.current && !state.refreshing && this.states.get(name) === state) {
          this.states.delete(name);
        }
      });
    state.refreshing = run;
    return run;
  }

  status(): HostStatus {
    return {
      alias: this.alias,
      backend: currentBackend()?.name ?? null,
      retiring: this.retiring.size,
      models: [...this.states.values()]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((st) => ({
          model: st.name,
          alias: this.alias,
          pinned: st.pinned,
          version: st.current?.version.version ?? null,
          artifact_sha256: st.current?.version.artifactSha256 ?? null,
          loaded_at: st.current?.loadedAt.toISOString() ?? null,
          in_flight: st.current?.refs ?? 0,
          last_checked_at: st.lastCheckedAt?.toISOString() ?? null,
          load_failures: st.loadFailures,
          last_error: st.lastError,
          routing:
            st.table.length > 0 && st.target
              ? {
                  weights: Object.fromEntries(st.table.map((e) => [String(e.version), e.weight])),
                  warm: [...st.target.extra].filter((v) => !st.table.some((e) => e.version === v)).sort((a, b) => a - b),
                  updated_at: st.target.updatedAt,
                  revision: st.target.revision,
                }
              : null,
          routed_versions: [...st.routed.keys()].sort((a, b) => a - b),
          unavailable_versions: [...st.routeFailed.keys()].sort((a, b) => a - b),
          disabled: st.disabled,
        })),
    };
  }

  /** Ready when every pinned model and every model served so far has a loaded version. */
  readiness(): Readiness {
    const models = [...this.states.values()]
      .filter((st) => st.pinned || st.current)
      .map((st) => ({
        model: st.name,
        version: st.current?.version.version ?? null,
        ready: st.current !== null,
        error: st.current ? null : (st.lastError?.message ?? 'loading'),
      }));
    return { ready: !this.closed && models.every((m) => m.ready), models };
  }

  // -------------------------------------------------------------------------------------------

  private poll(): void {
    if (this.polling || this.closed) return;
    const names = [...this.states.values()].filter((s) => s.pinned || s.current).map((s) => s.name);
    this.polling = Promise.allSettled(names.map((n) => this.refresh(n))).finally(() => (this.polling = null));
  }

  /** The version a request goes to under the split (the alias's version when there is none). */
  private pick(st: ModelState, key: string | undefined): LoadedModel {
    const current = st.current!;
    const v = pickVersion(st.table, key);
    if (v === null || v === current.version.version) return current;
    // a routed version not loaded (yet) is answered by the alias's version
    return st.routed.get(v) ?? current;
  }

  private lease(model: LoadedModel): ModelLease {
    model.refs++;
    let released = false;
    return {
      model,
      release: () => {
        if (released) return;
        released = true;
        model.refs--;
        if (model.retired && model.refs === 0) {
          this.retiring.delete(model);
          this.dispose(model);
        }
      },
    };
  }

  private async doRefresh(st: ModelState, force: boolean): Promise<RefreshOutcome> {
    const name = st.name;
    const previousVersion = st.current?.version.version ?? null;
    const outcome = (error: KaizenError | null): RefreshOutcome => {
      const version = st.current?.version.version ?? null;
      return {
        model: name,
        alias: this.alias,
        previousVersion,
        version,
        changed: version !== previousVersion,
        error,
      };
    };
    if (this.closed) return outcome(new KaizenError('NotReady', 'the server is shutting down'));

    let doc: RegistryDocument | null;
    try {
      doc = await this.source.read(name);
    } catch (err) {
      const error = asKaizenError(err, 'StorageUnavailable');
      this.metrics.refreshErrors.inc({ model: name });
      st.lastError = loadError(error, null);
      this.log.warn(
        { model: name, err: error.message },
        previousVersion === null
          ? 'registry read failed'
          : `registry poll failed; version ${previousVersion} keeps serving`,
      );
      return outcome(error);
    }
    st.lastCheckedAt = new Date();
    const target = this.targetOf(doc);
    const aliasError = await this.syncAlias(st, doc, target, force, previousVersion);
    if (!doc || !target) {
      st.disabled = null;
      this.clearRouting(st);
      return outcome(aliasError);
    }
    st.disabled = target.killSwitch;
    if (!st.current) return outcome(aliasError);
    const routeError = await this.syncRouting(st, doc, target, force);
    return outcome(aliasError ?? routeError);
  }

  /** Brings `current` to the alias's version; the error when it could not (the old one keeps serving). */
  private async syncAlias(
    st: ModelState,
    doc: RegistryDocument | null,
    served: ServingTarget | null,
    force: boolean,
    previousVersion: number | null,
  ): Promise<KaizenError | null> {
    const name = st.name;
    if (!doc) {
      const error = new KaizenError('ModelNotFound', `no model "${name}" in the registry`);
      st.lastError = loadError(error, null);
      return error;
    }

    const target = served?.champion;
    if (target === undefined) {
      const error = new KaizenError('ModelNotFound', `model "${name}" has no "${this.alias}" alias`);
      st.lastError = loadError(error, null);
      if (st.current) {
        // the alias was removed: the model is switched off on this server
        this.log.warn(
          { model: name, version: previousVersion },
          `alias "${this.alias}" removed; model unloaded`,
        );
        this.unload(st);
      }
      return error;
    }
    const entry = doc.versions.find((v) => v.version === target);
    if (!entry) {
      const error = new KaizenError(
        'ModelNotFound',
        `alias "${this.alias}" of model "${name}" points to version ${target}, which the registry does not list`,
      );
      st.lastError = loadError(error, target);
      return error;
    }
    if (
      st.current &&
      st.current.version.version === entry.version &&
      st.current.version.artifactSha256 === entry.artifactSha256
    ) {
      st.failed = null;
      st.lastError = null;
      return null;
    }
    if (
      !force &&
      st.failed &&
      st.failed.version === entry.version &&
      st.failed.sha256 === entry.artifactSha256
    ) {
      return st.lastError ? new KaizenError(st.lastError.type, st.lastError.message) : null;
    }

    // a version already loaded for the split (a canary being promoted) takes over without a load
    const routed = st.routed.get(entry.version);
    if (routed && routed.version.artifactSha256 === entry.artifactSha256) {
      st.routed.delete(entry.version);
      this.swap(st, routed, served!.extra);
      st.failed = null;
      st.lastError = null;
      this.misses.delete(name);
      this.log.info(
        { model: name, version: entry.version, previous: previousVersion },
        'model swapped (already loaded)',
      );
      return null;
    }

    const started = performance.now();
    let loaded: LoadedModel;
    try {
      loaded = await this.load(name, entry);
    } catch (err) {
      const error = asKaizenError(err, 'ArtifactIntegrity');
      this.metrics.loads.inc({ model: name, version: String(entry.version), result: 'failure' });
      this.metrics.loadSeconds.observe(
        { model: name, result: 'failure' },
        (performance.now() - started) / 1000,
      );
      st.failed = { version: entry.version, sha256: entry.artifactSha256 };
      st.loadFailures++;
      st.lastError = loadError(error, entry.version);
      this.log.error(
        { model: name, version: entry.version, serving: previousVersion, err: error.message },
        previousVersion === null
          ? 'model load failed; nothing is serving this model'
          : `model load failed; version ${previousVersion} keeps serving`,
      );
      return error;
    }
    const seconds = (performance.now() - started) / 1000;
    if (this.closed) {
      this.dispose(loaded);
      return new KaizenError('NotReady', 'the server is shutting down');
    }
    this.metrics.loads.inc({ model: name, version: String(entry.version), result: 'success' });
    this.metrics.loadSeconds.observe({ model: name, result: 'success' }, seconds);
    this.swap(st, loaded, served!.extra);
    st.failed = null;
    st.lastError = null;
    this.misses.delete(name);
    this.log.info(
      { model: name, version: entry.version, previous: previousVersion, loadMs: Math.round(seconds * 1000) },
      previousVersion === null ? 'model loaded' : 'model swapped',
    );
    return null;
  }

  /** Download (sha256-checked), build, warm up. Throws without side effects on any failure. */
  private async load(name: string, entry: ModelVersion): Promise<LoadedModel> {
    const bytes = await this.source.loadArtifact(entry);
    const bundle = await deserializeBundle(
      bytes,
      entry.artifactSha256,
      `model "${name}" version ${entry.version}`,
    );
    try {
      if (bundle.transforms.task !== entry.task) {
        throw new KaizenError(
          'ArtifactIntegrity',
          `model "${name}" version ${entry.version}: the artifact is a ${bundle.transforms.task} model but the registry says ${entry.task}`,
        );
      }
      // One real prediction before taking traffic: the first request must not pay for lazy
      // initialisation, and a model that cannot answer must never replace one that can.
      const { predictions } = predict(bundle, [warmUpInstance(bundle.transforms)]);
      if (predictions.length !== 1 || !predictions.every(finitePrediction)) {
        throw new KaizenError(
          'ArtifactIntegrity',
          `model "${name}" version ${entry.version}: the warm-up prediction is not a finite number`,
        );
      }
      if (bundle.compiled && !bundle.compiled.forward) {
        this.log.warn(
          { model: name, version: entry.version, reason: bundle.compiled.reason },
          'the compiled forward pass is not used; tfjs serves this version (slower)',
        );
      }
      let guard: InputGuard | null = null;
      if (this.fallback.enabled) {
        let profile: DatasetProfile | null = null;
        try {
          profile = (await this.source.readProfile?.(entry)) ?? null;
        } catch (err) {
          this.log.warn(
            { model: name, version: entry.version, err: errorMessage(err) },
            'training profile unreadable; only categories are guarded',
          );
        }
        guard = buildInputGuard(bundle.transforms, profile, this.fallback);
      }
      return new LoadedModel(name, entry, bundle, describeInputSchema(bundle), new Date(), guard);
    } catch (err) {
      disposeBundle(bundle);
      throw err;
    }
  }

  private swap(st: ModelState, loaded: LoadedModel, keep: ReadonlySet<number> = new Set()): void {
    const old = st.current;
    // The swap is this one assignment: requests leasing after it get the new version, requests
    // holding the old one finish with it.
    st.current = loaded;
    this.metrics.loadedVersion.set({ model: st.name }, loaded.version.version);
    if (!old || old === loaded) return;
    // the old version still has traffic or is kept warm (instant rollback): it stays loaded
    if (keep.has(old.version.version) && !st.routed.has(old.version.version))
      st.routed.set(old.version.version, old);
    else this.retire(old);
  }

  /**
   * Loads every version the split needs (warmed, sha256-checked), then applies the new table in one
   * step. A version that cannot be loaded does not hold the split back: its share is answered by
   * the champion, and /metrics (kaizen_route_unavailable), the status and the log say so.
   */
  private async syncRouting(
    st: ModelState,
    doc: RegistryDocument,
    target: ServingTarget,
    force: boolean,
  ): Promise<KaizenError | null> {
    const name = st.name;
    const current = st.current!;
    const wanted = new Set(target.extra);
    wanted.delete(current.version.version);
    const fresh = new Map<number, LoadedModel>();
    const failed = new Map<number, string>();
    let firstError: KaizenError | null = null;
    for (const v of [...wanted].sort((a, b) => a - b)) {
      const entry = doc.versions.find((x) => x.version === v);
      if (!entry) {
        // the registry refuses such a split; a hand-edited document is answered by the champion
        failed.set(v, '');
        firstError ??= new KaizenError('ModelNotFound', `the traffic split of model "${name}" names version ${v}, which the registry does not list`);
        continue;
      }
      const have = st.routed.get(v);
      if (have && have.version.artifactSha256 === entry.artifactSha256) continue;
      if (!force && st.routeFailed.get(v) === entry.artifactSha256) {
        failed.set(v, entry.artifactSha256);
        continue;
      }
      const started = performance.now();
      try {
        fresh.set(v, await this.load(name, entry));
        this.metrics.loads.inc({ model: name, version: String(v), result: 'success' });
        this.metrics.loadSeconds.observe({ model: name, result: 'success' }, (performance.now() - started) / 1000);
      } catch (err) {
        const error = asKaizenError(err, 'ArtifactIntegrity');
        this.metrics.loads.inc({ model: name, version: String(v), result: 'failure' });
        failed.set(v, entry.artifactSha256);
        st.loadFailures++;
        firstError ??= error;
        this.log.error(
          { model: name, version: v, champion: current.version.version, err: error.message },
          `version ${v} of the traffic split failed to load; its share is answered by version ${current.version.version}`,
        );
      }
    }
    if (this.closed || st.current !== current) {
      for (const m of fresh.values()) this.dispose(m);
      return this.closed ? new KaizenError('NotReady', 'the server is shutting down') : null;
    }
    const next = new Map<number, LoadedModel>();
    for (const v of wanted) {
      const m = fresh.get(v) ?? st.routed.get(v);
      if (m && !failed.has(v)) next.set(v, m);
    }
    for (const [v, m] of st.routed) if (next.get(v) !== m) this.retire(m);
    for (const v of st.routeFailed.keys()) if (!failed.has(v)) this.metrics.routeUnavailable.remove({ model: name, version: String(v) });
    for (const v of failed.keys()) this.metrics.routeUnavailable.set({ model: name, version: String(v) }, 1);
    const table = routeTable(target.weights);
    const changed = JSON.stringify(table) !== JSON.stringify(st.table);
    st.routed = next;
    st.table = table;
    st.target = target;
    st.routeFailed = failed;
    if (failed.size === 0 && firstError === null && st.lastError?.version === null) st.lastError = null;
    if (firstError) st.lastError = loadError(firstError, null);
    if (changed) {
      this.log.info(
        { model: name, champion: current.version.version, weights: Object.fromEntries(table.map((e) => [e.version, e.weight])), unavailable: [...failed.keys()] },
        'traffic split applied',
      );
    }
    return firstError;
  }

  private clearRouting(st: ModelState): void {
    for (const m of st.routed.values()) this.retire(m);
    for (const v of st.routeFailed.keys()) this.metrics.routeUnavailable.remove({ model: st.name, version: String(v) });
    st.routed = new Map();
    st.table = [];
    st.target = null;
    st.routeFailed = new Map();
  }

  private unload(st: ModelState): void {
    const old = st.current;
    st.current = null;
    this.metrics.loadedVersion.remove({ model: st.name });
    if (old) this.retire(old);
  }

  private retire(model: LoadedModel): void {
    model.retired = true;
    if (model.refs === 0) this.dispose(model);
    else this.retiring.add(model);
  }

  private dispose(model: LoadedModel): void {
    if (model.disposed) return;
    model.disposed = true;
    disposeBundle(model.bundle);
  }
}

function newState(name: string, pinned: boolean): ModelState {
  return {
    name,
    pinned,
    current: null,
    lastError: null,
    failed: null,
    loadFailures: 0,
    lastCheckedAt: null,
    refreshing: null,
    routed: new Map(),
    table: [],
    target: null,
    routeFailed: new Map(),
    disabled: null,
  };
}

function asKaizenError(err: unknown, fallback: ErrorType): KaizenError {
  return isKaizenError(err) ? err : new KaizenError(fallback, errorMessage(err));
}

function loadError(err: KaizenError, version: number | null): LoadError {
  return { type: err.type, message: err.message, version, at: new Date().toISOString() };
}

function finitePrediction(p: Prediction): boolean {
  if ('value' in p) return Number.isFinite(p.value);
  if ('probability' in p) return Number.isFinite(p.probability);
  return Object.values(p.probabilities).every(Number.isFinite);
}
