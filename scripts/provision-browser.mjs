#!/usr/bin/env node
// The real-browser checks (Playwright with Debian's Chromium) need /usr/bin/chromium. On Debian as
// root it is installed with apt-get; elsewhere this prints what to install and the browser tests
// say they were skipped. Instant when Chromium is already there.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.KAIZEN_CHROMIUM ?? '/usr/bin/chromium';

if (existsSync(CHROMIUM)) {
  console.log(`provision: chromium present at ${CHROMIUM}`);
  process.exit(0);
}
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (!isRoot || !hasApt) {
  console.log(
    `provision: no Chromium at ${CHROMIUM}; the browser checks of the Temporal UI will be skipped. ` +
      'Install Debian\'s "chromium" package (or set KAIZEN_CHROMIUM) to run them.',
  );
  process.exit(0);
}
console.log("provision: installing Debian's chromium package for the browser checks (apt-get)…");
const started = Date.now();
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', 'chromium']]) {
  const res = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (res.status !== 0) {
    console.log(`provision: apt-get ${args[0]} failed (exit ${res.status}); the browser checks will be skipped`);
    process.exit(0);
  }
}
console.log(`provision: chromium installed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
