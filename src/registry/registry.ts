import { readRemoteProfile } from '../data/dataset';
import { KaizenError } from '../errors';
import { sha256Hex } from '../hashing';
import type { ObjectStore } from '../storage/object-store';
import type { AliasMove, DatasetProfile, ModelVersion, RegistryDocument } from '../types';
import { aliasTarget, applyProduction, migrateDocument, type ChangeMeta, type ProductionOutcome, type ProductionRequest } from './production';

export const RESERVED_ALIASES = ['production', 'staging', 'canary'] as const;

export type NewVersion = Omit<ModelVersion, 'version' | 'createdAt' | 'artifactUri'> & {
  /** Where the trained bundle lies now (scratch); it is copied under models/<model>/<version>/. */
  sourceArtifactUri: string;
  artifactFile: string;
};

export interface AliasChange {
  reason: string;
  by: string;
  workflowId?: string;
}

export function registryKey(model: string): string {
  return `registry/${model}.json`;
}

function emptyDocument(model: string): RegistryDocument {
  return { model, versions: [], aliases: {}, history: [] };
}

/**
 * The model registry: one JSON document per model in the object store, changed only by
 * conditional writes on its ETag (retried on conflict), so concurrent pipelines never lose an
 * update and each gets a distinct version number.
 */
export class ModelRegistry {
  constructor(
    private readonly store: ObjectStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The document in its current shape (one written before the production record is read as if migrated). */
  async read(model: string): Promise<RegistryDocument | null> {
    const doc = await this.store.getJson<RegistryDocument>(registryKey(model));
    return doc ? migrateDocument(doc.value) : null;
  }

  async require(model: string): Promise<RegistryDocument> {
    const doc = await this.read(model);
    if (!doc) throw new KaizenError('ModelNotFound', `no model "${model}" in the registry`);
    return doc;
  }

  /**
   * Applies `mutate` to the current document and writes it back only if nobody changed it in
   * between; on conflict re-reads and re-applies. `mutate` returns false to skip the write.
   */
  async update<T>(model: string, mutate: (doc: RegistryDocument) => { write: boolean; value: T }): Promise<T> {
    const key = registryKey(model);
    for (let attempt = 0; attempt < 50; attempt++) {
      const current = await this.store.getJson<RegistryDocument>(key);
      const doc = current ? migrateDocument(current.value) : emptyDocument(model);
      const { write, value } = mutate(doc);
      if (!write) return value;
      const res = await this.store.put(key, JSON.stringify(doc, null, 2), {
        contentType: 'application/json',
        ...(current ? { ifMatch: current.etag } : { ifNoneMatch: true }),
      });
      if (!('conflict' in res)) return value;
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 40 * (attempt + 1)));
    }
    throw new KaizenError('RegistryConflict', `registry/${model}.json kept changing; gave up after 50 attempts`);
  }

  /**
   * Registers a new version. Idempotent per training workflow run: a retried call returns the version
   * the first call created. The artifact is copied, verified, to its content-addressed key
   * models/<model>/<sha256>/ first, and only then does the registry document name it: a crash or an
   * outage between the two leaves at most an unreferenced copy, never a version without its artifact.
   */
  async register(model: string, input: NewVersion): Promise<ModelVersion> {
    const workflowId = input.lineage.workflowId;
    const { sourceArtifactUri, artifactFile, ...rest } = input;
    const artifactUri = await this.ensureArtifact(model, input.artifactSha256, artifactFile, sourceArtifactUri);
    return this.update(model, (doc) => {
      // per run: a workflow id can be used again once its run closed (a drift retrain is keyed by model)
      const existing = doc.versions.find((v) => v.lineage.workflowId === workflowId && v.lineage.runId === input.lineage.runId);
      if (existing) return { write: false, value: existing };
      const n = doc.versions.reduce((m, v) => Math.max(m, v.version), 0) + 1;
      const entry: ModelVersion = { ...rest, version: n, createdAt: this.now().toISOString(), artifactUri };
      doc.versions.push(entry);
      return { write: true, value: entry };
    });
  }

  /** Copies a trained artifact to models/<model>/<sha256>/<file> (once: the same bytes, the same key) and returns its URI. */
  private async ensureArtifact(model: string, sha256: string, file: string, sourceUri: string): Promise<string> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new KaizenError('ArtifactIntegrity', `artifact sha256 ${JSON.stringify(sha256.slice(0, 80))} is not 64 hex digits`);
    const key = `models/${model}/${sha256}/${file}`;
    const uri = this.store.uri(key);
    // a retried registration finds the copy of the first attempt: check it rather than copy again
    const stored = await this.store.getBuffer(key);
    if (stored && sha256Hex(stored) === sha256) return uri;
    const bytes = await this.store.getBuffer(this.store.keyOf(sourceUri));
    if (!bytes) throw new KaizenError('ModelNotFound', `trained artifact ${sourceUri} is missing`);
    if (sha256Hex(bytes) !== sha256) {
      throw new KaizenError('ArtifactIntegrity', `trained artifact ${sourceUri} does not match its sha256`);
    }
    await this.store.put(key, bytes);
    return uri;
  }

  /** Downloads a version's artifact and refuses it unless its sha256 matches the registry. */
  async loadArtifact(version: ModelVersion): Promise<Buffer> {
    const bytes = await this.store.getBuffer(this.store.keyOf(version.artifactUri));
    if (!bytes) throw new KaizenError('ModelNotFound', `artifact ${version.artifactUri} of version ${version.version} is missing`);
    const actual = sha256Hex(bytes);
    if (actual !== version.artifactSha256) {
      throw new KaizenError(
        'ArtifactIntegrity',
        `artifact of version ${version.version} has sha256 ${actual.slice(0, 12)}… but the registry recorded ${version.artifactSha256.slice(0, 12)}…; refusing to load it`,
      );
    }
    return bytes;
  }

  /** The version an alias points to, or null when the model or the alias does not exist. */
  async aliasVersion(model: string, alias: string): Promise<ModelVersion | null> {
    const doc = await this.read(model);
    const n = doc ? aliasTarget(doc, alias) : undefined;
    return (n === undefined ? undefined : doc?.versions.find((v) => v.version === n)) ?? null;
  }

  /** The training data profile of the production version: the reference for new training data. */
  async productionProfile(model: string): Promise<DatasetProfile | null> {
    const version = await this.aliasVersion(model, 'production');
    return version ? this.readProfile(version) : null;
  }

  /** The training data profile of a version (`profile.json` beside its dataset), or null when absent. */
  async readProfile(version: ModelVersion): Promise<DatasetProfile | null> {
    const uri = version.lineage.datasetUri;
    if (!uri.startsWith(`s3://${this.store.bucket}/`)) return null;
    return readRemoteProfile(this.store, uri);
  }

  /** A version by number, `latest`, or an alias name. */
  async resolve(model: string, ref: string | number = 'latest'): Promise<ModelVersion> {
    const doc = await this.require(model);
    return resolveIn(doc, ref);
  }

  async moveAlias(model: string, alias: string, to: number | null, change: AliasChange): Promise<AliasMove | null> {
    if (!/^[a-z][a-z0-9_-]{0,31}$/.test(alias)) throw new KaizenError('SpecInvalid', `invalid alias name "${alias}"`);
    if (alias === 'production') {
      throw new KaizenError('SpecInvalid', 'production is not moved as an alias: change the production record (changeProduction)');
    }
    return this.update(model, (doc) => {
      if (to !== null && !doc.versions.some((v) => v.version === to)) {
        throw new KaizenError('ModelNotFound', `model "${model}" has no version ${to}`);
      }
      const from = doc.aliases[alias] ?? null;
      if (from === to) return { write: false, value: null };
      if (to === null) delete doc.aliases[alias];
      else doc.aliases[alias] = to;
      const move: AliasMove = { alias, from, to, at: this.now().toISOString(), reason: change.reason, by: change.by };
      if (change.workflowId) move.workflowId = change.workflowId;
      doc.history.push(move);
      return { write: true, value: move };
    });
  }

  /**
   * Applies one release action to the model's production record (champion, split, warm versions,
   * kill switch) and its history in one conditional write; idempotent (see applyProduction).
   */
  async changeProduction(model: string, request: ProductionRequest, meta: ChangeMeta): Promise<ProductionOutcome> {
    return this.update(model, (doc) => {
      const outcome = applyProduction(doc, request, meta, this.now());
      return { write: outcome.changed, value: outcome };
    });
  }

  /** Merges extra lineage (approval decisions, drift reports) into a version. */
  async annotate(model: string, version: number, patch: Partial<ModelVersion['lineage']>): Promise<void> {
    await this.annotateVersions(model, [{ version, patch }]);
  }

  /** Merges extra lineage into several versions in one registry write (e.g. every arm of an experiment). */
  async annotateVersions(model: string, patches: { version: number; patch: Partial<ModelVersion['lineage']> }[]): Promise<void> {
    await this.update(model, (doc) => {
      for (const { version, patch } of patches) {
        const v = doc.versions.find((x) => x.version === version);
        if (!v) throw new KaizenError('ModelNotFound', `model "${model}" has no version ${version}`);
        // `extra` gathers several annotations (spec, approval, experiments, drift): merged, not replaced
        const extra = patch.extra ? { ...v.lineage.extra, ...patch.extra } : v.lineage.extra;
        v.lineage = { ...v.lineage, ...patch, ...(extra ? { extra } : {}) };
      }
      return { write: true, value: undefined };
    });
  }
}

export function resolveIn(doc: RegistryDocument, ref: string | number): ModelVersion {
  let n: number | undefined;
  if (typeof ref === 'number' || /^\d+$/.test(ref)) n = Number(ref);
  else if (ref === 'latest') n = doc.versions.reduce((m, v) => Math.max(m, v.version), 0) || undefined;
  else n = aliasTarget(doc, ref);
  const v = n === undefined ? undefined : doc.versions.find((x) => x.version === n);
  if (!v) {
    const what = typeof ref === 'number' || /^\d+$/.test(String(ref)) ? `version ${ref}` : `alias "${ref}"`;
    throw new KaizenError('ModelNotFound', `model "${doc.model}" has no ${what}`);
  }
  return v;
}

