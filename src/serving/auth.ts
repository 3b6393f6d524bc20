import { createHash, timingSafeEqual } from 'node:crypto';
import { KaizenError } from '../errors';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * A checker for `Authorization: Bearer <token>`. Both sides are hashed first so the comparison is
 * constant-time and of equal length whatever the caller sends. An empty configured token refuses
 * everyone (the admin API is off).
 */
export function bearerTokenChecker(token: string): (authorization: string | undefined) => void {
  const expected = digest(token);
  const enabled = token.length > 0;
  return (authorization) => {
    const m = authorization === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!m) {
      throw new KaizenError(
        'Unauthorized',
        'the admin API needs "Authorization: Bearer <KAIZEN_ADMIN_TOKEN>"',
      );
    }
    const ok = timingSafeEqual(digest(m[1]!), expected);
    if (!ok || !enabled) throw new KaizenError('Unauthorized', 'the admin token is wrong');
  };
}
