// docker-compose.yml cannot be started here (no Docker engine), so its production shape is checked
// as a file: it parses, every Kaizen command and option exists in the CLI, every variable it gives
// Kaizen is one loadConfig reads, images are pinned, secrets have no defaults, ports match the README.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { buildProgram } from '../../../src/cli/main';
import { HAPROXY_BIN } from '../../../src/dev/binaries';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

interface Service {
  image?: string;
  entrypoint?: string[];
  command?: string[] | string;
  environment?: Record<string, string>;
  ports?: string[];
  healthcheck?: unknown;
  deploy?: { replicas?: number };
}

const compose = yaml.load(read('docker-compose.yml')) as { services: Record<string, Service> };
const services = Object.entries(compose.services);
/** Services that run the Kaizen CLI: the Kaizen image with its own entrypoint. */
const kaizen = services.filter(([, s]) => s.image?.startsWith('kaizen:') && !s.entrypoint);
/** One-off set-up jobs (they exit once done). */
const ONE_SHOT = new Set(['temporal-schema', 'temporal-namespace']);

/** The variables loadConfig reads, observed by reading them through a proxy. */
function variablesLoadConfigReads(): Set<string> {
  const seen = new Set<string>();
  const env = new Proxy({} as NodeJS.ProcessEnv, {
    get(_t, key) {
      if (typeof key === 'string') seen.add(key);
      return undefined;
    },
  });
  loadConfig(env);
  return seen;
}

describe('docker-compose.yml', () => {
  it('has the production shape: Temporal on PostgreSQL with its schema job, UI, MinIO on four drives, workers, replicas, load balancer', () => {
    const names = services.map(([n]) => n);
    for (const n of ['postgresql', 'temporal-schema', 'temporal', 'temporal-ui', 'minio', 'worker-pipeline', 'worker-training', 'server-production', 'server-staging', 'load-balancer']) {
      expect(names).toContain(n);
    }
    expect(compose.services.temporal!.image).toMatch(/^temporalio\/server:1\.29\.1$/);
    expect(compose.services.temporal!.environment!.DB).toBe('postgres12');
    expect(compose.services['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
    expect(String(compose.services.minio!.command)).toContain('/data{1...4}');
    expect(compose.services['server-production']!.deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(compose.services['worker-training']!.deploy?.replicas).toBeGreaterThanOrEqual(1);
  });

  it('runs only commands and options the CLI has', () => {
    const program = buildProgram(() => undefined);
    expect(kaizen.length).toBeGreaterThanOrEqual(4);
    for (const [name, s] of kaizen) {
      const argv = s.command as string[];
      const cmd = program.commands.find((c) => c.name() === argv[0]);
      expect(cmd, `${name}: kaizen ${argv[0]}`).toBeDefined();
      for (const flag of argv.filter((a) => a.startsWith('--'))) {
        expect(cmd!.options.map((o) => o.long), `${name}: kaizen ${argv[0]} ${flag}`).toContain(flag);
      }
    }
  });

  it('gives Kaizen only variables that loadConfig reads', () => {
    const known = variablesLoadConfigReads();
    expect(known.has('KAIZEN_ADMIN_TOKEN')).toBe(true);
    for (const [name, s] of kaizen) {
      for (const key of Object.keys(s.environment ?? {})) expect(known, `${name}: ${key}`).toContain(key);
    }
  });

  it('pins every image and keeps no default secret', () => {
    const version = (JSON.parse(read('package.json')) as { version: string }).version;
    for (const [name, s] of services) {
      expect(s.image, name).toMatch(/^[\w./-]+:[\w.-]*\d[\w.-]*$/);
      expect(s.image, name).not.toMatch(/:latest$/);
      if (s.image!.startsWith('kaizen:')) expect(s.image).toBe(`kaizen:${version}`);
    }
    const text = read('docker-compose.yml');
    const withDefault = [...text.matchAll(/\$\{(\w+):?-[^}]*\}/g)].map((m) => m[1]!);
    expect(withDefault.filter((v) => /PASSWORD|SECRET|TOKEN|ACCESS_KEY/.test(v))).toEqual([]);
    for (const secret of ['POSTGRES_PASSWORD', 'KAIZEN_S3_SECRET_KEY', 'KAIZEN_ADMIN_TOKEN', 'KAIZEN_FEEDBACK_TOKEN']) {
      expect(text).toContain(`\${${secret}:?`);
    }
    for (const from of read('Dockerfile').matchAll(/^FROM (\S+)/gm)) expect(from[1]).toMatch(/:\d+\.\d+\.\d+/);
  });

  it('has a healthcheck on every long-running service but the UI, and volumes for the state', () => {
    for (const [name, s] of services) {
      if (ONE_SHOT.has(name) || name === 'temporal-ui') continue;
      expect(s.healthcheck, name).toBeDefined();
    }
    expect(Object.keys((yaml.load(read('docker-compose.yml')) as { volumes: object }).volumes)).toEqual(
      expect.arrayContaining(['postgres-data', 'minio-drive1', 'minio-drive4']),
    );
  });

  it('publishes the ports the README lists', () => {
    const readme = read('README.md');
    const docker = readme.slice(readme.indexOf('## Docker'), readme.indexOf('\n## ', readme.indexOf('## Docker') + 5));
    const published = services.flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, host: p.split(':')[0]! })));
    expect(published.length).toBeGreaterThanOrEqual(5);
    for (const p of published) expect(docker, `${p.name} publishes ${p.host}`).toMatch(new RegExp(`\\|\\s*${p.host}\\s*\\|\\s*${p.name}\\b`));
  });

  it.skipIf(!existsSync(HAPROXY_BIN))('its load balancer configuration is one HAProxy accepts', () => {
    const res = spawnSync(HAPROXY_BIN, ['-c', '-f', path.join(ROOT, 'deploy', 'haproxy.cfg')], { encoding: 'utf8' });
    expect(res.status, res.stderr).toBe(0);
  });
});
