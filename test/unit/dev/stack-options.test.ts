import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import {
  defaultServers,
  stackEnvironment,
  stackOptionsFromConfig,
  stackStatus,
  upStack,
} from '../../../src/dev/stack';

describe('stackOptionsFromConfig', () => {
  it('has the documented endpoints by default', () => {
    const o = stackOptionsFromConfig(loadConfig({ KAIZEN_HOME: '/tmp/kz-home' }));
    expect(o).toMatchObject({
      home: '/tmp/kz-home',
      temporalPort: 7233,
      temporalUiPort: 8233,
      minioPort: 9000,
      minioConsolePort: 9001,
      namespace: 'default',
      s3: { accessKey: 'kaizen', secretKey: 'kaizen-dev-secret', bucket: 'kaizen' },
    });
    expect(o.workers).toEqual([
      { name: 'worker-pipeline', queues: ['kaizen-pipeline'], metricsPort: 9464 },
      { name: 'worker-training', queues: ['kaizen-training'], metricsPort: 9465 },
    ]);
    expect(o.servers).toEqual([
      { name: 'server-production', env: 'production', port: 8080 },
      { name: 'server-staging', env: 'staging', port: 8081 },
    ]);
  });

  it('follows the configured ports', () => {
    const cfg = loadConfig({
      TEMPORAL_ADDRESS: 'localhost:17233',
      KAIZEN_TEMPORAL_UI_PORT: '18233',
      KAIZEN_S3_ENDPOINT: 'http://127.0.0.1:19000',
      KAIZEN_PRODUCTION_URL: 'http://127.0.0.1:18080',
      KAIZEN_STAGING_URL: 'http://127.0.0.1:18081',
    });
    const o = stackOptionsFromConfig(cfg);
    expect([o.temporalPort, o.temporalUiPort, o.minioPort, o.minioConsolePort]).toEqual([
      17233, 18233, 19000, 19001,
    ]);
    expect(defaultServers(cfg)).toEqual([
      { name: 'server-production', env: 'production', port: 18080 },
      { name: 'server-staging', env: 'staging', port: 18081 },
    ]);
  });

  it('gives components an environment that loadConfig reads back as this stack', () => {
    const cfg = loadConfig({
      KAIZEN_HOME: '/tmp/kz-home',
      TEMPORAL_ADDRESS: '127.0.0.1:17233',
      KAIZEN_BUCKET: 'b1',
    });
    const o = { ...stackOptionsFromConfig(cfg), servers: defaultServers(cfg) };
    const back = loadConfig(stackEnvironment(o));
    expect(back.home).toBe(cfg.home);
    expect(back.temporal).toEqual(cfg.temporal);
    expect(back.s3).toEqual(cfg.s3);
    expect(back.servers).toEqual(cfg.servers);
  });
});

describe('stack without processes', () => {
  it('reports every component down in an empty home, without starting anything', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'kaizen-status-test-'));
    try {
      const o = {
        ...stackOptionsFromConfig(loadConfig({ KAIZEN_HOME: home })),
        binaries: { temporal: '/x/temporal', minio: '/x/minio' },
      };
      const status = await stackStatus(o);
      expect(status.components.map((c) => c.name)).toEqual([
        'temporal',
        'temporal-ui',
        'minio',
        'minio-console',
        'worker-pipeline',
        'worker-training',
        'server-production',
        'server-staging',
      ]);
      expect(status.components.every((c) => c.pid === null && !c.healthy)).toBe(true);
      expect(status.components[0]).toEqual({
        name: 'temporal',
        pid: null,
        url: '127.0.0.1:7233',
        healthy: false,
      });
      // a worker's url is its Prometheus endpoint
      expect(status.components[4]?.url).toBe('http://127.0.0.1:9464/metrics');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('refuses component names that clash or are not file names', async () => {
    const o = stackOptionsFromConfig(loadConfig({ KAIZEN_HOME: '/nonexistent' }));
    await expect(upStack({ ...o, workers: [{ name: 'minio', queues: ['q'] }] })).rejects.toThrow(
      /"minio" is used twice/,
    );
    await expect(upStack({ ...o, workers: [{ name: '../evil', queues: ['q'] }] })).rejects.toThrow(
      /plain file name/,
    );
  });
});
