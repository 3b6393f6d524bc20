import { describe, expect, it } from 'vitest';
import { KaizenError } from '../../../src/errors';
import { bearerTokenChecker } from '../../../src/serving/auth';
import { instancesBody } from '../../../src/serving/client';
import { toHttpError } from '../../../src/serving/http-errors';
import {
  describe as describeValue,
  instancesOf,
  validateInstances,
  warmUpInstance,
} from '../../../src/serving/schema';
import type { Transforms } from '../../../src/types';

const transforms: Transforms = {
  task: 'binary',
  classes: ['false', 'true'],
  features: [
    { name: 'distance', kind: 'numeric', impute: 500, mean: 600, std: 300 },
    { name: 'origin', kind: 'categorical', impute: 'ORD', vocabulary: ['ORD', 'ATL'] },
  ],
};

const fail = (fn: () => void): KaizenError => {
  try {
    fn();
  } catch (err) {
    return err as KaizenError;
  }
  throw new Error('expected a throw');
};

describe('validateInstances', () => {
  it('accepts what the encoder accepts: numbers, booleans, null; any scalar category', () => {
    expect(() =>
      validateInstances(transforms, [
        { distance: 1, origin: 'ORD' },
        { distance: true, origin: 3 },
        { distance: null, origin: null },
        { distance: 2, origin: 'never seen', extra: { ignored: true } },
      ]),
    ).not.toThrow();
  });

  it('names the first bad field and quotes the value', () => {
    expect(
      fail(() =>
        validateInstances(transforms, [
          { distance: 1, origin: 'A' },
          { distance: 'abc', origin: 'A' },
        ]),
      ).message,
    ).toBe('instances[1].distance: expected a number, got "abc"');
    expect(fail(() => validateInstances(transforms, [{ origin: 'A' }])).message).toBe(
      'instances[0].distance: missing; expected a number',
    );
    expect(fail(() => validateInstances(transforms, [{ distance: 1, origin: ['A'] }])).message).toBe(
      'instances[0].origin: expected a string, got an array',
    );
    expect(fail(() => validateInstances(transforms, [null])).message).toBe(
      'instances[0]: expected an object of feature values, got null',
    );
  });

  it('cuts long strings in messages', () => {
    expect(describeValue('x'.repeat(100))).toBe(`"${'x'.repeat(40)}…"`);
  });
});

describe('instancesOf', () => {
  it('checks the body shape and the instance limit', () => {
    expect(instancesOf({ instances: [{}] }, { maxInstances: 1 })).toEqual([{}]);
    const tooMany = fail(() => instancesOf({ instances: [{}, {}] }, { maxInstances: 1 }));
    expect(tooMany.type).toBe('PayloadTooLarge');
    expect(tooMany.status).toBe(413);
    expect(tooMany.message).toMatch(/2 instances exceed the limit of 1 per request/);
    expect(fail(() => instancesOf(null, { maxInstances: 1 })).status).toBe(400);
  });
});

describe('warmUpInstance', () => {
  it('uses the training imputation values', () => {
    expect(warmUpInstance(transforms)).toEqual({ distance: 500, origin: 'ORD' });
  });
});

describe('bearerTokenChecker', () => {
  const check = bearerTokenChecker('s3cret');
  it('accepts the right token only', () => {
    expect(() => check('Bearer s3cret')).not.toThrow();
    expect(() => check('bearer s3cret')).not.toThrow();
    for (const h of [
      undefined,
      '',
      's3cret',
      'Bearer',
      'Bearer s3cre',
      'Bearer s3cret2',
      'Basic s3cret',
      'Bearer s3cret extra',
    ]) {
      expect(fail(() => check(h)).type, String(h)).toBe('Unauthorized');
    }
  });
  it('refuses everything when no token is configured', () => {
    expect(fail(() => bearerTokenChecker('')('Bearer ')).type).toBe('Unauthorized');
  });
});

describe('toHttpError', () => {
  it('maps catalogue errors to their status and unknown errors to a bland 500', () => {
    expect(toHttpError(new KaizenError('NotReady', 'loading'))).toEqual({
      status: 503,
      body: { error: { type: 'NotReady', message: 'loading' } },
    });
    expect(toHttpError(new Error('secret internals'))).toEqual({
      status: 500,
      body: { error: { type: 'InternalError', message: 'internal error; the server log has the details' } },
    });
  });
  it('maps fastify schema validation errors to InvalidInput naming the path', () => {
    const err = {
      validation: [{ instancePath: '/instances/0', message: 'must be object' }],
      validationContext: 'body',
    };
    expect(toHttpError(err)).toEqual({
      status: 400,
      body: { error: { type: 'InvalidInput', message: 'body.instances.0: must be object' } },
    });
  });
});

describe('instancesBody', () => {
  it('sends bigint as numbers and dates as seconds since the epoch, as the in-process encoder reads them', () => {
    const body = instancesBody([{ hour: 7n, at: new Date('2001-01-01T00:00:10Z'), origin: 'ORD', x: null }]);
    expect(JSON.parse(body)).toEqual({ instances: [{ hour: 7, at: 978307210, origin: 'ORD', x: null }] });
  });
});
