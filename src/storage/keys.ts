// Object-store keys that several processes agree on. A key that only one module reads and writes
// stays beside it; one that crosses processes (a server writes it, an activity reads it) is named here.

/** `servers/<env>/<server id>.json`: each model server's registration and heartbeat. */
export const SERVERS_PREFIX = 'servers/';

export function serverRegistrationPrefix(env: string): string {
  return `${SERVERS_PREFIX}${env}/`;
}

export function serverRegistrationKey(env: string, id: string): string {
  return `${serverRegistrationPrefix(env)}${id}.json`;
}
