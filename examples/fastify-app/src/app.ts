/**
 * The Fastify example: the kit under /2fa (`app.register(twofold, ...)`), the example's own
 * `POST /signup`, `POST /signup/confirm` and `GET /me` (guarded by `app.twofoldAuthenticate`), the
 * pages, and the OpenAPI document (`/openapi.json`) with a docs page (`/docs`).
 */
import { STATUS_CODES } from 'node:http';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import {
  createExample,
  type Example,
  type ExampleConfig,
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

/** Documentation of the example's own routes (not used for validation: the handlers check bodies). */
const signupBody = {
  type: 'object',
  required: ['username', 'email', 'password'],
  additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9._-]+$' },
    email: { type: 'string', format: 'email', maxLength: 254 },
    password: { type: 'string', minLength: 8, maxLength: 1024 },
  },
};
const confirmSignupBody = {
  type: 'object',
  required: ['token'],
  additionalProperties: false,
  properties: { token: { type: 'string', minLength: 1, maxLength: 128 } },
};

const acceptEveryBody = () => () => true;

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

  // Before any route: @fastify/swagger collects the routes as they are added.
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'twofold Fastify example',
        version: '0.0.0',
        description:
          'The example app: its own accounts (POST /signup, POST /signup/confirm, GET /me) and the twofold routes under /2fa. ' +
          'Authenticated routes take `Authorization: Bearer <accessToken>` from POST /2fa/login.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(twofold, { ...example.twofoldOptions });

  app.post(
    '/signup',
    {
      schema: {
        summary:
          'Start a signup: mails the address a link (or, if it has an account, a warning to its owner)',
        description:
          'Answers 202 "check your mail" whether or not the address already has an account; the link ' +
          'in the mail opens /confirm-signup.html, which finishes with POST /signup/confirm. ' +
          '409 USERNAME_TAKEN for a taken username.',
        tags: ['example'],
        body: signupBody,
      },
      validatorCompiler: acceptEveryBody,
    },
    async (request, reply) => {
      const answer = await example.signup(request.body);
      return reply.code(answer.status).send(answer.body);
    },
  );

  app.post(
    '/signup/confirm',
    {
      schema: {
        summary: 'Create the account from the token of the mailed link; then log in with POST /2fa/login',
        tags: ['example'],
        body: confirmSignupBody,
      },
      validatorCompiler: acceptEveryBody,
    },
    async (request, reply) => {
      const answer = await example.confirmSignup(request.body);
      return reply.code(answer.status).send(answer.body);
    },
  );

  app.get(
    '/me',
    {
      preHandler: app.twofoldAuthenticate,
      schema: {
        summary: 'The signed-in account',
        tags: ['example'],
        security: [{ bearer: [] }],
      },
    },
    async (request, reply) => {
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
    },
  );

  await app.register(fastifyStatic, {
    root: publicDir,
    // A route per page file, not a GET /* catch-all: an unknown path under /2fa then gets the kit's
    // own 404 (TWOFOLD_NOT_FOUND), as on Express.
    wildcard: false,
    setHeaders: (response) => {
      for (const [name, value] of Object.entries(pageHeaders)) response.setHeader(name, value);
    },
  });

  return { app, example };
}
