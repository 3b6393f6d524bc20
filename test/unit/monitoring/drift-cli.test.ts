import { describe, expect, it } from 'vitest';
import { driftCheckCommand, formatDriftReport } from '../../../src/cli/drift';
import { CliExit, type Output } from '../../../src/cli/output';
import { loadConfig } from '../../../src/config';
import { DriftAccumulator } from '../../../src/monitoring/drift';
import { categoricalProfile, numericProfile, profileOf } from './builders';

const silent: Output = { json: true, result: () => undefined, info: () => undefined };

describe('kaizen drift check', () => {
  it('names a bad --window or --version before touching the store', async () => {
    const cfg = loadConfig({});
    await expect(driftCheckCommand(cfg, 'm', { window: 'soon' }, silent)).rejects.toThrow(CliExit);
    await expect(driftCheckCommand(cfg, 'm', { window: 'soon' }, silent)).rejects.toThrow(/--window.*"soon"/);
    await expect(driftCheckCommand(cfg, 'm', { version: 'x' }, silent)).rejects.toThrow(/--version.*"x"/);
  });

  it('prints the verdict, the reasons and one line per feature', () => {
    const acc = new DriftAccumulator(
      profileOf([
        numericProfile('distance', {
          bins: { edges: [10], shares: [0.5, 0.5] },
          cdf: { values: [10], shares: [0.5] },
        }),
        categoricalProfile('origin', [
          ['JFK', 50],
          ['LGA', 50],
        ]),
      ]),
      { minSamples: 10 },
    );
    for (let i = 0; i < 20; i++) acc.addRow({ distance: 50, origin: i % 2 ? 'JFK' : 'LGA' });
    const text = formatDriftReport(acc.report({ model: 'm', version: 3, window: { from: 'a', to: 'b' } }));
    expect(text).toMatch(/^m version 3: DRIFTED  \(20 rows/);
    expect(text).toMatch(/1 of 2 features drifted/);
    expect(text).toMatch(/distance\s+numeric\s+\S+\s+ks 0\.5\S*\s+yes/);
    expect(text).toMatch(/origin\s+categorical\s+0\s+js 0\s+no/);
  });
});
