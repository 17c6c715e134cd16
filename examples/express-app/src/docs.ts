/**
 * The OpenAPI document at `/openapi.json` and Swagger UI at `/docs`, from the files of
 * swagger-ui-dist (Swagger UI's own build, no CDN): a page, its start script as a file of its own
 * (the Content-Security-Policy allows no inline script), and the three files it loads.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { docsPageHeaders } from '@twofold/example-web';
import type { Express, Response } from 'express';

const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The files of swagger-ui-dist the page loads; nothing else of the folder is served. */
const FILES = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png'] as const;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>twofold Express example: API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
`;

// No validator (it would send the document to validator.swagger.io); the token stays in the page.
const START = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    validatorUrl: null,
    persistAuthorization: false,
  });
});
`;

const withDocsHeaders = (response: Response) => {
  for (const [name, value] of Object.entries(docsPageHeaders)) response.setHeader(name, value);
};

/** Adds `GET /openapi.json`, `GET /docs` and the page's files to `app`. */
export function serveDocs(app: Express, document: unknown): void {
  app.get('/openapi.json', (_request, response) => {
    response.json(document);
  });
  app.get('/docs', (_request, response) => {
    withDocsHeaders(response);
    response.type('html').send(PAGE);
  });
  app.get('/docs/start.js', (_request, response) => {
    withDocsHeaders(response);
    response.type('js').send(START);
  });
  for (const file of FILES) {
    app.get(`/docs/${file}`, (_request, response, next) => {
      withDocsHeaders(response);
      // Relative to `root`: the folder is under node_modules/.pnpm, a dot folder `send` refuses.
      response.sendFile(file, { root: SWAGGER_UI_DIR }, (error) => {
        if (error) next(error);
      });
    });
  }
}
