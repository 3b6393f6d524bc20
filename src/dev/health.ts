import http from 'node:http';
import { Connection } from '@temporalio/client';
import { tcpOpen } from './processes';

/** HTTP status of a GET, or null when nothing answers in time. A fresh connection each time. */
export function httpStatus(url: string, timeoutMs = 2_000): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(null));
  });
}

export async function httpOk(url: string, timeoutMs = 2_000): Promise<boolean> {
  const status = await httpStatus(url, timeoutMs);
  return status !== null && status >= 200 && status < 300;
}

const SERVING = 1;

/** The gRPC health service of a Temporal frontend reports SERVING. */
export async function temporalHealthy(host: string, port: number, timeoutMs = 3_000): Promise<boolean> {
  // a plain TCP probe first: much cheaper than a gRPC channel while the server is still down
  if (!(await tcpOpen(port, host, timeoutMs))) return false;
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: `${host}:${port}`, connectTimeout: timeoutMs });
    const conn = connection;
    const res = await conn.withDeadline(Date.now() + timeoutMs, () => conn.healthService.check({}));
    return res.status === SERVING;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
