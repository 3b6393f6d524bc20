// `npm audit --omit=dev`, as the test command's first step: the production dependencies checked
// against the registry's advisories. High or critical advisories fail the run. A registry that
// does not answer audit requests (a mirror, a proxy that allows only downloads) is reported, and
// the run goes on: not being able to check is not a finding.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const LEVELS = ['info', 'low', 'moderate', 'high', 'critical'];
const FAIL_AT = 'high';

/** What an `npm audit --json` answer means: { ran, counts, failing, reason }. */
export function judgeAudit(stdout, failAt = FAIL_AT) {
  let report;
  try {
    report = JSON.parse(stdout);
  } catch {
    return { ran: false, reason: 'npm audit printed no JSON report' };
  }
  const counts = report?.metadata?.vulnerabilities;
  if (!counts || typeof counts !== 'object') {
    const why = report?.statusCode ? `the registry answered ${report.statusCode}` : (report?.error?.summary ?? report?.message ?? 'no report');
    return { ran: false, reason: String(why).split('\n')[0] };
  }
  const failing = LEVELS.slice(LEVELS.indexOf(failAt)).reduce((n, level) => n + (Number(counts[level]) || 0), 0);
  return { ran: true, counts, failing };
}

function main() {
  const res = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', timeout: 120_000 });
  const verdict = judgeAudit(res.stdout ?? '');
  if (!verdict.ran) {
    process.stdout.write(`audit: npm audit --omit=dev could not run (${verdict.reason}); the dependencies were not checked against advisories\n`);
    return 0;
  }
  const summary = LEVELS.map((l) => `${verdict.counts[l] ?? 0} ${l}`).join(', ');
  process.stdout.write(`audit: npm audit --omit=dev: ${summary}\n`);
  if (verdict.failing > 0) {
    process.stderr.write(`audit: ${verdict.failing} production advisories at ${FAIL_AT} or above; run \`npm audit --omit=dev\` for details\n`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main();
