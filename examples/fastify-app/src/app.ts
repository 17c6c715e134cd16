/**
 * The Fastify example: the kit under /2fa (`app.register(twofold, ...)`), the example's own
 * `POST /signup`, `POST /signup/confirm` and `GET /me` (guarded by `app.twofoldAuthenticate`), the
 * pages, and the OpenAPI document (`/openapi.json`) with a docs page (`/docs`).
 */
import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import {
  createExample,
  docsPageHeaders,
  type Example,
  type ExampleConfig,
  exampleOpenApiDocument,
  type Log,
  pageHeaders,
  publicDir,
} from '@twofold/example-web';
import twofold, { redact } from '@twofold/fastify';
import Fastify, { type FastifyInstance } from 'fastify';

export interface BuildOptions {
  /** Where the log goes (default stdout). Tests pass a stream to read it. */
  logStream?: NodeJS.WritableStream;
}

/** Builds the app (not listening yet); closing it closes the databases. */
export async function buildApp(
  config: ExampleConfig,
  options: BuildOptions = {},
): Promise<{ app: FastifyInstance; example: Example }> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      // The kit's list: the Authorization header and every body field that can hold a secret.
      redact: { paths: [...redact], censor: '[redacted]' },
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    trustProxy: false,
  });
  const log: Log = (level, message, fields) => app.log[level](fields ?? {}, message);

  let example: Example;
  try {
    example = await createExample(config, log);
  } catch (error) {
    await app.close();
    throw error;
  }
  app.addHook('onClose', () => example.close());

  // The example's own routes answer body errors like the kit does: 400 naming "body". (The kit's
  // routes have their own handler in their scope.)
  app.setErrorHandler((error, request, reply) => {
    const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
    if (typeof code === 'string' && code.startsWith('FST_ERR_CTP_') && typeof statusCode === 'number') {
      const message =
        code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? 'The request "body" is too large'
          : code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? 'The request "body" must be JSON (Content-Type: application/json)'
            : 'The request "body" is not valid JSON';
      return reply
        .code(statusCode)
        .send({ statusCode, code: 'INVALID_INPUT', error: STATUS_CODES[statusCode], message });
    }
    if (typeof statusCode === 'number' && statusCode < 500) return reply.send(error);
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({
      statusCode: 500,
      code: 'INTERNAL',
      error: 'Internal Server Error',
      message: 'Something went wrong',
    });
  });

  await app.register(twofold, { ...example.twofoldOptions });

  // The OpenAPI document, made from the kit's route table plus the example's own routes (the same
  // one the Express example serves); @fastify/swagger only hands it to Swagger UI at /docs.
  const openApi = exampleOpenApiDocument(app.twofold.http, 'twofold Fastify example');
  await app.register(fastifySwagger, { mode: 'static', specification: { document: openApi as never } });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiHooks: {
      onRequest: async (_request, reply) => {
        reply.headers(docsPageHeaders);
      },
    },
  });
  app.get('/openapi.json', async () => openApi);

  app.post('/signup', async (request, reply) => {
    const answer = await example.signup(request.body);
    return reply.code(answer.status).send(answer.body);
  });

  app.post('/signup/confirm', async (request, reply) => {
    const answer = await example.confirmSignup(request.body);
    return reply.code(answer.status).send(answer.body);
  });

  app.get('/me', { preHandler: app.twofoldAuthenticate }, async (request, reply) => {
    const user = await example.me(request.twofoldUser!.userId);
    if (!user) {
      return reply.code(404).send({
        statusCode: 404,
        code: 'NO_ACCOUNT',
        error: 'Not Found',
        message: 'The account no longer exists',
      });
    }
    return user;
  });

  await app.register(fastifyStatic, {
    root: publicDir,
    // A route per page file, not a GET /* catch-all: an unknown path under /2fa then gets the kit's
    // own 404 (TWOFOLD_NOT_FOUND), as on Express.
    wildcard: false,
    setHeaders: (response) => {
      for (const [name, value] of Object.entries(pageHeaders)) response.setHeader(name, value);
    },
  });

  // The icon browsers ask for by themselves: the pages' SVG icon (each page links /favicon.svg).
  app.get('/favicon.ico', (_request, reply) => reply.sendFile('favicon.svg'));

  // An unknown address: a browser asking for a page gets a small HTML page with a link home; API
  // clients and JSON requests get JSON. (Under /2fa the kit answers its own 404.)
  const notFoundPage = await readFile(join(publicDir, '404.html'));
  app.setNotFoundHandler((request, reply) => {
    const accept = request.headers.accept ?? '';
    if (
      (request.method === 'GET' || request.method === 'HEAD') &&
      /\btext\/html\b/.test(accept) &&
      !/\bapplication\/json\b/.test(accept)
    ) {
      return reply.code(404).headers(pageHeaders).type('text/html; charset=utf-8').send(notFoundPage);
    }
    return reply.code(404).send({
      statusCode: 404,
      code: 'NOT_FOUND',
      error: 'Not Found',
      message: `No route ${request.method} ${request.url.split('?')[0]}`,
    });
  });

  return { app, example };
}
