import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main';
import { ERROR_CATALOGUE } from '../../src/errors';

const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');

describe('README stays true', () => {
  it('lists every error type of the catalogue', () => {
    for (const type of Object.keys(ERROR_CATALOGUE)) expect(readme, type).toContain(`| \`${type}\` |`);
  });

  it('documents every CLI command', () => {
    const program = buildProgram(() => undefined);
    const names: string[] = [];
    for (const c of program.commands) {
      if (c.commands.length) for (const sub of c.commands) names.push(`kaizen ${c.name()} ${sub.name()}`);
      else names.push(`kaizen ${c.name()}`);
    }
    for (const n of names) expect(readme, n).toContain(`\`${n}`);
  });

  it('keeps the two set-up commands and .ci/run in step', () => {
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm ci && npm test');
    const ci = readFileSync(path.resolve(import.meta.dirname, '../../.ci/run'), 'utf8');
    expect(ci).toMatch(/^npm ci && npm test$/m);
  });
});
