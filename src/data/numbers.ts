// Floats that reach stored JSON are rounded to 12 significant digits: parallel aggregation can
// change the last bits of a sum between runs, and the stored files must be byte-identical.

/** 12 significant digits; null for null, NaN and infinities. */
export function round12(x: number | null): number | null {
  if (x === null || !Number.isFinite(x)) return null;
  if (x === 0) return 0;
  return Number(x.toPrecision(12));
}

/** For messages and metrics: 4 significant digits. */
export function short(x: number): number {
  return Number.isFinite(x) && x !== 0 ? Number(x.toPrecision(4)) : x;
}

export function share(part: number, whole: number): number {
  return whole > 0 ? part / whole : 0;
}

export function percent(x: number): string {
  return `${short(x * 100)}%`;
}
