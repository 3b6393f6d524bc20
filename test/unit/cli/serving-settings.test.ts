import { describe, expect, it } from 'vitest';
import { servingSettings } from '../../../src/cli/serve';

describe('servingSettings (kaizen serve environment)', () => {
  it('turns the fallback and the prediction log on in production and off in staging by default', () => {
    const prod = servingSettings('production', {});
    expect(prod.fallback).toEqual({ enabled: true, iqrMultiplier: 3, maxUnseenCategoryShare: 0.5 });
    expect(prod.predictionLog).toEqual({ windowMs: 60_000, sensitiveColumns: [], maxBufferedBytes: 64 * 1024 * 1024 });
    expect(prod.faultInjection).toBe(false);
    expect(prod.feedbackMemory).toEqual({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
    expect(prod.timeouts).toEqual({ requestMs: 30_000, keepAliveMs: 72_000 });
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
      KAIZEN_PREDICTION_LOG_BUFFER_BYTES: '8MiB',
      KAIZEN_FEEDBACK_MEMORY_ENTRIES: '5000',
      KAIZEN_FEEDBACK_MEMORY_BYTES: '16MB',
      KAIZEN_REQUEST_TIMEOUT: '10s',
      KAIZEN_KEEP_ALIVE_TIMEOUT: '2m',
    });
    expect(s).toEqual({
      fallback: { enabled: true, iqrMultiplier: 1.5, maxUnseenCategoryShare: 0.5 },
      predictionLog: { windowMs: 5000, sensitiveColumns: ['email', 'phone'], maxBufferedBytes: 8 * 1024 * 1024 },
      faultInjection: true,
      feedbackMemory: { maxEntries: 5000, maxBytes: 16_000_000 },
      timeouts: { requestMs: 10_000, keepAliveMs: 120_000 },
    });
    expect(() => servingSettings('production', { KAIZEN_FALLBACK: 'maybe' })).toThrow(/KAIZEN_FALLBACK must be on or off, got "maybe"/);
    expect(() => servingSettings('production', { KAIZEN_PREDICTION_LOG_WINDOW: 'soon' })).toThrow(/KAIZEN_PREDICTION_LOG_WINDOW/);
    expect(() => servingSettings('production', { KAIZEN_FALLBACK_UNSEEN_SHARE: '2' })).toThrow(/KAIZEN_FALLBACK_UNSEEN_SHARE must be a number above 0 and at most 1/);
    expect(() => servingSettings('production', { KAIZEN_FEEDBACK_MEMORY_BYTES: 'lots' })).toThrow(/KAIZEN_FEEDBACK_MEMORY_BYTES must be a size/);
    expect(() => servingSettings('production', { KAIZEN_PREDICTION_LOG_BUFFER_BYTES: '12XB' })).toThrow(/KAIZEN_PREDICTION_LOG_BUFFER_BYTES must be a size/);
    expect(() => servingSettings('production', { KAIZEN_FEEDBACK_MEMORY_ENTRIES: 'NaN' })).toThrow(/KAIZEN_FEEDBACK_MEMORY_ENTRIES must be a number/);
    expect(() => servingSettings('production', { KAIZEN_REQUEST_TIMEOUT: '0s' })).toThrow(/KAIZEN_REQUEST_TIMEOUT must be a duration/);
    // whole milliseconds, whatever the unit
    expect(servingSettings('production', { KAIZEN_REQUEST_TIMEOUT: '10m', KAIZEN_KEEP_ALIVE_TIMEOUT: '4.35m' }).timeouts).toEqual({ requestMs: 600_000, keepAliveMs: 261_000 });
  });
});
