// The audit step of the test command: fails on high advisories, reports a registry that cannot answer.
import { describe, expect, it } from 'vitest';

const { judgeAudit } = (await import(/* @vite-ignore */ new URL('../../../scripts/audit.mjs', import.meta.url).href)) as {
  judgeAudit(stdout: string): { ran: boolean; failing?: number; reason?: string };
};

const report = (v: Record<string, number>) =>
  JSON.stringify({ auditReportVersion: 2, vulnerabilities: {}, metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0, ...v } } });

describe('judgeAudit', () => {
  it('passes a clean report and moderate ones, fails high and critical', () => {
    expect(judgeAudit(report({}))).toMatchObject({ ran: true, failing: 0 });
    expect(judgeAudit(report({ low: 2, moderate: 1 }))).toMatchObject({ ran: true, failing: 0 });
    expect(judgeAudit(report({ high: 1 }))).toMatchObject({ ran: true, failing: 1 });
    expect(judgeAudit(report({ high: 1, critical: 2 }))).toMatchObject({ ran: true, failing: 3 });
  });

  it('a registry that refuses audit requests, or no JSON at all, is "could not run", not a failure', () => {
    expect(judgeAudit(JSON.stringify({ message: '405 Method Not Allowed - POST …/advisories/bulk', statusCode: 405 }))).toEqual({ ran: false, reason: 'the registry answered 405' });
    expect(judgeAudit(JSON.stringify({ error: { code: 'ENOAUDIT', summary: 'Your configured registry does not support audit requests.' } }))).toMatchObject({ ran: false, reason: expect.stringContaining('does not support audit') });
    expect(judgeAudit('npm ERR! something')).toMatchObject({ ran: false });
  });
});
