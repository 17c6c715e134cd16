import { BODY_MESSAGES } from '@twofold/core/http';
import t from 'tap';
import { errorResponse } from '../src/errors.js';

// Errors Fastify itself raises inside the plugin's scope get the kit's error shape and codes,
// never Fastify's own bodies (which name Fastify internals) and never a 500.

function fastifyError(code: string | undefined, statusCode: number) {
  return Object.assign(new Error('fastify internal message'), { code, statusCode });
}

t.test("Fastify's body errors, by code, become the kit's body errors", async (t) => {
  const cases: [string, number, string, string][] = [
    ['FST_ERR_CTP_INVALID_JSON_BODY', 400, 'TWOFOLD_INVALID_INPUT', BODY_MESSAGES.invalidJson],
    ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400, 'TWOFOLD_INVALID_INPUT', BODY_MESSAGES.lengthMismatch],
    ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'TWOFOLD_PAYLOAD_TOO_LARGE', BODY_MESSAGES.tooLarge(2048)],
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'TWOFOLD_UNSUPPORTED_MEDIA_TYPE', BODY_MESSAGES.notJson],
  ];
  for (const [fastifyCode, status, code, message] of cases) {
    const response = errorResponse(fastifyError(fastifyCode, status), 2048);
    t.equal(response.status, status, fastifyCode);
    t.equal(response.body.code, code, fastifyCode);
    t.equal(response.body.message, message, fastifyCode);
  }
});

t.test('other 4xx errors from Fastify keep their status class with the kit codes', async (t) => {
  const cases: [number, number, string, string][] = [
    [404, 404, 'TWOFOLD_NOT_FOUND', 'There is no such route'],
    [413, 413, 'TWOFOLD_PAYLOAD_TOO_LARGE', BODY_MESSAGES.tooLarge(100)],
    [415, 415, 'TWOFOLD_UNSUPPORTED_MEDIA_TYPE', BODY_MESSAGES.notJson],
    [429, 429, 'TWOFOLD_RATE_LIMITED', 'Too many requests: try again later'],
    [400, 400, 'TWOFOLD_INVALID_INPUT', 'The request is not valid'],
    [431, 400, 'TWOFOLD_INVALID_INPUT', 'The request is not valid'],
  ];
  for (const [statusCode, status, code, message] of cases) {
    const response = errorResponse(fastifyError('FST_ERR_SOMETHING_ELSE', statusCode), 100);
    t.equal(response.status, status, `${statusCode}`);
    t.equal(response.body.code, code, `${statusCode}`);
    t.equal(response.body.message, message, `${statusCode}`);
    t.notMatch(JSON.stringify(response.body), /fastify internal/i, 'the Fastify message is not passed on');
  }
});

t.test('a 5xx or status-less error is an internal error with the generic message', async (t) => {
  for (const error of [fastifyError(undefined, 503), new Error('boom'), 'a string', null]) {
    const response = errorResponse(error, 100);
    t.equal(response.status, 500);
    t.notMatch(response.body.message, /boom|fastify internal|a string/);
  }
});
