// Counters and histograms for the predict path. prom-client hashes a label object on every inc()
// and observe(), even through a labelled child: bench:serve measured that at 4 µs of a 32 µs
// request. Here a labelled series is a plain object whose numbers a request bumps; the labels are
// resolved once, when the series is first asked for, and the text is made only when Prometheus
// scrapes. The classes are registered in the server's prom-client registry and export exactly what
// prom-client's Counter and Histogram would (same names, labels and line order).
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

/** A series is created at most this many times per metric; past it the metric is cleared and starts again. */
const MAX_SERIES = 10_000;

interface MetricValue {
  labels: Record<string, string | number>;
  sharedLabels?: Labels;
  value: number;
  metricName?: string;
}

abstract class HotMetric<L extends string, S> {
  private readonly series = new Map<string, { labels: Labels; s: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    // prom-client's registry reads any object with a name and get(); the cast is its Metric type
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  protected abstract create(): S;
  protected abstract export(labels: Labels, s: S): MetricValue[];
  abstract readonly type: string;

  /** The series of these label values (in labelNames order), created on first use. Keep it: it is the fast path. */
  protected seriesOf(values: readonly string[]): S {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name}: ${values.length} label values for labels ${this.labelNames.join(', ')}`);
    }
    const key = values.join('\u0000');
    let entry = this.series.get(key);
    if (!entry) {
      if (this.series.size >= MAX_SERIES) this.series.clear();
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      entry = { labels, s: this.create() };
      this.series.set(key, entry);
    }
    return entry.s;
  }

  get(): { name: string; help: string; type: string; values: MetricValue[]; aggregator: 'sum' } {
    const values: MetricValue[] = [];
    for (const { labels, s } of this.series.values()) values.push(...this.export(labels, s));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  reset(): void {
    this.series.clear();
  }
}

export class CounterSeries {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class HotCounter<L extends string> extends HotMetric<L, CounterSeries> {
  readonly type = 'counter';

  labels(...values: string[]): CounterSeries {
    return this.seriesOf(values);
  }

  protected create(): CounterSeries {
    return new CounterSeries();
  }

  protected export(labels: Labels, s: CounterSeries): MetricValue[] {
    return [{ labels, value: s.value }];
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    // non-finite values are not observations (prom-client throws on them; a request must not fail for its metrics)
    if (!Number.isFinite(v)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

export class HotHistogram<L extends string> extends HotMetric<L, HistogramSeries> {
  readonly type = 'histogram';

  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    readonly buckets: readonly number[],
    registry: Registry,
  ) {
    super(name, help, labelNames, registry);
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!))
      throw new Error(`${name}: buckets must increase`);
  }

  labels(...values: string[]): HistogramSeries {
    return this.seriesOf(values);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.buckets);
  }

  protected export(labels: Labels, s: HistogramSeries): MetricValue[] {
    const out: MetricValue[] = [];
    let acc = 0;
    this.buckets.forEach((le, i) => {
      acc += s.counts[i]!;
      out.push({ labels: { le }, sharedLabels: labels, value: acc, metricName: `${this.name}_bucket` });
    });
    out.push(
      { labels: { le: '+Inf' }, sharedLabels: labels, value: s.count, metricName: `${this.name}_bucket` },
      { labels: {}, sharedLabels: labels, value: s.sum, metricName: `${this.name}_sum` },
      { labels: {}, sharedLabels: labels, value: s.count, metricName: `${this.name}_count` },
    );
    return out;
  }
}
