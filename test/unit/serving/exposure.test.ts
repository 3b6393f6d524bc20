// A server reachable from other machines refuses the public development secrets.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEV_ADMIN_TOKEN, DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY } from '../../../src/config';
import { checkExposure, isLoopbackHost } from '../../../src/serving/auth';

const STRONG = 'f'.repeat(64);
const devS3 = { accessKey: DEV_S3_ACCESS_KEY, secretKey: DEV_S3_SECRET_KEY };
const realS3 = { accessKey: 'svc-kaizen', secretKey: 'x'.repeat(40) };

describe('checkExposure', () => {
  it('tells loopback from everything else', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'model-server', 'example.org', '::ffff:10.0.0.1']) expect(isLoopbackHost(h), h).toBe(false);
  });

  it('on loopback the development defaults are fine', () => {
    expect(checkExposure({ host: '127.0.0.1', adminToken: DEV_ADMIN_TOKEN, feedbackToken: '', s3: devS3 })).toEqual({ warnings: [] });
  });

  it('off loopback it refuses the default, a short or an empty admin token, naming the variable', () => {
    for (const adminToken of [DEV_ADMIN_TOKEN, 'x'.repeat(31), '']) {
      let err: unknown;
      try {
        checkExposure({ host: '0.0.0.0', adminToken, feedbackToken: '', s3: realS3 });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ type: 'ConfigInvalid', retryable: false });
      expect((err as Error).message).toMatch(/listens on 0\.0\.0\.0.*KAIZEN_ADMIN_TOKEN .*at least 32 characters/);
    }
    expect(() => checkExposure({ host: '10.0.0.5', adminToken: STRONG, feedbackToken: 'short', s3: realS3 })).toThrow(/KAIZEN_FEEDBACK_TOKEN must have at least 32/);
    expect(checkExposure({ host: '10.0.0.5', adminToken: STRONG, feedbackToken: '', s3: realS3 })).toEqual({ warnings: [] });
  });

  it('off loopback the development S3 credentials give a loud warning', () => {
    const { warnings } = checkExposure({ host: '0.0.0.0', adminToken: STRONG, feedbackToken: '', s3: devS3 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^SECURITY: .*public development defaults.*KAIZEN_S3_ACCESS_KEY and KAIZEN_S3_SECRET_KEY/);
  });

  it('kaizen serve --host 0.0.0.0 with the default token exits at once with the reason, before touching anything', () => {
    const env = { ...process.env };
    delete env.KAIZEN_ADMIN_TOKEN;
    const r = spawnSync(process.execPath, [path.resolve('bin/kaizen.js'), 'serve', '--env', 'production', '--host', '0.0.0.0', '--port', '0'], {
      env: { ...env, KAIZEN_S3_ENDPOINT: 'http://127.0.0.1:1' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/KAIZEN_ADMIN_TOKEN to a secret of at least 32 characters/);
    expect(r.stdout).not.toMatch(/kaizen server ready/);
  }, 90_000);
});
