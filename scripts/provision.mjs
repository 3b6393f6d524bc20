#!/usr/bin/env node
// Builds the two pinned server binaries of the local stack (Temporal CLI, MinIO) with `go install`
// into a cache outside the repository (~/.cache/kaizen/bin, or KAIZEN_BIN_DIR), so fresh clones
// reuse them. Instant when the cache already holds the pinned versions. Node built-ins only: this
// runs right after `npm install`, before anything else is known to work.
//
//   node scripts/provision.mjs [--force]
//
// KAIZEN_TEMPORAL_BIN / KAIZEN_MINIO_BIN point at existing binaries instead (nothing is built).
// Keep the pins in sync with src/dev/binaries.ts (a unit test checks it).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const MIN_GO_VERSION = { major: 1, minor: 25 };

export const TEMPORAL_PIN = {
  name: 'temporal',
  version: 'v1.5.1',
  target: 'github.com/temporalio/cli/cmd/temporal@v1.5.1',
  stamp: 'temporal v1.5.1',
};

const MINIO_PSEUDO_VERSION = 'v0.0.0-20251015172955-9e49d5e7a648';

export const MINIO_PIN = {
  name: 'minio',
  version: 'RELEASE.2025-10-15T17-29-55Z',
  commit: '9e49d5e7a648f00e26f2246f4dc28e6b07f8c84a',
  module: 'github.com/minio/minio',
  pseudoVersion: MINIO_PSEUDO_VERSION,
  time: '2025-10-15T17:29:55Z',
  target: `github.com/minio/minio@${MINIO_PSEUDO_VERSION}`,
  zipSha256: 'b137c35bf9708b4032a6a8301495a2563cab25111c28b80fd609812a3252a2f8',
  modSha256: '673f06144e90bc045f0a20050d2874c52e551be5bfbd70dff6e76b66da0db702',
  stamp: 'minio RELEASE.2025-10-15T17-29-55Z 9e49d5e7a648f00e26f2246f4dc28e6b07f8c84a',
};

// The production profile's Temporal: the server v1.29.1 (the version the pinned CLI embeds, so its
// module graph is the one the CLI already pulls in), its SQL schema tool, and the UI server the CLI
// embeds (v2.42.1). Built only with --production. `binary` is the name `go install` gives.
export const TEMPORAL_SERVER_PIN = {
  name: 'temporal-server',
  binary: 'server',
  version: 'v1.29.1',
  target: 'go.temporal.io/server/cmd/server@v1.29.1',
  stamp: 'temporal-server v1.29.1',
};

export const TEMPORAL_SQL_TOOL_PIN = {
  name: 'temporal-sql-tool',
  binary: 'sql',
  version: 'v1.29.1',
  target: 'go.temporal.io/server/cmd/tools/sql@v1.29.1',
  stamp: 'temporal-sql-tool v1.29.1',
};

export const TEMPORAL_UI_PIN = {
  name: 'temporal-ui-server',
  binary: 'server',
  version: 'v2.42.1',
  target: 'github.com/temporalio/ui-server/v2/cmd/server@v2.42.1',
  stamp: 'temporal-ui-server v2.42.1',
};

/** Debian packages of the production profile, installed with apt-get as root (as chromium is). */
export const PRODUCTION_PACKAGES = ['postgresql', 'haproxy'];

const HEARTBEAT_MS = 15_000;

/** The binary cache: KAIZEN_BIN_DIR, else $XDG_CACHE_HOME/kaizen/bin, else ~/.cache/kaizen/bin. */
export function defaultBinDir(env = process.env) {
  if (env.KAIZEN_BIN_DIR) return path.resolve(env.KAIZEN_BIN_DIR);
  const cache = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(cache, 'kaizen', 'bin');
}

export function stampPath(binDir, name) {
  return path.join(binDir, `${name}.version`);
}

/** `go version go1.25.3 linux/amd64` (also go1.25, go1.26rc1, devel go1.26-abc) → { major, minor, patch } */
export function parseGoVersion(text) {
  const m = /\bgo(\d+)\.(\d+)(?:\.(\d+))?/.exec(String(text));
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

export function goVersionAtLeast(v, min = MIN_GO_VERSION) {
  if (!v) return false;
  return v.major > min.major || (v.major === min.major && v.minor >= min.minor);
}

/**
 * First http(s) entry of a GOPROXY list (`,` or `|` separated), as `go env GOPROXY` reports it;
 * `direct`/`off`/file entries are skipped; null when there is none.
 */
export function firstHttpsProxy(goproxy) {
  for (const entry of String(goproxy ?? '').split(/[,|]/)) {
    const e = entry.trim().replace(/\/+$/, '');
    if (/^https?:\/\//.test(e)) return e;
  }
  return null;
}

/** True when `go` failed because the checksum database (GOSUMDB) could not be reached (never for a checksum mismatch). */
export function isChecksumDbUnreachable(stderr) {
  const s = String(stderr);
  if (/checksum mismatch|SECURITY ERROR/.test(s)) return false;
  return /verifying module/.test(s);
}

export function formatDuration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(s % 60).padStart(2, '0')}s`;
}

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Cached binary is usable iff it exists and its stamp names exactly the pinned version. */
export function isProvisioned(binDir, pin) {
  const bin = path.join(binDir, pin.name);
  if (!isExecutable(bin)) return false;
  try {
    return readFileSync(stampPath(binDir, pin.name), 'utf8').trim() === pin.stamp;
  } catch {
    return false;
  }
}

function log(line) {
  process.stdout.write(`provision: ${line}\n`);
}

class ProvisionError extends Error {}

function goVersionOrExplain(env) {
  const res = spawnSync('go', ['version'], { env, encoding: 'utf8' });
  const install =
    'install Go >= 1.25 (https://go.dev/dl/) and run `npm run provision` again, or set KAIZEN_TEMPORAL_BIN and KAIZEN_MINIO_BIN to existing binaries, or run the stack with `docker compose up` instead';
  if (res.error || res.status !== 0) {
    throw new ProvisionError(
      `Go is needed to build the Temporal CLI and MinIO but \`go\` was not found on PATH: ${install}`,
    );
  }
  const found = res.stdout.trim();
  const v = parseGoVersion(found);
  if (!goVersionAtLeast(v)) {
    throw new ProvisionError(
      `Go >= 1.25 is needed to build the Temporal CLI and MinIO, found "${found}": ${install}`,
    );
  }
  return found;
}

function goEnv(env, name) {
  const res = spawnSync('go', ['env', name], { env, encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : '';
}

function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

async function fetchVerified(url, expectedSha) {
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(300_000) });
  } catch (err) {
    throw new ProvisionError(`cannot download ${url}: ${err.cause?.message ?? err.message}`);
  }
  if (!res.ok) throw new ProvisionError(`cannot download ${url}: HTTP ${res.status}`);
  const buf = Buffer.from(await res.arrayBuffer());
  const got = sha256(buf);
  if (got !== expectedSha)
    throw new ProvisionError(
      `${url} has sha256 ${got}, expected the pinned ${expectedSha}; refusing to build it`,
    );
  return buf;
}

/** The pinned minio zip/mod from the Go module cache if present and intact, else from the proxy. */
async function minioSource(env, ext, expectedSha) {
  const modcache = goEnv(env, 'GOMODCACHE');
  if (modcache) {
    const cached = path.join(
      modcache,
      'cache',
      'download',
      MINIO_PIN.module,
      '@v',
      `${MINIO_PIN.pseudoVersion}.${ext}`,
    );
    try {
      const buf = await readFile(cached);
      if (sha256(buf) === expectedSha) return buf;
    } catch {
      // not in the module cache: download it
    }
  }
  const proxy = firstHttpsProxy(env.GOPROXY ?? goEnv(env, 'GOPROXY'));
  if (!proxy) {
    throw new ProvisionError(
      `minio: GOPROXY (go env GOPROXY) names no https module proxy to fetch ${MINIO_PIN.module}@${MINIO_PIN.pseudoVersion} from, and it is not in the Go module cache`,
    );
  }
  return fetchVerified(`${proxy}/${MINIO_PIN.module}/@v/${MINIO_PIN.pseudoVersion}.${ext}`, expectedSha);
}

/** A file-based GOPROXY holding just the pinned minio version (the public proxy refuses its .info). */
async function minioFileProxy(env) {
  const proxy = firstHttpsProxy(env.GOPROXY ?? goEnv(env, 'GOPROXY')) ?? 'the Go module cache';
  log(
    `minio: the Go module proxy refuses .info for ${MINIO_PIN.pseudoVersion} and the checksum database has no entry for it, so its .zip and .mod come from ${proxy} (or the Go module cache) checked against pinned sha256 sums and are served from a local file GOPROXY; every dependency is still verified by minio's go.sum and the checksum database`,
  );
  const [zip, mod] = await Promise.all([
    minioSource(env, 'zip', MINIO_PIN.zipSha256),
    minioSource(env, 'mod', MINIO_PIN.modSha256),
  ]);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kaizen-goproxy-'));
  const v = path.join(dir, MINIO_PIN.module, '@v');
  await mkdir(v, { recursive: true });
  await writeFile(path.join(v, `${MINIO_PIN.pseudoVersion}.zip`), zip);
  await writeFile(path.join(v, `${MINIO_PIN.pseudoVersion}.mod`), mod);
  await writeFile(
    path.join(v, `${MINIO_PIN.pseudoVersion}.info`),
    JSON.stringify({ Version: MINIO_PIN.pseudoVersion, Time: MINIO_PIN.time }),
  );
  await writeFile(path.join(v, 'list'), `${MINIO_PIN.pseudoVersion}\n`);
  return dir;
}

/** One `go install -v`, with its output summarised; resolves with the exit code and stderr tail. */
function goInstall(build, env) {
  return new Promise((resolve) => {
    const child = spawn('go', ['install', '-v', build.pin.target], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail = [];
    let sumdbHint = '';
    let partial = '';
    const onData = (chunk) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line) continue;
        if (line.startsWith('go: downloading ')) build.downloads++;
        else if (!line.startsWith('go: ') && /^[\w.\-/]+$/.test(line)) {
          build.packages++;
          build.last = line;
        }
        if (/sum\.golang\.org|verifying module|checksum mismatch|SECURITY ERROR/.test(line))
          sumdbHint += `${line}\n`;
        tail.push(line);
        if (tail.length > 40) tail.shift();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => resolve({ code: -1, tail: [String(err.message)], sumdbHint }));
    child.on('close', (code) => {
      if (partial) tail.push(partial);
      resolve({ code: code ?? -1, tail, sumdbHint: sumdbHint + partial });
    });
  });
}

/** Also build the production profile's Temporal server, schema tool and UI, and install its packages. */
export const PRODUCTION_FLAG = '--production';

/** apt-get install of Debian packages whose commands are missing (root only; otherwise it says what to install). */
function installPackages(packages, env) {
  const missing = packages.filter((p) => !packagePresent(p));
  if (missing.length === 0) {
    log(`packages present: ${packages.join(', ')}`);
    return;
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    throw new ProvisionError(`the production profile needs Debian's ${missing.join(' and ')} package${missing.length > 1 ? 's' : ''}; install ${missing.length > 1 ? 'them' : 'it'} (apt-get install ${missing.join(' ')}) and run again`);
  }
  log(`installing Debian's ${missing.join(', ')} (apt-get)…`);
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...missing]]) {
    const res = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: aptEnv });
    if (res.status !== 0) throw new ProvisionError(`apt-get ${args[0]} failed (exit ${res.status})`);
  }
}

/** The command a package provides, where the production profile looks for it. */
export const PACKAGE_COMMANDS = { postgresql: '/usr/lib/postgresql/15/bin/postgres', haproxy: '/usr/sbin/haproxy' };

function packagePresent(p) {
  try {
    accessSync(PACKAGE_COMMANDS[p], constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** The flag that lets a user build without the checksum database, knowingly (never the default). */
export const ALLOW_UNVERIFIED_FLAG = '--allow-unverified';

async function build(b, baseEnv, binDir, { allowUnverified = false } = {}) {
  const started = Date.now();
  b.started = started;
  const staging = path.join(binDir, `.build-${b.pin.name}-${process.pid}`);
  let fileProxy = null;
  try {
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    const env = { ...baseEnv, GOBIN: staging };
    if (b.pin === MINIO_PIN) {
      fileProxy = await minioFileProxy(baseEnv);
      const upstream = baseEnv.GOPROXY ?? goEnv(baseEnv, 'GOPROXY');
      env.GOPROXY = [pathToFileURL(fileProxy).href, upstream].filter(Boolean).join(',');
      env.GONOSUMDB = [baseEnv.GONOSUMDB, MINIO_PIN.module].filter(Boolean).join(',');
    }
    log(
      `building ${b.pin.name} ${b.pin.version} (go install ${b.pin.target}); the first build takes several minutes`,
    );
    let res = await goInstall(b, env);
    // nothing is built unverified unless the user says so: without the checksum database the build
    // stops and says what to do
    if (res.code !== 0 && isChecksumDbUnreachable(res.sumdbHint)) {
      if (!allowUnverified) {
        throw new ProvisionError(
          `${b.pin.name}: the Go checksum database (go env GOSUMDB) cannot be reached, so its modules cannot be verified; nothing was built. Make it reachable (or point GOSUMDB at a mirror) and run \`npm run provision\` again; to build without verification, knowingly, run \`npm run provision -- ${ALLOW_UNVERIFIED_FLAG}\`:\n  ${res.tail.join('\n  ')}`,
        );
      }
      log(
        `WARNING: ${b.pin.name}: the Go checksum database cannot be reached and ${ALLOW_UNVERIFIED_FLAG} was given: building with GOSUMDB=off, so the modules downloaded now are NOT verified against the checksum database (go.sum still pins what it lists)`,
      );
      res = await goInstall(b, { ...env, GOSUMDB: 'off' });
    }
    if (res.code !== 0) {
      throw new ProvisionError(
        `go install ${b.pin.target} failed (exit ${res.code}):\n  ${res.tail.join('\n  ')}`,
      );
    }
    const target = path.join(binDir, b.pin.name);
    // rename, not overwrite: a running stack may be executing the old binary
    await rename(path.join(staging, b.pin.binary ?? b.pin.name), target);
    await writeFile(stampPath(binDir, b.pin.name), `${b.pin.stamp}\n`);
    b.done = Date.now();
    log(`${b.pin.name} ${b.pin.version} built in ${formatDuration(b.done - started)} → ${target}`);
  } finally {
    b.done ??= Date.now();
    await rm(staging, { recursive: true, force: true });
    if (fileProxy) await rm(fileProxy, { recursive: true, force: true });
  }
}

export async function main(argv = process.argv.slice(2), env = process.env) {
  const t0 = Date.now();
  const force = argv.includes('--force');
  const allowUnverified = argv.includes(ALLOW_UNVERIFIED_FLAG);
  const production = argv.includes(PRODUCTION_FLAG);
  const unknown = argv.filter((a) => a !== '--force' && a !== ALLOW_UNVERIFIED_FLAG && a !== PRODUCTION_FLAG);
  if (unknown.length > 0) throw new ProvisionError(`unknown option ${unknown.join(' ')} (options: --force, ${PRODUCTION_FLAG}, ${ALLOW_UNVERIFIED_FLAG})`);
  const binDir = defaultBinDir(env);
  const todo = [];
  if (production) installPackages(PRODUCTION_PACKAGES, env);
  for (const [pin, override] of [
    [TEMPORAL_PIN, 'KAIZEN_TEMPORAL_BIN'],
    [MINIO_PIN, 'KAIZEN_MINIO_BIN'],
    ...(production
      ? [
          [TEMPORAL_SERVER_PIN, 'KAIZEN_TEMPORAL_SERVER_BIN'],
          [TEMPORAL_SQL_TOOL_PIN, 'KAIZEN_TEMPORAL_SQL_TOOL_BIN'],
          [TEMPORAL_UI_PIN, 'KAIZEN_TEMPORAL_UI_BIN'],
        ]
      : []),
  ]) {
    const given = env[override];
    if (given) {
      if (!isExecutable(given)) throw new ProvisionError(`${override}=${given} is not an executable file`);
      log(`${pin.name}: using ${override}=${given} (nothing to build)`);
    } else if (!force && isProvisioned(binDir, pin)) {
      log(`${pin.name} ${pin.version}: already built at ${path.join(binDir, pin.name)}`);
    } else {
      todo.push({ pin, packages: 0, downloads: 0, last: '', started: 0, done: undefined });
    }
  }
  if (todo.length === 0) {
    log(`nothing to do (${formatDuration(Date.now() - t0)})`);
    return;
  }

  const goVersion = goVersionOrExplain(env);
  log(`using ${goVersion}; building ${todo.map((b) => b.pin.name).join(' and ')} in parallel into ${binDir}`);
  await mkdir(binDir, { recursive: true });

  const heartbeat = setInterval(() => {
    for (const b of todo) {
      if (b.done || !b.started) continue;
      const what =
        b.packages > 0
          ? `${b.packages} packages compiled, last ${b.last}`
          : b.downloads > 0
            ? `${b.downloads} modules downloaded`
            : 'resolving modules and linking';
      log(`building ${b.pin.name}… ${formatDuration(Date.now() - b.started)} (${what})`);
    }
  }, HEARTBEAT_MS);
  try {
    // the CLI and MinIO share nothing and build side by side; the server, its SQL tool and the UI
    // share most packages, so they build one after the other on the warm build cache
    const isBase = (b) => b.pin === TEMPORAL_PIN || b.pin === MINIO_PIN;
    const serial = todo.filter((b) => !isBase(b));
    const results = await Promise.allSettled([
      ...todo.filter(isBase).map((b) => build(b, env, binDir, { allowUnverified })),
      serial.reduce(
        (prev, b) => prev.then(() => build(b, env, binDir, { allowUnverified })),
        Promise.resolve(),
      ),
    ]);
    const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    if (failed.length === 1) throw failed[0];
    if (failed.length > 1) throw new ProvisionError(failed.map((e) => e.message).join('\nprovision: '));
  } finally {
    clearInterval(heartbeat);
  }
  log(`done in ${formatDuration(Date.now() - t0)}`);
}

function invokedDirectly() {
  try {
    return (
      Boolean(process.argv[1]) &&
      realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
    );
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main().catch((err) => {
    const msg = err instanceof ProvisionError ? err.message : (err?.stack ?? String(err));
    process.stderr.write(`provision: ${msg}\n`);
    process.exitCode = 1;
  });
}
