import { readFileSync } from 'node:fs';
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
  /** The local production profile (`kaizen dev up --profile production`): its internal ports and PostgreSQL password. */
  production: { portBase: number; postgresPassword: string };
}

/** The secrets `kaizen dev up --profile production` generated for a home (KEY=VALUE lines, mode 0600). */
export function productionEnvFile(home: string): string {
  return path.join(home, 'production.env');
}

export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

/**
 * The configuration from the environment. A home made by the production profile holds its
 * generated secrets in production.env; they fill in what the environment does not set.
 */
export function loadConfig(given: NodeJS.ProcessEnv = process.env): KaizenConfig {
  const home = path.resolve(given.KAIZEN_HOME ?? '.kaizen');
  let fromHome: Record<string, string> = {};
  try {
    fromHome = parseEnvFile(readFileSync(productionEnvFile(home), 'utf8'));
  } catch {
    // no production profile in this home
  }
  // what the environment sets wins; the home's file fills in the rest
  const env = new Proxy(given, {
    get: (target, key) => (typeof key === 'string' ? (target[key] ?? fromHome[key]) : undefined),
  });
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
    production: {
      portBase: Number(env.KAIZEN_PRODUCTION_PORT_BASE ?? 17300),
      postgresPassword: env.KAIZEN_POSTGRES_PASSWORD ?? '',
    },
  };
}
