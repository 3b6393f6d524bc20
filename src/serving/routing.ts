// Traffic split among a model's versions: a table of cumulative percentage ranges in version order,
// and the point of a request in [0, 100): a stable hash of its key (so one user always lands on
// the same version) or a random number. Ascending version order keeps users sticky while a canary
// grows: the newest version takes the top of the range, and a larger share only extends it down.

export interface RouteEntry {
  version: number;
  weight: number;
  /** Exclusive upper bound of this version's range in [0, 100). */
  upTo: number;
}

/** The active (positive) weights of a split, by ascending version; empty when there is none. */
export function routeTable(weights: Record<string, number> | null | undefined): RouteEntry[] {
  if (!weights) return [];
  const entries = Object.entries(weights)
    .map(([v, w]) => ({ version: Number(v), weight: w }))
    .filter((e) => Number.isInteger(e.version) && e.weight > 0)
    .sort((a, b) => a.version - b.version);
  let acc = 0;
  const total = entries.reduce((s, e) => s + e.weight, 0);
  return entries.map((e, i) => {
    acc += (e.weight / total) * 100;
    return { ...e, upTo: i === entries.length - 1 ? 100 : acc };
  });
}

/** FNV-1a (32-bit) of the key's UTF-16 code units, mapped to [0, 100) in steps of 0.01. */
export function keyPoint(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche (murmur3 fmix32) so keys differing in their last character spread evenly
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  return (h % 10_000) / 100;
}

/** The version a request goes to; `key` undefined → weighted random. */
export function pickVersion(
  table: readonly RouteEntry[],
  key: string | undefined,
  random = Math.random,
): number | null {
  if (table.length === 0) return null;
  const point = key === undefined ? random() * 100 : keyPoint(key);
  for (const e of table) if (point < e.upTo) return e.version;
  return table[table.length - 1]!.version;
}

/** The request's routing key: body `key` (string or number) or header `x-kaizen-key`. */
export function routingKeyOf(body: unknown, header: string | string[] | undefined): string | undefined {
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const k = (body as { key?: unknown }).key;
    if (typeof k === 'string' && k.length > 0) return k;
    if (typeof k === 'number' && Number.isFinite(k)) return String(k);
  }
  const h = Array.isArray(header) ? header[0] : header;
  return h !== undefined && h.length > 0 ? h : undefined;
}
