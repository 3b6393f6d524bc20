import { describe, expect, it } from 'vitest';
import { luhnValid, maskIfPersonal, maskValue, piiByName } from '../../../src/data/pii';

describe('luhnValid', () => {
  it('accepts card numbers with a valid check digit, with or without separators', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111 1111 1111 1111')).toBe(true);
    expect(luhnValid('5500-0000-0000-0004')).toBe(true);
    expect(luhnValid('378282246310005')).toBe(true);
  });

  it('rejects a wrong check digit, too few digits and repeated digits', () => {
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('411111111111')).toBe(false);
    expect(luhnValid('0000000000000000')).toBe(false);
  });
});

describe('piiByName', () => {
  it.each([
    ['email', 'email'],
    ['Customer E-Mail', 'e mail'],
    ['customerEmail', 'email'],
    ['phone_number', 'phone'],
    ['SSN', 'ssn'],
    ['credit card no', 'credit card'],
    ['ip_address', 'ip'],
    ['Date of Birth', 'date of birth'],
    ['first name', 'first name'],
  ])('%s is personal data', (name, what) => {
    expect(piiByName(name)).toBe(what);
  });

  it.each(['destination', 'origin', 'hotel', 'zip', 'shipping', 'description', 'city, name', 'tip'])(
    '%s is not',
    (name) => {
      expect(piiByName(name)).toBeNull();
    },
  );
});

describe('maskValue', () => {
  it('hides what identifies a person', () => {
    expect(maskValue('email', 'john.doe@example.com')).toBe('j***@***.com');
    expect(maskValue('phone', '+1 (555) 123-4567')).toBe('+* (***) ***-**67');
    expect(maskValue('card', '4111 1111 1111 1111')).toBe('**** **** **** **11');
    expect(maskValue('ip', '192.168.1.25')).toBe('192.*.*.*');
    expect(maskValue('ip', '2001:db8::1')).toBe('2001:****');
  });
});

describe('maskIfPersonal', () => {
  it('masks the personal part of a value quoted in a message, and leaves other values alone', () => {
    expect(maskIfPersonal('write to ann@example.org')).toBe('write to a***@***.org');
    expect(maskIfPersonal('4111 1111 1111 1111')).toBe('**** **** **** **11');
    expect(maskIfPersonal('10.1.2.3')).toBe('10.*.*.*');
    expect(maskIfPersonal('+44 20 7946 0958')).toBe('+** ** **** **58');
    expect(maskIfPersonal('ORD')).toBe('ORD');
    expect(maskIfPersonal('2001-01-02')).toBe('2001-01-02');
    expect(maskIfPersonal('1234')).toBe('1234');
  });
});
