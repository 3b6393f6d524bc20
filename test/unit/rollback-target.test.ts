import { describe, expect, it } from 'vitest';
import { rollbackTarget } from '../../src/registry/registry';
import type { AliasMove, RegistryDocument } from '../../src/types';

const move = (from: number | null, to: number | null, alias = 'production'): AliasMove => ({ alias, from, to, at: '', reason: '', by: 't' });
const doc = (production: number | undefined, history: AliasMove[], versions = [1, 2, 3]): RegistryDocument => ({
  model: 'm',
  versions: versions.map((version) => ({ version }) as RegistryDocument['versions'][number]),
  aliases: production === undefined ? {} : { production },
  history,
});

describe('rollbackTarget', () => {
  it('goes back to the version production had before its current one', () => {
    expect(rollbackTarget(doc(3, [move(null, 1), move(1, 2), move(2, 2, 'staging'), move(2, 3)]))).toEqual({ from: 3, to: 2 });
  });

  it('honours --to and refuses unknown versions', () => {
    expect(rollbackTarget(doc(3, [move(null, 3)]), 1)).toEqual({ from: 3, to: 1 });
    expect(() => rollbackTarget(doc(3, []), 9)).toThrow(/has no version 9/);
  });

  it('says what to do when there is nothing to go back to', () => {
    expect(() => rollbackTarget(doc(1, [move(null, 1)]))).toThrow(/no earlier production version.*--to/);
    expect(() => rollbackTarget(doc(undefined, []))).toThrow(/no production version/);
  });
});
