import { errorMessage, isKaizenError } from '../errors';

/** Thrown by commands to end with a message and an exit code, without a stack trace. */
export class CliExit extends Error {
  constructor(
    message: string,
    readonly code = 1,
    readonly json?: unknown,
  ) {
    super(message);
  }
}

export interface Output {
  json: boolean;
  /** Exactly one JSON document on stdout with --json; nothing else goes to stdout then. */
  result(doc: unknown, human: () => string): void;
  /** Progress and notes: stderr with --json, stdout otherwise. */
  info(line: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(doc, human) {
      if (json) process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      else process.stdout.write(`${human()}\n`);
    },
    info(line) {
      (json ? process.stderr : process.stdout).write(`${line}\n`);
    },
  };
}

/** One line naming the problem; with --json also one JSON document on stdout. */
export function reportError(err: unknown, json: boolean): number {
  const type = err instanceof CliExit ? 'Error' : isKaizenError(err) ? err.type : 'Error';
  const message = errorMessage(err).split('\n')[0] ?? 'error';
  process.stderr.write(`kaizen: ${message}\n`);
  if (json) {
    const doc = err instanceof CliExit && err.json !== undefined ? err.json : { error: { type, message } };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  }
  return err instanceof CliExit ? err.code : 1;
}

export function fmtMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
}

export function fmtNum(x: number | undefined | null, digits = 4): string {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  if (Number.isInteger(x)) return String(x);
  return x.toFixed(digits);
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}
