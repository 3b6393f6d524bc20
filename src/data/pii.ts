// Personal data: columns whose names say so (email, phone, ssn, …) or whose values look like
// e-mail addresses, phone numbers, card numbers (Luhn-valid) or IP addresses. Examples that reach a
// report are masked; raw values never leave this module.
import type { ColumnInfo } from './kinds';
import { isIntegerType, isStringType, stringOf } from './kinds';
import { ident, literal, toCount, type DuckSession } from './sql';

export type PiiKind = 'email' | 'phone' | 'card' | 'ip';

export interface PiiMatch {
  column: string;
  /** Why: the column's name, or what its values look like. */
  by: 'name' | 'values';
  /** Human words: "e-mail addresses", or the name part that matched ("ssn"). */
  what: string;
  /** Values that look like personal data (by name: every non-null value). */
  count: number;
  /** Non-null values looked at. */
  of: number;
  /** Masked examples, never raw values. */
  examples: string[];
}

/** A column is personal data when at least this share of its values match one pattern. */
export const PII_VALUE_SHARE = 0.5;

const NAME_WORDS = new Set([
  'email',
  'emails',
  'emailaddress',
  'phone',
  'phones',
  'phonenumber',
  'telephone',
  'tel',
  'mobile',
  'cellphone',
  'fax',
  'ssn',
  'passport',
  'iban',
  'ip',
  'ipv4',
  'ipv6',
  'ipaddress',
  'dob',
  'birthdate',
  'birthday',
  'surname',
  'firstname',
  'lastname',
  'fullname',
  'creditcard',
  'cardnumber',
  'ccnumber',
  'address',
  'streetaddress',
  'msisdn',
]);
const NAME_PHRASES: string[][] = [
  ['e', 'mail'],
  ['social', 'security'],
  ['credit', 'card'],
  ['card', 'number'],
  ['cc', 'number'],
  ['date', 'of', 'birth'],
  ['birth', 'date'],
  ['first', 'name'],
  ['last', 'name'],
  ['full', 'name'],
  ['given', 'name'],
  ['family', 'name'],
  ['tax', 'id'],
  ['national', 'id'],
  ['driver', 'license'],
  ['drivers', 'license'],
  ['driving', 'licence'],
];

function tokens(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/** The part of a column name that says it holds personal data, or null. */
export function piiByName(name: string): string | null {
  const t = tokens(name);
  for (const w of t) if (NAME_WORDS.has(w)) return w;
  for (const phrase of NAME_PHRASES) {
    for (let i = 0; i + phrase.length <= t.length; i++) {
      if (phrase.every((p, j) => t[i + j] === p)) return phrase.join(' ');
    }
  }
  const joined = t.join('');
  for (const w of [
    'emailaddress',
    'phonenumber',
    'creditcard',
    'ipaddress',
    'dateofbirth',
    'socialsecurity',
  ]) {
    if (joined.includes(w)) return w;
  }
  return null;
}

/** Luhn checksum over the digits of `value` (13–19 digits, not all the same). */
export function luhnValid(value: string): boolean {
  const digits = value.replace(/\D/g, '');
  if (digits.length < 13 || digits.length > 19 || /^(\d)\1*$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** A value with what identifies a person hidden: `j***@***.com`, `+* (***) ***-**67`, `192.*.*.*`. */
export function maskValue(kind: PiiKind, value: string): string {
  switch (kind) {
    case 'email': {
      const at = value.lastIndexOf('@');
      const tld = value.slice(value.lastIndexOf('.') + 1);
      return `${value.slice(0, Math.min(1, at))}***@***.${tld}`;
    }
    case 'ip':
      return value.includes(':') ? `${value.split(':')[0] ?? ''}:****` : `${value.split('.')[0] ?? ''}.*.*.*`;
    case 'phone':
    case 'card': {
      const total = value.replace(/\D/g, '').length;
      let seen = 0;
      return value.replace(/\d/g, (d) => (++seen > total - 2 ? d : '*'));
    }
  }
}

const JS_PATTERNS: [PiiKind, RegExp][] = [
  ['email', /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/],
  ['ip', /\b(\d{1,3}\.){3}\d{1,3}\b/],
  ['card', /\d[\d -]{11,22}\d/],
  ['phone', /\+?\(?\d[\d ().-]{5,18}\d/],
];

/**
 * A value about to be quoted in a message, masked when it looks personal: a safety net for columns
 * that hold some personal data without being flagged as a whole.
 */
export function maskIfPersonal(value: string): string {
  for (const [kind, re] of JS_PATTERNS) {
    const m = re.exec(value);
    if (!m) continue;
    if (kind === 'card' && !luhnValid(m[0])) continue;
    if (
      kind === 'phone' &&
      (m[0].replace(/\D/g, '').length < 7 || /^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}/.test(m[0]))
    )
      continue;
    return value.replace(m[0], maskValue(kind, m[0]));
  }
  return value;
}

const WORDS: Record<PiiKind, string> = {
  email: 'e-mail addresses',
  phone: 'phone numbers',
  card: 'payment card numbers',
  ip: 'IP addresses',
};

const EMAIL = `[A-Za-z0-9._%+\\-]+@[A-Za-z0-9\\-]+(\\.[A-Za-z0-9\\-]+)*\\.[A-Za-z]{2,}`;
const OCTET = `(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])`;
const IPV4 = `(${OCTET}\\.){3}${OCTET}`;
const IPV6 = `[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}`;
const PHONE = `[+(]?[0-9][0-9 ().\\-]{5,18}[0-9]`;
const DATE_LIKE = `[0-9]{4}[\\-/.][0-9]{1,2}[\\-/.][0-9]{1,2}.*`;
const CARD = `[0-9][0-9 \\-]{11,22}[0-9]`;

const digitCount = (v: string): string => `length(regexp_replace(${v}, '[^0-9]', '', 'g'))`;

function conditions(v: string): Record<Exclude<PiiKind, 'card'> | 'cardCandidate', string> {
  const m = (re: string): string => `regexp_full_match(${v}, ${literal(re)})`;
  return {
    email: m(EMAIL),
    ip: `(${m(IPV4)} OR (${m(IPV6)} AND (${v} LIKE '%::%' OR length(${v}) - length(replace(${v}, ':', '')) = 7) AND regexp_matches(${v}, '[0-9A-Fa-f]')))`,
    phone: `(${m(PHONE)} AND ${digitCount(v)} BETWEEN 7 AND 15 AND regexp_matches(${v}, '[ ().+\\-]') AND NOT ${m(IPV4)} AND NOT ${m(DATE_LIKE)})`,
    cardCandidate: `(${m(CARD)} AND ${digitCount(v)} BETWEEN 13 AND 19)`,
  };
}

/** Distinct card-like values checked with Luhn (the most frequent first); the rest are extrapolated. */
const CARD_CANDIDATES = 5000;

/** Matches the distinct values of `values` (a relation of value `v` and row count `n`) against the patterns. */
async function byValues(db: DuckSession, values: string, column: string): Promise<PiiMatch | null> {
  const c = conditions('trim(v)');
  const counts = await db.one(
    `SELECT sum(n) AS total, sum(n) FILTER (WHERE ${c.email}) AS email, sum(n) FILTER (WHERE ${c.ip}) AS ip,
            sum(n) FILTER (WHERE ${c.phone}) AS phone, sum(n) FILTER (WHERE ${c.cardCandidate}) AS cards FROM ${values}`,
  );
  const total = toCount(counts['total']);
  if (total === 0) return null;
  const found: Record<PiiKind, number> = {
    email: toCount(counts['email']),
    ip: toCount(counts['ip']),
    phone: toCount(counts['phone']),
    card: 0,
  };
  const cardExamples: string[] = [];
  const candidates = toCount(counts['cards']);
  if (candidates >= PII_VALUE_SHARE * total) {
    const rows = await db.all(
      `SELECT trim(v) AS v, n FROM ${values} WHERE ${c.cardCandidate} ORDER BY n DESC, v LIMIT ${CARD_CANDIDATES}`,
    );
    let checked = 0;
    let valid = 0;
    for (const r of rows) {
      const v = String(r['v']);
      const n = toCount(r['n']);
      checked += n;
      if (luhnValid(v)) {
        valid += n;
        if (cardExamples.length < 2) cardExamples.push(maskValue('card', v));
      }
    }
    found.card = checked > 0 ? Math.round((valid / checked) * candidates) : 0;
  }
  const [kind, count] = (Object.entries(found) as [PiiKind, number][]).sort((a, b) => b[1] - a[1])[0]!;
  if (count === 0 || count < PII_VALUE_SHARE * total) return null;
  let examples = cardExamples;
  if (kind !== 'card') {
    const rows = await db.all(
      `SELECT trim(v) AS v FROM ${values} WHERE ${c[kind]} ORDER BY n DESC, v LIMIT 2`,
    );
    examples = rows.map((r) => maskValue(kind, String(r['v'])));
  }
  return { column, by: 'values', what: WORDS[kind], count, of: total, examples };
}

/** Whether a column's values are worth matching against the patterns. */
function valueCandidate(col: ColumnInfo): boolean {
  if (col.kind === 'categorical' || col.kind === 'text')
    return isStringType(col.sqlType) || col.sqlType === 'UUID' || isIntegerType(col.sqlType);
  // card numbers read as integers
  return isIntegerType(col.sqlType) && col.min !== null && col.min >= 1e12 && (col.max ?? 0) < 1e19;
}

/**
 * The columns of `columns` that hold personal data, in their order. `valueTables` maps a column to
 * a relation of its distinct values (`v`) and their row counts (`n`), when one exists already.
 */
export async function detectPii(
  db: DuckSession,
  table: string,
  columns: ColumnInfo[],
  valueTables: Map<string, string> = new Map(),
): Promise<PiiMatch[]> {
  const out: PiiMatch[] = [];
  for (const col of columns) {
    const word = piiByName(col.name);
    if (word) {
      out.push({
        column: col.name,
        by: 'name',
        what: word,
        count: col.nonNull,
        of: col.nonNull,
        examples: [],
      });
      continue;
    }
    if (!valueCandidate(col)) continue;
    let values = valueTables.get(col.name);
    const tmp = '__kaizen_pii_values';
    if (!values) {
      await db.run(
        `CREATE OR REPLACE TEMP TABLE ${tmp} AS SELECT ${stringOf(col.name, col.sqlType)} AS v, count(*) AS n FROM ${table} WHERE ${ident(col.name)} IS NOT NULL GROUP BY 1`,
      );
      values = tmp;
    }
    try {
      const match = await byValues(db, values, col.name);
      if (match) out.push(match);
    } finally {
      await db.run(`DROP TABLE IF EXISTS ${tmp}`);
    }
  }
  return out;
}

export function describePii(m: PiiMatch): string {
  if (m.by === 'name') return `its name says it holds personal data ("${m.what}")`;
  const e = m.examples.length ? `, e.g. ${m.examples.join(', ')}` : '';
  return `${m.count} of ${m.of} values look like ${m.what}${e}`;
}
