/**
 * The OpenAPI document both example apps serve at `/openapi.json`: the kit's routes from its route
 * table (`openApiDocument` of @twofold/core/http) plus the example's own `POST /signup`,
 * `POST /signup/confirm` and `GET /me`, described here once for both apps.
 */
import {
  BEARER_SECURITY,
  type OpenApiObject,
  type OpenApiSource,
  openApiDocument,
  openApiErrorResponse,
  schemaRef,
} from '@twofold/core/http';

const ACCOUNT_TAG = 'Example accounts';

const json = (schema: OpenApiObject) => ({ 'application/json': { schema } });

const schemas: Record<string, OpenApiObject> = {
  SignupBody: {
    type: 'object',
    required: ['username', 'email', 'password'],
    additionalProperties: false,
    properties: {
      username: { type: 'string', minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9._-]+$' },
      email: { type: 'string', format: 'email', maxLength: 254 },
      password: { type: 'string', minLength: 8, maxLength: 1024 },
    },
  },
  ConfirmSignupBody: {
    type: 'object',
    required: ['token'],
    additionalProperties: false,
    properties: {
      token: { type: 'string', minLength: 1, maxLength: 128, description: 'The `#token=` of the link' },
    },
  },
  SignupAccepted: {
    type: 'object',
    required: ['message'],
    additionalProperties: false,
    properties: { message: { type: 'string' } },
  },
  User: {
    type: 'object',
    required: ['id', 'username', 'email'],
    additionalProperties: false,
    properties: { id: { type: 'string' }, username: { type: 'string' }, email: { type: 'string' } },
  },
};

const bodyErrors = {
  '400': openApiErrorResponse('Bad Request: `INVALID_INPUT`, the message names the field'),
  '413': openApiErrorResponse('Payload Too Large: the body is over 16 KiB'),
};
const serverError = { '500': openApiErrorResponse('Internal Server Error: `INTERNAL`, logged') };

const paths: Record<string, OpenApiObject> = {
  '/signup': {
    post: {
      operationId: 'signup',
      tags: [ACCOUNT_TAG],
      summary: 'Start a signup: mails the address a link (or, if it has an account, a warning to its owner)',
      description:
        'Answers 202 "check your mail" whether or not the address already has an account; the link in ' +
        'the mail opens /confirm-signup.html, which finishes with POST /signup/confirm.',
      security: [],
      requestBody: { required: true, content: json(schemaRef('SignupBody')) },
      responses: {
        '202': { description: 'Check your mail', content: json(schemaRef('SignupAccepted')) },
        ...bodyErrors,
        '409': openApiErrorResponse('Conflict: `USERNAME_TAKEN`'),
        ...serverError,
      },
    },
  },
  '/signup/confirm': {
    post: {
      operationId: 'confirmSignup',
      tags: [ACCOUNT_TAG],
      summary: 'Create the account from the token of the mailed link; then log in with POST /2fa/login',
      security: [],
      requestBody: { required: true, content: json(schemaRef('ConfirmSignupBody')) },
      responses: {
        '201': { description: 'The new account', content: json(schemaRef('User')) },
        '400': openApiErrorResponse(
          'Bad Request: `INVALID_INPUT` (the body), or `INVALID_TOKEN` (the link was used, expired or is incomplete)',
        ),
        '409': openApiErrorResponse('Conflict: `USERNAME_TAKEN` or `EMAIL_TAKEN` (taken in the meantime)'),
        '413': bodyErrors['413'],
        ...serverError,
      },
    },
  },
  '/me': {
    get: {
      operationId: 'getMe',
      tags: [ACCOUNT_TAG],
      summary: 'The signed-in account',
      security: BEARER_SECURITY.map((requirement) => ({ ...requirement })),
      responses: {
        '200': { description: 'The account', content: json(schemaRef('User')) },
        '401': openApiErrorResponse('Unauthorized: `TWOFOLD_UNAUTHORIZED`, no valid access token'),
        '404': openApiErrorResponse('Not Found: `NO_ACCOUNT`, the account no longer exists'),
        '503': openApiErrorResponse('Service Unavailable: `TWOFOLD_STORE_UNAVAILABLE`'),
        ...serverError,
      },
    },
  },
};

/**
 * The document of an example app: the kit's routes of `http` under `/2fa` and the example's own.
 * @param http the kit's HTTP layer (`app.twofold.http` on Fastify, `router.http` on Express)
 */
export function exampleOpenApiDocument(http: OpenApiSource, title: string): OpenApiObject {
  return openApiDocument(http, {
    prefix: '/2fa',
    info: {
      title,
      version: '0.0.0',
      description:
        'The example app: its own accounts (POST /signup, POST /signup/confirm, GET /me) and the twofold ' +
        'routes under /2fa. The routes with a lock take `Authorization: Bearer <accessToken>`: log in ' +
        'with POST /2fa/login (and POST /2fa/login/verify when the account has 2FA), then Authorize ' +
        'with the `accessToken`.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [{ name: ACCOUNT_TAG, description: "The example's own accounts: signup and the signed-in user" }],
    paths,
    schemas,
  });
}

/**
 * Headers for the docs page (Swagger UI at `/docs`) and its files: the pages' policy, except that
 * Swagger UI needs inline styles (it sets `style` attributes) and fetches the document and the API
 * from this origin. Its scripts are files of this origin, as the pages'.
 */
export const docsPageHeaders: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
});
