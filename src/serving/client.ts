// A small client of the model server, for the CLI (`kaizen predict`), the load test, the
// served-vs-offline check and the pipeline's activities.
import { ERROR_CATALOGUE, KaizenError, errorMessage, isKaizenError, type ErrorType } from '../errors';
import type { Prediction } from '../ml/bundle';

export interface PredictResponse {
  model: string;
  model_version: number;
  predictions: Prediction[];
}

export type HttpResult<T> =
  | { ok: true; status: number; body: T }
  | { ok: false; status: number; error: { type: string; message: string } };

export type PredictResult = HttpResult<PredictResponse>;

export interface ReloadResponse {
  model: string;
  alias: string;
  version: number | null;
  previous_version: number | null;
  changed: boolean;
}

export interface RequestOptions {
  /** Per request; default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** `<url>/v1/models/<model>:predict`, keeping any path prefix of `url`. */
export function predictUrl(url: string, model: string): string {
  return joinUrl(url, `v1/models/${encodeURIComponent(model)}:predict`);
}

export function joinUrl(base: string, path: string): string {
  return new URL(path, base.endsWith('/') ? base : `${base}/`).toString();
}

/**
 * POSTs instances. An HTTP error comes back as `{ ok: false, status, error }`; a server that does
 * not answer (refused, reset, timed out) throws the retryable KaizenError NotReady naming the URL.
 */
export async function postPredict(
  url: string,
  model: string,
  instances: readonly unknown[],
  options: RequestOptions = {},
): Promise<PredictResult> {
  return request<PredictResponse>(
    predictUrl(url, model),
    { method: 'POST', body: instancesBody(instances) },
    options,
  );
}

/**
 * `{"instances": [...]}` for rows as data readers return them: DuckDB gives BIGINT columns as
 * bigint (not JSON) and timestamps as Date; they are sent as numbers, timestamps as seconds since
 * the epoch — what the model's encoder makes of them in-process.
 */
export function instancesBody(instances: readonly unknown[]): string {
  return JSON.stringify({ instances }, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    if (raw instanceof Date) return raw.getTime() / 1000;
    return typeof value === 'bigint' ? Number(value) : value;
  });
}

/** Asks a server to poll the registry for `model` now (admin API). */
export async function reloadModel(
  url: string,
  model: string,
  adminToken: string,
  options: RequestOptions = {},
): Promise<HttpResult<ReloadResponse>> {
  const target = joinUrl(url, `admin/models/${encodeURIComponent(model)}/reload`);
  return request<ReloadResponse>(
    target,
    { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } },
    options,
  );
}

/**
 * GET /admin/models/<model>/metrics?<query> (what the canary and experiment analyses read). A 4xx
 * is the caller's mistake and never heals by retrying: it throws a non-retryable error of the
 * server's own type (Unauthorized, ModelNotFound, InvalidInput, …); a 5xx or no answer is NotReady.
 */
export async function readLiveMetrics<T>(url: string, model: string, query: string, adminToken: string, options: RequestOptions = {}): Promise<T> {
  const target = joinUrl(url, `admin/models/${encodeURIComponent(model)}/metrics?${query}`);
  const res = await request<T>(target, { method: 'GET', headers: { authorization: `Bearer ${adminToken}` } }, options);
  if (res.ok) return res.body;
  const what = `the model server at ${new URL(target).origin} answered ${res.status} to GET /admin/models/${model}/metrics?${query}: ${res.error.message}`;
  if (res.status >= 400 && res.status < 500) {
    const known = isKaizenErrorType(res.error.type) && !ERROR_CATALOGUE[res.error.type].retryable ? res.error.type : 'InvalidInput';
    throw new KaizenError(known, what);
  }
  throw new KaizenError('NotReady', what);
}

async function request<T>(
  target: string,
  init: { method: string; body?: string; headers?: Record<string, string> },
  options: RequestOptions,
): Promise<HttpResult<T>> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(target, {
      method: init.method,
      headers: {
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
      body: init.body,
      signal,
    });
  } catch (err) {
    throw unreachable(target, err);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw unreachable(target, err);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  if (res.ok && body !== null) return { ok: true, status: res.status, body: body as T };
  const error = (body as { error?: { type?: unknown; message?: unknown } } | null)?.error;
  return {
    ok: false,
    status: res.status,
    error: {
      type: typeof error?.type === 'string' ? error.type : `HTTP ${res.status}`,
      message: typeof error?.message === 'string' ? error.message : text.slice(0, 200) || res.statusText,
    },
  };
}

function isKaizenErrorType(type: string): type is ErrorType {
  return Object.hasOwn(ERROR_CATALOGUE, type);
}

function unreachable(target: string, err: unknown): KaizenError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why =
    (err as { name?: string }).name === 'TimeoutError'
      ? 'no answer in time'
      : (cause?.code ?? cause?.message ?? errorMessage(err));
  const origin = new URL(target).origin;
  return new KaizenError('NotReady', `the model server at ${origin} is not reachable (${why})`, {
    url: origin,
    reason: why,
  });
}

/** The numbers a prediction is made of: [probability] (binary), class probabilities in class order, or [value]. */
export function predictionOutputs(p: Prediction): number[] {
  if ('value' in p) return [p.value];
  if ('probability' in p) return [p.probability];
  return Object.values(p.probabilities);
}

export type WaitResult = { ok: true; version: number } | { ok: false; unreachable: boolean; reason: string };

/**
 * Sends `row` until the server answers 200 (with `version`, when given): after an alias moves, a
 * server picks the new version up within its poll period. Gives up after `timeoutMs` with a reason.
 */
export async function waitUntilServing(input: {
  url: string;
  model: string;
  row: Record<string, unknown>;
  version?: number;
  timeoutMs?: number;
  intervalMs?: number;
  signal?: AbortSignal;
}): Promise<WaitResult> {
  const deadline = Date.now() + (input.timeoutMs ?? 30_000);
  const seconds = Math.round((input.timeoutMs ?? 30_000) / 1000);
  for (;;) {
    let last: WaitResult;
    try {
      const res = await postPredict(input.url, input.model, [input.row], {
        signal: input.signal,
        timeoutMs: 10_000,
      });
      if (res.ok && (input.version === undefined || res.body.model_version === input.version)) {
        return { ok: true, version: res.body.model_version };
      }
      if (!res.ok && (res.status === 400 || res.status === 413)) {
        return {
          ok: false,
          unreachable: false,
          reason: `the server at ${input.url} refused a row of the data: ${res.error.message}`,
        };
      }
      last = res.ok
        ? {
            ok: false,
            unreachable: false,
            reason: `after ${seconds} s the server at ${input.url} still serves version ${res.body.model_version} of "${input.model}", not ${input.version}; check its registry alias and its log`,
          }
        : {
            ok: false,
            unreachable: false,
            reason: `after ${seconds} s the server at ${input.url} still answers ${res.status} ${res.error.type}: ${res.error.message}`,
          };
    } catch (err) {
      if (!isKaizenError(err) || err.type !== 'NotReady') throw err;
      last = { ok: false, unreachable: true, reason: err.message };
    }
    if (Date.now() >= deadline || input.signal?.aborted) return last;
    await new Promise((r) => setTimeout(r, input.intervalMs ?? 250));
  }
}
