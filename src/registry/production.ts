// The production record of a model, as pure functions over the registry document: what production
// is (champion, split, warm versions, kill switch), how one release action changes it, and how a
// document written before the record existed is read. ModelRegistry applies a change inside one
// conditional write, so the record and its history entry land together or not at all.
import { KaizenError } from '../errors';
import type { ProductionAction, ProductionChange, ProductionState, RegistryDocument } from '../types';

export const MAX_PRODUCTION_HISTORY = 500;

/** What a release action asks of the production record; unset fields keep their value. */
export interface ProductionRequest {
  action: ProductionAction;
  /** The new champion (promotion, rollback). Its split defaults to all traffic, the old champion warm. */
  champion?: number;
  /** The new split, percentages by version summing to 100. */
  weights?: Record<string | number, number>;
  warm?: number[];
  /** Turn the kill switch on (true) or off (false). */
  killSwitch?: boolean;
  /**
   * Refuse the change (ProductionChanged) unless the champion is still this one (null: no production
   * yet): a canary or experiment never overwrites a rollback or a promotion made beside it.
   */
  expectChampion?: number | null;
  /** Idempotency key: a change whose key is already in the history is not applied again. */
  opId?: string;
}

export interface ChangeMeta {
  by: string;
  reason: string;
  workflowId?: string;
}

export interface ProductionOutcome {
  /** The record after the request (unchanged when nothing had to change). */
  state: ProductionState;
  changed: boolean;
  /** The history entry written, or the one a retried request found. */
  entry: ProductionChange | null;
}

/** The production record of a document, including one written before the record existed (legacy alias + routing). */
export function productionOf(doc: RegistryDocument): ProductionState | null {
  if (doc.production) return doc.production;
  const champion = doc.aliases.production;
  if (champion === undefined) return null;
  // Legacy documents: the routing table took precedence over the alias, so it is what was served.
  const routing = doc.routing ?? null;
  let previousChampion: number | null = null;
  for (let i = doc.history.length - 1; i >= 0; i--) {
    const h = doc.history[i]!;
    if (h.alias === 'production' && h.to === champion && h.from !== null && h.from !== champion) {
      previousChampion = h.from;
      break;
    }
  }
  return {
    champion,
    weights: routing && Object.keys(routing.weights).length > 0 ? { ...routing.weights } : { [String(champion)]: 100 },
    warm: [...(routing?.warm ?? [])],
    killSwitch: doc.disabled ?? null,
    previousChampion,
    revision: 0,
    updatedAt: routing?.updatedAt ?? doc.history.at(-1)?.at ?? new Date(0).toISOString(),
    by: routing?.by ?? 'migration',
    reason: 'read from a registry document written before the production record',
  };
}

/** Rewrites a legacy document in the current shape (production record; no production alias, routing or kill-switch fields). */
export function migrateDocument(doc: RegistryDocument): RegistryDocument {
  if (doc.production !== undefined && doc.aliases.production === undefined && doc.routing === undefined && doc.disabled === undefined) {
    return doc;
  }
  const production = productionOf(doc);
  const { production: _alias, ...aliases } = doc.aliases;
  const { routing: _r, disabled: _d, ...rest } = doc;
  return { ...rest, aliases, production };
}

/** Every alias of the document with `production` included (what a person reading the registry expects). */
export function allAliases(doc: RegistryDocument): Record<string, number> {
  const production = productionOf(doc);
  const { production: _legacy, ...others } = doc.aliases;
  return production ? { production: production.champion, ...others } : others;
}

/** The version an alias names (`production`: the champion), or undefined. */
export function aliasTarget(doc: RegistryDocument, alias: string): number | undefined {
  return alias === 'production' ? productionOf(doc)?.champion : doc.aliases[alias];
}

/** Versions a record needs loaded: every version with traffic, the warm ones and the champion. */
export function productionVersions(state: ProductionState): Set<number> {
  const out = new Set<number>([state.champion]);
  for (const [v, w] of Object.entries(state.weights)) if (w > 0) out.add(Number(v));
  for (const v of state.warm) out.add(v);
  return out;
}

function sameState(a: ProductionState | null, b: ProductionState): boolean {
  if (!a) return false;
  const key = (s: ProductionState) => JSON.stringify([s.champion, sortedWeights(s.weights), [...s.warm].sort((x, y) => x - y), Boolean(s.killSwitch)]);
  return key(a) === key(b);
}

function sortedWeights(w: Record<string, number>): [number, number][] {
  return Object.entries(w)
    .map(([v, x]) => [Number(v), x] as [number, number])
    .sort((a, b) => a[0] - b[0]);
}

/**
 * Applies one release action to the document (mutating it) and says whether it must be written.
 * Idempotent: a request already recorded (same opId) or leaving the record as it is writes nothing,
 * so a retried activity never moves production twice.
 */
export function applyProduction(doc: RegistryDocument, request: ProductionRequest, meta: ChangeMeta, now: Date): ProductionOutcome {
  const model = doc.model;
  if (doc.versions.length === 0) throw new KaizenError('ModelNotFound', `no model "${model}" in the registry`);
  const current = productionOf(doc);
  const history = doc.productionHistory ?? [];
  if (request.opId) {
    const done = history.find((h) => h.opId === request.opId);
    if (done && current) return { state: current, changed: false, entry: done };
  }
  if (request.expectChampion !== undefined && (current?.champion ?? null) !== request.expectChampion) {
    throw new KaizenError(
      'ProductionChanged',
      `production of model "${model}" is on version ${current?.champion ?? 'none'}, not ${request.expectChampion ?? 'none'} as this ${request.action.replace('_', ' ')} expected: someone else changed it (a rollback or another release); nothing was changed`,
    );
  }
  const champion = request.champion ?? current?.champion;
  if (champion === undefined) {
    throw new KaizenError('ModelNotFound', `model "${model}" has no production version yet; promote one first`);
  }
  const championMoved = current !== null && champion !== current.champion;
  const weights = request.weights
    ? normaliseWeights(model, request.weights)
    : current && !championMoved && request.champion === undefined
      ? current.weights
      : { [String(champion)]: 100 };
  const warmList = request.warm ?? (championMoved ? [current.champion] : request.champion !== undefined ? [] : (current?.warm ?? []));
  // the champion is always loaded; warm lists the others
  const warm = [...new Set(warmList)].filter((v) => v !== champion).sort((a, b) => a - b);
  const missing = [champion, ...Object.keys(weights).map(Number), ...warm].filter((v) => !doc.versions.some((x) => x.version === v));
  if (missing.length > 0) {
    throw new KaizenError('ModelNotFound', `model "${model}" has no version ${[...new Set(missing)].join(', ')}`);
  }
  const at = now.toISOString();
  const killSwitch =
    request.killSwitch === undefined
      ? (current?.killSwitch ?? null)
      : request.killSwitch
        ? (current?.killSwitch ?? { at, by: meta.by, reason: meta.reason })
        : null;
  const next: ProductionState = {
    champion,
    weights,
    warm,
    killSwitch,
    previousChampion: championMoved ? current.champion : (current?.previousChampion ?? null),
    revision: (current?.revision ?? 0) + 1,
    updatedAt: at,
    by: meta.by,
    reason: meta.reason,
    ...(meta.workflowId ? { workflowId: meta.workflowId } : {}),
  };
  if (sameState(current, next)) return { state: current!, changed: false, entry: null };
  const entry: ProductionChange = {
    revision: next.revision,
    action: request.action,
    at,
    by: meta.by,
    reason: meta.reason,
    ...(meta.workflowId ? { workflowId: meta.workflowId } : {}),
    ...(request.opId ? { opId: request.opId } : {}),
    champion,
    from: current?.champion ?? null,
    weights,
    warm,
    killSwitch: killSwitch !== null,
  };
  // the legacy fields were read into `current`; the record replaces them
  delete doc.aliases.production;
  delete doc.routing;
  delete doc.disabled;
  doc.production = next;
  doc.productionHistory = [...history, entry].slice(-MAX_PRODUCTION_HISTORY);
  return { state: next, changed: true, entry };
}

/** Weights by version as percentages: non-negative, summing to 100; zero weights are dropped. */
export function normaliseWeights(model: string, weights: Record<string | number, number>): Record<string, number> {
  const out: Record<string, number> = {};
  let sum = 0;
  for (const [key, w] of Object.entries(weights)) {
    if (!/^[1-9]\d*$/.test(key)) {
      throw new KaizenError('SpecInvalid', `routing of model "${model}": "${key}" is not a version number`);
    }
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0 || w > 100) {
      throw new KaizenError(
        'SpecInvalid',
        `routing of model "${model}": the weight of version ${key} must be a percentage from 0 to 100, got ${String(w)}`,
      );
    }
    sum += w;
    if (w > 0) out[key] = w;
  }
  if (Math.abs(sum - 100) > 1e-6) {
    throw new KaizenError('SpecInvalid', `routing of model "${model}": the weights sum to ${sum}, not 100`);
  }
  return out;
}

/**
 * The version production goes back to: `to` when given (it must exist), else the champion before
 * the current one.
 */
export function rollbackTarget(doc: RegistryDocument, to?: number): { from: number; to: number } {
  const state = productionOf(doc);
  if (!state) throw new KaizenError('ModelNotFound', `model "${doc.model}" has no production version to roll back`);
  if (to !== undefined) {
    if (!doc.versions.some((v) => v.version === to)) throw new KaizenError('ModelNotFound', `model "${doc.model}" has no version ${to}`);
    return { from: state.champion, to };
  }
  if (state.previousChampion === null || state.previousChampion === state.champion) {
    throw new KaizenError('ModelNotFound', `model "${doc.model}" has no earlier production version to roll back to; name one with --to`);
  }
  return { from: state.champion, to: state.previousChampion };
}
