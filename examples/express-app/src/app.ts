/**
 * The Express example: the kit's router at /2fa (`app.use('/2fa', twofold(...))`), the example's
 * own `POST /signup`, `POST /signup/confirm` and `GET /me` (guarded by the router's `requireAuth`),
 * the pages, and the OpenAPI document (`/openapi.json`) with a docs page (`/docs`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createExample,
  type Example,
  type ExampleConfig,
  exampleOpenApiDocument,
  type Log,
  pageHeaders,
  publicDir,
} from '@twofold/example-web';
import { twofold } from '@twofold/express';
import express, { type ErrorRequestHandler, type Express } from 'express';
import { serveDocs } from './docs.js';

/** Builds the app (not listening yet). `example.close()` closes the databases. */
export async function buildApp(config: ExampleConfig, log: Log): Promise<{ app: Express; example: Example }> {
  const example = await createExample(config, log);
  const app = express();
  app.disable('x-powered-by');

  // The kit's log hook gets 5xx errors and failed background work (a mail that could not be written).
  const auth = twofold({
    ...example.twofoldOptions,
    log: (level, message, fields) => log(level, message, fields),
  });
  app.use('/2fa', auth);

  app.post('/signup', express.json({ limit: '16kb' }), async (request, response) => {
    const answer = await example.signup(request.body);
    response.status(answer.status).json(answer.body);
  });

  app.post('/signup/confirm', express.json({ limit: '16kb' }), async (request, response) => {
    const answer = await example.confirmSignup(request.body);
    response.status(answer.status).json(answer.body);
  });

  app.get('/me', auth.requireAuth, async (request, response) => {
    const user = await example.me(request.twofold!.userId);
    if (!user) {
      response.status(404).json({
        statusCode: 404,
        code: 'NO_ACCOUNT',
        error: 'Not Found',
        message: 'The account no longer exists',
      });
      return;
    }
    response.json(user);
  });

  // The OpenAPI document, made from the kit's route table plus the example's own routes (the same
  // one the Fastify example serves), and Swagger UI.
  serveDocs(app, exampleOpenApiDocument(auth.http, 'twofold Express example'));

  app.use(
    express.static(publicDir, {
      setHeaders: (response) => {
        for (const [name, value] of Object.entries(pageHeaders)) response.setHeader(name, value);
      },
    }),
  );

  // The icon browsers ask for by themselves: the pages' SVG icon (each page links /favicon.svg).
  app.get('/favicon.ico', (_request, response) => {
    response.sendFile('favicon.svg', { root: publicDir, headers: pageHeaders });
  });

  // An unknown address: a browser asking for a page gets a small HTML page with a link home; API
  // clients and JSON requests get JSON. (Under /2fa the kit's router answers its own 404.)
  const notFoundPage = await readFile(join(publicDir, '404.html'));
  app.use((request, response) => {
    const accept = request.get('accept') ?? '';
    if (
      (request.method === 'GET' || request.method === 'HEAD') &&
      /\btext\/html\b/.test(accept) &&
      !/\bapplication\/json\b/.test(accept)
    ) {
      response.status(404).set(pageHeaders).type('html').send(notFoundPage);
      return;
    }
    response.status(404).json({
      statusCode: 404,
      code: 'NOT_FOUND',
      error: 'Not Found',
      message: `No route ${request.method} ${request.path}`,
    });
  });

  const answerErrors: ErrorRequestHandler = (error, _request, response, _next) => {
    const { type, status } = (error ?? {}) as { type?: unknown; status?: unknown };
    if (response.headersSent) {
      response.destroy();
      return;
    }
    if (typeof type === 'string' && typeof status === 'number' && status >= 400 && status < 500) {
      // body-parser's errors: the message is generic on purpose (a JSON syntax error quotes the body).
      const tooLarge = type === 'entity.too.large';
      response.status(tooLarge ? 413 : 400).json({
        statusCode: tooLarge ? 413 : 400,
        code: tooLarge ? 'PAYLOAD_TOO_LARGE' : 'INVALID_INPUT',
        error: tooLarge ? 'Payload Too Large' : 'Bad Request',
        message: tooLarge ? 'The request "body" is too large' : 'The request "body" is not valid JSON',
      });
      return;
    }
    log('error', 'request failed', { error: (error as Error)?.message });
    response.status(500).json({
      statusCode: 500,
      code: 'INTERNAL',
      error: 'Internal Server Error',
      message: 'Something went wrong',
    });
  };
  app.use(answerErrors);

  return { app, example };
}
