// Paths built from names that came from outside stay inside their directory.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pathInside, versionHex } from '../../../src/storage/paths';

describe('pathInside', () => {
  const root = path.resolve('/var/kaizen/work');

  it('joins plain names, nested ones included', () => {
    expect(pathInside(root, ['train.parquet'], 'file')).toBe(path.join(root, 'train.parquet'));
    expect(pathInside(root, ['2026', '01', 'a.csv'], 'file')).toBe(path.join(root, '2026/01/a.csv'));
    expect(pathInside(root, ['pipeline-flights-1'], 'workflow id')).toBe(path.join(root, 'pipeline-flights-1'));
  });

  it.each([
    [['..'], 'leads outside'],
    [['../etc/passwd'], 'leads outside'],
    [['a', '..', '..', 'b'], 'leads outside'],
    [['.'], 'leads outside'],
    [['/etc/passwd'], 'is not a relative name'],
    [[''], 'is not a relative name'],
    [['a\0b'], 'is not a relative name'],
    [[], 'is not a relative name'],
  ])('refuses %j as UnsafePath (%s), naming the input', (segments, why) => {
    let err: unknown;
    try {
      pathInside(root, segments, 'workflow id');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ type: 'UnsafePath', retryable: false });
    expect((err as Error).message).toContain('workflow id');
    expect((err as Error).message).toContain(why);
  });
});

describe('versionHex', () => {
  it('takes sha256:<hex> or bare hex, nothing else', () => {
    const hex = 'a'.repeat(64);
    expect(versionHex(`sha256:${hex}`)).toBe(hex);
    expect(versionHex(hex)).toBe(hex);
    for (const bad of ['sha256:../../x', `sha256:${hex}/..`, 'sha256:ABC', '']) {
      expect(() => versionHex(bad)).toThrow(/is not sha256:<64 hex digits>/);
    }
  });
});
