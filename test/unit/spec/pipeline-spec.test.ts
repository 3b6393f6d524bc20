import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KaizenError } from '../../../src/errors';
import { canonicalJson } from '../../../src/hashing';
import { durationMs, hashSpec, loadPipelineSpec, parsePipelineSpec } from '../../../src/spec/pipeline-spec';

const minimal = { model: 'm', data: { source: 'data.csv', target: 'y' } };

function errorOf(fn: () => unknown): KaizenError {
  try {
    fn();
  } catch (err) {
    return err as KaizenError;
  }
  throw new Error('expected an error');
}

describe('parsePipelineSpec', () => {
  it('fills every default from a minimal spec', () => {
    const spec = parsePipelineSpec(minimal);
    expect(spec.train).toMatchObject({ hiddenUnits: [64, 32], epochs: 8, batchSize: 512, seed: 42 });
    expect(spec.data.split).toEqual({ validation: 0.1, test: 0.2, seed: 42 });
    expect(spec.data.pii).toBe('reject');
    expect(spec.approval).toEqual({ mode: 'manual', timeout: '24h', onTimeout: 'reject' });
    expect(spec.canary && spec.canary.steps).toEqual([5, 25, 50, 100]);
    expect(spec.task).toBeUndefined();
  });

  it('accepts a prefix or glob source narrowed by newest and window (no defaults: every match is read)', () => {
    const spec = parsePipelineSpec({
      ...minimal,
      data: { source: 's3://b/flights/', newest: 3, window: '7d', target: 'y' },
    });
    expect(spec.data).toMatchObject({ source: 's3://b/flights/', newest: 3, window: '7d' });
    const plain = parsePipelineSpec({ ...minimal, data: { source: 's3://b/flights/2001-*.parquet', target: 'y' } });
    expect(plain.data.newest).toBeUndefined();
    expect(plain.data.window).toBeUndefined();
  });

  it('accepts the full documented spec, with loadTest and canary switched off', () => {
    const spec = parsePipelineSpec({ ...minimal, loadTest: false, canary: false, task: 'binary' });
    expect(spec.loadTest).toBe(false);
    expect(spec.canary).toBe(false);
  });

  it.each([
    [{ ...minimal, train: { epochs: 0 } }, /field train\.epochs/],
    [{ ...minimal, data: { source: 'x.csv' } }, /field data\.target/],
    [{ model: 'm' }, /field data/],
    [{ ...minimal, model: 'Bad Name!' }, /field model/],
    [{ ...minimal, approval: { timeout: 'soon' } }, /field approval\.timeout/],
    [{ ...minimal, canary: { steps: [50, 25] } }, /field canary\.steps\[1\]: steps must increase/],
    [{ ...minimal, trian: {} }, /unknown field "trian"/],
    [{ ...minimal, data: { ...minimal.data, split: { validation: 0.5, test: 0.45 } } }, /field data\.split/],
    [{ ...minimal, data: { ...minimal.data, newest: 0 } }, /field data\.newest/],
    [{ ...minimal, data: { ...minimal.data, newest: 1.5 } }, /field data\.newest/],
    [{ ...minimal, data: { ...minimal.data, window: 'a day' } }, /field data\.window: a duration like/],
  ])('names the bad field: %#', (raw, pattern) => {
    const err = errorOf(() => parsePipelineSpec(raw, 'spec'));
    expect(err).toBeInstanceOf(KaizenError);
    expect(err.type).toBe('SpecInvalid');
    expect(err.message).toMatch(pattern);
  });
});

describe('loadPipelineSpec', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kaizen-spec-test-'));

  it('resolves a relative source against the spec file and keeps s3:// URIs', async () => {
    const file = path.join(dir, 'a.json');
    writeFileSync(file, JSON.stringify(minimal));
    const { spec, specHash } = await loadPipelineSpec(file);
    expect(spec.data.source).toBe(path.join(dir, 'data.csv'));
    expect(specHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    writeFileSync(file, JSON.stringify({ ...minimal, data: { ...minimal.data, source: 's3://b/k.csv' } }));
    expect((await loadPipelineSpec(file)).spec.data.source).toBe('s3://b/k.csv');
  });

  it('keeps an s3:// prefix as written and a relative glob as a glob', async () => {
    const file = path.join(dir, 'b.json');
    writeFileSync(file, JSON.stringify({ ...minimal, data: { ...minimal.data, source: 's3://b/flights/' } }));
    expect((await loadPipelineSpec(file)).spec.data.source).toBe('s3://b/flights/');
    writeFileSync(file, JSON.stringify({ ...minimal, data: { ...minimal.data, source: 'data/**/2001-*.csv' } }));
    expect((await loadPipelineSpec(file)).spec.data.source).toBe(path.join(dir, 'data/**/2001-*.csv'));
  });

  it('names the file when it is missing or not JSON', async () => {
    await expect(loadPipelineSpec(path.join(dir, 'missing.json'))).rejects.toThrow(/missing\.json: no such file/);
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{ "model": ');
    await expect(loadPipelineSpec(bad)).rejects.toThrow(/bad\.json is not valid JSON/);
  });
});

describe('spec hashing and durations', () => {
  it('hashes independently of key order', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] })).toBe('{"a":[2,{"c":4,"d":3}],"b":1}');
    expect(hashSpec({ a: 1, b: 2 })).toBe(hashSpec({ b: 2, a: 1 }));
    expect(hashSpec({ a: 1 })).not.toBe(hashSpec({ a: 2 }));
  });

  it('refuses a canary step longer than the live figures a production server keeps', () => {
    const spec = { model: 'm', data: { source: 'x.csv', target: 'y' } };
    expect(() => parsePipelineSpec({ ...spec, canary: { stepDuration: '20m' } })).toThrow(/field canary\.stepDuration: between 1s and 10m/);
    expect(parsePipelineSpec({ ...spec, canary: { stepDuration: '10m' } }).canary).toMatchObject({ stepDuration: '10m' });
  });

  it('parses durations', () => {
    expect(durationMs('500ms')).toBe(500);
    expect(durationMs('10s')).toBe(10_000);
    expect(durationMs('1m')).toBe(60_000);
    expect(durationMs('24h')).toBe(86_400_000);
    expect(() => durationMs('1 week')).toThrow(/not a duration/);
  });
});
