import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { HAPROXY_BIN } from '../../../src/dev/binaries';
import { haproxyConfig, productionPlan, temporalServerConfig, TEMPORAL_SERVICES } from '../../../src/dev/production';
import { stackEnvironment, stackOptionsFromConfig } from '../../../src/dev/stack';

const cfg = loadConfig({ KAIZEN_HOME: '/tmp/kz-unit-prod', KAIZEN_POSTGRES_PASSWORD: 'pw-unit', KAIZEN_PRODUCTION_PORT_BASE: '21000' });
const o = stackOptionsFromConfig(cfg, 'production');

describe('the production profile', () => {
  it('has PostgreSQL, four Temporal services, the UI, MinIO on four drives, 2+2 workers, 2 replicas and staging, and HAProxy, in start order', () => {
    const plan = productionPlan(o, null, async () => undefined);
    const byName = new Map(plan.components.map((c) => [c.name, c]));
    for (const s of TEMPORAL_SERVICES) expect(byName.get(`temporal-${s}`)?.argv.slice(-2)).toEqual(['--service', s]);
    expect(byName.get('minio')!.argv).toContain(path.join(o.home, 'minio', 'drive{1...4}'));
    expect(plan.components.filter((c) => c.kind === 'worker').map((c) => c.name)).toEqual(['worker-pipeline-1', 'worker-pipeline-2', 'worker-training-1', 'worker-training-2']);
    expect(plan.components.filter((c) => c.kind === 'server').map((c) => c.name)).toEqual(['server-production-1', 'server-production-2', 'server-staging']);
    const phase = (n: string) => byName.get(n)!.phase;
    expect(phase('postgres')).toBeLessThan(phase('temporal-history'));
    expect(phase('temporal-history')).toBeLessThan(phase('temporal-frontend'));
    expect(phase('temporal-frontend')).toBeLessThan(phase('worker-pipeline-1'));
    expect(phase('server-production-1')).toBeLessThan(phase('load-balancer'));
    // clients go through the load balancer; each replica announces its own address
    expect(stackEnvironment(o).KAIZEN_PRODUCTION_URL).toBe('http://127.0.0.1:8080');
    expect(byName.get('server-production-2')!.env.KAIZEN_ADVERTISE_URL).toBe('http://127.0.0.1:21010');
  });

  it('gives every Temporal service its own ports on the PostgreSQL stores, with the password given', () => {
    const c = temporalServerConfig(o) as { services: Record<string, { rpc: { grpcPort: number; membershipPort: number } }>; persistence: { datastores: Record<string, { sql: { password: string; connectAddr: string } }> } };
    const ports = Object.values(c.services).flatMap((s) => [s.rpc.grpcPort, s.rpc.membershipPort]);
    expect(new Set(ports).size).toBe(ports.length);
    expect(c.persistence.datastores.default!.sql).toMatchObject({ password: 'pw-unit', connectAddr: '127.0.0.1:21000' });
  });

  it('refuses a port base Temporal cannot store and a missing PostgreSQL password, naming the variable', () => {
    expect(() => stackOptionsFromConfig(loadConfig({ KAIZEN_HOME: '/tmp/x', KAIZEN_POSTGRES_PASSWORD: 'p', KAIZEN_PRODUCTION_PORT_BASE: '40000' }), 'production')).toThrow(/KAIZEN_PRODUCTION_PORT_BASE/);
    expect(() => stackOptionsFromConfig(loadConfig({ KAIZEN_HOME: '/tmp/x', KAIZEN_POSTGRES_PASSWORD: 'p', KAIZEN_PRODUCTION_PORT_BASE: 'abc' }), 'production')).toThrow(/KAIZEN_PRODUCTION_PORT_BASE/);
    expect(() => stackOptionsFromConfig(loadConfig({ KAIZEN_HOME: '/tmp/x-no-secrets' }), 'production')).toThrow(/KAIZEN_POSTGRES_PASSWORD/);
  });

  it.skipIf(!existsSync(HAPROXY_BIN))('writes an HAProxy configuration HAProxy accepts, balancing over both replicas', () => {
    const text = haproxyConfig(o);
    expect(text).toMatch(/server server-production-1 127\.0\.0\.1:21009 check/);
    expect(text).toMatch(/server server-production-2 127\.0\.0\.1:21010 check/);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'kz-haproxy-')), 'haproxy.cfg');
    writeFileSync(file, text);
    const res = spawnSync(HAPROXY_BIN, ['-c', '-f', file], { encoding: 'utf8' });
    expect(res.status, res.stderr).toBe(0);
  });
});
