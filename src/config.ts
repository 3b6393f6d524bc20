import path from 'node:path';

// Endpoints and local state, from the environment with their documented defaults (README: Configuration).

/**
 * The development defaults: public, so fit only for a stack bound to loopback. A server bound
 * elsewhere refuses the admin token and warns about the S3 credentials (src/serving/auth.ts).
 */
export const DEV_ADMIN_TOKEN = 'kaizen-dev-admin-token';
export const DEV_S3_ACCESS_KEY = 'kaizen';
export const DEV_S3_SECRET_KEY = 'kaizen-dev-secret';

export interface KaizenConfig {
  home: string;
  temporal: { address: string; namespace: string; uiPort: number };
  s3: { endpoint: string; accessKey: string; secretKey: string; bucket: string; region: string };
  /**
   * The model servers: what clients and activities call (a load balancer in production), and, for
   * `kaizen serve`, the URL it announces to its peers (KAIZEN_ADVERTISE_URL; default its own address).
   */
  servers: { production: string; staging: string; advertise: string };
  adminToken: string;
  /** KAIZEN_FEEDBACK_TOKEN: lets a label source send feedback and nothing else; empty: only the admin token can. */
  feedbackToken: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): KaizenConfig {
  const home = path.resolve(env.KAIZEN_HOME ?? '.kaizen');
  return {
    home,
    temporal: {
      address: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
      namespace: env.TEMPORAL_NAMESPACE ?? 'default',
      uiPort: Number(env.KAIZEN_TEMPORAL_UI_PORT ?? 8233),
    },
    s3: {
      endpoint: env.KAIZEN_S3_ENDPOINT ?? 'http://127.0.0.1:9000',
      accessKey: env.KAIZEN_S3_ACCESS_KEY ?? DEV_S3_ACCESS_KEY,
      secretKey: env.KAIZEN_S3_SECRET_KEY ?? DEV_S3_SECRET_KEY,
      bucket: env.KAIZEN_BUCKET ?? 'kaizen',
      region: env.KAIZEN_S3_REGION ?? 'us-east-1',
    },
    servers: {
      production: env.KAIZEN_PRODUCTION_URL ?? 'http://127.0.0.1:8080',
      staging: env.KAIZEN_STAGING_URL ?? 'http://127.0.0.1:8081',
      advertise: env.KAIZEN_ADVERTISE_URL ?? '',
    },
    adminToken: env.KAIZEN_ADMIN_TOKEN ?? DEV_ADMIN_TOKEN,
    feedbackToken: env.KAIZEN_FEEDBACK_TOKEN ?? '',
  };
}
