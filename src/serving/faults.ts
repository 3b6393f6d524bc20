// Fault injection, for rehearsing a bad release: an operator (or a test) makes one version of a
// model fail a given share of its requests, or answer slower, and watches the canary analysis roll
// it back. Off unless the server is started with it (KAIZEN_FAULT_INJECTION=1); state is in memory
// on one server only, so a restart clears it.
import { KaizenError } from '../errors';

export interface FaultRule {
  model: string;
  /** The version that misbehaves; null: every version of the model. */
  version: number | null;
  /** Share of its requests that fail with InjectedFault (0..1). */
  errorRate: number;
  /** Extra latency added to each of its requests. */
  latencyMs: number;
  since: string;
}

/** Deterministic: with errorRate r, exactly ⌊n·r⌋ (or ⌈n·r⌉) of n requests fail, evenly spread. */
class FaultState {
  private credit = 0;
  constructor(readonly rule: FaultRule) {}

  shouldFail(): boolean {
    this.credit += this.rule.errorRate;
    if (this.credit >= 1 - 1e-9) {
      this.credit -= 1;
      return true;
    }
    return false;
  }
}

export class FaultInjector {
  private readonly rules = new Map<string, FaultState>();

  /** Validates and sets the rule of a model (replacing any earlier one). */
  set(model: string, body: unknown, now = new Date()): FaultRule {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new KaizenError('InvalidInput', 'body: expected {"version": N, "errorRate": 0..1, "latencyMs": ms}');
    }
    const b = body as { version?: unknown; errorRate?: unknown; latencyMs?: unknown };
    const version = b.version === undefined || b.version === null ? null : b.version;
    if (version !== null && !(Number.isInteger(version) && (version as number) > 0)) {
      throw new KaizenError('InvalidInput', 'version: expected a version number, or null for every version');
    }
    const errorRate = b.errorRate ?? 0;
    if (typeof errorRate !== 'number' || !(errorRate >= 0 && errorRate <= 1)) {
      throw new KaizenError('InvalidInput', 'errorRate: expected a number between 0 and 1');
    }
    const latencyMs = b.latencyMs ?? 0;
    if (typeof latencyMs !== 'number' || !(latencyMs >= 0 && latencyMs <= 60_000)) {
      throw new KaizenError('InvalidInput', 'latencyMs: expected a number of milliseconds between 0 and 60000');
    }
    if (errorRate === 0 && latencyMs === 0) {
      throw new KaizenError('InvalidInput', 'errorRate or latencyMs must be above 0 (DELETE clears a fault)');
    }
    const rule: FaultRule = { model, version: version as number | null, errorRate, latencyMs, since: now.toISOString() };
    this.rules.set(model, new FaultState(rule));
    return rule;
  }

  clear(model: string): boolean {
    return this.rules.delete(model);
  }

  list(): FaultRule[] {
    return [...this.rules.values()].map((s) => s.rule);
  }

  /**
   * What to do to one request answered by `version`: nothing (null), or a delay and/or a failure.
   * Cheap when no rule is set (one map lookup).
   */
  decide(model: string, version: number): { fail: boolean; delayMs: number } | null {
    if (this.rules.size === 0) return null;
    const state = this.rules.get(model);
    if (!state || (state.rule.version !== null && state.rule.version !== version)) return null;
    return { fail: state.shouldFail(), delayMs: state.rule.latencyMs };
  }
}
