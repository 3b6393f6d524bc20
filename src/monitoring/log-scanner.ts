// Feeds prediction-log NDJSON into a DriftAccumulator straight from the bytes. Decoding a day of
// log into JS strings and JSON.parse-ing every record costs more than the drift computation itself
// (and makes millions of short-lived objects); this scanner reads each record once, byte by byte,
// hashing feature names and category values as it goes so they are looked up without a string,
// parsing plain decimals itself, and building JS values only for the unusual (escaped strings,
// nested values, multiclass predictions). A record's values are staged and counted only once the
// whole line has parsed and its time and version are in the window: a torn line counts nothing.
import type { Prediction } from '../ml/bundle';
import { HASH_PRIME, HASH_SEED } from './byte-table';
import type { DriftAccumulator } from './drift';

export interface ScanWindow {
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  /** Only records served by this version (rows and predictions). */
  version?: number;
  /** Only this version's predictions (rows of every version count). */
  predictionsOf?: number;
}

export interface ScanStats {
  records: number;
  rows: number;
  unreadable: number;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const MINUS = 45;
const NEWLINE = 10;

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const KEY_AT = ascii('at');
const KEY_VERSION = ascii('version');
const KEY_FALLBACK = ascii('fallback');
const KEY_INSTANCES = ascii('instances');
const KEY_PREDICTIONS = ascii('predictions');
const KEY_LABEL = ascii('label');
const KEY_PROBABILITY = ascii('probability');
const KEY_VALUE = ascii('value');
const TRUE = ascii('true');
const FALSE = ascii('false');
const NULL = ascii('null');
/** Exact powers of ten: m / 10^k is then the correctly rounded value of a decimal with m < 2^53. */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

// staged row values
const NUMBER = 0;
const BIN = 1;
const MISSING = 2;
const VALUE = 3;
// staged predictions
const BINARY = 0;
const REGRESSION = 1;
const OTHER = 2;

/** Thrown (one shared object, no stack) when a line is not a readable record. */
const UNREADABLE = { unreadable: true };

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 48 && c <= 57;

export class LogScanner {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;
  // the last string read
  private sStart = 0;
  private sEnd = 0;
  private sHash = 0;
  private sEscaped = false;
  // the record's row values, counted once the record is known to be in the window
  private stColumn = new Int32Array(256);
  private stKind = new Uint8Array(256);
  private stValue = new Float64Array(256);
  private stN = 0;
  private readonly stObjects: unknown[] = [];
  private rowsInRecord = 0;
  // the record's predictions
  private pKind = new Uint8Array(16);
  private pClass = new Int32Array(16);
  private pValue = new Float64Array(16);
  private pN = 0;
  private readonly pObjects: unknown[] = [];
  private readonly fromBytes: Uint8Array;
  private readonly toBytes: Uint8Array;
  private readonly fromMs: number;
  private readonly toMs: number;

  constructor(
    private readonly acc: DriftAccumulator,
    private readonly window: ScanWindow,
    readonly stats: ScanStats = { records: 0, rows: 0, unreadable: 0 },
  ) {
    this.fromBytes = ascii(window.from.toISOString());
    this.toBytes = ascii(window.to.toISOString());
    this.fromMs = window.from.getTime();
    this.toMs = window.to.getTime();
  }

  /** Every line of an NDJSON object. */
  scan(buf: Buffer): void {
    this.buf = buf;
    const n = buf.length;
    let i = 0;
    while (i < n) {
      let e = buf.indexOf(NEWLINE, i);
      if (e < 0) e = n;
      if (e > i) {
        this.pos = i;
        this.end = e;
        try {
          this.record();
        } catch (err) {
          if (err !== UNREADABLE) throw err;
          this.stats.unreadable++;
        }
      }
      i = e + 1;
    }
  }

  // --- one record -------------------------------------------------------------------------------

  private record(): void {
    const b = this.buf;
    this.ws();
    if (this.pos >= this.end) return;
    const empty = this.opensEmpty(OPEN_OBJECT, CLOSE_OBJECT);
    this.stN = 0;
    this.pN = 0;
    if (this.stObjects.length > 0) this.stObjects.length = 0;
    if (this.pObjects.length > 0) this.pObjects.length = 0;
    this.rowsInRecord = 0;
    let inWindow = false;
    let version = NaN;
    let fallback = false;
    let instances = false;
    if (!empty) {
      for (;;) {
        this.ws();
        this.key();
        if (this.keyIs(KEY_AT)) {
          if (b[this.pos] === QUOTE) {
            this.string();
            inWindow = this.atInWindow();
          } else this.skipValue();
        } else if (this.keyIs(KEY_VERSION)) {
          if (b[this.pos] === MINUS || isDigit(b[this.pos])) version = this.number();
          else this.skipValue();
        } else if (this.keyIs(KEY_FALLBACK)) {
          if (b[this.pos] === TRUE[0]) {
            this.literal(TRUE);
            fallback = true;
          } else this.skipValue();
        } else if (this.keyIs(KEY_INSTANCES)) {
          this.instances();
          instances = true;
        } else if (this.keyIs(KEY_PREDICTIONS)) {
          this.predictions();
        } else this.skipValue();
        if (this.next(CLOSE_OBJECT)) break;
      }
    }
    this.ws();
    if (this.pos !== this.end || !instances) throw UNREADABLE;
    if (!inWindow || (this.window.version !== undefined && version !== this.window.version)) return;
    this.commit(
      !fallback && (this.window.predictionsOf === undefined || version === this.window.predictionsOf),
    );
  }

  private commit(withPredictions: boolean): void {
    const acc = this.acc;
    acc.addRowCount(this.rowsInRecord);
    this.stats.records++;
    this.stats.rows += this.rowsInRecord;
    for (let i = 0; i < this.stN; i++) {
      const column = this.stColumn[i]!;
      const v = this.stValue[i]!;
      switch (this.stKind[i]) {
        case NUMBER:
          acc.addNumber(column, v);
          break;
        case BIN:
          acc.addBin(column, v);
          break;
        case MISSING:
          acc.addMissing(column);
          break;
        default:
          acc.addValue(column, this.stObjects[v]);
      }
    }
    if (!withPredictions) return;
    for (let i = 0; i < this.pN; i++) {
      const kind = this.pKind[i];
      if (kind === BINARY) acc.addBinaryPrediction(this.pClass[i]!, null, this.pValue[i]!);
      else if (kind === REGRESSION) acc.addRegressionPrediction(this.pValue[i]!);
      else acc.addPrediction(this.pObjects[this.pValue[i]!] as Prediction);
    }
  }

  /** `at` against the window: ISO strings of the same shape compare as bytes, others are parsed. */
  private atInWindow(): boolean {
    const b = this.buf;
    const s = this.sStart;
    if (!this.sEscaped && this.sEnd - s === 24 && b[s + 23] === 90 /* Z */) {
      return compare(b, s, this.fromBytes) >= 0 && compare(b, s, this.toBytes) < 0;
    }
    const t = Date.parse(this.decodeString());
    return t >= this.fromMs && t < this.toMs;
  }

  // --- instances --------------------------------------------------------------------------------

  private instances(): void {
    const b = this.buf;
    if (this.opensEmpty(OPEN_ARRAY, CLOSE_ARRAY)) return;
    for (;;) {
      this.ws();
      const emptyRow = this.opensEmpty(OPEN_OBJECT, CLOSE_OBJECT);
      this.rowsInRecord++;
      if (!emptyRow) {
        for (;;) {
          this.ws();
          this.key();
          const column = this.sEscaped
            ? this.acc.featureIdOf(this.decodeString())
            : this.acc.featureId(b, this.sStart, this.sEnd, this.sHash);
          if (column < 0) this.skipValue();
          else this.featureValue(column);
          if (this.next(CLOSE_OBJECT)) break;
        }
      }
      if (this.next(CLOSE_ARRAY)) return;
    }
  }

  private featureValue(column: number): void {
    const b = this.buf;
    const c = b[this.pos];
    const acc = this.acc;
    if (c === QUOTE) {
      this.string();
      if (acc.isNumeric(column)) this.stageObject(column, this.decodeString());
      else
        this.stage(
          column,
          BIN,
          this.sEscaped
            ? acc.categoryBinOf(column, this.decodeString())
            : acc.categoryBin(column, b, this.sStart, this.sEnd, this.sHash),
        );
    } else if (c === MINUS || isDigit(c)) {
      this.stage(column, NUMBER, this.number());
    } else if (c === TRUE[0] || c === FALSE[0]) {
      const yes = c === TRUE[0];
      this.literal(yes ? TRUE : FALSE);
      if (acc.isNumeric(column)) this.stage(column, NUMBER, yes ? 1 : 0);
      else this.stage(column, BIN, acc.categoryBinOf(column, yes ? 'true' : 'false'));
    } else if (c === NULL[0]) {
      this.literal(NULL);
      this.stage(column, MISSING, 0);
    } else {
      const start = this.pos;
      this.skipValue();
      this.stageObject(column, JSON.parse(b.toString('utf8', start, this.pos)));
    }
  }

  private stage(column: number, kind: number, value: number): void {
    if (this.stN === this.stColumn.length) {
      const size = this.stN * 2;
      this.stColumn = grow(this.stColumn, new Int32Array(size));
      this.stKind = grow(this.stKind, new Uint8Array(size));
      this.stValue = grow(this.stValue, new Float64Array(size));
    }
    this.stColumn[this.stN] = column;
    this.stKind[this.stN] = kind;
    this.stValue[this.stN] = value;
    this.stN++;
  }

  private stageObject(column: number, value: unknown): void {
    this.stObjects.push(value);
    this.stage(column, VALUE, this.stObjects.length - 1);
  }

  // --- predictions ------------------------------------------------------------------------------

  private predictions(): void {
    if (this.opensEmpty(OPEN_ARRAY, CLOSE_ARRAY)) return;
    for (;;) {
      this.ws();
      this.prediction();
      if (this.next(CLOSE_ARRAY)) return;
    }
  }

  /** `{label, probability}` and `{value}` are read here; anything else is parsed as JSON. */
  private prediction(): void {
    const b = this.buf;
    const start = this.pos;
    let other = this.opensEmpty(OPEN_OBJECT, CLOSE_OBJECT);
    let classId = -1;
    let probability = NaN;
    let value = NaN;
    let label = false;
    if (!other) {
      for (;;) {
        this.ws();
        this.key();
        const c = b[this.pos];
        if (this.keyIs(KEY_LABEL) && c === QUOTE) {
          this.string();
          label = true;
          classId = this.sEscaped ? -1 : this.acc.classId(b, this.sStart, this.sEnd, this.sHash);
          if (classId < 0) other = true;
        } else if (this.keyIs(KEY_PROBABILITY) && (c === MINUS || isDigit(c))) {
          probability = this.number();
        } else if (this.keyIs(KEY_VALUE) && (c === MINUS || isDigit(c))) {
          value = this.number();
        } else {
          this.skipValue();
          other = true;
        }
        if (this.next(CLOSE_OBJECT)) break;
      }
    }
    if (this.pN === this.pKind.length) {
      const size = this.pN * 2;
      this.pKind = grow(this.pKind, new Uint8Array(size));
      this.pClass = grow(this.pClass, new Int32Array(size));
      this.pValue = grow(this.pValue, new Float64Array(size));
    }
    const i = this.pN++;
    if (!other && !label && value === value) {
      this.pKind[i] = REGRESSION;
      this.pValue[i] = value;
    } else if (!other && label && probability === probability) {
      this.pKind[i] = BINARY;
      this.pClass[i] = classId;
      this.pValue[i] = probability;
    } else {
      this.pKind[i] = OTHER;
      this.pObjects.push(JSON.parse(b.toString('utf8', start, this.pos)));
      this.pValue[i] = this.pObjects.length - 1;
    }
  }

  // --- tokens -----------------------------------------------------------------------------------

  private ws(): void {
    const b = this.buf;
    let p = this.pos;
    while (p < this.end) {
      const c = b[p]!;
      if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break;
      p++;
    }
    this.pos = p;
  }

  private expect(c: number): void {
    if (this.buf[this.pos] !== c || this.pos >= this.end) throw UNREADABLE;
    this.pos++;
  }

  /** Consumes an opening bracket and the whitespace after it; true when the container is empty (its closing bracket consumed too). */
  private opensEmpty(open: number, close: number): boolean {
    this.expect(open);
    this.ws();
    if (this.buf[this.pos] !== close) return false;
    this.pos++;
    return true;
  }

  /** After a member or element: true at the closing bracket (consumed), false after a comma. */
  private next(close: number): boolean {
    this.ws();
    const c = this.buf[this.pos];
    if (this.pos >= this.end) throw UNREADABLE;
    this.pos++;
    if (c === COMMA) return false;
    if (c === close) return true;
    throw UNREADABLE;
  }

  /** A member's key and its colon. */
  private key(): void {
    if (this.buf[this.pos] !== QUOTE) throw UNREADABLE;
    this.string();
    this.ws();
    this.expect(COLON);
    this.ws();
  }

  private keyIs(name: Uint8Array): boolean {
    if (this.sEscaped || this.sEnd - this.sStart !== name.length) return false;
    const b = this.buf;
    for (let i = 0; i < name.length; i++) if (b[this.sStart + i] !== name[i]) return false;
    return true;
  }

  /** A string at pos: its bytes' bounds and FNV-1a hash (meaningless when escaped). */
  private string(): void {
    const b = this.buf;
    const end = this.end;
    let p = this.pos + 1;
    let h = HASH_SEED;
    let escaped = false;
    for (;;) {
      if (p >= end) throw UNREADABLE;
      const c = b[p]!;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        escaped = true;
        p += 2;
        continue;
      }
      h = Math.imul(h ^ c, HASH_PRIME);
      p++;
    }
    this.sStart = this.pos + 1;
    this.sEnd = p;
    this.sHash = h;
    this.sEscaped = escaped;
    this.pos = p + 1;
  }

  private decodeString(): string {
    const b = this.buf;
    if (!this.sEscaped) return b.toString('utf8', this.sStart, this.sEnd);
    try {
      return JSON.parse(b.toString('utf8', this.sStart - 1, this.sEnd + 1)) as string;
    } catch {
      throw UNREADABLE;
    }
  }

  /** A JSON number: plain decimals of up to 15 digits are parsed here (exactly), others by Number. */
  private number(): number {
    const b = this.buf;
    const start = this.pos;
    let p = start;
    const negative = b[p] === MINUS;
    if (negative) p++;
    let m = 0;
    let digits = 0;
    let scale = 0;
    let c = b[p];
    while (isDigit(c)) {
      m = m * 10 + (c! - 48);
      digits++;
      c = b[++p];
    }
    if (c === 46 /* . */) {
      c = b[++p];
      while (isDigit(c)) {
        m = m * 10 + (c! - 48);
        digits++;
        scale++;
        c = b[++p];
      }
    }
    if (digits === 0) throw UNREADABLE;
    if (c === 101 || c === 69 /* e E */ || digits > 15) {
      while (p < this.end && isNumberChar(b[p]!)) p++;
      const x = Number(b.toString('latin1', start, p));
      if (x !== x) throw UNREADABLE;
      this.pos = p;
      return x;
    }
    this.pos = p;
    const x = scale === 0 ? m : m / POW10[scale]!;
    return negative ? -x : x;
  }

  private literal(word: Uint8Array): void {
    const b = this.buf;
    if (this.pos + word.length > this.end) throw UNREADABLE;
    for (let i = 0; i < word.length; i++) if (b[this.pos + i] !== word[i]) throw UNREADABLE;
    this.pos += word.length;
  }

  private skipValue(): void {
    const b = this.buf;
    const c = b[this.pos];
    if (c === QUOTE) this.string();
    else if (c === OPEN_OBJECT) {
      if (this.opensEmpty(OPEN_OBJECT, CLOSE_OBJECT)) return;
      for (;;) {
        this.ws();
        this.key();
        this.skipValue();
        if (this.next(CLOSE_OBJECT)) return;
      }
    } else if (c === OPEN_ARRAY) {
      if (this.opensEmpty(OPEN_ARRAY, CLOSE_ARRAY)) return;
      for (;;) {
        this.ws();
        this.skipValue();
        if (this.next(CLOSE_ARRAY)) return;
      }
    } else if (c === TRUE[0]) this.literal(TRUE);
    else if (c === FALSE[0]) this.literal(FALSE);
    else if (c === NULL[0]) this.literal(NULL);
    else if (c === MINUS || isDigit(c)) this.number();
    else throw UNREADABLE;
  }
}

const isNumberChar = (c: number): boolean =>
  isDigit(c) || c === 43 || c === MINUS || c === 46 || c === 101 || c === 69;

/** Bytes [start, start + 24) of `b` against `ref`, as strings compare. */
function compare(b: Uint8Array, start: number, ref: Uint8Array): number {
  for (let i = 0; i < ref.length; i++) {
    const d = b[start + i]! - ref[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function grow<T extends Uint8Array | Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
