import { describe, expect, it } from 'vitest';
import { servingSettings } from '../../../src/cli/serve';

describe('servingSettings (kaizen serve environment)', () => {
  it('turns the fallback and the prediction log on in production and off in staging by default', () => {
    const prod = servingSettings('production', {});
    expect(prod.fallback).toEqual({ enabled: true, iqrMultiplier: 3, maxUnseenCategoryShare: 0.5 });
    expect(prod.predictionLog).toEqual({ windowMs: 60_000, sensitiveColumns: [] });
    expect(prod.faultInjection).toBe(false);
    const staging = servingSettings('staging', {});
    expect(staging.fallback.enabled).toBe(false);
    expect(staging.predictionLog).toBeNull();
  });

  it('reads every variable and names a bad one', () => {
    const s = servingSettings('staging', {
      KAIZEN_FALLBACK: 'on',
      KAIZEN_FALLBACK_IQR: '1.5',
      KAIZEN_PREDICTION_LOG: 'yes',
      KAIZEN_PREDICTION_LOG_WINDOW: '5s',
      KAIZEN_SENSITIVE_COLUMNS: 'email, phone',
      KAIZEN_FAULT_INJECTION: '1',
    });
    expect(s).toEqual({
      fallback: { enabled: true, iqrMultiplier: 1.5, maxUnseenCategoryShare: 0.5 },
      predictionLog: { windowMs: 5000, sensitiveColumns: ['email', 'phone'] },
      faultInjection: true,
    });
    expect(() => servingSettings('production', { KAIZEN_FALLBACK: 'maybe' })).toThrow(/KAIZEN_FALLBACK must be on or off, got "maybe"/);
    expect(() => servingSettings('production', { KAIZEN_PREDICTION_LOG_WINDOW: 'soon' })).toThrow(/KAIZEN_PREDICTION_LOG_WINDOW/);
    expect(() => servingSettings('production', { KAIZEN_FALLBACK_UNSEEN_SHARE: '2' })).toThrow(/KAIZEN_FALLBACK_UNSEEN_SHARE must be a number above 0 and at most 1/);
  });
});
