/**
 * The Express example: the kit's router at /2fa (`app.use('/2fa', twofold(...))`), the example's
 * own `POST /signup`, `POST /signup/confirm` and `GET /me` (guarded by the router's `requireAuth`),
 * and the pages.
 */
import {
  createExample,
  type Example,
  type ExampleConfig,
  type Log,
  pageHeaders,
  publicDir,
} from '@twofold/example-web';
import { twofold } from '@twofold/express';
import express, { type ErrorRequestHandler, type Express } from 'express';

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

  app.use(
    express.static(publicDir, {
      setHeaders: (response) => {
        for (const [name, value] of Object.entries(pageHeaders)) response.setHeader(name, value);
      },
    }),
  );

  app.use((request, response) => {
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
