import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from '../../../src/serving/hot-metrics';

const BUCKETS = [0.001, 0.01, 0.1, 1];

/** The same observations through prom-client and through the hot metrics, each in a registry of its own. */
async function both(
  feed: (
    c: { inc(labels: string[], n?: number): void },
    h: { observe(labels: string[], v: number): void },
  ) => void,
) {
  const a = new Registry();
  const b = new Registry();
  for (const r of [a, b]) r.setDefaultLabels({ env: 'production' });
  const pc = new Counter({ name: 'x_total', help: 'x', labelNames: ['model', 'status'], registers: [a] });
  const ph = new Histogram({
    name: 'x_seconds',
    help: 'y',
    labelNames: ['model', 'status'],
    buckets: BUCKETS,
    registers: [a],
  });
  const hc = new HotCounter('x_total', 'x', ['model', 'status'], b);
  const hh = new HotHistogram('x_seconds', 'y', ['model', 'status'], BUCKETS, b);
  feed(
    {
      inc: (l, n) => {
        pc.labels(...l).inc(n);
        hc.labels(...l).inc(n);
      },
    },
    {
      observe: (l, v) => {
        if (Number.isFinite(v)) ph.labels(...l).observe(v);
        hh.labels(...l).observe(v);
      },
    },
  );
  return { prom: await a.metrics(), hot: await b.metrics() };
}

describe('hot metrics', () => {
  it('export exactly what prom-client exports for the same observations', async () => {
    const { prom, hot } = await both((c, h) => {
      c.inc(['m', '200']);
      c.inc(['m', '200'], 4);
      c.inc(['m', '400']);
      c.inc(['_unknown', '404']);
      for (const v of [0.0005, 0.001, 0.004, 0.01, 0.05, 0.5, 1, 7, Number.NaN]) h.observe(['m', '200'], v);
      h.observe(['m', '400'], 0.02);
    });
    expect(hot).toBe(prom);
    expect(hot).toContain('x_total{model="m",status="200",env="production"} 5');
    expect(hot).toContain('x_seconds_bucket{le="0.001",env="production",model="m",status="200"} 2');
    expect(hot).toContain('x_seconds_bucket{le="+Inf",env="production",model="m",status="200"} 8');
  });

  it('keep one series per label values, refuse a wrong label count and increasing-only buckets', () => {
    const r = new Registry();
    const c = new HotCounter('c_total', 'c', ['a', 'b'], r);
    expect(c.labels('1', '2')).toBe(c.labels('1', '2'));
    expect(c.labels('1', '2')).not.toBe(c.labels('1', '3'));
    expect(() => c.labels('1')).toThrow(/1 label values for labels a, b/);
    expect(() => new HotHistogram('h', 'h', ['a'], [1, 1], r)).toThrow(/buckets must increase/);
  });
});
