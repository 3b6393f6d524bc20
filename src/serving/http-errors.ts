// Every error a client of the model server sees has one shape, `{ error: { type, message } }`,
// with the status of the error catalogue (src/errors.ts). Fastify's own errors (body too large,
// bad JSON, wrong content type, schema validation) are mapped into the same shape.
import { ERROR_CATALOGUE, isKaizenError, type ErrorType } from '../errors';

export interface ErrorBody {
  error: { type: ErrorType; message: string };
}

export interface HttpError {
  status: number;
  body: ErrorBody;
}

export function errorBody(type: ErrorType, message: string): HttpError {
  return { status: ERROR_CATALOGUE[type].status, body: { error: { type, message } } };
}

interface FastifyLikeError {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: { instancePath?: string; message?: string }[];
  validationContext?: string;
}

/** Maps anything thrown while handling a request to its status and body. */
export function toHttpError(err: unknown, limits: { bodyLimitBytes?: number } = {}): HttpError {
  if (isKaizenError(err))
    return { status: err.status, body: { error: { type: err.type, message: err.message } } };
  const e = (err ?? {}) as FastifyLikeError;
  if (Array.isArray(e.validation)) {
    const first = e.validation[0];
    const where = `${e.validationContext ?? 'body'}${first?.instancePath ? first.instancePath.replaceAll('/', '.') : ''}`;
    return errorBody('InvalidInput', `${where}: ${first?.message ?? 'is invalid'}`);
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errorBody(
        'PayloadTooLarge',
        limits.bodyLimitBytes === undefined
          ? 'body: larger than the server accepts'
          : `body: larger than the limit of ${limits.bodyLimitBytes} bytes; split the instances into several requests`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errorBody('UnsupportedMediaType', 'body: send JSON with "Content-Type: application/json"');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return errorBody('InvalidInput', 'body: empty; expected a JSON object {"instances": [...]}');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return errorBody('InvalidInput', 'body: not valid JSON');
    default:
      break;
  }
  if (e.name === 'SyntaxError' || e.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
    return errorBody('InvalidInput', `body: ${e.message ?? 'not valid JSON'}`);
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const type =
      e.statusCode === 413
        ? 'PayloadTooLarge'
        : e.statusCode === 415
          ? 'UnsupportedMediaType'
          : 'InvalidInput';
    const mapped = errorBody(type, e.message ?? 'bad request');
    return { status: e.statusCode, body: mapped.body };
  }
  return errorBody('InternalError', 'internal error; the server log has the details');
}
