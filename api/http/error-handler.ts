import type { FastifyError, FastifyInstance } from 'fastify';
import { isPgCdcError } from '../../core/errors/index.js';
import { ApiError, errorBody, statusOf } from '../errors.js';

/**
 * Every error a REST client sees has one shape, `{ error: { code, message, hint? } }`. Fastify's own request
 * errors (body too large, bad JSON, wrong media type) are translated into our catalog; an error that is neither
 * ours nor Fastify's client error (a driver, DuckDB, a bug) is logged in full and answered with a generic
 * INTERNAL, so nothing from inside the server reaches the client.
 */
function translate(error: FastifyError, bodyLimit: number): unknown {
  if (isPgCdcError(error)) return error;
  const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
  const code = typeof error.code === 'string' ? error.code : '';
  if (!code.startsWith('FST_') || status >= 500) return error;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('BODY_TOO_LARGE', `the request body is larger than ${bodyLimit} bytes`, {
        hint: 'send a smaller body (serve.http.body_limit_bytes sets the cap)',
      });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('UNSUPPORTED_MEDIA_TYPE', 'the request body must be JSON', {
        hint: 'send Content-Type: application/json',
      });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('BAD_REQUEST', 'the request body is not a JSON document', {
        hint: 'send one JSON object; GET /v1/openapi.json describes each body',
      });
    default:
      // Fastify's client-error messages describe the request, never the server.
      return new ApiError(status === 413 ? 'BODY_TOO_LARGE' : 'BAD_REQUEST', error.message, {
        hint: 'GET /v1/openapi.json describes every request',
      });
  }
}

/** A SyntaxError from JSON.parse in the content-type parser has status 400 but no FST code on some paths. */
function isJsonSyntaxError(error: FastifyError): boolean {
  return error instanceof SyntaxError && error.statusCode === 400;
}

export function installErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const translated = isJsonSyntaxError(error)
      ? new ApiError('BAD_REQUEST', 'the request body is not a JSON document', {
          hint: 'send one JSON object; GET /v1/openapi.json describes each body',
        })
      : translate(error, bodyLimit);
    const status = statusOf(translated);
    if (!isPgCdcError(translated)) request.log.error({ err: error, reqId: request.id }, 'request failed');
    if (translated instanceof ApiError && translated.retryAfter !== undefined) {
      void reply.header('retry-after', String(translated.retryAfter));
    }
    if (status === 401) void reply.header('www-authenticate', 'Bearer realm="pg-cdc"');
    void reply.status(status).send(errorBody(translated, request.id));
  });

  app.setNotFoundHandler((request, reply) => {
    const error = new ApiError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`, {
      hint: 'GET /v1/openapi.json lists the routes',
    });
    void reply.status(error.status).send(errorBody(error, request.id));
  });
}
