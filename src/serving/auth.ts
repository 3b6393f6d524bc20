import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY } from '../config';
import { KaizenError } from '../errors';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** The shortest token a server off loopback accepts (admin or feedback). */
export const MIN_TOKEN_LENGTH = 32;

/**
 * A checker for `Authorization: Bearer <token>` against any of `tokens` (empty ones are ignored).
 * Both sides are hashed first so each comparison is constant-time and of equal length whatever the
 * caller sends. With no token configured everyone is refused (the API is off). `what` names the
 * tokens in the message.
 */
export function bearerTokenChecker(
  tokens: string | readonly string[],
  what = 'KAIZEN_ADMIN_TOKEN',
): (authorization: string | undefined) => void {
  const expected = (typeof tokens === 'string' ? [tokens] : tokens).filter((t) => t.length > 0).map(digest);
  return (authorization) => {
    const m = authorization === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!m) throw new KaizenError('Unauthorized', `this endpoint needs "Authorization: Bearer <${what}>"`);
    const got = digest(m[1]!);
    // every configured token is compared, so the time does not tell which one matched
    let ok = false;
    for (const e of expected) ok = timingSafeEqual(got, e) || ok;
    if (!ok) throw new KaizenError('Unauthorized', `the token is wrong (expected ${what})`);
  };
}

/** Whether `host` (a listen address) is reachable only from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

export interface Exposure {
  host: string;
  adminToken: string;
  feedbackToken: string;
  s3: { accessKey: string; secretKey: string };
}

/**
 * A server bound to anything but loopback needs real secrets: it refuses to start (ConfigInvalid)
 * with an admin token, or a feedback token, shorter than MIN_TOKEN_LENGTH (the public development
 * default among them), and returns warnings for the development S3 credentials.
 */
export function checkExposure(e: Exposure): { warnings: string[] } {
  if (isLoopbackHost(e.host)) return { warnings: [] };
  const where = `the server listens on ${e.host}, beyond this machine`;
  if (e.adminToken.length < MIN_TOKEN_LENGTH) {
    throw new KaizenError(
      'ConfigInvalid',
      `${where}: set KAIZEN_ADMIN_TOKEN to a secret of at least ${MIN_TOKEN_LENGTH} characters (for example \`openssl rand -hex 32\`); ` +
        `${e.adminToken.length === 0 ? 'it is empty' : `it has ${e.adminToken.length}`}, and the development default is public`,
    );
  }
  if (e.feedbackToken.length > 0 && e.feedbackToken.length < MIN_TOKEN_LENGTH) {
    throw new KaizenError(
      'ConfigInvalid',
      `${where}: KAIZEN_FEEDBACK_TOKEN must have at least ${MIN_TOKEN_LENGTH} characters, it has ${e.feedbackToken.length}`,
    );
  }
  const warnings: string[] = [];
  if (e.s3.accessKey === DEV_S3_ACCESS_KEY || e.s3.secretKey === DEV_S3_SECRET_KEY) {
    warnings.push(
      `SECURITY: ${where}, but the object store credentials are the public development defaults: ` +
        'anyone who can reach the store can rewrite models and the registry. Set KAIZEN_S3_ACCESS_KEY and KAIZEN_S3_SECRET_KEY.',
    );
  }
  return { warnings };
}
