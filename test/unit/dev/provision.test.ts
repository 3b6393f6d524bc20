import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINIO_STAMP, TEMPORAL_STAMP } from '../../../src/dev/binaries';

interface GoVersion {
  major: number;
  minor: number;
  patch: number;
}

interface ProvisionModule {
  parseGoVersion(text: string): GoVersion | null;
  goVersionAtLeast(v: GoVersion | null): boolean;
  firstHttpsProxy(goproxy: string | undefined): string;
  isChecksumDbUnreachable(stderr: string): boolean;
  formatDuration(ms: number): string;
}

const SCRIPT = fileURLToPath(new URL('../../../scripts/provision.mjs', import.meta.url));
const provision = (await import(
  /* @vite-ignore */ new URL('../../../scripts/provision.mjs', import.meta.url).href
)) as ProvisionModule;

describe('go version check', () => {
  it.each([
    ['go version go1.25.3 linux/amd64', { major: 1, minor: 25, patch: 3 }, true],
    ['go version go1.26.8 linux/amd64', { major: 1, minor: 26, patch: 8 }, true],
    ['go version go1.25 darwin/arm64', { major: 1, minor: 25, patch: 0 }, true],
    ['go version go1.26rc1 linux/amd64', { major: 1, minor: 26, patch: 0 }, true],
    ['go version devel go1.27-4d5e6f7 linux/amd64', { major: 1, minor: 27, patch: 0 }, true],
    ['go version go2.0.0 linux/amd64', { major: 2, minor: 0, patch: 0 }, true],
    ['go version go1.24.9 linux/amd64', { major: 1, minor: 24, patch: 9 }, false],
    ['go version go1.9 linux/amd64', { major: 1, minor: 9, patch: 0 }, false],
  ])('%s', (text, parsed, ok) => {
    expect(provision.parseGoVersion(text)).toEqual(parsed);
    expect(provision.goVersionAtLeast(provision.parseGoVersion(text))).toBe(ok);
  });

  it('rejects output that names no version', () => {
    expect(provision.parseGoVersion('bash: go: command not found')).toBeNull();
    expect(provision.goVersionAtLeast(null)).toBe(false);
  });
});

describe('provision helpers', () => {
  it('takes the first http(s) GOPROXY entry', () => {
    // the proxy comes from go's own configuration; none is assumed
    expect(provision.firstHttpsProxy(undefined)).toBeNull();
    expect(provision.firstHttpsProxy('https://goproxy.corp,direct')).toBe('https://goproxy.corp');
    expect(provision.firstHttpsProxy('direct')).toBeNull();
    expect(provision.firstHttpsProxy('file:///x,https://goproxy.corp/|https://mirror.corp')).toBe('https://goproxy.corp');
  });

  it('tells an unreachable checksum database from a checksum mismatch (which it never hides)', () => {
    expect(
      provision.isChecksumDbUnreachable(
        'go: github.com/x/y@v1.0.0: verifying module: github.com/x/y@v1.0.0: Get "https://sumdb.corp/lookup/github.com/x/y@v1.0.0": dial tcp: lookup sumdb.corp: no such host',
      ),
    ).toBe(true);
    expect(
      provision.isChecksumDbUnreachable(
        'verifying github.com/x/y@v1.0.0: checksum mismatch\n\tdownloaded: h1:a\n\tsumdb.corp: h1:b\n\nSECURITY ERROR',
      ),
    ).toBe(false);
    expect(provision.isChecksumDbUnreachable('cmd/link: signal: killed')).toBe(false);
  });

  it('formats durations', () => {
    expect(provision.formatDuration(1234)).toBe('1.2s');
    expect(provision.formatDuration(135_000)).toBe('2m15s');
    expect(provision.formatDuration(482_000)).toBe('8m02s');
  });
});

describe('scripts/provision.mjs', () => {
  let dir: string;
  let shim: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kaizen-provision-test-'));
    shim = path.join(dir, 'shim');
    await mkdir(shim);
    await writeFile(path.join(shim, 'go'), '#!/bin/sh\necho "go version go1.22.4 linux/amd64"\n');
    await chmod(path.join(shim, 'go'), 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function run(env: NodeJS.ProcessEnv, args: string[] = []) {
    const t0 = Date.now();
    const res = spawnSync(process.execPath, [SCRIPT, ...args], { env: { HOME: dir, ...env }, encoding: 'utf8' });
    return { ...res, ms: Date.now() - t0 };
  }

  it('is instant and runs no go at all when the cache holds the pinned versions', async () => {
    const cache = path.join(dir, 'cache');
    await mkdir(cache);
    for (const name of ['temporal', 'minio']) {
      await writeFile(path.join(cache, name), '#!/bin/sh\n');
      await chmod(path.join(cache, name), 0o755);
    }
    await writeFile(path.join(cache, 'temporal.version'), `${TEMPORAL_STAMP}\n`);
    await writeFile(path.join(cache, 'minio.version'), `${MINIO_STAMP}\n`);
    // the old-go shim on PATH proves go is never asked
    const res = run({ PATH: shim, KAIZEN_BIN_DIR: cache });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('temporal v1.5.1: already built');
    expect(res.stdout).toContain('minio RELEASE.2025-10-15T17-29-55Z: already built');
    expect(res.stdout).toMatch(/nothing to do/);
    expect(res.ms).toBeLessThan(2_000);
  });

  it('builds nothing when both binaries are given by env', async () => {
    const given = path.join(dir, 'given');
    await mkdir(given);
    await writeFile(path.join(given, 'bin'), '#!/bin/sh\n');
    await chmod(path.join(given, 'bin'), 0o755);
    const res = run({
      PATH: shim,
      KAIZEN_BIN_DIR: path.join(dir, 'unused'),
      KAIZEN_TEMPORAL_BIN: path.join(given, 'bin'),
      KAIZEN_MINIO_BIN: path.join(given, 'bin'),
    });
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('using KAIZEN_TEMPORAL_BIN=');
    expect(res.stdout).toContain('using KAIZEN_MINIO_BIN=');
  });

  it('rejects an env override that is not an executable', () => {
    const res = run({ PATH: shim, KAIZEN_TEMPORAL_BIN: path.join(dir, 'missing') });
    expect(res.status).not.toBe(0);
    expect(res.stderr.trim()).toMatch(/^provision: KAIZEN_TEMPORAL_BIN=.*missing is not an executable file$/);
  });

  it('explains in one line what to install when go is too old', () => {
    const res = run({ PATH: shim, KAIZEN_BIN_DIR: path.join(dir, 'empty') });
    expect(res.status).not.toBe(0);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('Go >= 1.25 is needed');
    expect(lines[0]).toContain('go1.22.4');
    expect(lines[0]).toContain('KAIZEN_TEMPORAL_BIN and KAIZEN_MINIO_BIN');
    expect(lines[0]).toContain('docker compose up');
  });

  it('never builds unverified by itself: an unreachable checksum database stops the build unless --allow-unverified is given', async () => {
    // a go that builds only with GOSUMDB=off, failing like an unreachable checksum database otherwise
    const fake = path.join(dir, 'sumdb-down');
    await mkdir(fake);
    await writeFile(
      path.join(fake, 'go'),
      [
        '#!/bin/sh',
        'case "$1" in',
        '  version) echo "go version go1.25.3 linux/amd64" ;;',
        '  env) echo "" ;;',
        '  install)',
        '    if [ "$GOSUMDB" = "off" ]; then printf "#!/bin/sh\\n" > "$GOBIN/temporal"; chmod +x "$GOBIN/temporal"; exit 0; fi',
        '    echo "go: go.temporal.io/x@v1.0.0: verifying module: go.temporal.io/x@v1.0.0: Get \\"https://sumdb.invalid/lookup\\": dial tcp: no such host" >&2; exit 1 ;;',
        'esac',
        '',
      ].join('\n'),
    );
    await chmod(path.join(fake, 'go'), 0o755);
    const given = path.join(dir, 'given-minio');
    await writeFile(given, '#!/bin/sh\n');
    await chmod(given, 0o755);
    const env = { PATH: `${fake}:/usr/bin:/bin`, KAIZEN_BIN_DIR: path.join(dir, 'unverified'), KAIZEN_MINIO_BIN: given };
    const refused = run(env);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/checksum database \(go env GOSUMDB\) cannot be reached.*nothing was built.*npm run provision -- --allow-unverified/s);
    expect(existsSync(path.join(dir, 'unverified', 'temporal'))).toBe(false);
    const allowed = run(env, ['--allow-unverified']);
    expect(allowed.status, allowed.stderr).toBe(0);
    expect(allowed.stdout).toMatch(/WARNING: temporal: .*GOSUMDB=off.*NOT verified/);
    expect(existsSync(path.join(dir, 'unverified', 'temporal'))).toBe(true);
    expect(run(env, ['--insecure']).stderr).toMatch(/unknown option --insecure/);
  });

  it('explains in one line what to install when go is missing', async () => {
    const noGo = path.join(dir, 'nogo');
    await mkdir(noGo);
    await symlink(process.execPath, path.join(noGo, 'node'));
    const res = run({ PATH: noGo, KAIZEN_BIN_DIR: path.join(dir, 'empty') });
    expect(res.status).not.toBe(0);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/`go` was not found on PATH: install Go >= 1.25 .*docker compose up/);
  });
});
