import { describe, expect, it } from 'vitest';
import { allAliases, applyProduction, migrateDocument, productionOf, rollbackTarget } from '../../../src/registry/production';
import type { RegistryDocument } from '../../../src/types';

const now = new Date('2026-12-01T00:00:00.000Z');
const meta = { by: 'test', reason: 'test' };

function doc(versions = [1, 2, 3]): RegistryDocument {
  return { model: 'm', versions: versions.map((version) => ({ version }) as RegistryDocument['versions'][number]), aliases: {}, history: [] };
}

describe('the production record', () => {
  it('promotes, splits and rolls back with champion and traffic always in one state', () => {
    const d = doc();
    applyProduction(d, { action: 'promote', champion: 1 }, meta, now);
    expect(d.production).toMatchObject({ champion: 1, weights: { '1': 100 }, warm: [], previousChampion: null, revision: 1 });
    applyProduction(d, { action: 'canary_step', weights: { 1: 95, 2: 5 }, expectChampion: 1 }, meta, now);
    applyProduction(d, { action: 'promote', champion: 2, weights: { 2: 100 }, warm: [1], expectChampion: 1 }, meta, now);
    expect(d.production).toMatchObject({ champion: 2, weights: { '2': 100 }, warm: [1], previousChampion: 1, revision: 3 });
    // the reported bug: a rollback after a canary promotion must move the traffic too
    expect(rollbackTarget(d)).toEqual({ from: 2, to: 1 });
    applyProduction(d, { action: 'rollback', champion: 1 }, meta, now);
    expect(d.production).toMatchObject({ champion: 1, weights: { '1': 100 }, warm: [2], previousChampion: 2 });
    expect(d.productionHistory?.map((h) => [h.revision, h.action, h.from, h.champion])).toEqual([
      [1, 'promote', null, 1],
      [2, 'canary_step', 1, 1],
      [3, 'promote', 1, 2],
      [4, 'rollback', 2, 1],
    ]);
  });

  it('rolls back after an experiment that left a split, too', () => {
    const d = doc();
    applyProduction(d, { action: 'promote', champion: 1 }, meta, now);
    applyProduction(d, { action: 'experiment_start', weights: { 1: 90, 2: 5, 3: 5 } }, meta, now);
    applyProduction(d, { action: 'rollback', champion: 1, weights: { 1: 100 } }, meta, now);
    expect(d.production).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });

  it('is idempotent: the same request or the same opId writes nothing the second time', () => {
    const d = doc();
    applyProduction(d, { action: 'promote', champion: 1 }, meta, now);
    const step = { action: 'canary_step' as const, weights: { 1: 75, 2: 25 }, expectChampion: 1, opId: 'wf:step:2' };
    expect(applyProduction(d, step, meta, now).changed).toBe(true);
    expect(applyProduction(d, step, meta, now).changed).toBe(false);
    const promote = { action: 'promote' as const, champion: 2, expectChampion: 1, opId: 'wf:promote' };
    expect(applyProduction(d, promote, meta, now).changed).toBe(true);
    // a retry after the write landed: its expectation no longer holds, but its opId is recorded
    const again = applyProduction(d, promote, meta, now);
    expect(again).toMatchObject({ changed: false, entry: { opId: 'wf:promote', champion: 2 } });
    expect(d.production?.revision).toBe(3);
  });

  it('refuses a release write when production moved under it (a rollback beside a canary)', () => {
    const d = doc();
    applyProduction(d, { action: 'promote', champion: 1 }, meta, now);
    applyProduction(d, { action: 'promote', champion: 3 }, meta, now);
    expect(() => applyProduction(d, { action: 'canary_step', weights: { 1: 50, 2: 50 }, expectChampion: 1 }, meta, now)).toThrow(
      expect.objectContaining({ type: 'ProductionChanged', message: expect.stringMatching(/on version 3, not 1/) }),
    );
    expect(d.production?.weights).toEqual({ '3': 100 });
  });

  it('keeps the kill switch across splits until it is released', () => {
    const d = doc();
    applyProduction(d, { action: 'promote', champion: 1 }, meta, now);
    applyProduction(d, { action: 'kill_switch', killSwitch: true }, { by: 'oncall', reason: 'bad data' }, now);
    applyProduction(d, { action: 'canary_step', weights: { 1: 95, 2: 5 } }, meta, now);
    expect(d.production?.killSwitch).toMatchObject({ by: 'oncall', reason: 'bad data' });
    applyProduction(d, { action: 'kill_switch', killSwitch: false }, meta, now);
    expect(d.production?.killSwitch).toBeNull();
  });

  it('names what is wrong', () => {
    const d = doc();
    expect(() => applyProduction(d, { action: 'split', weights: { 1: 100 } }, meta, now)).toThrow(/no production version yet/);
    expect(() => applyProduction(d, { action: 'promote', champion: 9 }, meta, now)).toThrow(/has no version 9/);
    applyProduction(d, { action: 'promote', champion: 1 }, meta, now);
    expect(() => applyProduction(d, { action: 'split', weights: { 1: 60, 2: 30 } }, meta, now)).toThrow(/sum to 90, not 100/);
    expect(() => rollbackTarget(d)).toThrow(/no earlier production version.*--to/);
    expect(rollbackTarget(d, 3)).toEqual({ from: 1, to: 3 });
    expect(() => rollbackTarget(d, 9)).toThrow(/has no version 9/);
    expect(() => rollbackTarget(doc())).toThrow(/no production version to roll back/);
  });

  it('reads a document written before the record: the routing table that took precedence is what production was', () => {
    const legacy: RegistryDocument = {
      ...doc(),
      aliases: { production: 1, staging: 2 },
      history: [
        { alias: 'production', from: null, to: 2, at: '', reason: '', by: '' },
        { alias: 'production', from: 2, to: 1, at: '', reason: '', by: '' },
      ],
      routing: { weights: { '2': 100 }, warm: [1], updatedAt: '2026-01-01T00:00:00.000Z', by: 'canary', reason: 'promoted' },
      disabled: null,
    };
    expect(productionOf(legacy)).toMatchObject({ champion: 1, weights: { '2': 100 }, previousChampion: 2 });
    const migrated = migrateDocument(legacy);
    expect(migrated.aliases).toEqual({ staging: 2 });
    expect('routing' in migrated).toBe(false);
    expect(allAliases(migrated)).toEqual({ production: 1, staging: 2 });
    // the first write after the migration fixes the split for good
    applyProduction(migrated, { action: 'rollback', champion: 1 }, meta, now);
    expect(migrated.production).toMatchObject({ champion: 1, weights: { '1': 100 } });
  });
});
