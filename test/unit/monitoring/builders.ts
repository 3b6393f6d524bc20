// Builders for the monitoring tests: hand-made profiles, prediction-log records, and an in-memory
// store with only the methods the log reader and the report writer use.
import type { PredictionRecord } from '../../../src/serving/prediction-log';
import type { CategoricalProfile, DatasetProfile, NumericProfile } from '../../../src/types';

export function numericProfile(name: string, overrides: Partial<NumericProfile> = {}): NumericProfile {
  return {
    name,
    kind: 'numeric',
    count: 100,
    missing: 0,
    mean: null,
    std: null,
    min: null,
    max: null,
    quantiles: {},
    histogram: { edges: [], counts: [] },
    ...overrides,
  };
}

export function categoricalProfile(
  name: string,
  top: [string, number][],
  overrides: Partial<CategoricalProfile> = {},
): CategoricalProfile {
  const listed = top.reduce((s, [, n]) => s + n, 0);
  return {
    name,
    kind: 'categorical',
    count: listed,
    missing: 0,
    cardinality: top.length,
    top: top.map(([value, count]) => ({ value, count })),
    ...overrides,
  };
}

export function profileOf(
  columns: DatasetProfile['columns'],
  label: DatasetProfile['label'] = { classes: { no: 0.8, yes: 0.2 } },
): DatasetProfile {
  return { rows: columns[0] ? columns[0].count + columns[0].missing : 0, columns, label };
}

export function record(
  at: string,
  instances: Record<string, unknown>[],
  overrides: Partial<PredictionRecord> = {},
): PredictionRecord {
  return {
    request_id: `r-${at}-${Math.random().toString(36).slice(2, 8)}`,
    model: 'm',
    version: 1,
    at,
    latency_ms: 1,
    fallback: false,
    instances,
    predictions: instances.map(() => ({ label: 'no', probability: 0.2 })),
    ...overrides,
  };
}

/** Only what the prediction-log reader and storeDriftReport use of the ObjectStore. */
export class FakeStore {
  readonly objects = new Map<string, string>();
  readonly listed: string[] = [];
  readonly fetched: string[] = [];

  putNdjson(key: string, records: unknown[]): void {
    this.objects.set(key, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
  }

  async list(prefix: string): Promise<{ key: string; lastModified: Date }[]> {
    this.listed.push(prefix);
    return [...this.objects.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort()
      .map((key) => ({ key, lastModified: new Date(0) }));
  }

  async getBuffer(key: string): Promise<Buffer | null> {
    this.fetched.push(key);
    const body = this.objects.get(key);
    return body === undefined ? null : Buffer.from(body);
  }

  async putJson(key: string, value: unknown): Promise<{ etag: string }> {
    this.objects.set(key, JSON.stringify(value));
    return { etag: 'e' };
  }

  uri(key: string): string {
    return `s3://kaizen/${key}`;
  }
}
