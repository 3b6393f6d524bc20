// Durations as the spec writes them ("500ms", "10s", "1m", "24h", "7d"). Pure: workflows use it too.

export const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "10s" → 10000; null when the text is not a duration. */
export function parseDurationMs(d: string): number | null {
  const m = DURATION_PATTERN.exec(d);
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : null;
}
